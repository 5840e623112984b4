"""``imgfeed fanout --feed betfair`` and ``imgfeed tail --from-redis`` of its stream: real processes,
the Betfair emulator over TLS, a real Redis."""

from __future__ import annotations

import json
import signal
from typing import Any, Dict, List, Optional

from imgfeed.feeds.betfair.emulator import DEFAULT_SESSION_TOKEN, EmulatorServer
from tests.cli.conftest import Process, betfair_connect_args, run_subprocess, single_error_line
from tests.fanout.redis_server import RedisServer

WAIT = 30.0
SESSION_ENV = {"IMGFEED_BETFAIR_SESSION": DEFAULT_SESSION_TOKEN}


def fanout_args(server: EmulatorServer, redis: RedisServer, *extra: str) -> List[str]:
    return ["-m", "imgfeed", "fanout", *betfair_connect_args(
        server, "--redis", redis.url, "--stream", "racing", "--checkpoint-interval", "0.5", *extra)]


def _json(line: str) -> Optional[Dict[str, Any]]:
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _tradable(line: str) -> bool:
    obj = _json(line)
    return obj is not None and obj.get("kind") == "market_status" and obj.get("tradable") is True


def _book(line: str) -> bool:
    obj = _json(line)
    return obj is not None and obj.get("kind") == "market_book" and bool(obj["runners"][0].get("batb"))


def test_fanout_betfair_then_tail_from_redis_prints_betfair_books(emulator: EmulatorServer, redis: RedisServer) -> None:
    publisher = Process(fanout_args(emulator, redis, "--orders"), merge_stderr=True, env=SESSION_ENV)
    tails: List[Process] = []
    try:
        assert publisher.wait_for_line(lambda line: "publishing localhost:" in line and "stream racing" in line, WAIT)
        jsonl = Process(["-m", "imgfeed", "tail", "--from-redis", redis.url, "--stream", "racing", "--format", "jsonl"])
        pretty = Process(["-m", "imgfeed", "tail", "--from-redis", redis.url, "--stream", "racing"])
        tails += [jsonl, pretty]
        assert jsonl.wait_for_line(_book, WAIT), jsonl.lines
        assert jsonl.wait_for_line(_tradable, WAIT), jsonl.lines
        connected = _json(jsonl.wait_for_line(lambda line: '"connected"' in line, WAIT) or "")
        assert connected is not None and str(connected["session_id"]).startswith("001-")
        assert pretty.wait_for_line(lambda line: line.startswith("1.") and " OPEN" in line, WAIT), pretty.lines
        assert pretty.wait_for_line(lambda line: line.endswith(" tradable"), WAIT), pretty.lines
    finally:
        results = [t.finish(signal.SIGINT) for t in tails]
        code, _ = publisher.finish(signal.SIGINT)
    assert code == 0 and all(c == 0 for c, _ in results), (publisher.lines, results)
    summary = [line for line in publisher.lines if line.startswith("imgfeed: published")]
    assert summary and " 0 dropped" in summary[0], publisher.lines
    assert not any(DEFAULT_SESSION_TOKEN in line for line in publisher.lines)
    assert all(not err.strip() for _, err in results[1:]), results  # pretty: nothing on stderr


def test_tail_from_redis_with_the_wrong_feed_names_the_option_and_the_streams_feed(
    emulator: EmulatorServer, redis: RedisServer
) -> None:
    publisher = Process(fanout_args(emulator, redis), merge_stderr=True, env=SESSION_ENV)
    try:
        assert publisher.wait_for_line(lambda line: "publishing localhost:" in line, WAIT)
        # the stream exists once the publisher's start marker is written: wait for its first line
        tail = Process(["-m", "imgfeed", "tail", "--from-redis", redis.url, "--stream", "racing", "--format", "jsonl"])
        try:
            assert tail.wait_for_line(_book, WAIT), tail.lines
        finally:
            tail.finish(signal.SIGINT)
        result = run_subprocess(["tail", "--from-redis", redis.url, "--stream", "racing",
                                 "--feed", "img"], timeout=WAIT)
    finally:
        publisher.finish(signal.SIGINT)
    assert result.code == 2
    assert single_error_line(result) == (
        "imgfeed: error: bad --feed 'img': expected 'betfair': the feed the stream 'racing' carries"
    )


def test_fanout_betfair_bad_input_names_the_option_and_what_it_takes(redis: RedisServer) -> None:
    base = ["fanout", "--feed", "betfair", "--host", "localhost", "--redis", redis.url,
            "--stream", "racing"]
    no_key = run_subprocess(base, env=SESSION_ENV, timeout=WAIT)
    assert no_key.code == 2 and "--app-key" in single_error_line(no_key)
    levels = run_subprocess(base + ["--app-key", "k", "--ladder-levels", "11"], env=SESSION_ENV, timeout=WAIT)
    assert single_error_line(levels) == "imgfeed: error: bad --ladder-levels 11: expected 1 to 10"
    feed = run_subprocess(["fanout", "--feed", "espn", "--host", "h", "--redis", redis.url,
                           "--stream", "s"], timeout=WAIT)
    line = single_error_line(feed)
    assert feed.code == 2 and "--feed" in line and "'img'" in line and "'betfair'" in line, line

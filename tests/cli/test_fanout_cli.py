"""``imgfeed fanout`` and ``imgfeed tail --from-redis``, as a user runs them: real processes, real Redis."""

from __future__ import annotations

import json
import signal

from tests.cli.conftest import Process, SimSetup
from tests.fanout.redis_server import RedisServer

WAIT = 30.0


def _is_update(line: str) -> bool:
    try:
        return bool(json.loads(line).get("kind") == "market_update")
    except ValueError:
        return False


def test_fanout_then_tail_from_redis_directly_and_in_a_group(sim: SimSetup, redis: RedisServer) -> None:
    args = ["-m", "imgfeed", "-v", "fanout", *sim.connect_args("--subscribe-all")]
    publisher = Process(args + ["--redis", redis.url, "--stream", "golf", "--checkpoint-interval", "0.5"], merge_stderr=True)
    tails = []
    try:
        assert publisher.wait_for_line(lambda line: "connected to" in line, WAIT), publisher.lines
        assert any("publishing 127.0.0.1" in line and "stream golf" in line for line in publisher.lines)
        for extra in ([], ["--group", "settle", "--consumer", "c1"]):
            tail = Process(["-m", "imgfeed", "tail", "--from-redis", redis.url, "--stream", "golf", "--format", "jsonl", *extra])
            tails.append(tail)
            assert tail.wait_for_line(_is_update, WAIT), tail.lines
    finally:
        results = [t.finish(signal.SIGINT) for t in tails]
        code, _ = publisher.finish(signal.SIGINT)
    assert code == 0 and all(c == 0 for c, _ in results), (publisher.lines, results)
    summary = [line for line in publisher.lines if line.startswith("imgfeed: published")]
    assert summary and " 0 dropped" in summary[0], publisher.lines


def test_tail_from_a_missing_stream_says_so_in_one_line(redis: RedisServer) -> None:
    tail = Process(["-m", "imgfeed", "tail", "--from-redis", redis.url, "--stream", "nope"], merge_stderr=True)
    code = tail.proc.wait(WAIT)
    tail.finish(signal.SIGINT)  # collects its output (it has exited already)
    assert code == 2
    assert [line for line in tail.lines if line.strip()] == [
        f"imgfeed: error: redis://127.0.0.1:{redis.port}/0: the stream 'nope' does not exist; "
        "start `imgfeed fanout --stream nope` first"
    ]

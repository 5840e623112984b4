"""Bad input gets a clear error and loses nothing; the password never shows (logs, errors, reprs)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, List

import pytest

from imgfeed.errors import AuthenticationError, ConfigError, ConnectError
from imgfeed.fanout.redis import Publisher, RedisTarget, StreamConsumer, StreamNotFoundError
from imgfeed.feeds.betfair.emulator.certs import ensure_certificates
from tests.fanout.redis_server import RedisServer
from tests.fanout.support import FAST_CONSUMER, FAST_PUBLISHER, WAIT, same_book
from tests.fanout.test_fanout import _Closer, consumer, published, redis_client
from tests.integration.conftest import Sim
from tests.reliability.support import Recorder

SECRET = "s3cret-Pa55word-7f3a"


@pytest.mark.parametrize(
    "url",
    [f"http://u:{SECRET}@host", f"redis://u:{SECRET}@", f"redis://u:{SECRET}@host:notaport", f"redis://u:{SECRET}@host/db"],
)
def test_a_bad_url_names_the_forms_and_hides_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisTarget.from_url(url)
    assert "redis://[user[:password]@]host" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)


def test_a_target_never_shows_its_password() -> None:
    target = RedisTarget.from_url(f"rediss://alice:{SECRET}@cache.example:6380/2")
    assert (target.host, target.port, target.db, target.username, target.tls) == ("cache.example", 6380, 2, "alice", True)
    assert target.password == SECRET
    assert SECRET not in repr(target) and SECRET not in target.describe() and SECRET not in str(target)
    assert target.describe() == "rediss://alice@cache.example:6380/2"


def test_a_wrong_password_is_an_authentication_error_that_names_no_password(
    make_redis: Callable[..., RedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    redis = make_redis(password=SECRET)
    wrong = "not-the-" + SECRET
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        StreamConsumer(f"redis://:{wrong}@127.0.0.1:{redis.port}/0", "golf")
    assert "login refused" in str(caught.value) or "WRONGPASS" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert SECRET not in text and wrong not in text


def test_an_unreachable_server_and_a_missing_stream_are_clear(make_redis: Callable[..., RedisServer]) -> None:
    redis = make_redis()
    with pytest.raises(StreamNotFoundError) as caught:
        StreamConsumer(redis.url, "no-such-stream")
    assert "'no-such-stream' does not exist" in str(caught.value) and "imgfeed fanout" in str(caught.value)
    r = redis_client(redis)
    r.xadd("not-ours", {"x": "y"})
    with pytest.raises(StreamNotFoundError, match="no imgfeed publisher"):
        StreamConsumer(redis.url, "not-ours")
    r.close()
    port = redis.port
    redis.kill()
    with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
        StreamConsumer(redis.url, "golf", connect_timeout=1.0)


def test_an_acl_user_over_tls_publishes_and_consumes_and_the_password_never_shows(
    sim: Sim, make_redis: Callable[..., RedisServer], tmp_path: Path, closing: List[Any], caplog: pytest.LogCaptureFixture
) -> None:
    certs = ensure_certificates(tmp_path / "certs")
    redis = make_redis(
        users=[f"alice on >{SECRET} ~golf* &* +@all", "default off"],
        tls=(certs.server_cert, certs.server_key, certs.ca_cert),
    )
    caplog.set_level(logging.DEBUG)
    url = f"rediss://alice:{SECRET}@127.0.0.1:{redis.port}/0"
    target = RedisTarget.from_url(url, ca_file=str(certs.ca_cert))
    direct = Recorder()
    client = sim.client(direct, start=False)
    publisher = Publisher(client, target, "golf", **FAST_PUBLISHER).start()
    closing.append(publisher)
    assert publisher.wait_until(lambda s: s.written >= 1, WAIT)
    client.start()
    client.subscribe()
    rec = Recorder()
    c = StreamConsumer(target, "golf", [rec], **FAST_CONSUMER).start()
    closing.append(c)
    sim.scenario.step()
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)
    with pytest.raises(ConnectError, match="certificate"):  # TLS is verified: the system's roots do not know this CA
        StreamConsumer(url, "golf", connect_timeout=2.0)
    with pytest.raises(AuthenticationError):
        StreamConsumer(RedisTarget.from_url(url.replace("alice:", "mallory:"), ca_file=str(certs.ca_cert)), "golf")
    shown = [repr(publisher), repr(c), repr(target), str(publisher.stats()), str(c.stats()), caplog.text]
    shown += [repr(h) for h in c.handlers]
    assert all(SECRET not in text for text in shown)


def test_malformed_entries_are_reported_with_their_bytes_and_the_stream_goes_on(
    sim: Sim, redis_server: RedisServer, closing: List[Any]
) -> None:
    client, publisher, _ = published(sim, redis_server, closing)
    rec = Recorder()
    c = consumer(redis_server, closing, rec)
    assert c.book.wait_for(lambda: same_book(c.book, client.book) and bool(c.book.tradable_market_ids()), WAIT)
    r = redis_client(redis_server)
    closing.append(_Closer(r))
    r.xadd("golf", {"x": "not an entry"})
    r.xadd("golf", {"m": "teleport", "d": "{}"})
    r.xadd("golf", {"m": "status", "d": "[not json"})
    r.xadd("golf", {"l": b"{not json"})
    sim.scenario.step()
    assert rec.wait_for(lambda _: rec.count("on_protocol_error") == 4, WAIT)
    errors = rec.args("on_protocol_error")
    assert "malformed" in str(errors[0]) and b"not an entry" in errors[0].raw
    assert "unknown marker 'teleport'" in str(errors[1])
    assert errors[3].raw == b"{not json"
    assert c.book.wait_for(lambda: same_book(c.book, client.book), WAIT)  # nothing lost around them
    assert rec.count("on_disconnect") == 0

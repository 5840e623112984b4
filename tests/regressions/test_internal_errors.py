"""Issue 11, defect 9: an internal bug is reported as one, never as a network fault.

Before the runtime rewrite (commit 09e6303) an exception inside the reader -- a bug in decoding,
say -- ended the connection as a *transport error* and the client reconnected forever, which looks
exactly like a flaky network. Now it has its own reason (``internal error``), is logged with its
traceback, and after ``max_internal_errors`` connections in a row ended by it the client stops and
``join()`` raises :class:`~imgfeed.InternalError` with the bug chained.

The bug is injected through the runtime's ``decoder_factory`` (the hook a replay uses), with the
real client and runtime around it.
"""

from __future__ import annotations

import logging
from typing import Any, List

import pytest

from imgfeed import DisconnectReason, FeedClient, InternalError
from imgfeed.feeds.img.protocol.codec import FeedDecoder
from tests.reliability.support import Recorder
from tests.unit.memory_feed import FakeFeed, fast_config

WAIT = 5.0


class BuggyDecoder(FeedDecoder):
    """Decodes the handshake, then fails on the first market update: a bug, not bad input."""

    def feed(self, data: bytes, received_at: Any = None) -> List[Any]:
        if b"market_update" in data:
            raise ZeroDivisionError("a bug in the decoder")
        return super().feed(data, received_at)


def test_an_internal_error_has_its_own_reason_and_repeated_ones_stop_the_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed, rec = FakeFeed(), Recorder()
    client = FeedClient(fast_config(), handlers=[rec], transport_factory=feed, decoder_factory=BuggyDecoder)
    caplog.set_level(logging.ERROR, logger="imgfeed.runtime")
    client.start()
    try:
        assert rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        assert client.subscribe().is_ok  # its images trigger the bug, on every session from now on
        with pytest.raises(InternalError, match="3 connections in a row") as info:
            client.join(timeout=WAIT)  # max_internal_errors is 3: the client stops by itself
    finally:
        client.stop()
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    ends = rec.disconnects()
    assert [d.reason for d in ends[:3]] == [DisconnectReason.INTERNAL_ERROR] * 3
    assert [d.will_retry for d in ends[:3]] == [True, True, False]
    assert all(d.reason is not DisconnectReason.TRANSPORT_ERROR for d in ends)
    tracebacks = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], ZeroDivisionError)]
    assert len(tracebacks) == 3  # said once per connection, with the traceback
    assert client.stats().internal_errors == 3

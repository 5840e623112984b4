"""The relayed Betfair adapter without IO: lines and the relay's hooks in, caches and tradability out.

What differs from a direct client (imgfeed/fanout/redis/betfair.py): subscriptions learnt from the
images, the upstream's gate, statuses told but not acted on, and the streams kept over the
consumer's own reconnect.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from imgfeed.fanout.redis.betfair import RelayedBetfairAdapter, betfair_binding
from imgfeed.fanout.redis.feeds import FEEDS, relay_binding
from imgfeed.fanout.redis.relay import Gate
from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.books import MarketBook
from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.runtime.events import MarketStatusChanged, SuspendReason

M = "1.1"


def definition(status: str = "OPEN") -> Dict[str, Any]:
    return {"status": status, "version": 1, "inPlay": False,
            "runners": [{"id": 1, "status": "ACTIVE", "sortPriority": 1}]}


def mcm(**fields: Any) -> bytes:
    return json.dumps({"op": "mcm", **fields}).encode()


def image(sub: int, ltp: float = 2.0, status: str = "OPEN", **fields: Any) -> bytes:
    market = {"id": M, "img": True, "marketDefinition": definition(status), "rc": [{"id": 1, "ltp": ltp}]}
    return mcm(id=sub, ct="SUB_IMAGE", clk=f"c{sub}", initialClk=f"i{sub}", mc=[market], **fields)


def delta(sub: int, ltp: float) -> bytes:
    return mcm(id=sub, clk=f"d{sub}-{ltp}", mc=[{"id": M, "rc": [{"id": 1, "ltp": ltp}]}])


class Relayed:
    """The adapter as the consumer's runtime drives it, with its gate and the notes it made."""

    def __init__(self) -> None:
        self.gate = Gate()
        adapter, self.refresh = betfair_binding(self.gate)
        assert isinstance(adapter, RelayedBetfairAdapter)
        self.adapter = adapter
        self.out: List[Any] = []

    def up(self) -> "Relayed":
        self.adapter.session_up({}, self.out)
        return self

    def feed(self, *lines: bytes) -> "Relayed":
        for line in lines:
            self.adapter.apply(decode_line(line, 1.7e9), self.out)
        return self

    def allow(self, tradable: bool = True) -> "Relayed":
        self.gate.set(M, tradable)
        self.refresh(self.out)
        return self

    def ltp(self) -> Any:
        return self.adapter.book.book(M).runners[0].last_price_traded

    def tradable(self) -> bool:
        return self.adapter.book.is_tradable(M)


def test_betfair_is_a_feed_a_consumer_can_rebuild() -> None:
    assert "betfair" in FEEDS and relay_binding("betfair") is betfair_binding


def test_a_market_is_tradable_only_when_its_image_says_open_and_the_upstream_allows_it() -> None:
    r = Relayed().up().feed(image(1))
    assert r.ltp() == 2.0 and not r.tradable()  # the upstream has not said "tradable" yet
    r.allow()
    assert r.tradable() and r.out[-1] == MarketStatusChanged(M, True)
    r.allow(False)
    assert not r.tradable()
    r.allow().feed(image(1, status="SUSPENDED"))
    assert not r.tradable()  # the lines' own rule: suspended by its definition


def test_a_new_subscription_is_learnt_from_its_image_and_the_old_ones_changes_are_dropped() -> None:
    r = Relayed().up().feed(image(1)).allow()
    r.feed(delta(1, 3.0))
    assert r.ltp() == 3.0
    r.feed(image(2, ltp=5.0))
    assert r.ltp() == 5.0 and r.tradable()
    r.feed(delta(1, 9.0))  # the replaced subscription: dropped, as the upstream drops it
    assert r.ltp() == 5.0
    r.feed(delta(2, 6.0))
    assert r.ltp() == 6.0
    # a new publisher's ids start again from 1: an image with another id, not only a higher one
    r.feed(image(1, ltp=7.0), delta(1, 8.0))
    assert r.ltp() == 8.0 and r.adapter.markets.stream.subscription_id == 1


def test_a_status_is_told_but_an_invalid_clock_does_not_clear_the_cache() -> None:
    r = Relayed().up().feed(image(1)).allow()
    status = json.dumps({"op": "status", "id": 3, "statusCode": "FAILURE", "errorCode": "INVALID_CLOCK",
                         "errorMessage": "x", "connectionClosed": True}).encode()
    r.feed(status)
    assert r.out[-1].error_code == "INVALID_CLOCK"
    assert r.ltp() == 2.0 and r.adapter.markets.stream.is_image_complete  # the upstream's fresh image will follow


def test_the_consumers_own_reconnect_keeps_the_streams_and_a_whole_resume_reopens_at_once() -> None:
    r = Relayed().up().feed(image(1)).allow()
    r.adapter.session_lost(r.out)
    assert not r.tradable()
    r.up()
    assert not r.tradable()
    r.adapter.relay_resumed(True, r.out)
    assert r.tradable() and r.out[-1] == MarketStatusChanged(M, True)
    r.feed(delta(1, 4.0))
    assert r.ltp() == 4.0


def test_a_start_that_is_not_a_resume_waits_for_the_next_image() -> None:
    for start in ("checkpoint", "next upstream session"):
        r = Relayed().up().feed(image(1)).allow()
        r.adapter.session_lost(r.out)
        r.up()
        if start == "checkpoint":
            r.adapter.relay_resumed(False, r.out)
        else:
            r.feed(json.dumps({"op": "connection", "connectionId": "002"}).encode())
        r.allow()
        assert not r.tradable(), start
        r.feed(image(3))
        r.allow()
        assert r.tradable(), start


def test_after_the_upstream_ended_the_next_session_starts_from_fresh_streams() -> None:
    r = Relayed().up().feed(image(1)).allow()
    r.adapter.relay_upstream_ended()
    r.adapter.session_lost(r.out)
    r.up()
    r.adapter.relay_resumed(True, r.out)  # even a whole resume: the upstream's session is over
    assert not r.tradable()
    r.feed(mcm(id=1, ct="RESUB_DELTA", clk="r", mc=[{"id": M, "rc": [{"id": 1, "ltp": 2.5}]}])).allow()
    assert r.tradable() and r.ltp() == 2.5


def test_a_checkpoint_is_declined_while_a_segmented_change_is_in_flight() -> None:
    adapter = BetfairAdapter(Relayed().adapter.config)
    out: List[Any] = []
    adapter.session_up({}, out)
    first = json.loads(image(1))
    first["segmentType"] = "SEG_START"
    adapter.apply(decode_line(json.dumps(first).encode(), 1.7e9), out)
    assert adapter.checkpoint() is None
    adapter.apply(decode_line(mcm(id=1, ct="SUB_IMAGE", segmentType="SEG_END", clk="e", mc=[]), 1.7e9), out)
    lines = adapter.checkpoint()
    assert lines is not None and len(lines) == 1 and b'"SUB_IMAGE"' in lines[0]
    assert any(isinstance(b, MarketBook) for b in out)


def test_a_checkpoint_of_a_stale_stream_starts_the_consumer_stale() -> None:
    upstream = Relayed().up().feed(image(1)).allow()
    upstream.feed(mcm(id=1, ct="HEARTBEAT", clk="h", status=503))
    assert upstream.adapter.book.suspend_reason is SuspendReason.STALE
    lines = upstream.adapter.checkpoint()
    assert lines is not None and b'"status":503' in lines[0]
    late = Relayed().up().allow().feed(*lines)
    assert late.ltp() == 2.0 and late.adapter.book.suspend_reason is SuspendReason.STALE and not late.tradable()
    late.feed(mcm(id=1, ct="HEARTBEAT", clk="h2"))  # the stream says it is current again
    assert late.tradable()

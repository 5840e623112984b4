"""The publisher's tap and outbox, driven by hand: order, bounds, gaps, exact checkpoints (no IO)."""

from __future__ import annotations

from typing import Any, List, Optional

from imgfeed.fanout.redis.outbox import Checkpoint, Marker, Outbox, PublisherTap
from imgfeed.runtime.events import (
    Connected,
    Disconnected,
    DisconnectReason,
    MarketStatusChanged,
    ResumedAll,
    Session,
    SuspendedAll,
    SuspendReason,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tap_with(limit: int = 100, lines: Optional[List[bytes]] = None) -> Any:
    state = {"lines": lines if lines is not None else [b"state\n"], "calls": 0}

    def checkpoint() -> Optional[List[bytes]]:
        state["calls"] += 1
        return state["lines"]

    clock = Clock()
    tap = PublisherTap(Outbox(limit), checkpoint, "img", first_delay=1.0, interval=5.0, clock=clock)
    return tap, clock, state


def connected(number: int = 1) -> Connected:
    return Connected(Session("sess-1", "host:22", 1.5, number))


def test_lines_are_split_per_connection_and_markers_come_in_order() -> None:
    tap, clock, _ = tap_with()
    tap.on_bytes(1, b'{"init": 1}\n{"spo', 0.0)
    tap.on_notification(connected())
    tap.on_bytes(1, b'rt": 1}\n{"cut off', 0.0)
    tap.on_notification(SuspendedAll(SuspendReason.DISCONNECTED))
    tap.on_notification(Disconnected(DisconnectReason.EOF, "bye", will_retry=True, retry_in=0.0))
    tap.on_bytes(2, b' by the disconnection"}\n{"next": 1}\n', 0.0)
    items = tap.outbox.take(100, 0)
    assert items[:3] == [b'{"init": 1}', Marker("connected", {"session_id": "sess-1", "number": 1, "address": "host:22", "connected_at": 1.5}), b'{"sport": 1}']
    assert items[3] == Marker("suspended", {"reason": "disconnected"})
    assert items[4].kind == "disconnected" and items[4].data["was_up"] is True and items[4].data["reason"] == "eof"
    # The cut-off line never joins the next connection's first: that one's head is its own line.
    assert items[5:] == [b' by the disconnection"}', b'{"next": 1}']


def test_the_upstream_tradability_is_tracked_from_the_notifications() -> None:
    tap, clock, _ = tap_with()
    tap.on_notification(connected())
    tap.on_notification(ResumedAll())
    tap.on_notification(MarketStatusChanged("m1", True))
    tap.on_notification(MarketStatusChanged("m2", True))
    tap.on_notification(MarketStatusChanged("m2", False))
    assert tap.tradable == {"m1"}
    tap.on_notification(SuspendedAll(SuspendReason.HEARTBEAT_LATE))
    assert tap.tradable == {"m1"} and tap.suspended is SuspendReason.HEARTBEAT_LATE
    tap.on_notification(ResumedAll())  # the status markers after it say again which are tradable
    assert tap.tradable == set() and tap.suspended is None
    tap.on_notification(Disconnected(DisconnectReason.SILENCE))
    assert tap.upstream is None


def test_a_checkpoint_is_taken_before_the_chunk_that_finds_it_due_and_only_with_a_session() -> None:
    tap, clock, state = tap_with()
    tap.on_bytes(1, b"a\n", 0.0)
    tap.on_notification(connected())
    tap.on_bytes(1, b"b\n", 0.0)
    clock.now += 1.0  # first_delay after the session came up
    tap.on_bytes(1, b"c\n", 0.0)
    items = tap.outbox.take(100, 0)
    assert items[:3] == [b"a", items[1], b"b"] and items[1].kind == "connected"
    checkpoint = items[3]
    assert isinstance(checkpoint, Checkpoint) and checkpoint.lines == [b"state\n"] and items[4] == b"c"
    assert checkpoint.meta["session"]["session_id"] == "sess-1" and checkpoint.meta["feed"] == "img"
    clock.now += 4.9
    tap.on_bytes(1, b"d\n", 0.0)
    assert tap.outbox.take(100, 0) == [b"d"]  # not yet due again
    state["lines"] = None  # the feed cannot say its state now (mid-snapshot)
    clock.now += 0.2
    tap.on_bytes(1, b"e\n", 0.0)
    state["lines"] = [b"later\n"]
    tap.on_bytes(1, b"f\n", 0.0)
    items = tap.outbox.take(100, 0)
    assert items[0] == b"e" and isinstance(items[1], Checkpoint) and items[1].lines == [b"later\n"] and items[2] == b"f"


def test_a_full_outbox_drops_counts_and_marks_the_gap_then_asks_for_a_checkpoint() -> None:
    tap, clock, state = tap_with(limit=3)
    tap.on_notification(connected())
    clock.now += 10
    tap._due = None  # no checkpoint by time in this test
    tap.on_bytes(1, b"1\n2\n3\n4\n5\n", 0.0)
    assert tap.outbox.dropped == 3  # "connected" and two lines fit
    assert tap.outbox.take(1, 0) == [Marker("connected", _connected_data())]
    tap.on_bytes(1, b"6\n", 0.0)  # room again: the gap marker first, then the line
    items = tap.outbox.take(100, 0)
    assert items == [b"1", b"2", Marker("gap", {"lost": 3, "detail": "the publisher's buffer was full"}), b"6"]
    assert tap.outbox.gaps == 1
    tap.on_bytes(1, b"7\n", 0.0)  # the gap made a checkpoint due at once
    items = tap.outbox.take(100, 0)
    assert isinstance(items[0], Checkpoint) and items[1] == b"7"


def _connected_data() -> dict:
    return {"session_id": "sess-1", "number": 1, "address": "host:22", "connected_at": 1.5}


def test_put_front_keeps_a_failed_batch_ahead_of_the_rest() -> None:
    box = Outbox(10)
    box.put([b"3", b"4"])
    box.put_front([b"1", b"2"])
    assert box.take(10, 0) == [b"1", b"2", b"3", b"4"]
    assert box.take(10, 0.01) == []

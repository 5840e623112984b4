"""Taps see every byte and every lifecycle notification, in wire order, before conflation."""

from __future__ import annotations

import threading
from typing import Any, List, Tuple

from imgfeed import FeedClient
from imgfeed.runtime.events import Connected, Disconnected, ResumedAll, SuspendedAll
from imgfeed.runtime.tap import Tap
from tests.unit.memory_feed import FakeFeed, Recorder, called, fast_config, market_update


class Collecting(Tap):
    def __init__(self) -> None:
        self.events: List[Tuple[str, Any]] = []
        self.cond = threading.Condition()

    def on_bytes(self, connection: int, data: bytes, received_at: float) -> None:
        with self.cond:
            self.events.extend(("line", (connection, line)) for line in data.splitlines())
            self.cond.notify_all()

    def on_notification(self, notification: Any) -> None:
        with self.cond:
            self.events.append(("note", notification))
            self.cond.notify_all()


def _updates(tap: Collecting) -> List[Tuple[int, bytes]]:
    return [e[1] for e in tap.events if e[0] == "line" and b"market_update" in e[1][1]]


class Broken(Tap):
    def on_bytes(self, connection: int, data: bytes, received_at: float) -> None:
        raise RuntimeError("a bug in a tap")


def test_a_tap_sees_bytes_and_notifications_in_order_and_a_broken_tap_harms_nothing() -> None:
    feed, rec, tap = FakeFeed(), Recorder(), Collecting()
    client = FeedClient(fast_config(queue_size=50, conflate_threshold=1), handlers=[rec], transport_factory=feed)
    client.add_tap(Broken())
    client.add_tap(tap)
    with client.start():
        client.subscribe()
        rec.wait_for(called("on_market_status", 2))
        for price in range(100):
            feed.connections[0].push_message(market_update("m1", price=2 + price / 100))
        feed.connections[0].eof()
        rec.wait_for(called("on_connect", 2))
        with tap.cond:  # the restored subscription's images, on the second connection
            assert tap.cond.wait_for(lambda: len(_updates(tap)) == 2 + 100 + 2, 5)
    kinds = [type(e[1]).__name__ if e[0] == "note" else "line" for e in tap.events]
    first_up = kinds.index("Connected")
    assert kinds[:first_up] == ["line"]  # the init response came first, then the session was up
    assert isinstance(tap.events[first_up + 1][1], ResumedAll)
    assert [c for c, _ in _updates(tap)] == [1] * 102 + [2] * 2  # every update, on its connection
    lost = kinds.index("SuspendedAll")
    assert kinds[lost + 1] == "Disconnected"
    assert all(e[1][0] == 1 for e in tap.events[:lost] if e[0] == "line")  # connection numbers
    assert isinstance(tap.events[-2][1], SuspendedAll) and isinstance(tap.events[-1][1], Disconnected)
    assert isinstance(tap.events[first_up][1], Connected) and tap.events[first_up][1].session.number == 1

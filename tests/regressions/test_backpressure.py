"""Issue 11, defects 4 and 5: backpressure that does not keep its word.

- 4 ``overflow_policy="conflate"`` degrades into ``block``: ``MarketStatusChanged`` notifications
  skip the queue bound and are never conflated, so a flapping market behind a stuck handler fills
  the queue, after which the reader blocks on conflatable updates too (and stops reading).
- 5 The watchdog freezes behind a blocked reader: under ``overflow_policy="block"`` the reader
  waits for room while holding the lock the watchdog's heartbeat check needs, so late heartbeats
  are never detected; requests from other threads must still end within their timeout.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from imgfeed import ConnectError, DisconnectReason, FeedClient, SuspendReason
from imgfeed.transport.memory import MemoryTransport
from tests.reliability import wire
from tests.reliability.support import Recorder
from tests.unit.memory_feed import FakeFeed, fast_config

#: The longest a test waits for something it expects (seconds); only reached when it fails.
WAIT = 5.0
#: How long a test gives the client to do what today's client never does (seconds): long enough
#: for the thing to happen many times over on a loaded machine, short enough to keep the failing
#: run quick.
SETTLE = 2.0
#: Market status flips the server sends behind the stuck handler (each an update and a status change).
FLAPS = 2000
QUEUE_SIZE = 50


class StuckHandler(Recorder):
    """Blocks in its first ``on_market_update`` until :attr:`gate` is set (at most a bounded time)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.stuck = threading.Event()
        super().__init__(before=self._maybe_block)

    def _maybe_block(self, name: str, args: Tuple[Any, ...]) -> None:
        if name == "on_market_update" and not self.stuck.is_set():
            self.stuck.set()
            self.gate.wait(WAIT * 3)


@pytest.fixture
def stuck() -> Iterator[StuckHandler]:
    handler = StuckHandler()
    try:
        yield handler
    finally:
        handler.gate.set()


def flap(i: int) -> bytes:
    """The ``i``-th image of a market that alternates between open and suspended, with a heartbeat."""
    status = "open" if i % 2 == 0 else "suspended"
    return wire.market_update("m1", status, price=1.0 + i) + wire.heartbeat()


def last_price(client: FeedClient) -> float:
    image = client.book.image("m1")
    return -1.0 if image is None else float(image.selections[0].price or -1.0)


def test_conflate_keeps_reading_a_flapping_market_behind_a_stuck_handler(stuck: StuckHandler) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the status notifications fill the queue past its bound, the reader then
    # waits for room on the next update and reads nothing more: "AssertionError: the reader
    # stopped at price 45.0 of 2001.0 (bytes read 16 kB of 702 kB); queue_depth=50".
    feed = FakeFeed(markets=("m1",))
    config = fast_config(
        queue_size=QUEUE_SIZE,
        conflate_threshold=10,
        overflow_policy="conflate",
        heartbeat_timeout=WAIT,  # liveness is not what this test is about
        silence_timeout=WAIT * 2,
        handler_stall_warning=None,
    )
    client = FeedClient(config, handlers=[stuck], transport_factory=feed).start()
    try:
        assert stuck.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        t = feed.connections[0]
        t.push(flap(0))
        assert stuck.stuck.wait(WAIT)
        chunks = [flap(i) for i in range(1, FLAPS + 1)]
        for chunk in chunks:
            t.push(chunk)
        final = 1.0 + FLAPS
        read_all = client.book.wait_for(lambda: last_price(client) == final, SETTLE)
        stats = client.stats()
        sent = sum(map(len, chunks)) // 1000
        assert read_all, (
            f"the reader stopped at price {last_price(client)} of {final} "
            f"(bytes read {stats.bytes // 1000} kB of {sent} kB); queue_depth={stats.queue_depth}"
        )
        assert stats.queue_depth <= QUEUE_SIZE + 5, (
            f"queue_depth={stats.queue_depth} > queue_size={QUEUE_SIZE}"
        )
        assert client.book.suspended is None
    finally:
        stuck.gate.set()
        client.stop()


class NoSecondConnection(FakeFeed):
    """The first connection is the FakeFeed's; every later attempt fails to connect."""

    def __call__(self) -> MemoryTransport:
        if self.connections:
            self.connect_errors.append(ConnectError("refused (test)"))
        return super().__call__()


def test_late_heartbeats_are_detected_while_the_reader_waits_for_room(stuck: StuckHandler) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the reader waits for room holding the emit lock; the watchdog's heartbeat
    # check waits for that lock, so neither heartbeat lateness nor silence is ever noticed:
    # "AssertionError: book.suspended stayed None with no byte read for 2.0 s". (A request from
    # another thread does end: RequestTimeoutError after its own timeout.)
    feed = NoSecondConnection(markets=("m1",))
    config = fast_config(
        queue_size=QUEUE_SIZE,
        overflow_policy="block",
        heartbeat_timeout=0.3,
        silence_timeout=0.6,
        handler_stall_warning=None,
    )
    client = FeedClient(config, handlers=[stuck], transport_factory=feed).start()
    try:
        assert stuck.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        t = feed.connections[0]
        # Fill the queue behind the stuck handler, then keep the server quiet.
        t.push(wire.market_update("m1", price=1.0))
        assert stuck.stuck.wait(WAIT)
        t.push(b"".join(wire.market_update(f"x{i}", price=2.0) for i in range(QUEUE_SIZE * 2)))
        seen: List[Any] = []

        def late_or_gone() -> bool:
            seen.append(client.book.suspended)
            return client.book.suspended is not None

        noticed = client.book.wait_for(late_or_gone, SETTLE)
        assert noticed, f"book.suspended stayed None with no byte read for {SETTLE} s"
        assert seen[-1] in (SuspendReason.HEARTBEAT_LATE, SuspendReason.DISCONNECTED)

        # A request from another thread ends within its timeout (answer, error or timeout).
        ended = threading.Event()
        outcome: Dict[str, Any] = {}

        def ask() -> None:
            try:
                outcome["response"] = client.request("fence", {}, timeout=0.5)
            except Exception as exc:  # RequestTimeoutError, RequestError or ClientClosedError: all fine
                outcome["error"] = exc
            finally:
                ended.set()

        asker = threading.Thread(target=ask, name="imgfeed-test-asker")
        asker.start()
        assert ended.wait(WAIT), "request(timeout=0.5) did not return"
        asker.join(WAIT)
    finally:
        stuck.gate.set()
        client.stop()
    reasons = stuck.disconnect_reasons()
    assert not reasons or reasons[0] in (DisconnectReason.SILENCE, DisconnectReason.USER_STOP), reasons

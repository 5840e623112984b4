"""The dispatch queue: order, conflation, bounded memory, and each overflow policy."""

from __future__ import annotations

import threading

import pytest

from imgfeed.feeds.img.adapter import ImgAdapter
from imgfeed.feeds.img.protocol.messages import Heartbeat, MarketStatus, MarketUpdate, RemoveMarkets
from imgfeed.runtime.events import Disconnected, DisconnectReason, MarketStatusChanged
from imgfeed.runtime.queue import DispatchQueue as _Queue
from imgfeed.runtime.queue import QueueClosedError


def DispatchQueue(**kwargs: object) -> _Queue:  # noqa: N802 -- the queue as the IMG client builds it
    return _Queue(keys=ImgAdapter.conflation_keys, **kwargs)  # type: ignore[arg-type]


def update(market_id: str, n: int) -> MarketUpdate:
    return MarketUpdate(market_id=market_id, status=MarketStatus.OPEN, raw={"n": n, "msg": {"id": market_id}})


def drain(q: _Queue) -> list:
    out: list = []
    while True:
        items = q.get_many(0)
        if not items:
            return out
        out.extend(items)


def test_fifo_below_the_threshold_nothing_is_conflated() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=50)
    items = [update("m1", i) for i in range(10)]
    q.put_many(items)
    assert drain(q) == items
    assert q.conflated == 0


def test_above_the_threshold_a_newer_update_replaces_the_queued_one() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=2)
    q.put_many([update("m1", 1), update("m2", 1), update("m1", 2), update("m2", 2), update("m1", 3)])
    assert [(u.market_id, u.raw["n"]) for u in drain(q)] == [("m2", 2), ("m1", 3)]
    assert q.conflated == 3


def test_conflation_never_moves_an_update_before_a_structural_message() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=1)
    removal = RemoveMarkets(market_ids=("m1",))
    gone = Disconnected(DisconnectReason.EOF)
    q.put_many([update("m1", 1), removal, gone, update("m1", 2)])
    assert drain(q) == [removal, gone, update("m1", 2)]
    assert q.conflated == 1


def test_structural_messages_are_never_dropped() -> None:
    q = DispatchQueue(maxsize=1000, conflate_threshold=1)
    removals = [RemoveMarkets(market_ids=(f"m{i}",)) for i in range(500)]
    q.put_many(removals)
    assert drain(q) == removals
    assert q.conflated == 0


def test_only_the_latest_heartbeat_survives_a_backlog() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=1)
    beats = [Heartbeat(raw={"n": i}) for i in range(5)]
    q.put_many(beats)
    assert drain(q) == [beats[-1]]


def test_an_update_taken_by_the_dispatcher_is_not_conflated_later() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=0)
    q.put_many([update("m1", 1)])
    assert drain(q) == [update("m1", 1)]
    q.put_many([update("m1", 2)])
    assert drain(q) == [update("m1", 2)]
    assert q.conflated == 0


def test_memory_stays_bounded_by_the_number_of_markets() -> None:
    q = DispatchQueue(maxsize=10_000, conflate_threshold=10)
    for round_ in range(2000):
        q.put_many([update(f"m{i}", round_) for i in range(20)])
    assert len(q) == 20
    assert len(q._items) <= 2 * 20 + 64 + 20  # dead items are compacted away
    latest = drain(q)
    assert sorted((u.market_id, u.raw["n"]) for u in latest) == sorted((f"m{i}", 1999) for i in range(20))


def test_a_put_never_waits_it_reports_the_bound() -> None:
    q = DispatchQueue(maxsize=3, policy="disconnect")
    assert not q.put_many([update("m1", 1), update("m2", 1)])
    assert q.put_many([update("m3", 1)])  # at the bound: the reader applies the policy
    assert q.put_many([update("m4", 1)])  # over it by a chunk, never a wait under the runtime lock
    assert len(q) == 4


def test_status_notifications_are_conflated_per_market() -> None:
    q = DispatchQueue(maxsize=100, conflate_threshold=1)
    flaps = [MarketStatusChanged("m1", i % 2 == 0) for i in range(1001)] + [MarketStatusChanged("m2", False)]
    q.put_many(flaps)
    assert drain(q) == [MarketStatusChanged("m1", True), MarketStatusChanged("m2", False)]


def test_block_policy_waits_for_room_and_gives_up_when_told_to_stop() -> None:
    q = DispatchQueue(maxsize=2, policy="block")
    assert q.put_many([update("m1", 1), update("m2", 1)])
    stop = threading.Event()
    finished = threading.Event()
    errors: list = []

    def wait() -> None:
        try:
            q.wait_for_room(should_stop=stop.is_set)
        except QueueClosedError as exc:
            errors.append(exc)
        finished.set()

    t = threading.Thread(target=wait, name="imgfeed-test-wait")
    t.start()
    assert not finished.wait(0.2)  # it waits for room
    assert [u.market_id for u in q.get_many(0, max_items=1)] == ["m1"]
    assert finished.wait(5)  # room made: the wait is over
    t.join(5)
    assert not errors

    q.put_many([update("m3", 1)])
    finished.clear()
    t = threading.Thread(target=wait, name="imgfeed-test-wait")
    t.start()
    stop.set()
    assert finished.wait(5)
    t.join(5)
    assert len(errors) == 1


def test_close_lets_the_consumer_drain_then_end() -> None:
    q = DispatchQueue(maxsize=10)
    q.put_many([update("m1", 1)])
    q.close()
    with pytest.raises(QueueClosedError):
        q.put_many([update("m2", 1)])
    assert q.get_many(1.0) == [update("m1", 1)]
    assert q.get_many(1.0) == []


def test_get_many_wakes_up_for_a_put() -> None:
    q = DispatchQueue(maxsize=10)
    got: list = []
    t = threading.Thread(target=lambda: got.extend(q.get_many(10.0)), name="imgfeed-test-get")
    t.start()
    q.put_many([update("m1", 1)])
    t.join(10)
    assert got == [update("m1", 1)]


def test_runtime_notifications_are_queued_behind_a_full_queue() -> None:
    q = DispatchQueue(maxsize=1, policy="disconnect")
    q.put_many([update("m1", 1)])
    gone = Disconnected(DisconnectReason.QUEUE_OVERFLOW)
    q.put_many([gone])
    assert drain(q) == [update("m1", 1), gone]

"""MarketBook: the feed's suspension rules, case by case (the property test covers the rest)."""

from __future__ import annotations

import threading

from imgfeed import MarketBook
from imgfeed.feeds.img.protocol.messages import (
    Heartbeat,
    Market,
    MarketStatus,
    MarketUpdate,
    RemoveMarkets,
    Sport,
)
from imgfeed.feeds.img.subscriptions import SubscriptionState
from imgfeed.runtime.events import MarketStatusChanged, ResumedAll, SuspendedAll, SuspendReason


def upd(market_id: str, status: str = "open", n: int = 0) -> MarketUpdate:
    return MarketUpdate(market_id=market_id, status=MarketStatus.parse(status), raw={"n": n, "msg": {"id": market_id}})


def market(market_id: str, event_id: str = "ev.1", mt: str = "mt.winonly") -> Market:
    return Market(id=market_id, name=market_id, event_id=event_id, tags=(mt, event_id))


def connected_book() -> MarketBook:
    book = MarketBook()
    assert book.session_started() == [ResumedAll()]
    return book


def test_everything_is_suspended_before_the_first_session() -> None:
    book = MarketBook()
    assert book.apply([upd("m1")]) == []  # opened on its own, but not tradable: nothing to say
    assert not book.is_tradable("m1")
    assert book.suspended is SuspendReason.DISCONNECTED


def test_a_market_is_tradable_once_its_own_open_update_arrived() -> None:
    book = connected_book()
    assert not book.is_tradable("m1")
    assert book.apply([upd("m1")]) == [MarketStatusChanged("m1", True)]
    assert book.is_tradable("m1")
    assert book.apply([upd("m1", "suspended")]) == [MarketStatusChanged("m1", False)]
    assert not book.is_tradable("m1")
    assert book.image("m1") == upd("m1", "suspended")


def test_late_heartbeat_suspends_all_until_the_next_heartbeat() -> None:
    book = connected_book()
    book.apply([upd("m1")])
    assert book.heartbeat_late() == [SuspendedAll(SuspendReason.HEARTBEAT_LATE)]
    assert book.heartbeat_late() == []  # said once
    assert not book.is_tradable("m1")
    assert book.snapshot().tradable == frozenset()
    assert book.apply([upd("m2")]) == []  # opens while suspended: still untradable, so unsaid
    assert book.heartbeat_resumed() == [ResumedAll(), MarketStatusChanged("m1", True), MarketStatusChanged("m2", True)]
    assert book.is_tradable("m1") and book.is_tradable("m2")


def test_after_a_reconnect_each_market_waits_for_its_own_update() -> None:
    book = connected_book()
    book.apply([upd("m1", n=1), upd("m2", n=1)])
    assert book.session_lost() == [SuspendedAll(SuspendReason.DISCONNECTED)]
    assert book.session_started() == [ResumedAll()]
    assert not book.is_tradable("m1") and not book.is_tradable("m2")
    assert book.image("m1") == upd("m1", n=1)  # kept for display, not trusted
    book.apply([upd("m2", n=2)])
    assert book.tradable_market_ids() == frozenset({"m2"})


def test_a_new_snapshot_replaces_the_offering_and_removal_drops_markets() -> None:
    book = connected_book()
    book.apply([Sport(id="sp.golf", name="Golf"), market("m1"), market("m2"), upd("m1")])
    book.apply([Sport(id="sp.golf", name="Golf"), market("m2")])
    snap = book.snapshot()
    assert set(snap.markets) == {"m2"}
    assert book.apply([RemoveMarkets(market_ids=("m1", "m2"))]) == [MarketStatusChanged("m1", False)]
    assert book.market("m2") is None and book.image("m1") is None
    assert len(book) == 0


def test_unsubscribe_stops_trusting_the_markets_it_covers() -> None:
    subscriptions = SubscriptionState()
    book = MarketBook(subscriptions)
    book.session_started()
    subscriptions.confirmed(True, {})
    book.apply([market("m1", event_id="ev.1"), market("m2", event_id="ev.2"), upd("m1"), upd("m2"), upd("m3")])
    assert book.tradable_market_ids() == {"m1", "m2", "m3"}
    subscriptions.confirmed(False, {"event_ids": ["ev.1"]})
    notes: list = []
    with book.lock:
        book.subscriptions_changed_locked(notes, removed={"event_ids": ["ev.1"]})
    # m3 is not in the offering: whether ev.1 covers it cannot be checked, so it is not trusted...
    assert set(notes) == {MarketStatusChanged("m1", False), MarketStatusChanged("m3", False)}
    assert book.tradable_market_ids() == frozenset({"m2"})
    assert book.apply([upd("m1")]) == []  # an image of an unsubscribed market never makes it tradable
    assert not book.is_tradable("m1")
    # ... until the server sends its image again, which it does only for a market still subscribed.
    assert book.apply([upd("m3")]) == [MarketStatusChanged("m3", True)]


def test_snapshot_is_a_consistent_copy() -> None:
    book = connected_book()
    book.apply([upd("m1")])
    snap = book.snapshot()
    book.apply([upd("m1", "closed")])
    assert snap.images["m1"].status == MarketStatus.OPEN
    assert snap.is_tradable("m1") and not book.is_tradable("m1")
    assert snap.session_number == 1


def test_readers_on_other_threads_see_whole_chunks() -> None:
    book = connected_book()
    stop = threading.Event()
    torn: list = []

    def reader() -> None:
        while not stop.is_set():
            snap = book.snapshot()
            ns = {u.raw["n"] for u in snap.images.values()}
            if len(ns) > 1:
                torn.append(ns)

    t = threading.Thread(target=reader, name="imgfeed-test-reader")
    t.start()
    for n in range(300):
        book.apply([upd(f"m{i}", n=n) for i in range(20)])
    stop.set()
    t.join(10)
    assert torn == []


def test_wait_for_wakes_on_a_change_from_another_thread() -> None:
    book = connected_book()
    applier = threading.Thread(target=book.apply, args=([upd("m1")],), name="imgfeed-test-apply")
    applier.start()
    assert book.wait_for(lambda: book.is_tradable("m1"), 5)
    applier.join(5)
    assert not book.wait_for(lambda: book.is_tradable("m2"), 0.05)


def test_images_of_markets_gone_from_the_new_snapshot_are_forgotten() -> None:
    book = connected_book()
    book.apply([Sport(id="sp.golf", name="Golf"), market("m1"), market("m2"), upd("m1"), upd("m2")])
    book.session_lost()
    book.session_started()
    book.apply([Sport(id="sp.golf", name="Golf"), market("m2")])
    assert book.image("m1") is not None  # the snapshot may not be over yet
    book.apply([Heartbeat()])  # a heartbeat in the middle of a snapshot does not end it
    assert book.image("m1") is not None
    book.apply([upd("m3")])  # it is over now: m1 was removed while we were away
    assert book.image("m1") is None
    assert book.image("m2") is not None  # still listed: kept for display until its update
    assert not book.is_tradable("m2")


def test_an_image_updated_on_this_session_survives_a_snapshot_that_does_not_list_it() -> None:
    book = connected_book()
    book.apply([Sport(id="sp.golf", name="Golf"), upd("m9"), Heartbeat()])
    assert book.is_tradable("m9") and book.image("m9") is not None

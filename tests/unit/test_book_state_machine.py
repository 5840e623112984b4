"""A stateful property test of the market book against the feed's suspension rules.

Hypothesis drives a :class:`~imgfeed.MarketBook` through any order of snapshots, market updates,
removals, heartbeats, late heartbeats, unsubscribes, disconnects and reconnects, and after every
step compares it with a model written straight from docs/protocol.md section 8:

- every market is suspended while disconnected, and while heartbeats are late;
- after a (re)connect each market stays suspended until its own ``market_update`` arrives;
- a new snapshot replaces the offering; ``remove_markets`` drops markets;
- a market whose latest update says ``suspended``, ``closed``, ``settled`` (or anything but
  ``open``) is not tradable;
- a market is tradable only while the subscriptions in force want it, by the service's rule (the
  latest subscribe/unsubscribe whose filter matches it decides); a filter that cannot be checked
  because the market is not in the offering counts as covering it when it is an unsubscribe (the
  safe side), and an image that arrives for an unwanted market never makes it tradable.

Three views must agree at every step: the model, the book's answers (``is_tradable``,
``tradable_market_ids``, ``snapshot``, ``suspended``), and what a handler would believe from the
notifications alone: ``SuspendedAll`` means nothing is tradable, and ``MarketStatusChanged(m, t)``
says whether ``m`` is tradable *now* -- so it may never claim ``True`` while every market is
suspended. No notification may repeat what the handler already knows.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    Heartbeat,
    Market,
    MarketType,
    MarketUpdate,
    RemoveMarkets,
    Sport,
)
from imgfeed.feeds.img.subscriptions import SubscriptionState
from imgfeed.runtime.events import MarketStatusChanged, Notification, ResumedAll, SuspendedAll, SuspendReason

EVENTS = ("ev.golf_1100", "ev.golf_1101")
MARKET_TYPES = ("mt.winonly", "mt.top5")
#: A small universe, so that hypothesis revisits the same markets across connections. One long id
#: with ``~`` escapes: ids are opaque strings, compared as received (docs/protocol.md section 5).
MARKET_IDS = (
    "golf_1100_winonly",
    "golf_1100_top5",
    "golf_1101_winonly",
    "golf_14754_threeball_hole~7cgolfer_ids~3d24~2c1544~2c1548~7chole_num~3d1~7cround_num~3d1",
)
#: Every documented market status, and one the documentation does not list (a server may grow
#: new ones; only "open" may ever be traded).
STATUSES = ("open", "suspended", "closed", "settled", "abandoned")

market_ids = st.sampled_from(MARKET_IDS)
market_id_sets = st.lists(market_ids, unique=True, max_size=len(MARKET_IDS))


def _market(market_id: str, event_id: str, market_type_id: str) -> Market:
    return Market(
        id=market_id,
        name=market_id,
        event_id=event_id,
        tags=("sp.golf", market_type_id, event_id, "comp.golf_1"),
        raw={"mode": "push", "type": "market", "msg": {"id": market_id, "event_id": event_id}},
    )


def _update(market_id: str, status: str) -> MarketUpdate:
    msg = {"id": market_id, "status": status, "selections": [{"id": "g:1", "price": 2.5, "status": status}]}
    return MarketUpdate(
        market_id=market_id,
        status=status,
        raw={"mode": "push", "type": "market_update", "msg": msg},
    )


class BookMachine(RuleBasedStateMachine):
    """The book, the feed's rules as a model, and a handler's view built from notifications."""

    @initialize()
    def fresh_book(self) -> None:
        self.subscriptions = SubscriptionState()
        self.book = MarketBook(self.subscriptions)
        # The model.
        self.requests: List["tuple[bool, Dict[str, List[str]]]"] = []  # confirmed, in order
        self.connected = False
        self.heartbeat_late = False
        self.status: Dict[str, str] = {}  # latest status of each market updated on this session
        self.offering: Dict[str, str] = {}  # market id -> event id, from the latest snapshot
        # The handler's view, from notifications only.
        self.view_suspended: Optional[SuspendReason] = SuspendReason.DISCONNECTED
        self.view_tradable: Set[str] = set()

    # --- the handler's view ----------------------------------------------------------------------

    def _notify(self, notifications: List[Notification]) -> None:
        for n in notifications:
            if isinstance(n, SuspendedAll):
                # A second SuspendedAll may only say that the reason changed (late -> disconnected).
                assert self.view_suspended != n.reason, f"{n} repeats what the handler knows"
                self.view_suspended = n.reason
                self.view_tradable.clear()
            elif isinstance(n, ResumedAll):
                assert self.view_suspended is not None, "ResumedAll while not suspended"
                self.view_suspended = None
            elif isinstance(n, MarketStatusChanged):
                assert self.view_suspended is None, f"{n} while every market is suspended"
                assert (n.market_id in self.view_tradable) != n.tradable, f"{n} repeats what the handler knows"
                (self.view_tradable.add if n.tradable else self.view_tradable.discard)(n.market_id)
            else:  # pragma: no cover - the book sends nothing else
                raise AssertionError(f"unexpected notification {n!r}")

    # --- the connection --------------------------------------------------------------------------

    def _connect(self) -> None:
        self.connected = True
        self.heartbeat_late = False
        self.status.clear()  # every market waits for its own market_update (docs/protocol.md 8)
        self._notify(self.book.session_started())

    def _disconnect(self) -> None:
        self.connected = False
        self.heartbeat_late = False
        self.status.clear()
        self._notify(self.book.session_lost())

    @precondition(lambda self: not self.connected)
    @rule()
    def connect(self) -> None:
        self._connect()

    @precondition(lambda self: self.connected)
    @rule()
    def disconnect(self) -> None:
        self._disconnect()

    @precondition(lambda self: self.connected)
    @rule()
    def reconnect(self) -> None:
        self._disconnect()
        self._connect()

    @rule()
    def heartbeat(self) -> None:
        self.heartbeat_late = False
        self._notify(self.book.apply([Heartbeat()]))
        self._notify(self.book.heartbeat_resumed())  # the runtime's part: the session saw a heartbeat

    @rule()
    def heartbeat_becomes_late(self) -> None:
        if self.connected:
            self.heartbeat_late = True
        self._notify(self.book.heartbeat_late())

    # --- the feed --------------------------------------------------------------------------------

    @rule(markets=market_id_sets, data=st.data())
    def snapshot(self, markets: List[str], data: st.DataObject) -> None:
        records: list = [
            Sport(id="sp.golf", name="Golf"),
            Competition(id="comp.golf_1", name="PGA Tour", sport_id="sp.golf"),
        ]
        records.extend(Event(id=e, name=e, competition_id="comp.golf_1") for e in EVENTS)
        records.extend(MarketType(id=t, name=t) for t in MARKET_TYPES)
        self.offering = {}
        for market_id in markets:
            event_id = data.draw(st.sampled_from(EVENTS), label=f"event of {market_id}")
            records.append(_market(market_id, event_id, data.draw(st.sampled_from(MARKET_TYPES))))
            self.offering[market_id] = event_id
        self._notify(self.book.apply(records))

    @rule(updates=st.lists(st.tuples(market_ids, st.sampled_from(STATUSES)), min_size=1, max_size=6))
    def market_updates(self, updates: List["tuple[str, str]"]) -> None:
        for market_id, status in updates:
            self.status[market_id] = status
        self._notify(self.book.apply([_update(m, s) for m, s in updates]))

    def _draw_markets(self, data: st.DataObject) -> List[str]:
        """A set of market ids, leaning towards the markets updated on this session.

        Removing or unsubscribing a market that has no image tests little; without the lean,
        hypothesis rarely hits an open market with a removal within its example budget.
        """
        known = sorted(self.status)
        choice = st.one_of(st.sampled_from(known), market_ids) if known else market_ids
        return data.draw(st.lists(choice, unique=True, max_size=len(MARKET_IDS)), label="markets")

    @rule(data=st.data())
    def remove_markets(self, data: st.DataObject) -> None:
        markets = self._draw_markets(data)
        for market_id in markets:
            self.status.pop(market_id, None)
            self.offering.pop(market_id, None)
        self._notify(self.book.apply([RemoveMarkets(market_ids=tuple(markets))]))

    def _confirmed(self, subscribe: bool, msg: Dict[str, List[str]]) -> None:
        self.requests.append((subscribe, msg))
        if not subscribe:
            # A market outside the offering that the unsubscribe may cover is no longer trusted
            # until its next image (its event is unknown: only market_ids can be checked).
            for market_id in list(self.status):
                if market_id not in self.offering and ("market_ids" not in msg or market_id in msg["market_ids"]):
                    del self.status[market_id]
        self.subscriptions.confirmed(subscribe, msg)
        out: list = []
        with self.book.lock:
            self.book.subscriptions_changed_locked(out, removed=None if subscribe else msg)
        self._notify(out)

    @rule(data=st.data(), subscribe=st.booleans())
    def change_markets(self, data: st.DataObject, subscribe: bool) -> None:
        self._confirmed(subscribe, {"market_ids": self._draw_markets(data)})

    @rule(events=st.lists(st.sampled_from(EVENTS), unique=True, min_size=1), subscribe=st.booleans())
    def change_events(self, events: List[str], subscribe: bool) -> None:
        self._confirmed(subscribe, {"event_ids": events})

    @rule(subscribe=st.booleans())
    def change_everything(self, subscribe: bool) -> None:
        self._confirmed(subscribe, {})

    # --- what must hold after every step ---------------------------------------------------------

    def _wanted(self, market_id: str) -> bool:
        """The service's rule for a market of the offering; outside it, the server's image is its word."""
        event = self.offering.get(market_id)
        if event is None:
            return True
        for subscribe, msg in reversed(self.requests):
            if "market_ids" in msg and market_id not in msg["market_ids"]:
                continue
            if "event_ids" in msg and event not in msg["event_ids"]:
                continue
            return subscribe
        return False

    def _model_tradable(self, market_id: str) -> bool:
        return (
            self.connected
            and not self.heartbeat_late
            and self.status.get(market_id) == "open"
            and self._wanted(market_id)
        )

    def _model_suspended(self) -> Optional[SuspendReason]:
        if not self.connected:
            return SuspendReason.DISCONNECTED
        return SuspendReason.HEARTBEAT_LATE if self.heartbeat_late else None

    @invariant()
    def book_answers_as_the_rules_say(self) -> None:
        expected = frozenset(m for m in MARKET_IDS if self._model_tradable(m))
        for market_id in MARKET_IDS:
            assert self.book.is_tradable(market_id) == (market_id in expected), (
                f"is_tradable({market_id!r}) is {self.book.is_tradable(market_id)}; the rules say "
                f"{market_id in expected} (connected={self.connected}, heartbeat_late={self.heartbeat_late}, "
                f"latest status this session={self.status.get(market_id)!r})"
            )
        assert self.book.tradable_market_ids() == expected
        assert self.book.suspended == self._model_suspended()
        snap = self.book.snapshot()
        assert snap.tradable == expected
        assert snap.suspended == self._model_suspended()
        assert set(snap.markets) == set(self.offering)

    @invariant()
    def handler_view_matches_the_book(self) -> None:
        assert self.view_suspended == self.book.suspended
        assert frozenset(self.view_tradable) == self.book.tradable_market_ids()


TestBookStateMachine = BookMachine.TestCase
# Twice the unit profile's budget: this one test stands for every order of events the feed can
# produce (with 200 examples it catches each of seven hand-made mutations of the book's rules).
TestBookStateMachine.settings = settings(max_examples=200)

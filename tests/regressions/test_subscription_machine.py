"""Issue 11, defect 2 as a property: subscribe, unsubscribe and reconnect against a model of the service.

A hypothesis state machine drives a real :class:`~imgfeed.FeedClient` against the simulator's own
server logic (:mod:`tests.regressions.simfeed`: ``ServerSession`` behind an in-memory transport):
random small filters over two tournaments x two market types (four markets), each list in a random
order, subscribed and unsubscribed, with server-side drops in between.

The model is the service's rule as the simulator implements it: a market is subscribed when the
latest subscribe/unsubscribe whose filter matches it is a subscribe; a filter matches a market when
it matches every list it gives. After every step the client is settled (:func:`fence`), and then:

- every tradable market is subscribed and open in the model (an unsubscribed market is never
  tradable, before or after a reconnect);
- every market the model says is subscribed and open is tradable (the client has settled, and the
  scenario never moves, so each has had its image on the current session).
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Tuple

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from imgfeed import FeedClient
from imgfeed.feeds.img.simulator import MarketInfo
from tests.regressions.simfeed import WAIT, SimFeed, fence, sim_config, tiny_scenario
from tests.reliability.support import Recorder

#: One scenario for every example: it never moves, and each connection's subscriptions live in
#: its own ServerSession, so sharing it costs nothing and keeps the ids fixed for the strategies.
SCENARIO = tiny_scenario()
MARKETS: List[MarketInfo] = SCENARIO.markets(include_finished=False)
EVENT_IDS = sorted({m.event_id for m in MARKETS})
MARKET_TYPE_IDS = sorted({m.market_type_id for m in MARKETS})
MARKET_IDS = sorted(m.id for m in MARKETS)
OPEN = frozenset(m.id for m in MARKETS if SCENARIO.market_image(m.id).get("status") == "open")

#: A filter as the caller gives it: for each key given, a list (in the caller's order).
Filter = Dict[str, List[str]]


def _lists(ids: List[str]) -> st.SearchStrategy[List[str]]:
    return st.lists(st.sampled_from(ids), min_size=1, max_size=len(ids), unique=True)


FILTERS: st.SearchStrategy[Filter] = st.fixed_dictionaries(
    {},
    optional={
        "event_ids": _lists(EVENT_IDS),
        "market_type_ids": _lists(MARKET_TYPE_IDS),
        "market_ids": _lists(MARKET_IDS),
    },
)


def matches(market: MarketInfo, f: Filter) -> bool:
    """The service's rule: a market matches when it matches every list the filter gives."""
    return (
        market.event_id in f.get("event_ids", [market.event_id])
        and market.market_type_id in f.get("market_type_ids", [market.market_type_id])
        and market.id in f.get("market_ids", [market.id])
    )


class SubscriptionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.feed = SimFeed(scenario=SCENARIO)
        self.rec = Recorder()
        self.client = FeedClient(sim_config(), handlers=[self.rec], transport_factory=self.feed).start()
        #: What the caller asked for, in order: (subscribe?, filter).
        self.history: List[Tuple[bool, Filter]] = []

    # --- the model -------------------------------------------------------------------------------

    def subscribed(self) -> FrozenSet[str]:
        out = set()
        for market in MARKETS:
            for subscribe, f in reversed(self.history):
                if matches(market, f):
                    if subscribe:
                        out.add(market.id)
                    break
        return frozenset(out)

    # --- the steps -------------------------------------------------------------------------------

    @initialize(f=FILTERS)
    def first_subscribe(self, f: Filter) -> None:
        # Every run starts with something subscribed: an empty start only delays the interesting part.
        self.subscribe(f)

    @rule(f=FILTERS)
    def subscribe(self, f: Filter) -> None:
        assert self.client.subscribe(**f).is_ok
        self.history.append((True, f))

    @rule(f=FILTERS)
    def unsubscribe(self, f: Filter) -> None:
        assert self.client.unsubscribe(**f).is_ok
        self.history.append((False, f))

    @rule()
    def server_drops_the_connection(self) -> None:
        sessions = self.rec.count("on_connect")
        self.feed.current.drop()
        assert self.rec.wait_for(lambda r: r.count("on_connect") > sessions, WAIT), "no new session"

    # --- what must hold --------------------------------------------------------------------------

    @invariant()
    def tradable_is_what_is_subscribed_and_open(self) -> None:
        fence(self.client)
        expected = self.subscribed() & OPEN
        book = self.client.book
        tradable = book.tradable_market_ids()
        if tradable < expected:
            # Not an error yet: a runtime may answer the fence before its re-subscription's images.
            book.wait_for(lambda: book.tradable_market_ids() >= expected, WAIT)
            tradable = book.tradable_market_ids()
        assert tradable <= expected, (
            f"tradable but not subscribed: {sorted(tradable - expected)}; history: {self.history}"
        )
        assert tradable == expected, f"subscribed and open but not tradable: {sorted(expected - tradable)}"

    def teardown(self) -> None:
        self.client.stop()


def test_subscriptions_follow_the_service_rule_across_reconnects() -> None:
    # Observed before the runtime rewrite (commit 09e6303) (derandomized, the same every run), shrunk to issue 11's first example:
    # first_subscribe({}), unsubscribe({"event_ids": [E1]}), a drop: "AssertionError: tradable but not
    # subscribed: ['golf_..._top3', 'golf_..._winonly']". With the drop rule disabled the same
    # machine passes 200 examples on main: the model and the in-session behaviour agree.
    run_state_machine_as_test(
        SubscriptionMachine,
        settings=settings(
            max_examples=200,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

"""The scenario engine: golf tournaments, markets and prices that move, deterministic for a seed.

Contract:

- Everything random comes from one ``random.Random(config.seed)``; the same seed and the same
  sequence of :meth:`Scenario.step` calls give the same messages. Only times follow the clock,
  which is passed in (or read from ``clock``): ``publish_time``, and tournament start times,
  which are set relative to the clock when the scenario is built.
- A tournament lives through ``pre_play`` -> ``in_play`` -> ``ended`` in steps, then its markets
  are removed (``remove_markets``) and it leaves the feed. When a tournament ends a new one is
  announced on the same tour, so the feed runs for ever.
- Each tournament offers a win market, top-N markets, head-to-head (tournament match bet) markets
  and three-ball markets per hole, with the long ``~7c``-escaped ids of docs/protocol.md section 10
  (:mod:`~imgfeed.feeds.img.simulator.tournaments`).
- Prices come from a probability model: every golfer has a strength; a market's probabilities are
  a softmax of its golfers' strengths scaled to ``numwinners``; prices are
  ``1 / (p * (1 + overround))`` on the odds ladder (:mod:`imgfeed.feeds.img.simulator.pricing`). Strengths
  move as random walks, faster in play.
- Settlements follow one result per tournament (scores per golfer, and scores per hole for the
  three-balls): dead heats are paid ``m / k``, tied head-to-heads are void, and a re-settlement
  applies a penalty stroke to the best-placed golfer and settles again
  (:mod:`~imgfeed.feeds.img.simulator.settlement`).
- Thread-safe: every public method takes :attr:`Scenario.lock` (an ``RLock``). Listeners added with
  :meth:`add_listener` are called with each step's :class:`Emission` list while the lock is held,
  so a server that also takes the lock to answer a subscribe never sends an image older than one
  it already sent.

This module is the engine only: it decides what happens and when, and what is emitted. The world
it moves is plain data (:mod:`~imgfeed.feeds.img.simulator.model`), and its messages are built by
plain functions over that data (:mod:`~imgfeed.feeds.img.simulator.wire`). ``Emission``,
``MarketInfo``, ``escape_id``, ``mustard_form``, ``stamp_send_time``, ``SPORT_ID`` and
``SENT_AT_MARK`` are re-exported from here, where the sessions and tests import them.

This module does no IO and starts no threads.
"""


from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from imgfeed.feeds.img.simulator import names, settlement, tournaments, wire
from imgfeed.feeds.img.simulator.config import ScenarioConfig
from imgfeed.feeds.img.simulator.model import (
    SENT_AT_MARK,
    SPORT_ID,
    Emission,
    EventState,
    MarketInfo,
    MarketState,
    escape_id,
    mustard_form,
    reprice,
    stage_of,
    stamp_send_time,
)

__all__ = [
    "Scenario",
    # Re-exported from model (see the module docstring):
    "Emission",
    "MarketInfo",
    "escape_id",
    "mustard_form",
    "stamp_send_time",
    "SPORT_ID",
    "SENT_AT_MARK",
]


class Scenario:
    """A deterministic, thread-safe generator of a golf odds feed. See the module docstring.

    Args:
        config: sizes, rates and seed.
        clock: returns the current time (seconds since the epoch) when a method is not given
            ``now``; ``time.time`` by default.
    """

    def __init__(self, config: Optional[ScenarioConfig] = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config if config is not None else ScenarioConfig()
        self.lock = threading.RLock()
        self._clock = clock
        self._rng = random.Random(self.config.seed)
        self._listeners: List[Callable[[List[Emission]], None]] = []
        self._events: Dict[str, EventState] = {}
        self._markets: Dict[str, MarketState] = {}
        self._next_event_number = 1100 + self._rng.randrange(0, 9000, 100)
        self._next_market_number = 1
        self._tournament_names = list(names.TOURNAMENTS)
        self._rng.shuffle(self._tournament_names)
        self._golfer_pool = tournaments.make_golfers(self._rng, max(2 * self.config.golfers, 60))
        self._base_time = self._clock()
        self._live: Optional[List[MarketState]] = None
        self.steps = 0
        cfg = self.config
        cycle = cfg.pre_play_steps + cfg.in_play_steps
        for tour in range(cfg.tours):
            # One recently finished tournament per tour (settled, still on the feed), for
            # include_finished and re-settlement, then the live ones, staggered through a cycle.
            ended = self._new_event(tour, age=cycle)
            self._settle_event(ended, emit=None)
            for k in range(cfg.events_per_tour):
                self._new_event(tour, age=(k * cycle) // cfg.events_per_tour)

    def __repr__(self) -> str:
        with self.lock:
            return (
                f"<Scenario seed={self.config.seed} steps={self.steps} events={len(self._events)}"
                f" markets={len(self._markets)}>"
            )

    # --- queries ---------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[List[Emission]], None]) -> None:
        """Call ``listener(emissions)`` after every step, with :attr:`lock` held. Keep it quick."""
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[List[Emission]], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def event_ids(self, include_finished: bool = True) -> List[str]:
        """Ids of the tournaments on the feed (``include_finished=False``: not ended ones only)."""
        with self.lock:
            return [e.id for e in self._events.values() if include_finished or self._stage(e) != "ended"]

    def market_ids(self, include_finished: bool = True) -> List[str]:
        """Ids of every market on the feed, in offering order."""
        with self.lock:
            return [m.id for m in self._markets.values() if include_finished or self._stage(m.event) != "ended"]

    def market_type_ids(self) -> List[str]:
        """Ids of the market types in use."""
        with self.lock:
            return list(dict.fromkeys(m.type_id for m in self._markets.values()))

    def markets(self, include_finished: bool = True) -> List[MarketInfo]:
        """Id, event and type of every market on the feed."""
        with self.lock:
            return [m.info for m in self._markets.values() if include_finished or self._stage(m.event) != "ended"]

    def market_image(self, market_id: str) -> Dict[str, Any]:
        """The ``msg`` of the market's latest ``market_update`` (a fresh dict).

        Raises:
            KeyError: no such market (never existed, or removed).
        """
        with self.lock:
            return wire.image(self._markets[market_id])

    def market_info(self, market_id: str) -> Dict[str, Any]:
        """The ``msg`` of the market's ``market`` push (the offering entry)."""
        with self.lock:
            return wire.market_msg(self._markets[market_id], self.config)

    def event_stage(self, event_id: str) -> str:
        with self.lock:
            return self._stage(self._events[event_id])

    # --- messages for one session ------------------------------------------------------------------

    def snapshot(self, now: Optional[float] = None, include_finished: bool = False) -> List[Dict[str, Any]]:
        """The post-init offering, in the documented order (docs/protocol.md section 4).

        One ``sport``, the ``competition`` for every tour, an ``event`` per tournament in progress
        or upcoming (and recently finished ones with ``include_finished``), a ``market_type`` for
        every type with at least one market in the snapshot, and a ``market`` for every market
        available and open (with ``include_finished``: every market still on the feed).
        """
        with self.lock:
            pt = wire.utc_text(self._clock() if now is None else now)
            events = [e for e in self._events.values() if include_finished or self._stage(e) != "ended"]
            on_feed = self._markets
            markets = [m for e in events for m in e.markets if m.id in on_feed and (include_finished or m.is_live)]
            return wire.snapshot(events, markets, self.config, pt)

    def update_messages(self, market_ids: Iterable[str], now: Optional[float] = None) -> List[Dict[str, Any]]:
        """A ``market_update`` with the current image of each market (the subscription snapshot)."""
        with self.lock:
            pt = wire.utc_text(self._clock() if now is None else now)
            stamp, on_feed = self.config.stamp_send_time, self._markets
            return [wire.update_obj(on_feed[mid], pt, stamp) for mid in market_ids if mid in on_feed]

    # --- moving the feed -------------------------------------------------------------------------

    def step(self, updates: Optional[int] = None, now: Optional[float] = None, advance: bool = True) -> List[Emission]:
        """Advance the scenario one step and emit what changed; listeners get the same list.

        A step moves every tournament's clock on by one (stage changes, three-ball holes closing
        and settling, tournaments ending, settling, being re-settled and removed, new tournaments
        announced), then makes ``updates`` price moves (``config.updates_per_step`` by default)
        on randomly chosen live markets, some of which suspend or re-open instead. With
        ``advance=False`` only the price moves are made (the server's ticker spreads updates
        between clock steps this way).

        Returns:
            the emissions, in the order sessions must send them.
        """
        with self.lock:
            now = self._clock() if now is None else now
            pt = wire.utc_text(now)
            out: List[Emission] = []
            if advance:
                self._live = None
                self.steps += 1
                for event in list(self._events.values()):
                    self._advance(event, pt, out)
            n = self.config.updates_per_step if updates is None else updates
            if n > 0:
                # The markets whose prices move only change when the clock steps (or a market
                # is closed by a fault hook): cached, so a small step costs O(updates).
                if self._live is None:
                    self._live = [m for m in self._markets.values() if m.is_live and self._stage(m.event) != "ended"]
                live = self._live
                if live:
                    pick = self._rng.random
                    size = len(live)
                    for _ in range(n):
                        self._move(live[int(pick() * size)], pt, out)
            return self._publish(out)

    # --- moving one market by hand (tests that need a situation now, not some steps later) ----------

    def set_market_status(self, market_id: str, status: str, now: Optional[float] = None) -> List[Emission]:
        """Put a live market ``"open"``, ``"suspended"`` or ``"closed"`` now, and emit its image.

        Raises:
            KeyError: no such market. ValueError: another status, or the market is settled.
        """
        if status not in ("open", "suspended", "closed"):
            raise ValueError(f"status must be open, suspended or closed, not {status!r}")
        with self.lock:
            m = self._markets[market_id]
            if m.status == "settled":
                raise ValueError(f"{market_id} is settled; use settle_market() to re-settle it")
            m.status = status
            self._live = None
            return self._emit_now(m, now)

    def settle_market(self, market_id: str, now: Optional[float] = None) -> List[Emission]:
        """Settle a market now from its tournament's result (again, as a re-settlement, if it
        already is settled), and emit its image."""
        with self.lock:
            m = self._markets[market_id]
            if m.status == "settled":
                settlement.resettle(m)
            else:
                settlement.settle(m, self._rng, self.config)
                self._live = None
            return self._emit_now(m, now)

    def remove_markets(self, market_ids: Sequence[str], now: Optional[float] = None) -> List[Emission]:
        """Take markets off the feed now: one ``remove_markets`` push with the ids that existed."""
        with self.lock:
            removed = [mid for mid in market_ids if self._markets.pop(mid, None) is not None]
            self._live = None
            out: List[Emission] = []
            if removed:
                pt = wire.utc_text(self._clock() if now is None else now)
                out.append(wire.emission("remove_markets", removed, pt))
            return self._publish(out)

    def _emit_now(self, m: MarketState, now: Optional[float]) -> List[Emission]:
        now = self._clock() if now is None else now
        return self._publish([self._update(m, wire.utc_text(now))])

    def _publish(self, out: List[Emission]) -> List[Emission]:
        for listener in list(self._listeners):
            listener(out)
        return out

    def _stage(self, event: EventState) -> str:
        return stage_of(event, self.config)

    def _update(self, m: MarketState, pt: str) -> Emission:
        """The market's ``market_update`` now, as every session gets it."""
        return wire.update_emission(m, pt, self.config.stamp_send_time)

    # --- internals: building the world, moving prices ---------------------------------------------

    def _new_event(self, tour: int, age: int) -> EventState:
        """A new tournament on ``tour``, ``age`` steps old, numbered here and put on the feed."""
        cfg = self.config
        number = self._next_event_number
        self._next_event_number += self._rng.randint(1, 40)
        name = self._tournament_names[(number // 7) % len(self._tournament_names)]
        event = tournaments.new_tournament(
            self._rng,
            cfg,
            self._golfer_pool,
            number=number,
            name=name,
            tour=tour,
            start=self._base_time + (cfg.pre_play_steps - age) * 60.0,
            age=age,
            first_market_number=self._next_market_number,
        )
        self._next_market_number += len(event.markets)
        for m in event.markets:
            self._markets[m.id] = m
        self._events[event.id] = event
        return event

    def _move(self, m: MarketState, pt: str, out: List[Emission]) -> None:
        """One price move on a live market: a random walk step, a suspension, or a re-opening."""
        rng = self._rng
        in_play = self._stage(m.event) == "in_play"
        if m.status == "suspended":
            m.status = "open"
        elif in_play and rng.random() < self.config.suspend_probability:
            m.status = "suspended"
        else:
            sigma = 0.08 if in_play else 0.02
            golfers = m.golfers
            for _ in range(min(len(golfers), 3)):
                golfers[int(rng.random() * len(golfers))].strength += rng.gauss(0.0, sigma)
        reprice(m)
        out.append(self._update(m, pt))

    # --- internals: the life of a tournament -------------------------------------------------------

    def _advance(self, event: EventState, pt: str, out: List[Emission]) -> None:
        """One step of a tournament's clock: stage changes, holes closing and settling, the end."""
        cfg = self.config
        before = self._stage(event)
        event.age += 1
        after = self._stage(event)
        if after != before:
            out.append(wire.emission("event", wire.event_msg(event, self.config), pt))
            for m in event.markets:
                if m.id in self._markets and m.is_live:
                    out.append(wire.emission("market", wire.market_msg(m, self.config), pt, m.info))
            if after == "ended":
                self._settle_event(event, (pt, out))
                self._new_event_announced(event.tour, pt, out)
        elif after == "in_play":
            for m in event.markets:
                if m.settle_age is not None and m.status != "settled" and m.id in self._markets:
                    if event.age == m.settle_age - 1 and m.is_live:
                        m.status = "closed"
                        out.append(self._update(m, pt))
                    elif event.age >= m.settle_age:
                        settlement.settle(m, self._rng, self.config)
                        out.append(self._update(m, pt))
        elif after == "ended":
            for m in event.markets:
                if m.resettle_age == event.age and not m.resettled and m.id in self._markets:
                    settlement.resettle(m)
                    out.append(self._update(m, pt))
            if event.age >= cfg.pre_play_steps + cfg.in_play_steps + cfg.ended_steps:
                removed = [m.id for m in event.markets if m.id in self._markets]
                for mid in removed:
                    del self._markets[mid]
                del self._events[event.id]
                if removed:
                    out.append(wire.emission("remove_markets", removed, pt))

    def _new_event_announced(self, tour: int, pt: str, out: List[Emission]) -> None:
        event = self._new_event(tour, age=0)
        out.append(wire.emission("event", wire.event_msg(event, self.config), pt))
        for m in event.markets:
            out.append(wire.emission("market", wire.market_msg(m, self.config), pt, m.info))

    def _settle_event(self, event: EventState, emit: Optional[Tuple[str, List[Emission]]]) -> None:
        """Settle every market of the tournament still on the feed; with ``emit`` (publish time,
        output list), emit each one's image."""
        for m in event.markets:
            if m.status == "settled" or m.id not in self._markets:
                continue
            settlement.settle(m, self._rng, self.config)
            if emit is not None:
                pt, out = emit
                out.append(self._update(m, pt))

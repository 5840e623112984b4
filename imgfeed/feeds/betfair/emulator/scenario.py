"""The scenario engine: an exchange of markets and orders that moves, deterministic for a seed.

Contract:

- Everything random comes from one ``random.Random(config.seed)``: the same seed, start time and
  sequence of :meth:`Scenario.step` calls give the same changes. Only ``pt`` follows the clock.
- :meth:`Scenario.step` moves some markets' prices, advances every market's life (pre-play,
  in play, suspended, closed with winners, replaced by a new market), and the account's orders on
  the order markets; then it diffs each touched market's image against the last one
  (:func:`~imgfeed.feeds.betfair.emulator.merge.diff`) and publishes the deltas as one
  :class:`Batch` per stream in the :class:`~imgfeed.feeds.betfair.emulator.changelog.ChangeLog`
  (which folds them into the server-side images with the one merge function).
- Thread-safe: every public method takes :attr:`Scenario.lock` (an ``RLock``). Listeners get each
  batch while the lock is held, so a session that takes the lock to build an image never misses
  or repeats a delta around it.

This module does no IO and starts no threads; the server's ticker or a test calls ``step``.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, Dict, List, Optional

import attrs

from imgfeed.feeds.betfair.emulator import names
from imgfeed.feeds.betfair.emulator.changelog import ChangeLog
from imgfeed.feeds.betfair.emulator.clocks import MARKET_STREAM, ORDER_STREAM
from imgfeed.feeds.betfair.emulator.config import ScenarioConfig
from imgfeed.feeds.betfair.emulator.filters import MarketInfo
from imgfeed.feeds.betfair.emulator.markets import MarketModel, RunnerModel
from imgfeed.feeds.betfair.emulator.merge import Change, diff
from imgfeed.feeds.betfair.emulator.orders import OrderBook

__all__ = ["Scenario", "Batch"]

_KIND_CYCLE = ("horse", "football", "horse", "tennis")
_RACES_PER_MEETING = 6
_DRAW_ID = 58805  # Betfair's selection id of "The Draw"


@attrs.define
class _Meeting:
    """A horse-racing meeting: one event, one venue, several races (WIN markets)."""

    event_id: str
    venue: str
    country: str
    races: int = 0


@attrs.frozen
class Batch:
    """What one step published: canonical deltas per market, with their batch numbers.

    Attributes:
        market_seq: the market stream's sequence number of this batch (None: no market change).
        markets: market id -> canonical MarketChange delta (``img`` for a new market).
        infos: market id -> MarketInfo, for every market in ``markets``.
        order_seq: the order stream's sequence number (None: no order change).
        orders: market id -> canonical OrderMarketChange delta.
        pt: publish time, epoch milliseconds.
    """

    market_seq: Optional[int]
    markets: Dict[str, Change]
    infos: Dict[str, MarketInfo]
    order_seq: Optional[int]
    orders: Dict[str, Change]
    pt: int


class Scenario:
    """A deterministic, thread-safe emulated exchange. See the module docstring.

    Args:
        config: sizes, rates and seed.
        clock: the time (epoch seconds) for ``pt`` and dates; ``time.time`` by default.
    """

    def __init__(
        self, config: Optional[ScenarioConfig] = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config if config is not None else ScenarioConfig()
        self.lock = threading.RLock()
        self._clock = clock
        self._rng = random.Random(self.config.seed)
        cfg = self.config
        self.markets_log = ChangeLog(
            MARKET_STREAM, cfg.epoch, "img", cfg.history_per_market, cfg.clock_retention
        )
        self.orders_log = ChangeLog(
            ORDER_STREAM, cfg.epoch, "fullImage", cfg.history_per_market, cfg.clock_retention
        )
        self._listeners: List[Callable[[Batch], None]] = []
        self._markets: Dict[str, MarketModel] = {}
        self._books: Dict[str, OrderBook] = {}
        self._start = cfg.start_time if cfg.start_time is not None else clock()
        self._next_market = 200_000_000 + self._rng.randrange(0, 10_000_000, 1000)
        self._next_event = 32_000_000 + self._rng.randrange(0, 1_000_000, 100)
        self._next_bet = 300_000_000_000 + self._rng.randrange(0, 10**9, 1000)
        self._kinds = 0
        self._meeting: Optional[_Meeting] = None
        self.steps = 0
        now = self._start
        deltas = {}
        for _ in range(cfg.markets):
            market = self._new_market(now)
            deltas[market.market_id] = market.render()
        for market_id in list(self._markets)[: cfg.order_markets]:
            self._books[market_id] = OrderBook(market_id)
        self.markets_log.publish(deltas)

    def __repr__(self) -> str:
        return f"<Scenario seed={self.config.seed} markets={len(self._markets)} steps={self.steps}>"

    # --- listeners -------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[Batch], None]) -> None:
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Batch], None]) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # --- reading ---------------------------------------------------------------------------------

    def market_infos(self) -> List[MarketInfo]:
        """The markets on the exchange now, in creation order."""
        with self.lock:
            return [m.info for m in self._markets.values()]

    def market_info(self, market_id: str) -> Optional[MarketInfo]:
        with self.lock:
            market = self._markets.get(market_id)
            return None if market is None else market.info

    def order_market_ids(self) -> List[str]:
        with self.lock:
            return list(self._books)

    def market_model(self, market_id: str) -> Optional[MarketModel]:
        """The model behind a market (read it under :attr:`lock`; for tests and the demo)."""
        return self._markets.get(market_id)

    # --- stepping --------------------------------------------------------------------------------

    def step(self, updates: Optional[int] = None, advance: bool = True, now: Optional[float] = None) -> Batch:
        """One round: ``updates`` price moves (default ``updates_per_step``), then (``advance``)
        every market's life moves on a step and the order markets get their order events."""
        cfg = self.config
        with self.lock:
            now = self._clock() if now is None else now
            self.steps += 1
            rng = self._rng
            touched: Dict[str, MarketModel] = {}
            order_touched = set()
            live = [m for m in self._markets.values() if m.is_open]
            count = cfg.updates_per_step if updates is None else updates
            for market in rng.sample(live, min(count, len(live))):
                if market.move(rng):
                    touched[market.market_id] = market
            retired: List[str] = []
            if advance:
                for market in list(self._markets.values()):
                    events = market.advance(
                        rng,
                        now,
                        cfg.pre_play_steps,
                        cfg.in_play_steps,
                        cfg.suspend_probability,
                        cfg.removal_probability,
                    )
                    if not events:
                        continue
                    touched[market.market_id] = market
                    book = self._books.get(market.market_id)
                    if book is not None:
                        self._order_events(book, events, now)
                        order_touched.add(market.market_id)
                    if "retire" in events and market.closed_age >= cfg.closed_steps:
                        retired.append(market.market_id)
                for market_id, book in self._books.items():
                    market = self._markets[market_id]
                    if not book.closed and rng.random() < cfg.order_probability:
                        if book.step(rng, market, self._next_bet, now):
                            self._next_bet += 1
                        order_touched.add(market_id)
            for market_id in retired:
                self._retire(market_id)
                touched.pop(market_id, None)
                order_touched.discard(market_id)
                market = self._new_market(now)
                touched[market.market_id] = market
                if market_id in self._books:
                    del self._books[market_id]
                    self._books[market.market_id] = OrderBook(market.market_id)
            return self._publish(touched, order_touched, now)

    def _order_events(self, book: OrderBook, events: set, now: float) -> None:
        for event in events:
            if event.startswith("removed:"):
                book.lapse(now, selection_id=int(event.split(":", 1)[1]), reason="RNR_UNKNOWN")
            elif event == "in_play":
                # Persistence "L" (LAPSE) orders lapse when the market turns in play.
                book.lapse(now, persistence="L")
            elif event == "closed":
                book.close(now)

    def _publish(self, touched: Dict[str, MarketModel], order_touched: set, now: float) -> Batch:
        market_deltas: Dict[str, Change] = {}
        for market_id, market in touched.items():
            delta = diff(self.markets_log.image(market_id), market.render())
            if len(delta) > 1:
                market_deltas[market_id] = delta
        order_deltas: Dict[str, Change] = {}
        for market_id in sorted(order_touched):
            book = self._books.get(market_id)
            if book is None or not book.orders:
                continue
            delta = diff(
                self.orders_log.image(market_id) or {"id": market_id},
                book.render(),
                new_child_flag="fullImage",
            )
            if len(delta) > 1:
                order_deltas[market_id] = delta
        market_seq = self.markets_log.publish(market_deltas) if market_deltas else None
        order_seq = self.orders_log.publish(order_deltas) if order_deltas else None
        batch = Batch(
            market_seq=market_seq,
            markets=market_deltas,
            infos={mid: self._markets[mid].info for mid in market_deltas},
            order_seq=order_seq,
            orders=order_deltas,
            pt=int(now * 1000),
        )
        if market_deltas or order_deltas:
            for listener in list(self._listeners):
                listener(batch)
        return batch

    def _retire(self, market_id: str) -> None:
        del self._markets[market_id]
        self.markets_log.remove(market_id)
        self.orders_log.remove(market_id)

    # --- market creation -------------------------------------------------------------------------

    def _new_market(self, now: float) -> MarketModel:
        rng = self._rng
        kind = _KIND_CYCLE[self._kinds % len(_KIND_CYCLE)]
        self._kinds += 1
        self._next_market += rng.randint(1, 40)
        market_id = f"1.{self._next_market}"
        start = now + (self.config.pre_play_steps + rng.randint(0, 30)) * 60
        if kind == "horse":
            meeting = self._meeting
            if meeting is None or meeting.races == _RACES_PER_MEETING:
                place, land = names.VENUES[self._next_event % len(names.VENUES)]
                meeting = self._meeting = _Meeting(self._new_event_id(), place, land)
            meeting.races += 1
            runner_names = rng.sample(names.HORSES, self.config.horse_runners)
            event_id, venue, country = meeting.event_id, meeting.venue, meeting.country
            race_type: Optional[str] = rng.choice(("Flat", "Hurdle", "Chase"))
            turn_in_play = meeting.races % 3 != 0
        else:
            pool = names.TEAMS if kind == "football" else names.PLAYERS
            runner_names = rng.sample(pool, 2)
            if kind == "football":
                runner_names.append("The Draw")
            event_id, venue, country = self._new_event_id(), None, rng.choice(names.COUNTRIES)
            race_type, turn_in_play = None, True
        runners = []
        used = set()
        for priority, name in enumerate(runner_names, 1):
            sid = _DRAW_ID if name == "The Draw" else rng.randrange(100_000, 40_000_000)
            while sid in used:
                sid += 1
            used.add(sid)
            runners.append(RunnerModel(sid, name, rng.gauss(0.0, 0.8), priority))
        market = MarketModel(
            market_id=market_id,
            kind=kind,
            event_id=event_id,
            country_code=country,
            venue=venue,
            race_type=race_type,
            turn_in_play=turn_in_play,
            bsp_market=kind == "horse",
            market_time=start,
            runners=runners,
            version=rng.randrange(1_000_000, 9_000_000),
            liquidity=rng.choice((80.0, 250.0, 900.0)),
        )
        if kind == "horse":
            probabilities = market.probabilities()
            for runner in runners:
                runner.adjustment_factor = round(probabilities[runner.selection_id] * 100, 3)
        market.quote_all(rng)
        self._markets[market_id] = market
        return market

    def _new_event_id(self) -> str:
        self._next_event += self._rng.randint(1, 9)
        return str(self._next_event)

"""One emulated market: its definition, its runners' ladders and its life from pre-play to closed.

Contract: a :class:`MarketModel` holds the truth of one market and renders it with
:meth:`MarketModel.render` as a full canonical image (``img`` true, every field, all ten levels),
which the scenario diffs against the last image to get the delta it publishes. All randomness
comes from the ``random.Random`` passed in, so a market is deterministic for a seed.

Prices come from a probability model: each runner has a strength, probabilities are a softmax of
the active runners' strengths, and the fair price ``1 / p`` places the ladders on Betfair's tick
ladder with the best back one tick (sometimes two) below the best lay, so ``best back < best lay``
always holds. Trades happen at the best prices and grow ``trd``, ``ltp`` and ``tv``; BSP markets
carry ``spn`` / ``spf`` projections and ``spb`` / ``spl`` ladders until they turn in play.

Life (one :meth:`MarketModel.advance` per step): ``OPEN`` pre-play (horse races may lose a
non-runner: ``REMOVED`` with a ``removalDate`` and ``adjustmentFactor``), ``SUSPENDED`` at the
off, ``OPEN`` in play (with short suspensions), ``SUSPENDED``, then ``CLOSED`` with a ``WINNER``
and ``LOSER`` s, and the BSP reconciled. Every definition change bumps ``version``.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set

import attrs

from imgfeed.feeds.betfair.emulator.filters import MarketInfo
from imgfeed.feeds.betfair.emulator.merge import Change
from imgfeed.feeds.betfair.emulator.prices import money, price_at, tick_index

__all__ = ["RunnerModel", "MarketModel", "iso_time", "KINDS", "LADDER_DEPTH"]

#: Market kinds: event type id, market type.
KINDS = {"horse": ("7", "WIN"), "football": ("1", "MATCH_ODDS"), "tennis": ("2", "MATCH_ODDS")}
#: Prices offered on each side of a runner's ladder.
LADDER_DEPTH = 10
#: Levels of the best-offer ladders (``batb`` ...): ``ladderLevels`` goes up to 10.
LEVELS = 10


def iso_time(epoch: float) -> str:
    """Betfair's date-time form: ``2016-11-09T18:15:00.000Z``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@attrs.define(eq=False)
class RunnerModel:
    """One runner (selection) and its prices."""

    selection_id: int
    name: str
    strength: float
    sort_priority: int
    status: str = "ACTIVE"
    adjustment_factor: Optional[float] = None
    removal_date: Optional[str] = None
    bsp: Optional[float] = None
    back: Dict[float, float] = attrs.Factory(dict)
    lay: Dict[float, float] = attrs.Factory(dict)
    traded: Dict[float, float] = attrs.Factory(dict)
    ltp: Optional[float] = None
    tv: float = 0.0
    spn: Optional[float] = None
    spf: Optional[float] = None
    spb: Dict[float, float] = attrs.Factory(dict)
    spl: Dict[float, float] = attrs.Factory(dict)

    def clear_offers(self) -> None:
        self.back, self.lay, self.spb, self.spl = {}, {}, {}, {}

    def render(self) -> Change:
        back = sorted(self.back.items(), reverse=True)
        lay = sorted(self.lay.items())
        out: Change = {
            "id": self.selection_id,
            "atb": [[p, s] for p, s in back],
            "atl": [[p, s] for p, s in lay],
            "batb": [[i, p, s] for i, (p, s) in enumerate(back[:LEVELS])],
            "batl": [[i, p, s] for i, (p, s) in enumerate(lay[:LEVELS])],
            # "Best display" offers include virtual bets: a little more size at the same prices.
            "bdatb": [[i, p, money(s * 1.1)] for i, (p, s) in enumerate(back[:LEVELS])],
            "bdatl": [[i, p, money(s * 1.1)] for i, (p, s) in enumerate(lay[:LEVELS])],
            "trd": [[p, s] for p, s in sorted(self.traded.items())],
            "tv": self.tv,
            "spb": [[p, s] for p, s in sorted(self.spb.items(), reverse=True)],
            "spl": [[p, s] for p, s in sorted(self.spl.items())],
        }
        for key, value in (("ltp", self.ltp), ("spn", self.spn), ("spf", self.spf)):
            if value is not None:
                out[key] = value
        return out

    def definition(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "status": self.status,
            "sortPriority": self.sort_priority,
            "id": self.selection_id,
        }
        out["name"] = self.name
        if self.adjustment_factor is not None:
            out["adjustmentFactor"] = self.adjustment_factor
        if self.removal_date is not None:
            out["removalDate"] = self.removal_date
        if self.bsp is not None:
            out["bsp"] = self.bsp
        return out


@attrs.define(eq=False)
class MarketModel:
    """One market of the scenario. ``phase``: pre, turning, inplay, final, closed."""

    market_id: str
    kind: str
    event_id: str
    country_code: str
    venue: Optional[str]
    race_type: Optional[str]
    turn_in_play: bool
    bsp_market: bool
    market_time: float
    runners: List[RunnerModel]
    version: int
    liquidity: float
    status: str = "OPEN"
    in_play: bool = False
    phase: str = "pre"
    age: int = 0
    closed_age: int = 0
    tv: float = 0.0
    settled_time: Optional[str] = None

    @property
    def info(self) -> MarketInfo:
        event_type_id, market_type = KINDS[self.kind]
        return MarketInfo(
            market_id=self.market_id,
            event_type_id=event_type_id,
            event_id=self.event_id,
            market_type=market_type,
            country_code=self.country_code,
            venue=self.venue,
            race_type=self.race_type,
            betting_type="ODDS",
            turn_in_play_enabled=self.turn_in_play,
            bsp_market=self.bsp_market,
        )

    @property
    def is_open(self) -> bool:
        return self.status == "OPEN"

    def active_runners(self) -> List[RunnerModel]:
        return [r for r in self.runners if r.status == "ACTIVE"]

    def probabilities(self) -> Dict[int, float]:
        active = self.active_runners()
        weights = [math.exp(r.strength) for r in active]
        total = sum(weights) or 1.0
        return {r.selection_id: weights[i] / total for i, r in enumerate(active)}

    # --- rendering -------------------------------------------------------------------------------

    def definition(self) -> Dict[str, Any]:
        event_type_id, market_type = KINDS[self.kind]
        d: Dict[str, Any] = {
            "bspMarket": self.bsp_market,
            "turnInPlayEnabled": self.turn_in_play,
            "persistenceEnabled": True,
            "marketBaseRate": 5.0,
            "eventId": self.event_id,
            "eventTypeId": event_type_id,
            "numberOfWinners": 1,
            "bettingType": "ODDS",
            "marketType": market_type,
            "marketTime": iso_time(self.market_time),
            "suspendTime": iso_time(self.market_time),
            "bspReconciled": self.bsp_market and self.status == "CLOSED",
            "complete": True,
            "inPlay": self.in_play,
            "crossMatching": True,
            "runnersVoidable": False,
            "numberOfActiveRunners": len(self.active_runners()) if self.status != "CLOSED" else 0,
            "betDelay": (1 if self.kind == "horse" else 5) if self.in_play else 0,
            "status": self.status,
            "runners": [r.definition() for r in self.runners],
            "regulators": ["MR_INT"],
            "countryCode": self.country_code,
            "discountAllowed": True,
            "timezone": "Europe/London",
            "openDate": iso_time(self.market_time),
            "version": self.version,
            "priceLadderDefinition": {"type": "CLASSIC"},
        }
        if self.venue is not None:
            d["venue"] = self.venue
        if self.race_type is not None:
            d["raceType"] = self.race_type
        if self.settled_time is not None:
            d["settledTime"] = self.settled_time
        return d

    def render(self) -> Change:
        """The full canonical image of the market (``img`` true)."""
        return {
            "id": self.market_id,
            "img": True,
            "marketDefinition": self.definition(),
            "tv": self.tv,
            "rc": [r.render() for r in self.runners],
        }

    # --- prices ----------------------------------------------------------------------------------

    def quote(self, rng: random.Random, runner: RunnerModel, fair: float) -> None:
        """Place the runner's back and lay ladders around ``fair``, keeping most sizes."""
        best_back = max(0, tick_index(fair * 0.995))
        best_lay = best_back + (2 if rng.random() < 0.25 else 1)
        back: Dict[float, float] = {}
        lay: Dict[float, float] = {}
        for side, old, start, step in ((back, runner.back, best_back, -1), (lay, runner.lay, best_lay, 1)):
            for level in range(LADDER_DEPTH):
                price = price_at(start + step * level)
                if price in side or (step < 0 and start + step * level < 0):
                    break
                size = old.get(price)
                if size is None or rng.random() < 0.3:
                    size = money(rng.uniform(2.0, self.liquidity) / (1 + level * 0.5))
                side[price] = size
        runner.back, runner.lay = back, lay
        if self.bsp_market and not self.in_play:
            runner.spn = money(fair * rng.uniform(0.97, 1.03))
            runner.spf = money(fair * rng.uniform(0.9, 1.1))
            runner.spb = {price_at(best_back): money(rng.uniform(2.0, 50.0))}
            runner.spl = {price_at(best_lay): money(rng.uniform(2.0, 50.0))}

    def quote_all(self, rng: random.Random) -> None:
        probabilities = self.probabilities()
        for runner in self.active_runners():
            self.quote(rng, runner, 1.0 / max(probabilities[runner.selection_id], 0.001))

    def move(self, rng: random.Random) -> List[RunnerModel]:
        """One price move on an open market: a few runners re-quote, some trade. Returns them."""
        if not self.is_open:
            return []
        active = self.active_runners()
        moved = rng.sample(active, min(len(active), rng.randint(1, 3)))
        volatility = 0.25 if self.in_play else 0.08
        for runner in moved:
            runner.strength += rng.gauss(0.0, volatility)
        probabilities = self.probabilities()
        for runner in moved:
            self.quote(rng, runner, 1.0 / max(probabilities[runner.selection_id], 0.001))
            if rng.random() < 0.6 and runner.back and runner.lay:
                side = runner.back if rng.random() < 0.5 else runner.lay
                price = max(side) if side is runner.back else min(side)
                volume = money(rng.uniform(2.0, 60.0))
                runner.traded[price] = money(runner.traded.get(price, 0.0) + volume)
                runner.ltp = price
                runner.tv = money(runner.tv + volume)
                self.tv = money(self.tv + volume)
        return moved

    # --- life ------------------------------------------------------------------------------------

    def advance(
        self, rng: random.Random, now: float, pre_play: int, in_play: int, suspend_p: float, removal_p: float
    ) -> Set[str]:
        """One step of the market's life. Returns what happened: ``removed:<id>``, ``in_play``,
        ``suspended``, ``closed``, ``retire`` (closed long enough to be replaced)."""
        self.age += 1
        events: Set[str] = set()
        if self.phase == "pre":
            active = self.active_runners()
            if self.kind == "horse" and len(active) > 3 and rng.random() < removal_p:
                runner = rng.choice(active)
                runner.status = "REMOVED"
                runner.removal_date = iso_time(now)
                runner.clear_offers()
                events.add(f"removed:{runner.selection_id}")
                self.version += 1
                self.quote_all(rng)
            if self.age >= pre_play:
                self._set("SUSPENDED")
                self.phase = "turning" if self.turn_in_play else "final"
                events.add("suspended")
        elif self.phase == "turning":
            self.in_play = True
            for runner in self.runners:
                runner.spb, runner.spl = {}, {}
            self._set("OPEN")
            self.phase = "inplay"
            events.add("in_play")
        elif self.phase == "inplay":
            if self.status == "SUSPENDED":
                self._set("OPEN")
            elif self.age >= pre_play + in_play:
                self._set("SUSPENDED")
                self.phase = "final"
                events.add("suspended")
            elif rng.random() < suspend_p:
                self._set("SUSPENDED")
                events.add("suspended")
        elif self.phase == "final":
            self._close(rng, now)
            events.add("closed")
        elif self.phase == "closed":
            self.closed_age += 1
            events.add("retire")
        return events

    def _set(self, status: str) -> None:
        self.status = status
        self.version += 1

    def _close(self, rng: random.Random, now: float) -> None:
        probabilities = self.probabilities()
        active = self.active_runners()
        winner = (
            rng.choices(active, weights=[probabilities[r.selection_id] for r in active])[0]
            if active
            else None
        )
        for runner in self.runners:
            if runner.status == "ACTIVE":
                runner.status = "WINNER" if runner is winner else "LOSER"
            if self.bsp_market and runner.spn is not None and runner.status != "REMOVED":
                runner.bsp = runner.spn
            runner.clear_offers()
        self.settled_time = iso_time(now)
        self.phase = "closed"
        self._set("CLOSED")

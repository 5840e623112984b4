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
  and three-ball markets per hole, with the long ``~7c``-escaped ids of protocol.md section 5.
- Prices come from a probability model: every golfer has a strength; a market's probabilities are
  a softmax of its golfers' strengths scaled to ``numwinners``; prices are
  ``1 / (p * (1 + overround))`` on the odds ladder (:mod:`imgfeed.feeds.img.simulator.pricing`). Strengths
  move as random walks, faster in play.
- Settlements follow one result per tournament (scores per golfer, and scores per hole for the
  three-balls): dead heats are paid ``m / k``, tied head-to-heads are void, and a re-settlement
  applies a penalty stroke to the best-placed golfer and settles again.
- Thread-safe: every public method takes :attr:`Scenario.lock` (an ``RLock``). Listeners added with
  :meth:`add_listener` are called with each step's :class:`Emission` list while the lock is held,
  so a server that also takes the lock to answer a subscribe never sends an image older than one
  it already sent.

This module does no IO and starts no threads.
"""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import attrs

from imgfeed.feeds.img.protocol.codec import encode_message, format_timestamp
from imgfeed.feeds.img.simulator import names, pricing
from imgfeed.feeds.img.simulator.config import ScenarioConfig

__all__ = ["Scenario", "Emission", "MarketInfo", "escape_id", "stamp_send_time", "SPORT_ID", "SENT_AT_MARK"]

SPORT_ID = "sp.golf"

#: With ``stamp_send_time``, ``sim_sent_at`` is encoded as this string, and the writer replaces it
#: (quotes included) with its clock just before the bytes go out: every session shares one
#: encoding of an update, yet each line carries the time it was really written.
SENT_AT_MARK = "@@sim_sent_at@@"
_SENT_AT_BYTES = f'"{SENT_AT_MARK}"'.encode("ascii")


def stamp_send_time(data: bytes, now: float) -> bytes:
    """Replace every ``sim_sent_at`` mark in ``data`` with ``now`` (see :data:`SENT_AT_MARK`)."""
    if _SENT_AT_BYTES not in data:
        return data
    return data.replace(_SENT_AT_BYTES, b"%.6f" % now)

#: Bytes allowed unescaped in a market id (protocol.md section 5: "0-9 a-z A-Z - _ . ~").
_SLUG = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")

#: Market types: id, name, overround (the margin in the prices; wider on big fields, as books do).
_WIN = ("mt.winonly", "Win Only (no each-way)", 0.20)
_MATCHBET = ("mt.matchbet", "Tournament Match Bet", 0.06)
_THREEBALL = ("mt.threeball_hole", "3-Ball Hole Betting", 0.08)


def escape_id(text: str) -> str:
    """Escape a long market id: every byte outside the slug alphabet becomes ``~`` + 2 hex digits.

    >>> escape_id("golf_1_threeball_hole|golfer_ids=24,1544|hole_num=1")
    'golf_1_threeball_hole~7cgolfer_ids~3d24~2c1544~7chole_num~3d1'
    """
    return "".join(chr(b) if b in _SLUG else f"~{b:02x}" for b in text.encode("utf-8"))


def _utc(epoch: float) -> str:
    return format_timestamp(datetime.fromtimestamp(epoch, timezone.utc))


@attrs.frozen
class MarketInfo:
    """What a subscription filter looks at: a market's id, event and type."""

    id: str
    event_id: str
    market_type_id: str


@attrs.define(eq=False)
class Emission:
    """One message a step produced, encoded once and shared by every session that gets it.

    Attributes:
        kind: the push ``type`` (``market_update``, ``event``, ``market``, ``market_type``,
            ``remove_markets``).
        obj: the message as a dict (do not modify: it is shared).
        line: ``obj`` encoded, ``\\n``-terminated.
        market: for ``market_update`` and ``market``: the market, for subscription matching.
    """

    kind: str
    obj: Dict[str, Any] = attrs.field(repr=False)
    line: bytes = attrs.field(repr=False)
    market: Optional[MarketInfo] = None
    _mustard: Optional[bytes] = attrs.field(default=None, repr=False)

    @property
    def is_update(self) -> bool:
        return self.kind == "market_update"

    def mustard_line(self) -> bytes:
        """The same message as the Mustard-era service sent it (no ``publish_time``/``arena_*``)."""
        if self._mustard is None:
            self._mustard = encode_message(mustard_form(self.obj))
        return self._mustard


def mustard_form(obj: Dict[str, Any]) -> Dict[str, Any]:
    """``obj`` without what the Mustard service did not send (protocol.md section 9)."""
    out = {k: v for k, v in obj.items() if k != "publish_time"}
    msg = out.get("msg")
    if type(msg) is dict and any(k.startswith("arena_") for k in msg):
        out["msg"] = {k: v for k, v in msg.items() if not k.startswith("arena_")}
    return out


@attrs.define(eq=False)
class _Golfer:
    id: str
    name: str
    strength: float


@attrs.define(eq=False)
class _Market:
    id: str
    arena_id: str
    name: str
    type_id: str
    overround: float
    numwinners: int
    golfers: List[_Golfer]
    event: "_Event"
    kind: str  # "win", "top", "h2h", "threeball"
    #: How sharply strength differences show in this market's probabilities.
    sharpness: float
    hole: int = 0
    #: Event age at which the market closes and then settles; None: when the event ends.
    settle_age: Optional[int] = None
    status: str = "open"
    prices: List[float] = attrs.Factory(list)
    settlement: Optional[Dict[str, Dict[str, float]]] = None
    resettle_age: Optional[int] = None
    resettled: bool = False

    @property
    def info(self) -> MarketInfo:
        return MarketInfo(self.id, self.event.id, self.type_id)

    @property
    def is_live(self) -> bool:
        """Open or suspended: its prices still move."""
        return self.status in ("open", "suspended")


@attrs.define(eq=False)
class _Event:
    id: str
    arena_id: str
    name: str
    tour: int
    start_time: float
    age: int
    golfers: List[_Golfer]
    markets: List[_Market] = attrs.Factory(list)
    scores: Dict[str, int] = attrs.Factory(dict)
    hole_scores: Dict[Tuple[int, str], int] = attrs.Factory(dict)


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
        self._events: Dict[str, _Event] = {}
        self._markets: Dict[str, _Market] = {}
        self._next_event_number = 1100 + self._rng.randrange(0, 9000, 100)
        self._next_market_number = 1
        self._tournament_names = list(names.TOURNAMENTS)
        self._rng.shuffle(self._tournament_names)
        self._golfer_pool = self._make_golfers(max(2 * self.config.golfers, 60))
        self._base_time = self._clock()
        self._live: Optional[List[_Market]] = None
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
            return self._image(self._markets[market_id])

    def market_info(self, market_id: str) -> Dict[str, Any]:
        """The ``msg`` of the market's ``market`` push (the offering entry)."""
        with self.lock:
            return self._market_msg(self._markets[market_id])

    def event_stage(self, event_id: str) -> str:
        with self.lock:
            return self._stage(self._events[event_id])

    # --- messages for one session ------------------------------------------------------------------

    def snapshot(self, now: Optional[float] = None, include_finished: bool = False) -> List[Dict[str, Any]]:
        """The post-init offering, in the documented order (protocol.md section 4).

        One ``sport``, the ``competition`` for every tour, an ``event`` per tournament in progress
        or upcoming (and recently finished ones with ``include_finished``), a ``market_type`` for
        every type with at least one market in the snapshot, and a ``market`` for every market
        available and open (with ``include_finished``: every market still on the feed).
        """
        with self.lock:
            pt = _utc(self._clock() if now is None else now)
            out: List[Dict[str, Any]] = [self._push("sport", pt, {"id": SPORT_ID, "name": "Golf"})]
            for tour in range(self.config.tours):
                out.append(self._push("competition", pt, self._competition_msg(tour)))
            events = [e for e in self._events.values() if include_finished or self._stage(e) != "ended"]
            out.extend(self._push("event", pt, self._event_msg(e)) for e in events)
            markets = [
                m
                for e in events
                for m in e.markets
                if m.id in self._markets and (include_finished or m.is_live)
            ]
            types = dict.fromkeys(m.type_id for m in markets)
            out.extend(self._push("market_type", pt, self._market_type_msg(t)) for t in types)
            out.extend(self._push("market", pt, self._market_msg(m)) for m in markets)
            return out

    def update_messages(self, market_ids: Iterable[str], now: Optional[float] = None) -> List[Dict[str, Any]]:
        """A ``market_update`` with the current image of each market (the subscription snapshot)."""
        with self.lock:
            pt = _utc(self._clock() if now is None else now)
            return [self._update_obj(self._markets[mid], pt, now) for mid in market_ids if mid in self._markets]

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
            pt = _utc(now)
            out: List[Emission] = []
            if advance:
                self._live = None
                self.steps += 1
                for event in list(self._events.values()):
                    self._advance(event, pt, now, out)
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
                        self._move(live[int(pick() * size)], pt, now, out)
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
                self._resettle(m)
            else:
                self._settle_market(m)
                self._live = None
            return self._emit_now(m, now)

    def remove_markets(self, market_ids: Sequence[str], now: Optional[float] = None) -> List[Emission]:
        """Take markets off the feed now: one ``remove_markets`` push with the ids that existed."""
        with self.lock:
            removed = [mid for mid in market_ids if self._markets.pop(mid, None) is not None]
            self._live = None
            out: List[Emission] = []
            if removed:
                self._emit("remove_markets", removed, _utc(self._clock() if now is None else now), out)
            return self._publish(out)

    def _emit_now(self, m: _Market, now: Optional[float]) -> List[Emission]:
        now = self._clock() if now is None else now
        out: List[Emission] = []
        self._emit_update(m, _utc(now), now, out)
        return self._publish(out)

    def _publish(self, out: List[Emission]) -> List[Emission]:
        for listener in list(self._listeners):
            listener(out)
        return out

    # --- internals: building the world -------------------------------------------------------------

    def _make_golfers(self, n: int) -> List[_Golfer]:
        rng = self._rng
        ids = rng.sample(range(10, 20000), n)
        seen: Set[str] = set()
        golfers = []
        for gid in ids:
            while True:
                name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
                if name not in seen:
                    break
            seen.add(name)
            golfers.append(_Golfer(f"g:{gid}", name, rng.gauss(0.0, 1.0)))
        return golfers

    def _new_event(self, tour: int, age: int) -> _Event:
        cfg = self.config
        rng = self._rng
        number = self._next_event_number
        self._next_event_number += rng.randint(1, 40)
        name = self._tournament_names[(number // 7) % len(self._tournament_names)]
        # Fresh strengths per tournament: form is what the random walk then moves. The spread
        # grows with the field (about the expected best of n normal draws), so that a favourite
        # is around 4/1-8/1 in a 156-man field and the longest shots near the 1000 cap, as in
        # real golf win markets.
        spread = 0.6 * math.sqrt(2.0 * math.log(cfg.golfers))
        field = [
            _Golfer(g.id, g.name, max(-2.5, min(2.5, g.strength)) * spread + rng.gauss(0.0, 0.3))
            for g in rng.sample(self._golfer_pool, cfg.golfers)
        ]
        start = self._base_time + (cfg.pre_play_steps - age) * 60.0
        event = _Event(f"ev.golf_{number}", str(number), f"{name} {2025 + number % 3}", tour, start, age, field)
        ranked = sorted(field, key=lambda g: -g.strength)
        self._add_market(event, "win", f"golf_{number}_winonly", "Win Only", _WIN, 1, field, 1.0)
        for n in cfg.top_n:
            mt = (f"mt.top{n}", f"Top {n} Finish (incl. ties)", 0.15)
            self._add_market(event, "top", f"golf_{number}_top{n}", f"Top {n} Finish", mt, n, field, 1.0 / math.sqrt(n))
        for k in range(cfg.head_to_heads):
            a, b = ranked[2 * k], ranked[2 * k + 1]
            mid = escape_id(f"golf_{number}_matchbet|golfer_ids={a.id[2:]},{b.id[2:]}")
            self._add_market(event, "h2h", mid, f"{a.name} v {b.name}", _MATCHBET, 1, [a, b], 0.5)
        pre, play = cfg.pre_play_steps, cfg.in_play_steps
        for k in range(cfg.three_ball_groups):
            group = field[3 * k : 3 * k + 3]
            ids = ",".join(g.id[2:] for g in group)
            for hole in range(1, cfg.holes + 1):
                mid = escape_id(f"golf_{number}_threeball_hole|golfer_ids={ids}|hole_num={hole}|round_num=1")
                title = f"3-Ball Hole {hole}: " + " v ".join(g.name for g in group)
                market = self._add_market(event, "threeball", mid, title, _THREEBALL, 1, group, 0.25)
                market.hole = hole
                # Hole h is finished a fraction h/(holes+1) of the way through play.
                market.settle_age = pre + max(1, (play * hole) // (cfg.holes + 1))
        self._events[event.id] = event
        return event

    def _add_market(
        self, event: _Event, kind: str, mid: str, name: str, mtype: Tuple[str, str, float],
        numwinners: int, golfers: Sequence[_Golfer], sharpness: float,
    ) -> _Market:
        market = _Market(
            id=mid, arena_id=f"m-{self._next_market_number}", name=name, type_id=mtype[0],
            overround=mtype[2], numwinners=numwinners, golfers=list(golfers), event=event, kind=kind,
            sharpness=sharpness,
        )
        self._next_market_number += 1
        self._reprice(market)
        event.markets.append(market)
        self._markets[mid] = market
        return market

    # --- internals: messages ---------------------------------------------------------------------

    @staticmethod
    def _push(kind: str, pt: str, msg: Any) -> Dict[str, Any]:
        return {"mode": "push", "type": kind, "publish_time": pt, "msg": msg}

    def _stage(self, event: _Event) -> str:
        cfg = self.config
        if event.age < cfg.pre_play_steps:
            return "pre_play"
        if event.age < cfg.pre_play_steps + cfg.in_play_steps:
            return "in_play"
        return "ended"

    def _competition_msg(self, tour: int) -> Dict[str, Any]:
        arena = names.ARENA_TOUR_IDS[tour % len(names.ARENA_TOUR_IDS)]
        name = names.TOURS[tour % len(names.TOURS)]
        if tour >= len(names.TOURS):
            name = f"{name} {tour // len(names.TOURS) + 1}"
            arena = f"{arena}{tour}"
        return {"id": f"comp.golf_{arena}", "name": name, "sport_id": SPORT_ID, "arena_id": arena, "start_time": None}

    def _event_msg(self, e: _Event) -> Dict[str, Any]:
        comp = self._competition_msg(e.tour)
        return {
            "id": e.id,
            "name": e.name,
            "competition_id": comp["id"],
            "arena_competition_id": comp["arena_id"],
            "arena_id": e.arena_id,
            "start_time": _utc(e.start_time),
            "stage": self._stage(e),
            "meta": [{"event_id": e.arena_id, "offering_levels": ["M1"]}],
        }

    @staticmethod
    def _market_type_msg(type_id: str) -> Dict[str, Any]:
        names_by_id = {t[0]: t[1] for t in (_WIN, _MATCHBET, _THREEBALL)}
        if type_id in names_by_id:
            return {"id": type_id, "name": names_by_id[type_id]}
        return {"id": type_id, "name": f"Top {type_id[len('mt.top'):]} Finish (incl. ties)"}

    def _market_msg(self, m: _Market) -> Dict[str, Any]:
        e = m.event
        return {
            "id": m.id,
            "arena_id": m.arena_id,
            "name": m.name,
            "event_id": e.id,
            "arena_event_id": int(e.arena_id),
            "tags": [SPORT_ID, m.type_id, e.id, self._competition_msg(e.tour)["id"]],
            "start_time": _utc(e.start_time),
            "stage": self._stage(e),
            "numwinners": m.numwinners,
        }

    def _image(self, m: _Market) -> Dict[str, Any]:
        selection_status = "settled" if m.status == "settled" else m.status
        settlement = m.settlement
        return {
            "id": m.id,
            "status": m.status,
            "selections": [
                {
                    "id": g.id,
                    "name": g.name,
                    "price": price,
                    "status": selection_status,
                    "settlement": None if settlement is None else dict(settlement[g.id]),
                }
                for g, price in zip(m.golfers, m.prices)
            ],
        }

    def _update_obj(self, m: _Market, pt: str, now: Optional[float]) -> Dict[str, Any]:
        msg = self._image(m)
        if self.config.stamp_send_time:
            msg["sim_sent_at"] = SENT_AT_MARK
        return self._push("market_update", pt, msg)

    def _emit_update(self, m: _Market, pt: str, now: float, out: List[Emission]) -> None:
        obj = self._update_obj(m, pt, now)
        out.append(Emission("market_update", obj, encode_message(obj), m.info))

    def _emit(self, kind: str, msg: Any, pt: str, out: List[Emission], market: Optional[MarketInfo] = None) -> None:
        obj = self._push(kind, pt, msg)
        out.append(Emission(kind, obj, encode_message(obj), market))

    # --- internals: prices -----------------------------------------------------------------------

    def _reprice(self, m: _Market) -> None:
        top = max(g.strength for g in m.golfers)
        weights = [math.exp(m.sharpness * (g.strength - top)) for g in m.golfers]
        probs = pricing.normalise(weights, m.numwinners)
        m.prices = pricing.prices_for(probs, m.overround)

    def _move(self, m: _Market, pt: str, now: float, out: List[Emission]) -> None:
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
        self._reprice(m)
        self._emit_update(m, pt, now, out)

    # --- internals: the life of a tournament -------------------------------------------------------

    def _advance(self, event: _Event, pt: str, now: float, out: List[Emission]) -> None:
        cfg = self.config
        before = self._stage(event)
        event.age += 1
        after = self._stage(event)
        if after != before:
            self._emit("event", self._event_msg(event), pt, out)
            for m in event.markets:
                if m.id in self._markets and m.is_live:
                    self._emit("market", self._market_msg(m), pt, out, m.info)
            if after == "ended":
                self._settle_event(event, (pt, now, out))
                self._new_event_announced(event.tour, pt, out)
        elif after == "in_play":
            for m in event.markets:
                if m.settle_age is not None and m.status != "settled" and m.id in self._markets:
                    if event.age == m.settle_age - 1 and m.is_live:
                        m.status = "closed"
                        self._emit_update(m, pt, now, out)
                    elif event.age >= m.settle_age:
                        self._settle_market(m)
                        self._emit_update(m, pt, now, out)
        elif after == "ended":
            for m in event.markets:
                if m.resettle_age == event.age and not m.resettled and m.id in self._markets:
                    self._resettle(m)
                    self._emit_update(m, pt, now, out)
            if event.age >= cfg.pre_play_steps + cfg.in_play_steps + cfg.ended_steps:
                removed = [m.id for m in event.markets if m.id in self._markets]
                for mid in removed:
                    del self._markets[mid]
                del self._events[event.id]
                if removed:
                    self._emit("remove_markets", removed, pt, out)

    def _new_event_announced(self, tour: int, pt: str, out: List[Emission]) -> None:
        event = self._new_event(tour, age=0)
        self._emit("event", self._event_msg(event), pt, out)
        for m in event.markets:
            self._emit("market", self._market_msg(m), pt, out, m.info)

    def _result(self, event: _Event) -> None:
        """Draw the tournament's result once: 72-hole scores and per-hole three-ball scores."""
        if event.scores:
            return
        rng = self._rng
        for g in event.golfers:
            event.scores[g.id] = int(round(280.0 - 2.0 * g.strength + rng.gauss(0.0, 4.0)))
            for hole in range(1, self.config.holes + 1):
                event.hole_scores[(hole, g.id)] = max(2, int(round(4.0 - 0.1 * g.strength + rng.gauss(0.0, 0.7))))
        # A play-off decides a tie for the win: the golfer with the best draw takes it, one stroke.
        best = min(event.scores.values())
        tied = [gid for gid, s in event.scores.items() if s == best]
        if len(tied) > 1:
            winner = rng.choice(tied)
            for gid in tied:
                if gid != winner:
                    event.scores[gid] += 1

    def _settlement(self, m: _Market, penalty: Optional[str] = None) -> Dict[str, Dict[str, float]]:
        event = m.event
        if m.kind == "threeball":
            scores = {g.id: float(event.hole_scores[(m.hole, g.id)]) for g in m.golfers}
        else:
            scores = {g.id: float(event.scores[g.id]) for g in m.golfers}
        if penalty is not None:
            scores[penalty] += 1.0
        if m.kind == "h2h":
            a, b = (scores[g.id] for g in m.golfers)
            if a == b:
                # A tied match bet is void: stakes back (protocol.md: stake_returned 1.0).
                return {g.id: dict(pricing.VOID) for g in m.golfers}
        return pricing.place_settlements(scores, m.numwinners)

    def _settle_market(self, m: _Market) -> None:
        self._result(m.event)
        m.status = "settled"
        m.settlement = self._settlement(m)
        if self._rng.random() < self.config.resettle_probability and self.config.ended_steps > 1:
            cfg = self.config
            m.resettle_age = cfg.pre_play_steps + cfg.in_play_steps + self._rng.randint(1, cfg.ended_steps - 1)

    def _settle_event(self, event: _Event, emit: Optional[Tuple[str, float, List[Emission]]]) -> None:
        for m in event.markets:
            if m.status == "settled" or m.id not in self._markets:
                continue
            self._settle_market(m)
            if emit is not None:
                self._emit_update(m, *emit)

    def _resettle(self, m: _Market) -> None:
        """A late correction: the best-placed golfer gets a penalty stroke, settle again."""
        assert m.settlement is not None
        leader = max(m.golfers, key=lambda g: (m.settlement[g.id]["payout_returned"], g.id))  # type: ignore[index]
        m.settlement = self._settlement(m, penalty=leader.id)
        m.resettled = True

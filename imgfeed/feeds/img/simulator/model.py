"""The scenario's world as plain data, and the small helpers every part of the simulator shares.

Contract: nothing here draws a random number or reads a clock, so the engine
(:mod:`imgfeed.feeds.img.simulator.scenario`) stays the one place that decides what happens and
when. :class:`Golfer`, :class:`EventState` and :class:`MarketState` are the scenario's mutable
world, read and changed only with ``Scenario.lock`` held; :func:`stage_of` and :func:`reprice` are
the deterministic facts of it (a tournament's stage from its age, a market's prices from its
golfers' strengths). :class:`MarketInfo` and :class:`Emission` are what the engine hands to
sessions; :func:`escape_id`, :func:`stamp_send_time` and :func:`mustard_form` are the wire details
that sessions and writers share.

This module does no IO and starts no threads.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import attrs

from imgfeed.feeds.img.protocol.codec import encode_message
from imgfeed.feeds.img.simulator import pricing
from imgfeed.feeds.img.simulator.config import ScenarioConfig

__all__ = [
    "SPORT_ID",
    "SENT_AT_MARK",
    "stamp_send_time",
    "escape_id",
    "MarketTypeSpec",
    "WIN_ONLY",
    "MATCH_BET",
    "THREE_BALL",
    "top_finish_type",
    "MarketInfo",
    "Emission",
    "mustard_form",
    "Golfer",
    "MarketState",
    "EventState",
    "stage_of",
    "reprice",
]

#: The one sport of the feed.
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


#: Bytes written unescaped in a market id: the slug alphabet of docs/protocol.md section 10 ("0-9 a-z A-Z
#: - _ . ~") less "~" itself, which is escaped too, so that in the simulator's ids a "~" always
#: starts an escape (docs/protocol.md).
_SLUG = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.")

#: Market types: id, name, overround (the margin in the prices; wider on big fields, as books do).
#: Top-N types are made per N (:func:`top_finish_type`).
MarketTypeSpec = Tuple[str, str, float]
WIN_ONLY: MarketTypeSpec = ("mt.winonly", "Win Only (no each-way)", 0.20)
MATCH_BET: MarketTypeSpec = ("mt.matchbet", "Tournament Match Bet", 0.06)
THREE_BALL: MarketTypeSpec = ("mt.threeball_hole", "3-Ball Hole Betting", 0.08)


def top_finish_type(n: int) -> MarketTypeSpec:
    """The market type of a top-``n`` finish market."""
    return (f"mt.top{n}", f"Top {n} Finish (incl. ties)", 0.15)


def escape_id(text: str) -> str:
    """Escape a long market id: every byte outside the slug alphabet becomes ``~`` + 2 hex digits.

    >>> escape_id("golf_1_threeball_hole|golfer_ids=24,1544|hole_num=1")
    'golf_1_threeball_hole~7cgolfer_ids~3d24~2c1544~7chole_num~3d1'
    """
    return "".join(chr(b) if b in _SLUG else f"~{b:02x}" for b in text.encode("utf-8"))


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
    """``obj`` without what the Mustard service did not send (docs/protocol.md section 9)."""
    out = {k: v for k, v in obj.items() if k != "publish_time"}
    msg = out.get("msg")
    if type(msg) is dict and any(k.startswith("arena_") for k in msg):
        out["msg"] = {k: v for k, v in msg.items() if not k.startswith("arena_")}
    return out


@attrs.define(eq=False)
class Golfer:
    """A golfer in the pool or in a tournament's field; ``strength`` moves as a random walk."""

    id: str
    name: str
    strength: float


@attrs.define(eq=False)
class MarketState:
    """One market of a tournament as the scenario holds it: what it offers, its prices, its result."""

    id: str
    arena_id: str
    name: str
    type_id: str
    overround: float
    numwinners: int
    golfers: List[Golfer]
    event: "EventState"
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
class EventState:
    """A tournament: its field, its markets, how many steps old it is, and (once drawn) its result."""

    id: str
    arena_id: str
    name: str
    tour: int
    start_time: float
    age: int
    golfers: List[Golfer]
    markets: List[MarketState] = attrs.Factory(list)
    scores: Dict[str, int] = attrs.Factory(dict)
    hole_scores: Dict[Tuple[int, str], int] = attrs.Factory(dict)


def stage_of(event: EventState, config: ScenarioConfig) -> str:
    """``"pre_play"``, ``"in_play"`` or ``"ended"``: where the tournament is, from its age in steps."""
    if event.age < config.pre_play_steps:
        return "pre_play"
    if event.age < config.pre_play_steps + config.in_play_steps:
        return "in_play"
    return "ended"


def reprice(m: MarketState) -> None:
    """Set the market's prices from its golfers' strengths (see the scenario's price model)."""
    top = max(g.strength for g in m.golfers)
    weights = [math.exp(m.sharpness * (g.strength - top)) for g in m.golfers]
    probs = pricing.normalise(weights, m.numwinners)
    m.prices = pricing.prices_for(probs, m.overround)

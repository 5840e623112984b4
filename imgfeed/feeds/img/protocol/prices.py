"""Price records: ``market_update`` (:class:`MarketUpdate`), its selections and settlements.

The records of the hot path of a busy feed, with their fast constructors: the codec has checked
every field, so they are built without attrs' keyword-argument ``__init__``. Re-exported from
:mod:`~imgfeed.feeds.img.protocol.messages`, the home of every record class.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Callable, Dict, Optional, Tuple, Union

import attrs
import ujson

from imgfeed.feeds.img.protocol._msgspec import AVAILABLE, REFUSED, parse_untyped
from imgfeed.feeds.img.protocol.base import Record
from imgfeed.feeds.img.protocol.enums import MarketStatus

__all__ = ["Settlement", "Selection", "MarketUpdate", "new_market_update", "parse_raw"]

if not AVAILABLE:  # the default install: ujson parses every tree
    #: Parse a line the codec accepted into its JSON tree (``MarketUpdate.raw``).
    parse_raw: Callable[[bytes], Any] = ujson.loads
else:

    def parse_raw(line: bytes) -> Any:
        """Parse a line the codec accepted into its JSON tree (``MarketUpdate.raw``).

        With ``imgfeed[speed]`` installed, by msgspec's untyped decoder, which builds the same
        tree as ujson about 1.5 times as fast (a handler that reads the prices pays this parse on
        the dispatcher thread for every update); a line msgspec refuses (``NaN``, ``1e400``, a
        lone surrogate: it is the stricter parser) is parsed by ujson, as without the extra.
        ``tests/unit/test_fast.py`` holds the two trees equal, types and signs included, over
        every line the codec accepts as a ``market_update``. Whatever ``FeedConfig.parser`` says:
        that setting chooses how lines are checked, and the trees are the same either way.
        """
        try:
            return parse_untyped(line)
        except REFUSED:
            return ujson.loads(line)


@attrs.frozen(kw_only=True)
class Settlement:
    """How a selection settled: the fractions of stake and of payout returned.

    A winner has ``payout_returned == 1.0`` (a fraction for a dead heat), a loser 0.0/0.0, a void
    selection ``stake_returned == 1.0`` (docs/protocol.md section 5).
    """

    stake_returned: float
    payout_returned: float

    @property
    def is_winner(self) -> bool:
        return self.payout_returned > 0.0

    @property
    def is_void(self) -> bool:
        return self.stake_returned > 0.0 and self.payout_returned == 0.0


@attrs.frozen(kw_only=True)
class Selection:
    """One golfer (or outcome) in a market, as carried by a ``market_update``.

    ``price`` is decimal odds, or ``None`` when the selection is not priced.
    """

    id: str
    name: Optional[str] = None
    price: Optional[float] = None
    status: Optional[Union[MarketStatus, str]] = None
    settlement: Optional[Settlement] = None
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, hash=False)


@attrs.frozen(kw_only=True)
class MarketUpdate(Record):
    """``market_update`` push: the full current image of one subscribed market (not a delta).

    Sent once per matching market right after a subscribe (the subscription snapshot) and then
    whenever the market changes.

    A record decoded from the wire keeps its ``line`` (the bytes as received) and builds ``raw``
    from it on first access, and ``selections`` from ``raw``: the codec has checked every field
    already. Why: a busy feed holds the latest image of every market in the book and a backlog in
    the queue; a parsed JSON tree per image costs about six times the line's size, and freeing an
    old tree long after it was made (when the next image of its market replaces it) costs the
    reader more than parsing it did (benchmarks/README.md). A handler that reads the prices parses
    the line once more, on the dispatcher thread.
    """

    market_id: str
    status: Union[MarketStatus, str]
    #: The line as received (``b""`` for a record built by hand with ``raw``); ``raw`` is
    #: decoded from it when first read.
    line: bytes = attrs.field(default=b"", repr=False, eq=False, hash=False)
    _MODELLED = ("id", "status", "selections")

    def __getattr__(self, item: str) -> Any:
        # Called only when normal lookup fails: ``raw`` is unset on a record decoded from the wire.
        if item == "raw":
            raw = parse_raw(self.line)
            _set_update_raw(self, raw)
            return raw
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {item!r}")

    @functools.cached_property
    def selections(self) -> Tuple[Selection, ...]:
        """The selections, in the order the server sent them."""
        return tuple(map(_selection, self.raw["msg"].get("selections") or ()))

    def selection(self, selection_id: str) -> Optional[Selection]:
        """The selection with this id, or ``None``."""
        return next((s for s in self.selections if s.id == selection_id), None)

    @property
    def is_settled(self) -> bool:
        return self.status == MarketStatus.SETTLED


# Building selections is the hot path of any handler that reads prices: 30 per update on a busy
# feed. attrs' generated __init__ for a frozen class spends 0.6 us of the 0.9 us a selection took
# (an object.__setattr__ call per field, keyword parsing). The codec has already checked every
# field (fields.check_selections), so _selection fills the slots through their descriptors
# directly: 0.4 us (benchmarks/decode.py, "reading every selection"). The record is the same
# frozen attrs instance either way; the check below makes a new field of Selection fail at import
# rather than be left unset here.
_SELECTION_FIELDS = ("id", "name", "price", "status", "settlement", "raw")
if tuple(a.name for a in attrs.fields(Selection)) != _SELECTION_FIELDS:  # pragma: no cover
    raise ImportError("messages._selection must be updated for the fields of Selection")
_set_id, _set_name, _set_price, _set_status, _set_settlement, _set_raw = (
    Selection.__dict__[name].__set__ for name in _SELECTION_FIELDS
)
_new = object.__new__
_STATUSES = MarketStatus._value2member_map_  # what MarketStatus.parse looks up


def _selection(raw: Dict[str, Any]) -> Selection:
    """The :class:`Selection` for one checked selection object (see the note above)."""
    st = raw.get("status")
    settlement = raw.get("settlement")
    price = raw.get("price")
    s = _new(Selection)
    _set_id(s, raw["id"])
    _set_name(s, raw.get("name"))
    _set_price(s, price if price is None or type(price) is float else float(price))
    _set_status(s, None if st is None else _STATUSES.get(st, st))
    _set_settlement(
        s,
        None
        if settlement is None
        else Settlement(
            stake_returned=float(settlement["stake_returned"]),
            payout_returned=float(settlement["payout_returned"]),
        ),
    )
    _set_raw(s, raw)
    return s


# The same for the record itself: one per update on the reader thread, where attrs' __init__ cost
# 0.6 us of the ~20 us a 3 KB update takes to decode. Used by the codec, which has checked the
# fields; ``selections`` stays unset until first read, as with __init__.
_MARKET_UPDATE_FIELDS = ("publish_time", "received_at", "raw", "market_id", "status", "line")
if tuple(a.name for a in attrs.fields(MarketUpdate)) != _MARKET_UPDATE_FIELDS:  # pragma: no cover
    raise ImportError("messages.new_market_update must be updated for the fields of MarketUpdate")
_mu_set = tuple(getattr(MarketUpdate, name).__set__ for name in _MARKET_UPDATE_FIELDS)
_set_update_raw = _mu_set[2]


def new_market_update(
    publish_time: Optional[datetime],
    received_at: Optional[float],
    line: bytes,
    market_id: str,
    status: Union[MarketStatus, str],
) -> MarketUpdate:
    """``MarketUpdate(...)`` from a checked line, without attrs' keyword-argument ``__init__`` (the
    codec's hot path); ``raw`` is left unset, to be decoded from ``line`` when first read."""
    set_pt, set_ra, _, set_id, set_status, set_line = _mu_set
    record = _new(MarketUpdate)
    set_pt(record, publish_time)
    set_ra(record, received_at)
    set_line(record, line)
    set_id(record, market_id)
    set_status(record, status)
    return record

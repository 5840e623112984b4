"""The codec: one line of bytes becomes one record, and outgoing objects become lines.

Decoding never raises for bad input. A line that is not UTF-8, not JSON, not a JSON object, has no
known ``mode``, or has a modelled field of the wrong type becomes a :class:`ProtocolError` value
carrying the line's bytes and what was wrong; the caller reports it and goes on with the next line
(protocol.md section 2). A well-formed message of an unknown kind becomes an :class:`Unknown`
record: tolerated and delivered, never dropped (protocol.md preamble).

Why check types here rather than trust the server: a price that arrives as a string, or a market
update without an id, must be reported where it arrived -- not surface as a ``TypeError`` inside a
user's handler three threads away.

Why ujson on bytes: ujson decodes UTF-8 itself, which saves a ``bytes.decode`` per line, and its
error messages name invalid UTF-8 as such.

This module does no IO and keeps no clock: ``received_at`` is passed in by the caller.
"""

from __future__ import annotations

import operator
import sys
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import ujson

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.messages import (
    CloseReason,
    Competition,
    Event,
    EventMeta,
    Heartbeat,
    InitResponse,
    Market,
    MarketStatus,
    MarketType,
    RateLimited,
    Record,
    RemoveMarkets,
    Response,
    ServerClosing,
    Sport,
    Stage,
    Unknown,
    new_market_update,
)
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH, LineBuffer, encode_line

__all__ = [
    "decode_line",
    "encode_message",
    "parse_timestamp",
    "format_timestamp",
    "FeedDecoder",
    "Decoded",
    "RATE_LIMIT_MESSAGE",
]

#: The ``msg`` of the response to a rate-limited request (protocol.md section 7).
RATE_LIMIT_MESSAGE = "API limit breached"

#: The result of decoding one line.
Decoded = Union[Record, ProtocolError]

_UTC = timezone.utc

#: What MarketStatus.parse looks up: known statuses become the enum, others stay strings.
_MARKET_STATUSES: Dict[str, Any] = MarketStatus._value2member_map_

#: The largest finite float. Comparing with it (rather than calling math.isfinite) is false for
#: NaN and infinities, and for an integer too large to become a float, which math.isfinite would
#: raise OverflowError for.
_MAX_FLOAT = sys.float_info.max


class _FieldError(Exception):
    """Internal: a modelled field is missing or of the wrong type."""


# --- timestamps ----------------------------------------------------------------------------------


def parse_timestamp(value: str) -> datetime:
    """Parse a feed timestamp (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) to an aware datetime.

    Raises:
        ValueError: the string is not such a timestamp.
    """
    # fromisoformat is ~20x faster than strptime and accepts both forms of protocol.md section 3.
    # The feed's timestamps carry no offset: parsing them with "+00:00" appended yields the aware
    # UTC datetime directly, ~7x cheaper than ``dt.replace(tzinfo=...)`` (measured 0.1 us against
    # 0.78 us; benchmarks/decode.py). A string that already has an offset fails that parse and
    # takes the general path below, so the result is the same for every input. (A date alone
    # parses with the offset silently ignored, hence the check of tzinfo.)
    try:
        dt = datetime.fromisoformat(value + "+00:00")
    except ValueError:
        dt = datetime.fromisoformat(value)
    if dt.tzinfo is _UTC:
        return dt
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_UTC)
    try:
        return dt.astimezone(_UTC)
    except OverflowError:
        # "0001-01-01 00:00:00+01:00" is a valid string whose instant lies before year 1 in UTC.
        raise ValueError(f"timestamp out of range in UTC: {value!r}") from None


def format_timestamp(dt: datetime) -> str:
    """Format an aware (or naive UTC) datetime the way the feed does.

    Raises:
        OverflowError: an aware datetime whose instant is outside years 1..9999 in UTC.
    """
    if dt.tzinfo is not None:
        dt = dt.astimezone(_UTC).replace(tzinfo=None)
    # isoformat, not strftime("%Y ..."): glibc's %Y does not pad years before 1000 to four digits
    # ("999-01-01"), which fromisoformat then rejects.
    return dt.isoformat(" ", "microseconds")


def _time(obj: Dict[str, Any], key: str) -> Optional[datetime]:
    value = obj.get(key)
    if value is None:
        return None
    if type(value) is not str:
        raise _FieldError(f"{key} must be a timestamp string, got {type(value).__name__}")
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _FieldError(f"{key} is not a timestamp: {value!r}") from None


# --- field checks (hot path: keep them small) ----------------------------------------------------


def _str(obj: Dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if type(value) is not str:
        if value is None:
            raise _FieldError(f"missing {key}")
        raise _FieldError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _opt_str(obj: Dict[str, Any], key: str) -> Optional[str]:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise _FieldError(f"{key} must be a string or null, got {type(value).__name__}")


def _opt_id(obj: Dict[str, Any], key: str) -> Optional[str]:
    """An id that the server may send as a string or a number; kept as a string."""
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise _FieldError(f"{key} must be a string or integer, got {type(value).__name__}")


def _str_list(obj: Dict[str, Any], key: str) -> Tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if type(value) is not list or not all(type(v) is str for v in value):
        raise _FieldError(f"{key} must be a list of strings")
    return tuple(value)


def _number(value: Any, what: str) -> float:
    if (type(value) is float or type(value) is int) and -_MAX_FLOAT <= value <= _MAX_FLOAT:
        return value
    raise _FieldError(f"{what} must be a finite number, got {value!r}")


def _msg_dict(obj: Dict[str, Any]) -> Dict[str, Any]:
    msg = obj.get("msg")
    if type(msg) is not dict:
        raise _FieldError(f"msg must be an object, got {type(msg).__name__}")
    return msg


# --- push builders -------------------------------------------------------------------------------


def _sport(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = _msg_dict(obj)
    return Sport(publish_time=pt, received_at=ra, raw=obj, id=_str(m, "id"), name=_str(m, "name"))


def _competition(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = _msg_dict(obj)
    return Competition(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=_str(m, "id"),
        name=_str(m, "name"),
        sport_id=_opt_str(m, "sport_id"),
        arena_id=_opt_id(m, "arena_id"),
        start_time=_time(m, "start_time"),
    )


def _event_meta(items: Any) -> Tuple[EventMeta, ...]:
    if items is None:
        return ()
    if type(items) is not list:
        raise _FieldError("meta must be a list")
    out = []
    for item in items:
        if type(item) is not dict:
            raise _FieldError("meta items must be objects")
        out.append(
            EventMeta(event_id=_opt_id(item, "event_id"), offering_levels=_str_list(item, "offering_levels"))
        )
    return tuple(out)


def _stage(m: Dict[str, Any]) -> Any:
    value = _opt_str(m, "stage")
    return None if value is None else Stage.parse(value)


def _event(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = _msg_dict(obj)
    return Event(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=_str(m, "id"),
        name=_str(m, "name"),
        competition_id=_opt_str(m, "competition_id"),
        arena_competition_id=_opt_id(m, "arena_competition_id"),
        arena_id=_opt_id(m, "arena_id"),
        start_time=_time(m, "start_time"),
        stage=_stage(m),
        meta=_event_meta(m.get("meta")),
    )


def _market_type(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = _msg_dict(obj)
    return MarketType(publish_time=pt, received_at=ra, raw=obj, id=_str(m, "id"), name=_str(m, "name"))


def _market(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = _msg_dict(obj)
    numwinners = m.get("numwinners")
    if numwinners is not None and type(numwinners) is not int:
        raise _FieldError(f"numwinners must be an integer, got {type(numwinners).__name__}")
    arena_event_id = m.get("arena_event_id")
    if arena_event_id is not None and type(arena_event_id) not in (int, str):
        raise _FieldError("arena_event_id must be an integer or string")
    return Market(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=_str(m, "id"),
        name=_str(m, "name"),
        event_id=_opt_str(m, "event_id"),
        arena_id=_opt_id(m, "arena_id"),
        arena_event_id=arena_event_id,
        tags=_str_list(m, "tags"),
        start_time=_time(m, "start_time"),
        stage=_stage(m),
        numwinners=numwinners,
    )


#: The fields of a selection the fast check reads, in one C-level call per selection.
_SELECTION_FIELDS = operator.itemgetter("id", "name", "price", "status", "settlement")


def _check_selections(selections: Any) -> None:
    """Check every selection now, so that the lazily built records cannot fail later.

    This is the costliest step of decoding a ``market_update`` after ``ujson.loads`` itself (30
    selections are 150 field checks). So it runs in two passes: a tight loop that only answers
    "is every selection a plain priced one?" (all five fields present, ``id``/``name``/``status``
    strings, ``price`` a finite float >= 1.0, ``settlement`` null), and, only when that answer is
    no, :func:`_explain_selections`, which accepts everything valid and names what is not. Both
    apply the same rules; the first is about 25 % cheaper because it reads the five fields with one
    ``itemgetter`` call and keeps no index (measured in benchmarks/decode.py).
    """
    if selections is None:
        return
    if type(selections) is not list:
        raise _FieldError("selections must be a list")
    get = _SELECTION_FIELDS
    try:
        for s in selections:
            sid, name, price, status, settlement = get(s)  # KeyError/TypeError: not plain
            if (
                type(sid) is not str
                or type(price) is not float
                or not 1.0 <= price <= _MAX_FLOAT  # also false for NaN
                or settlement is not None
                or (type(name) is not str and name is not None)
                or (type(status) is not str and status is not None)
            ):
                break
        else:
            return
    except (KeyError, TypeError):
        pass
    _explain_selections(selections)


def _explain_selections(selections: List[Any]) -> None:
    """The full check of :func:`_check_selections`: raise a :class:`_FieldError` naming the first
    bad field, or return when every selection is valid (settled, unpriced, integer prices ...)."""
    for i, s in enumerate(selections):
        if type(s) is not dict:
            raise _FieldError(f"selections[{i}] must be an object")
        if type(s.get("id")) is not str:
            raise _FieldError(f"selections[{i}].id must be a string, got {s.get('id')!r}")
        price = s.get("price")
        if price is not None:
            if not ((type(price) is float or type(price) is int) and 1.0 <= price <= _MAX_FLOAT):
                raise _FieldError(f"selections[{i}].price must be decimal odds >= 1.0 or null, got {price!r}")
        name = s.get("name")
        if name is not None and type(name) is not str:
            raise _FieldError(f"selections[{i}].name must be a string, got {type(name).__name__}")
        status = s.get("status")
        if status is not None and type(status) is not str:
            raise _FieldError(f"selections[{i}].status must be a string, got {type(status).__name__}")
        settlement = s.get("settlement")
        if settlement is not None:
            if type(settlement) is not dict:
                raise _FieldError(f"selections[{i}].settlement must be an object or null")
            _number(settlement.get("stake_returned"), f"selections[{i}].settlement.stake_returned")
            _number(settlement.get("payout_returned"), f"selections[{i}].settlement.payout_returned")


def _market_update(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    # The hot path of a busy feed: the checks of _msg_dict and _str inline, the helpers called only
    # to raise their errors (same checks, same order, same messages).
    m = obj.get("msg")
    if type(m) is not dict:
        m = _msg_dict(obj)
    _check_selections(m.get("selections"))
    market_id = m.get("id")
    if type(market_id) is not str:
        market_id = _str(m, "id")
    status = m.get("status")
    if type(status) is not str:
        status = _str(m, "status")
    return new_market_update(pt, ra, obj, market_id, _MARKET_STATUSES.get(status, status))


def _remove_markets(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    ids = obj.get("msg")
    if type(ids) is not list or not all(type(i) is str for i in ids):
        raise _FieldError("msg must be a list of market ids (strings)")
    return RemoveMarkets(publish_time=pt, received_at=ra, raw=obj, market_ids=tuple(ids))


def _heartbeat(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    msg = obj.get("msg")
    if msg is None:
        msg = {}
    elif type(msg) is not dict:
        raise _FieldError(f"msg must be an object, got {type(msg).__name__}")
    return Heartbeat(publish_time=pt, received_at=ra, raw=obj, timestamp=_time(msg, "timestamp"))


_PUSH_BUILDERS: Dict[str, Callable[[Dict[str, Any], Optional[datetime], Optional[float]], Record]] = {
    "market_update": _market_update,
    "heartbeat": _heartbeat,
    "market": _market,
    "remove_markets": _remove_markets,
    "event": _event,
    "market_type": _market_type,
    "competition": _competition,
    "sport": _sport,
}


def _push(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    kind = obj.get("type")
    if type(kind) is str:
        builder = _PUSH_BUILDERS.get(kind)
        if builder is not None:
            return builder(obj, pt, ra)
    elif kind is not None:
        # Checked before any lookup: a list or object here is unhashable.
        raise _FieldError(f"type must be a string, got {type(kind).__name__}")
    if kind is None and obj.get("status") == "error":
        # The error push has no "type" (protocol.md section 7).
        return ServerClosing(
            publish_time=pt,
            received_at=ra,
            raw=obj,
            reason=CloseReason.parse(_str(obj, "reason")),
            session_id=_opt_str(obj, "session_id"),
        )
    return Unknown(publish_time=pt, received_at=ra, raw=obj, mode="push", type=kind)


def _resp(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    status = _opt_str(obj, "status")
    request_id = _opt_id(obj, "request_id")
    if status == "error" and obj.get("msg") == RATE_LIMIT_MESSAGE:
        return RateLimited(publish_time=pt, received_at=ra, raw=obj, request_id=request_id)
    if "session_id" in obj or status == "session initialized":
        return InitResponse(
            publish_time=pt,
            received_at=ra,
            raw=obj,
            session_id=_opt_str(obj, "session_id"),
            status=status,
            reason=_opt_str(obj, "reason"),
            request_id=request_id,
        )
    reason = obj.get("reason")
    return Response(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        status=status,
        request_id=request_id,
        reason=None if reason is None else str(reason),
    )


# --- the entry points ----------------------------------------------------------------------------


def decode_line(line: bytes, received_at: Optional[float] = None) -> Decoded:
    """Decode one line (without its ``\\n``) into a record, or a :class:`ProtocolError`.

    Never raises for bad input.

    Args:
        line: the bytes of one line, as :class:`LineBuffer` returns them.
        received_at: the receive time to stamp on the record (``time.time()`` seconds).
    """
    try:
        obj = ujson.loads(line)
    except (ValueError, OverflowError, RecursionError) as exc:
        # ujson reports invalid UTF-8 as "Invalid UTF-8 sequence ..." here.
        return ProtocolError(f"invalid JSON: {exc}", line)
    if type(obj) is not dict:
        return ProtocolError(f"expected a JSON object, got {type(obj).__name__}", line)
    mode = obj.get("mode")
    try:
        pt = _time(obj, "publish_time")
        if mode == "push":
            return _push(obj, pt, received_at)
        if mode == "resp":
            return _resp(obj, pt, received_at)
    except _FieldError as exc:
        kind = obj.get("type") or mode
        return ProtocolError(f"bad {kind} message: {exc}", line)
    if mode is None:
        return ProtocolError('message has no "mode" (expected "push" or "resp")', line)
    return ProtocolError(f'unknown mode {mode!r} (expected "push" or "resp")', line)


def encode_message(obj: Dict[str, Any]) -> bytes:
    """Encode one JSON object as a line of the wire format (UTF-8, no newline inside, ``\\n`` end).

    Used for client requests and by the simulator for server messages.
    """
    return encode_line(obj)


class FeedDecoder:
    """Bytes from the server in, records out: a :class:`LineBuffer` and :func:`decode_line` together.

    Blank lines are skipped, as JSON-lines readers commonly do; everything else becomes a record or
    a :class:`ProtocolError`, in stream order.

    Args:
        max_line_length: see :class:`LineBuffer`.
    """

    __slots__ = ("_lines",)

    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        self._lines = LineBuffer(max_line_length)

    def __repr__(self) -> str:
        return f"FeedDecoder({self._lines!r})"

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held until its ``\\n`` arrives."""
        return self._lines.buffered

    def feed(self, data: bytes, received_at: Optional[float] = None) -> List[Decoded]:
        """Feed a chunk (``b""`` at end of stream) and return the records it completed."""
        out: List[Decoded] = []
        append = out.append
        for line in self._lines.feed(data):
            if type(line) is bytes:
                if line:
                    append(decode_line(line, received_at))
            else:
                append(line)  # type: ignore[arg-type]
        return out

"""The codec: one line of bytes becomes one record, and outgoing objects become lines.

Decoding never raises for bad input. A line that is not UTF-8, not JSON, not a JSON object, has no
known ``mode``, or has a modelled field of the wrong type becomes a :class:`ProtocolError` value
carrying the line's bytes and what was wrong; the caller reports it and goes on with the next line
(docs/protocol.md section 2). A well-formed message of an unknown kind becomes an :class:`Unknown`
record: tolerated and delivered, never dropped (docs/protocol.md preamble).

Why check types here rather than trust the server: a price that arrives as a string, or a market
update without an id, must be reported where it arrived -- not surface as a ``TypeError`` inside a
user's handler three threads away.

Why ujson on bytes: ujson decodes UTF-8 itself, which saves a ``bytes.decode`` per line, and its
error messages name invalid UTF-8 as such.

The field checks the builders call are in :mod:`~imgfeed.feeds.img.protocol.fields` and the
timestamp parsing in :mod:`~imgfeed.feeds.img.protocol.timestamps`; they are imported into this
module's namespace, so a builder's call to a check is one global lookup, with no module attribute
in between.
``parse_timestamp`` and ``format_timestamp`` are re-exported from here, where callers import them.

This module does no IO and keeps no clock: ``received_at`` is passed in by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import ujson

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.compact import match_market_update
from imgfeed.feeds.img.protocol.fields import (
    FieldError,
    check_selections,
    msg_dict,
    opt_id,
    opt_str,
    req_str,
    str_list,
)
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
)
from imgfeed.feeds.img.protocol.prices import new_market_update
from imgfeed.feeds.img.protocol.timestamps import (
    format_timestamp,
    opt_time,
    parse_timestamp,
)
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH, LineBuffer, encode_line

__all__ = [
    "decode_line",
    "decode_json_line",
    "encode_message",
    "parse_timestamp",
    "format_timestamp",
    "FeedDecoder",
    "Decoded",
    "RATE_LIMIT_MESSAGE",
]

#: The ``msg`` of the response to a rate-limited request (docs/protocol.md section 7).
RATE_LIMIT_MESSAGE = "API limit breached"

#: The result of decoding one line.
Decoded = Union[Record, ProtocolError]

#: What MarketStatus.parse looks up: known statuses become the enum, others stay strings.
_MARKET_STATUSES: Dict[str, Any] = MarketStatus._value2member_map_

# --- push builders -------------------------------------------------------------------------------


def _sport(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = msg_dict(obj)
    return Sport(publish_time=pt, received_at=ra, raw=obj, id=req_str(m, "id"), name=req_str(m, "name"))


def _competition(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = msg_dict(obj)
    return Competition(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=req_str(m, "id"),
        name=req_str(m, "name"),
        sport_id=opt_str(m, "sport_id"),
        arena_id=opt_id(m, "arena_id"),
        start_time=opt_time(m, "start_time"),
    )


def _event_meta(items: Any) -> Tuple[EventMeta, ...]:
    if items is None:
        return ()
    if type(items) is not list:
        raise FieldError("meta must be a list")
    out = []
    for item in items:
        if type(item) is not dict:
            raise FieldError("meta items must be objects")
        out.append(
            EventMeta(event_id=opt_id(item, "event_id"), offering_levels=str_list(item, "offering_levels"))
        )
    return tuple(out)


def _stage(m: Dict[str, Any]) -> Any:
    value = opt_str(m, "stage")
    return None if value is None else Stage.parse(value)


def _event(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = msg_dict(obj)
    return Event(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=req_str(m, "id"),
        name=req_str(m, "name"),
        competition_id=opt_str(m, "competition_id"),
        arena_competition_id=opt_id(m, "arena_competition_id"),
        arena_id=opt_id(m, "arena_id"),
        start_time=opt_time(m, "start_time"),
        stage=_stage(m),
        meta=_event_meta(m.get("meta")),
    )


def _market_type(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = msg_dict(obj)
    return MarketType(publish_time=pt, received_at=ra, raw=obj, id=req_str(m, "id"), name=req_str(m, "name"))


def _market(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    m = msg_dict(obj)
    numwinners = m.get("numwinners")
    if numwinners is not None and type(numwinners) is not int:
        raise FieldError(f"numwinners must be an integer, got {type(numwinners).__name__}")
    arena_event_id = m.get("arena_event_id")
    if arena_event_id is not None and type(arena_event_id) not in (int, str):
        raise FieldError("arena_event_id must be an integer or string")
    return Market(
        publish_time=pt,
        received_at=ra,
        raw=obj,
        id=req_str(m, "id"),
        name=req_str(m, "name"),
        event_id=opt_str(m, "event_id"),
        arena_id=opt_id(m, "arena_id"),
        arena_event_id=arena_event_id,
        tags=str_list(m, "tags"),
        start_time=opt_time(m, "start_time"),
        stage=_stage(m),
        numwinners=numwinners,
    )


def _market_update(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float], line: bytes) -> Record:
    # The hot path of a busy feed: the checks of msg_dict and req_str inline, the helpers called only
    # to raise their errors (same checks, same order, same messages). The record keeps the line,
    # not the parsed tree, which is freed as soon as this returns (see MarketUpdate).
    m = obj.get("msg")
    if type(m) is not dict:
        m = msg_dict(obj)
    check_selections(m.get("selections"))
    market_id = m.get("id")
    if type(market_id) is not str:
        market_id = req_str(m, "id")
    status = m.get("status")
    if type(status) is not str:
        status = req_str(m, "status")
    return new_market_update(pt, ra, line, market_id, _MARKET_STATUSES.get(status, status))


def _remove_markets(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    ids = obj.get("msg")
    if type(ids) is not list or not all(type(i) is str for i in ids):
        raise FieldError("msg must be a list of market ids (strings)")
    return RemoveMarkets(publish_time=pt, received_at=ra, raw=obj, market_ids=tuple(ids))


def _heartbeat(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    msg = obj.get("msg")
    if msg is None:
        msg = {}
    elif type(msg) is not dict:
        raise FieldError(f"msg must be an object, got {type(msg).__name__}")
    return Heartbeat(publish_time=pt, received_at=ra, raw=obj, timestamp=opt_time(msg, "timestamp"))


_PUSH_BUILDERS: Dict[str, Callable[[Dict[str, Any], Optional[datetime], Optional[float]], Record]] = {
    "heartbeat": _heartbeat,
    "market": _market,
    "remove_markets": _remove_markets,
    "event": _event,
    "market_type": _market_type,
    "competition": _competition,
    "sport": _sport,
}


def _push(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float], line: bytes) -> Record:
    kind = obj.get("type")
    if kind == "market_update":
        return _market_update(obj, pt, ra, line)
    if type(kind) is str:
        builder = _PUSH_BUILDERS.get(kind)
        if builder is not None:
            return builder(obj, pt, ra)
    elif kind is not None:
        # Checked before any lookup: a list or object here is unhashable.
        raise FieldError(f"type must be a string, got {type(kind).__name__}")
    if kind is None and obj.get("status") == "error":
        # The error push has no "type" (docs/protocol.md section 7).
        return ServerClosing(
            publish_time=pt,
            received_at=ra,
            raw=obj,
            reason=CloseReason.parse(req_str(obj, "reason")),
            session_id=opt_str(obj, "session_id"),
        )
    return Unknown(publish_time=pt, received_at=ra, raw=obj, mode="push", type=kind)


def _resp(obj: Dict[str, Any], pt: Optional[datetime], ra: Optional[float]) -> Record:
    status = opt_str(obj, "status")
    request_id = opt_id(obj, "request_id")
    if status == "error" and obj.get("msg") == RATE_LIMIT_MESSAGE:
        return RateLimited(publish_time=pt, received_at=ra, raw=obj, request_id=request_id)
    if "session_id" in obj or status == "session initialized":
        return InitResponse(
            publish_time=pt,
            received_at=ra,
            raw=obj,
            session_id=opt_str(obj, "session_id"),
            status=status,
            reason=opt_str(obj, "reason"),
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

    Never raises for bad input. A ``market_update`` in the documented form is checked by one
    regular expression (:func:`~imgfeed.feeds.img.protocol.compact.match_market_update`, about
    half the time of the general decode); every other line by :func:`decode_json_line`. The result is the
    same either way.

    Args:
        line: the bytes of one line, as :class:`LineBuffer` returns them.
        received_at: the receive time to stamp on the record (``time.time()`` seconds).
    """
    record = match_market_update(line, received_at)
    if record is not None:
        return record
    return decode_json_line(line, received_at)


def decode_json_line(line: bytes, received_at: Optional[float] = None) -> Decoded:
    """:func:`decode_line` the general way: parse the line with ujson and check the tree.

    The reference the shortcuts (the regex of :mod:`~imgfeed.feeds.img.protocol.compact`, the
    msgspec schema of :mod:`~imgfeed.feeds.img.protocol.fast`) are held equal to, and what they
    step aside to.
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
        pt = opt_time(obj, "publish_time")
        if mode == "push":
            return _push(obj, pt, received_at, line)
        if mode == "resp":
            return _resp(obj, pt, received_at)
    except FieldError as exc:
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
        decode: the line decoder: :func:`decode_line`, or the same with ``market_update`` checked
            in C (:func:`imgfeed.feeds.img.protocol.fast.fast_decode_line`, ``imgfeed[speed]``).
    """

    __slots__ = ("_lines", "_decode")

    def __init__(
        self,
        max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
        decode: Callable[[bytes, Optional[float]], Decoded] = decode_line,
    ) -> None:
        self._lines = LineBuffer(max_line_length)
        self._decode = decode

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
        decode = self._decode
        for line in self._lines.feed(data):
            if type(line) is bytes:
                if line:
                    append(decode(line, received_at))
            else:
                append(line)  # type: ignore[arg-type]
        return out

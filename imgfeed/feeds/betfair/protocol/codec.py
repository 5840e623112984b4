"""The ESA codec: one line of bytes becomes one record; requests become CRLF-terminated lines.

Decoding never raises for bad input. A line that is not UTF-8 JSON, not a JSON object, has no
``op``, or has a field of the wrong type becomes a :class:`~imgfeed.errors.ProtocolError` value that
carries the line's bytes and names the field; the caller reports it and goes on with the next
line. A well-formed message with an ``op`` this version does not model becomes
:class:`~.messages.Unknown`: delivered, never dropped.

Why a missing ``op`` is an error but an unknown one is not: every ESA message has an ``op`` (the
schema's ``ResponseMessage``), so a line without one is not ESA at all; a new ``op`` is Betfair
growing the protocol (``rcm`` and ``ccm`` already exist for race and cricket streams).

Why check the change lists here (:mod:`.validate`) rather than in the caches: so that a cache can
apply a change in one pass, without a half-applied market when row 7 of 9 turns out to be a string.

Why ujson on bytes: it decodes UTF-8 itself, saving a ``bytes.decode`` per line. It accepts the
``NaN``/``Infinity`` literals, which the checks then refuse where a finite number is required.

The request encoders return ``bytes`` ready for the socket (compact JSON plus ``\\r\\n``). The
authentication request is a :class:`RedactedRequest`: its ``repr`` (and so any log of it) shows
only the first characters of the app key and none of the session token.

This module does no IO and keeps no clock: ``received_at`` is passed in by the caller.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import attrs
import ujson

from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.protocol.messages import (
    ConnectionMessage,
    MarketChangeMessage,
    Message,
    OrderChangeMessage,
    StatusMessage,
    Unknown,
)
from imgfeed.feeds.betfair.protocol.times import MAX_EPOCH_MS, MIN_EPOCH_MS
from imgfeed.feeds.betfair.protocol.validate import (
    FieldError,
    check_market_changes,
    check_order_changes,
)

__all__ = [
    "Decoded",
    "decode_line",
    "decode_object",
    "RedactedRequest",
    "authentication",
    "market_subscription",
    "order_subscription",
    "heartbeat",
]

#: The result of decoding one line.
Decoded = Union[Message, ProtocolError]

_APP_KEY_SHOWN = 4  # enough to tell two app keys apart in a log, far too little to use one


class _Bad(Exception):
    """Internal: an envelope field is missing or of the wrong type."""


def _opt(obj: Dict[str, Any], key: str, kind: type, what: str) -> Any:
    value = obj.get(key)
    if value is None or type(value) is kind:
        return value
    raise _Bad(f"{key}: expected {what}, got {type(value).__name__} {value!r:.60}")


def _opt_bool(obj: Dict[str, Any], key: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if type(value) is bool:
        return value
    raise _Bad(f"{key}: expected true or false, got {type(value).__name__} {value!r:.60}")


def _connection(obj: Dict[str, Any], received_at: float) -> ConnectionMessage:
    return ConnectionMessage(
        connection_id=_opt(obj, "connectionId", str, "a string"), received_at=received_at, raw=obj
    )


def _status(obj: Dict[str, Any], received_at: float) -> StatusMessage:
    return StatusMessage(
        id=_opt(obj, "id", int, "an integer"),
        status_code=_opt(obj, "statusCode", str, "a string"),
        error_code=_opt(obj, "errorCode", str, "a string"),
        error_message=_opt(obj, "errorMessage", str, "a string"),
        connection_closed=_opt_bool(obj, "connectionClosed"),
        connection_id=_opt(obj, "connectionId", str, "a string"),
        connections_available=_opt(obj, "connectionsAvailable", int, "an integer"),
        received_at=received_at,
        raw=obj,
    )


# The envelope of mcm/ocm: (wire key, record field, type, description). Checked on every change
# message, so the common case (every field absent or of the right type) is one pass with no calls.
_ENVELOPE = (
    ("id", "id", int, "an integer"),
    ("ct", "ct", str, "a string"),
    ("clk", "clk", str, "a string"),
    ("initialClk", "initial_clk", str, "a string"),
    ("pt", "pt", int, "epoch milliseconds"),
    ("heartbeatMs", "heartbeat_ms", int, "an integer"),
    ("conflateMs", "conflate_ms", int, "an integer"),
    ("segmentType", "segment_type", str, "a string"),
    ("status", "status", int, "an integer"),
)


def _envelope(obj: Dict[str, Any], changes_key: str, check: Callable[[Any], None]) -> Tuple[Any, ...]:
    get = obj.get
    id_, ct, clk, initial_clk, pt = get("id"), get("ct"), get("clk"), get("initialClk"), get("pt")
    heartbeat_ms, conflate_ms, segment_type, status = (
        get("heartbeatMs"), get("conflateMs"), get("segmentType"), get("status"),
    )
    if not (
        (id_ is None or type(id_) is int)
        and (ct is None or type(ct) is str)
        and (clk is None or type(clk) is str)
        and (initial_clk is None or type(initial_clk) is str)
        and (pt is None or (type(pt) is int and MIN_EPOCH_MS <= pt <= MAX_EPOCH_MS))
        and (heartbeat_ms is None or type(heartbeat_ms) is int)
        and (conflate_ms is None or type(conflate_ms) is int)
        and (segment_type is None or type(segment_type) is str)
        and (status is None or type(status) is int)
    ):
        for key, _, kind, what in _ENVELOPE:
            _opt(obj, key, kind, what)
        raise _Bad(f"pt: expected epoch milliseconds, got {pt!r:.60}")  # the only check left
    changes = get(changes_key)
    if changes is None:
        changes = []
    else:
        check(changes)
    return id_, ct, clk, initial_clk, pt, heartbeat_ms, conflate_ms, segment_type, status, changes


# Why _mcm does not call MarketChangeMessage(...): attrs' frozen __init__ sets each of its 12 slots
# through object.__setattr__ (1.5 us, on every line of the market stream); the slots' descriptors
# build the same frozen record in half that. The check makes a new field fail at import.
_MCM_FIELDS = (
    "id", "ct", "clk", "initial_clk", "pt", "heartbeat_ms", "conflate_ms", "segment_type", "status",
    "received_at", "raw", "mc",
)
if tuple(a.name for a in attrs.fields(MarketChangeMessage)) != _MCM_FIELDS:  # pragma: no cover
    raise ImportError("codec._mcm must be updated for the fields of MarketChangeMessage")
_MCM_SET = tuple(getattr(MarketChangeMessage, name).__set__ for name in _MCM_FIELDS)
_new = object.__new__


def _mcm(obj: Dict[str, Any], received_at: float) -> MarketChangeMessage:
    id_, ct, clk, initial_clk, pt, heartbeat_ms, conflate_ms, segment_type, status, mc = _envelope(
        obj, "mc", check_market_changes
    )
    record = _new(MarketChangeMessage)
    s_id, s_ct, s_clk, s_initial_clk, s_pt, s_heartbeat_ms, s_conflate_ms, s_segment_type, s_status, \
        s_received_at, s_raw, s_mc = _MCM_SET  # fmt: skip
    s_id(record, id_)
    s_ct(record, ct)
    s_clk(record, clk)
    s_initial_clk(record, initial_clk)
    s_pt(record, pt)
    s_heartbeat_ms(record, heartbeat_ms)
    s_conflate_ms(record, conflate_ms)
    s_segment_type(record, segment_type)
    s_status(record, status)
    s_received_at(record, received_at)
    s_raw(record, obj)
    s_mc(record, mc)
    return record


def _ocm(obj: Dict[str, Any], received_at: float) -> OrderChangeMessage:
    id_, ct, clk, initial_clk, pt, heartbeat_ms, conflate_ms, segment_type, status, oc = _envelope(
        obj, "oc", check_order_changes
    )
    return OrderChangeMessage(
        id=id_, ct=ct, clk=clk, initial_clk=initial_clk, pt=pt, heartbeat_ms=heartbeat_ms,
        conflate_ms=conflate_ms, segment_type=segment_type, status=status, oc=oc,
        received_at=received_at, raw=obj,
    )


_BUILDERS: Dict[str, Callable[[Dict[str, Any], float], Message]] = {
    "mcm": _mcm,
    "ocm": _ocm,
    "status": _status,
    "connection": _connection,
}


def decode_line(line: bytes, received_at: float) -> Decoded:
    """Decode one line from the server (with or without its ``\\r\\n``) into a record.

    Args:
        line: the bytes of one line.
        received_at: when the line arrived, on the caller's clock; stored in the record.

    Returns:
        A record of :mod:`.messages`, or a :class:`~imgfeed.errors.ProtocolError` (not raised)
        whose ``reason`` says what was wrong and whose ``raw`` is ``line``.
    """
    try:
        obj = ujson.loads(line)
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return ProtocolError(f"not JSON ({exc})", line)
    return decode_object(obj, line, received_at)


def decode_object(obj: Any, line: bytes, received_at: float) -> Decoded:
    """The second half of :func:`decode_line`: the record for ``obj``, the parsed JSON of ``line``.

    For a decoder that parses the JSON by other means (:mod:`.fast`); ``obj`` must be exactly
    what ``ujson.loads(line)`` returns."""
    if type(obj) is not dict:
        return ProtocolError(f"not a JSON object but {type(obj).__name__}", line)
    op = obj.get("op")
    if type(op) is not str:
        if op is None:
            return ProtocolError("no 'op' in message", line)
        return ProtocolError(f"op: expected a string, got {type(op).__name__}", line)
    build = _BUILDERS.get(op)
    if build is None:
        return Unknown(op=op, received_at=received_at, raw=obj)
    try:
        return build(obj, received_at)
    except _Bad as bad:
        return ProtocolError(f"bad {op}: {bad}", line)
    except FieldError as bad:
        return ProtocolError(f"bad {op}: {bad.describe()}", line)


# --- requests -------------------------------------------------------------------------------------


class RedactedRequest(bytes):
    """A request line holding secrets: ``bytes`` for the socket, with a ``repr`` that hides them.

    ``repr()``/``str()`` (and so ``%r``/``%s`` in a log) show the op, the id, the first
    :data:`_APP_KEY_SHOWN` characters of the app key and the length of the session token; the bytes
    themselves are sent unchanged.
    """

    _shown: str  # no __slots__: CPython does not allow them on a bytes subclass

    def __new__(cls, data: bytes, shown: str) -> "RedactedRequest":
        self = super().__new__(cls, data)
        self._shown = shown
        return self

    def __repr__(self) -> str:
        return f"<RedactedRequest {self._shown}>"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # A pickled copy would otherwise carry the secrets into wherever pickles go (queues, logs).
        raise TypeError("a RedactedRequest holds secrets and is not picklable")


def _line(obj: Mapping[str, Any]) -> bytes:
    return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False).encode() + b"\r\n"


def _without_none(obj: Dict[str, Any]) -> Dict[str, Any]:
    return {key: value for key, value in obj.items() if value is not None}


def authentication(id: int, app_key: str, session: str) -> RedactedRequest:
    """Encode ``{"op": "authentication", "id", "appKey", "session"}``.

    Returns:
        The line, as a :class:`RedactedRequest` whose ``repr`` shows no secret in full.
    """
    shown = (
        f"op=authentication id={id} appKey={app_key[:_APP_KEY_SHOWN]!r}... ({len(app_key)} chars) "
        f"session=<{len(session)} chars>"
    )
    line = _line({"op": "authentication", "id": id, "appKey": app_key, "session": session})
    return RedactedRequest(line, shown)


def market_subscription(
    id: int,
    market_filter: Optional[Mapping[str, Any]] = None,
    market_data_filter: Optional[Mapping[str, Any]] = None,
    segmentation_enabled: Optional[bool] = True,
    heartbeat_ms: Optional[int] = None,
    conflate_ms: Optional[int] = None,
    initial_clk: Optional[str] = None,
    clk: Optional[str] = None,
) -> bytes:
    """Encode a ``marketSubscription``; ``None`` arguments are left out (the server's defaults).

    ``market_filter`` and ``market_data_filter`` are the schema's objects with its camelCase keys
    (``{"marketIds": [...]}``, ``{"fields": ["EX_BEST_OFFERS"], "ladderLevels": 3}``). Pass the
    clocks of :meth:`.stream.SubscriptionStream.resubscribe_payload` to resume after a reconnect.
    """
    return _line(
        _without_none(
            {
                "op": "marketSubscription",
                "id": id,
                "marketFilter": None if market_filter is None else dict(market_filter),
                "marketDataFilter": None if market_data_filter is None else dict(market_data_filter),
                "segmentationEnabled": segmentation_enabled,
                "heartbeatMs": heartbeat_ms,
                "conflateMs": conflate_ms,
                "initialClk": initial_clk,
                "clk": clk,
            }
        )
    )


def order_subscription(
    id: int,
    order_filter: Optional[Mapping[str, Any]] = None,
    segmentation_enabled: Optional[bool] = True,
    heartbeat_ms: Optional[int] = None,
    conflate_ms: Optional[int] = None,
    initial_clk: Optional[str] = None,
    clk: Optional[str] = None,
) -> bytes:
    """Encode an ``orderSubscription``; ``None`` arguments are left out (the server's defaults).

    ``order_filter`` is the schema's ``OrderFilter`` (``includeOverallPosition``,
    ``customerStrategyRefs``, ``partitionMatchedByStrategyRef``). Resubscribe the order stream with
    its clocks too: a fresh order image holds only executable orders.
    """
    return _line(
        _without_none(
            {
                "op": "orderSubscription",
                "id": id,
                "orderFilter": None if order_filter is None else dict(order_filter),
                "segmentationEnabled": segmentation_enabled,
                "heartbeatMs": heartbeat_ms,
                "conflateMs": conflate_ms,
                "initialClk": initial_clk,
                "clk": clk,
            }
        )
    )


def heartbeat(id: int) -> bytes:
    """Encode ``{"op": "heartbeat", "id"}``: a keep-alive the server answers with a ``status``."""
    return _line({"op": "heartbeat", "id": id})

"""Requests from the client: build them, encode them, and (for the simulator) decode them.

Envelope (docs/protocol.md section 6): ``{"request": "<name>", "msg": {...}}`` with an optional
top-level ``"request_id"`` that the server echoes. Subscribe and unsubscribe take up to three
optional filter lists; a market matches when it matches every list given, and an empty ``msg``
means everything.

This module does no IO.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import attrs
import ujson

from imgfeed.errors import ProtocolError
from imgfeed.feeds.img.protocol.codec import encode_message

__all__ = [
    "Request",
    "init_request",
    "subscribe_request",
    "unsubscribe_request",
    "decode_request",
    "FILTER_KEYS",
]

#: The filter lists that ``subscribe`` and ``unsubscribe`` accept, in wire order.
FILTER_KEYS = ("event_ids", "market_type_ids", "market_ids")


@attrs.frozen(slots=True)
class Request:
    """One request to the server.

    Attributes:
        name: the request name (``"init"``, ``"subscribe"``, ...).
        msg: the request body, a JSON object.
        request_id: the id the server echoes in its response, or ``None`` to send none.
    """

    name: str
    msg: Dict[str, Any] = attrs.field(factory=dict)
    request_id: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        obj: Dict[str, Any] = {"request": self.name}
        if self.request_id is not None:
            obj["request_id"] = self.request_id
        obj["msg"] = self.msg
        return obj

    def to_bytes(self) -> bytes:
        """The request as one line of the wire format."""
        return encode_message(self.to_dict())

    def with_id(self, request_id: Optional[str]) -> "Request":
        """A copy that carries ``request_id``."""
        return attrs.evolve(self, request_id=request_id)


def init_request(include_finished: bool = False, request_id: Optional[str] = None) -> Request:
    """The ``init`` request, sent first on every connection (docs/protocol.md section 4).

    Args:
        include_finished: ask for recently finished tournaments in the snapshot as well, which
            helps to interpret late settlements and re-settlements.
    """
    msg: Dict[str, Any] = {"include_finished": True} if include_finished else {}
    return Request("init", msg, request_id)


def _filters(
    event_ids: Optional[Iterable[str]],
    market_type_ids: Optional[Iterable[str]],
    market_ids: Optional[Iterable[str]],
) -> Dict[str, Any]:
    msg: Dict[str, Any] = {}
    for key, values in zip(FILTER_KEYS, (event_ids, market_type_ids, market_ids)):
        if values is None:
            continue
        if isinstance(values, (str, bytes)):
            raise TypeError(f"{key} must be a list of ids, not a single {type(values).__name__}")
        items = list(values)
        if not all(isinstance(v, str) for v in items):
            raise TypeError(f"{key} must contain only strings")
        msg[key] = items
    return msg


def subscribe_request(
    event_ids: Optional[Iterable[str]] = None,
    market_type_ids: Optional[Iterable[str]] = None,
    market_ids: Optional[Iterable[str]] = None,
    request_id: Optional[str] = None,
) -> Request:
    """A ``subscribe`` request; with no filters it subscribes to every market."""
    return Request("subscribe", _filters(event_ids, market_type_ids, market_ids), request_id)


def unsubscribe_request(
    event_ids: Optional[Iterable[str]] = None,
    market_type_ids: Optional[Iterable[str]] = None,
    market_ids: Optional[Iterable[str]] = None,
    request_id: Optional[str] = None,
) -> Request:
    """An ``unsubscribe`` request, with the same filter shape as :func:`subscribe_request`."""
    return Request("unsubscribe", _filters(event_ids, market_type_ids, market_ids), request_id)


def decode_request(line: bytes) -> Request:
    """Decode one request line (the server side of the protocol, used by the simulator).

    Raises:
        ProtocolError: the line is not a JSON object with a string ``request`` and an object
            ``msg`` (``msg`` may be absent, meaning ``{}``).
    """
    try:
        obj = ujson.loads(line)
    except (ValueError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"invalid JSON: {exc}", line) from None
    if type(obj) is not dict:
        raise ProtocolError(f"expected a JSON object, got {type(obj).__name__}", line)
    name = obj.get("request")
    if type(name) is not str:
        raise ProtocolError('missing or non-string "request"', line)
    msg = obj.get("msg", {})
    if msg is None:
        msg = {}
    if type(msg) is not dict:
        raise ProtocolError(f'"msg" must be an object, got {type(msg).__name__}', line)
    request_id = obj.get("request_id")
    if request_id is not None and type(request_id) is not str:
        if type(request_id) is int:
            request_id = str(request_id)
        else:
            raise ProtocolError('"request_id" must be a string', line)
    return Request(name, msg, request_id)

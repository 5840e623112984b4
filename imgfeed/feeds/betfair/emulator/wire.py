"""ESA on the wire, server side: error codes, ``status`` messages, and CRLF-terminated JSON lines.

Contract: :func:`encode` writes one message as Betfair does: compact JSON, UTF-8 *unescaped* (so
names put multi-byte characters on the wire), terminated by ``\\r\\n`` ("every message is in json &
terminated with a line feed (CRLF)"). :func:`status` builds the answer every request gets, with the
request's ``id``; :data:`CLOSES` says which errors close the connection ("all errors apart from
SUBSCRIPTION_LIMIT_EXCEEDED close the connection"). :func:`segments` splits a large change message
into ``SEG_START`` / ``SEG`` / ``SEG_END`` parts. Pure functions.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

__all__ = [
    "ERROR_CODES",
    "CLOSES",
    "encode",
    "status",
    "segments",
]

#: The ESA error codes (``StatusMessage.errorCode`` in the schema), each with the emulator's message.
ERROR_CODES: Dict[str, str] = {
    "NO_APP_KEY": "An application key is required: send appKey in the authentication message",
    "INVALID_APP_KEY": "The application key is not valid",
    "NO_SESSION": "A session token is required: send session in the authentication message",
    "INVALID_SESSION_INFORMATION": "The session token is not valid or has expired",
    "NOT_AUTHORIZED": "Not authorised for this operation",
    "INVALID_INPUT": "The request could not be understood",
    "INVALID_CLOCK": "The initialClk / clk supplied cannot be resumed from",
    "UNEXPECTED_ERROR": "An unexpected error occurred on the server",
    "TIMEOUT": "Timed out: no authentication was received in time",
    "SUBSCRIPTION_LIMIT_EXCEEDED": "The subscription matches more markets than allowed",
    "INVALID_REQUEST": "The request is not valid",
    "CONNECTION_FAILED": "The connection to the server failed",
    "MAX_CONNECTION_LIMIT_EXCEEDED": "Too many connections are open for this application key",
    "TOO_MANY_REQUESTS": "Too many requests in a short time",
}

#: Error codes after which the server closes the connection: every one but the subscription limit.
CLOSES = frozenset(ERROR_CODES) - {"SUBSCRIPTION_LIMIT_EXCEEDED"}


def encode(message: Dict[str, Any]) -> bytes:
    """One message as a wire line: compact JSON, UTF-8, ``\\r\\n``."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\r\n"


def status(
    request_id: Optional[int],
    error_code: Optional[str] = None,
    error_message: Optional[str] = None,
    connection_id: Optional[str] = None,
    connections_available: Optional[int] = None,
) -> Dict[str, Any]:
    """A ``status`` message: SUCCESS, or FAILURE with ``error_code`` (and ``connectionClosed``)."""
    message: Dict[str, Any] = {"op": "status"}
    if request_id is not None:
        message["id"] = request_id
    if error_code is None:
        message["statusCode"] = "SUCCESS"
        message["connectionClosed"] = False
        if connections_available is not None:
            message["connectionsAvailable"] = connections_available
        return message
    if error_code not in ERROR_CODES:
        raise ValueError(f"unknown ESA error code {error_code!r} (known: {', '.join(ERROR_CODES)})")
    message["statusCode"] = "FAILURE"
    message["errorCode"] = error_code
    message["errorMessage"] = error_message or ERROR_CODES[error_code]
    message["connectionClosed"] = error_code in CLOSES
    if connection_id is not None:
        message["connectionId"] = connection_id
    return message


def segments(message: Dict[str, Any], items_key: str, segment_size: int) -> List[Dict[str, Any]]:
    """``message`` as one message, or as segments when its JSON is over ``segment_size`` bytes.

    Every segment keeps ``op``, ``id``, ``ct``, ``pt`` (and ``status``); ``heartbeatMs`` and
    ``conflateMs`` go on the first, ``initialClk`` and ``clk`` on the last only: the
    specification tells clients to store ``clk`` "on every non-segmented message or a SEG_END",
    so a client that stored one from a partial image could not resume from it. Items are never
    split: a segment holds at least one, and grows while it fits in ``segment_size``.
    """
    items = message.get(items_key) or []
    if len(items) < 2 or len(encode(message)) <= segment_size:
        return [message]
    head = {
        k: v
        for k, v in message.items()
        if k not in (items_key, "initialClk", "clk", "heartbeatMs", "conflateMs")
    }
    chunks: List[List[Any]] = [[]]
    size = 0
    for item in items:
        n = len(encode(item))
        if chunks[-1] and size + n > segment_size:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += n
    if len(chunks) == 1:
        return [message]
    out = []
    for i, chunk in enumerate(chunks):
        part = dict(head)
        if i == 0:
            part["segmentType"] = "SEG_START"
            for key in ("heartbeatMs", "conflateMs"):
                if key in message:
                    part[key] = message[key]
        elif i == len(chunks) - 1:
            part["segmentType"] = "SEG_END"
            for key in ("initialClk", "clk"):
                if key in message:
                    part[key] = message[key]
        else:
            part["segmentType"] = "SEG"
        part[items_key] = chunk
        out.append(part)
    return out

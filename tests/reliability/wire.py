"""Server messages as wire bytes, for the hostile servers of the fault matrix.

The simulator generates realistic traffic; the fault tests need the opposite: a few exact lines
whose content the test knows, so that it can say precisely what the client must deliver. Every
builder returns one encoded line (``\\n`` included) of the shapes in docs/protocol.md sections 3-7.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

from imgfeed.feeds.img.protocol.codec import encode_message

__all__ = [
    "PUBLISH_TIME",
    "SPORT_ID",
    "COMPETITION_ID",
    "EVENT_ID",
    "MARKET_TYPE_ID",
    "init_response",
    "ok_response",
    "rate_limited",
    "error_push",
    "heartbeat",
    "market",
    "market_update",
    "push",
    "remove_markets",
    "snapshot",
]

PUBLISH_TIME = "2025-03-14 08:50:11.331473"
SPORT_ID = "sp.golf"
COMPETITION_ID = "comp.golf_1"
EVENT_ID = "ev.golf_1100"
MARKET_TYPE_ID = "mt.winonly"


def push(kind: str, msg: Any) -> bytes:
    """Any push: ``{"mode": "push", "type": kind, "publish_time": ..., "msg": msg}``."""
    return encode_message({"mode": "push", "type": kind, "publish_time": PUBLISH_TIME, "msg": msg})


def init_response(
    session_id: str = "00000000-0000-4000-8000-000000000001", request_id: Optional[str] = None
) -> bytes:
    """The ``session initialized`` response (docs/protocol.md section 4)."""
    obj: Dict[str, Any] = {
        "mode": "resp",
        "status": "session initialized",
        "session_id": session_id,
        "publish_time": PUBLISH_TIME,
        "reason": None,
    }
    if request_id is not None:
        obj["request_id"] = request_id
    return encode_message(obj)


def ok_response(request_id: Optional[str]) -> bytes:
    """The ``ok`` response to subscribe/unsubscribe (docs/protocol.md section 6)."""
    obj: Dict[str, Any] = {"mode": "resp", "status": "ok", "publish_time": PUBLISH_TIME}
    if request_id is not None:
        obj["request_id"] = request_id
    return encode_message(obj)


def rate_limited(request_id: Optional[str]) -> bytes:
    """The "API limit breached" response (docs/protocol.md section 7)."""
    obj: Dict[str, Any] = {
        "mode": "resp",
        "status": "error",
        "msg": "API limit breached",
        "publish_time": PUBLISH_TIME,
    }
    if request_id is not None:
        obj["request_id"] = request_id
    return encode_message(obj)


def error_push(reason: str, session_id: str = "00000000-0000-4000-8000-000000000001") -> bytes:
    """The error push sent before the server closes (docs/protocol.md section 7; it has no ``type``)."""
    return encode_message(
        {
            "mode": "push",
            "status": "error",
            "session_id": session_id,
            "reason": reason,
            "publish_time": PUBLISH_TIME,
        }
    )


def heartbeat() -> bytes:
    return push("heartbeat", {"timestamp": PUBLISH_TIME})


def market(market_id: str) -> bytes:
    return push(
        "market",
        {
            "id": market_id,
            "name": f"Market {market_id}",
            "event_id": EVENT_ID,
            "tags": [SPORT_ID, MARKET_TYPE_ID, EVENT_ID, COMPETITION_ID],
            "stage": "in_play",
            "numwinners": 1,
        },
    )


def market_update(
    market_id: str, status: str = "open", price: Optional[float] = 9.5, name: str = "Seamus Power"
) -> bytes:
    """A full market image (docs/protocol.md section 6) with one selection, ``name``, at ``price``."""
    return push(
        "market_update",
        {
            "id": market_id,
            "status": status,
            "selections": [
                {"id": "g:3715", "name": name, "price": price, "status": status, "settlement": None}
            ],
        },
    )


def remove_markets(market_ids: Iterable[str]) -> bytes:
    return push("remove_markets", list(market_ids))


def snapshot(market_ids: Iterable[str]) -> List[bytes]:
    """The offering pushed after ``init``, in the documented order (docs/protocol.md section 4)."""
    lines = [
        push("sport", {"id": SPORT_ID, "name": "Golf"}),
        push("competition", {"id": COMPETITION_ID, "name": "PGA Tour", "sport_id": SPORT_ID}),
        push("event", {"id": EVENT_ID, "name": "THE PLAYERS Championship", "competition_id": COMPETITION_ID}),
        push("market_type", {"id": MARKET_TYPE_ID, "name": "Win Only"}),
    ]
    lines.extend(market(m) for m in market_ids)
    return lines

"""The scenario's messages: the wire form of its world, as the service would send it.

Contract: plain functions from the model (:mod:`imgfeed.feeds.img.simulator.model`) to the JSON
objects of docs/protocol.md sections 4-6 (``sport``, ``competition``, ``event``, ``market_type``,
``market`` and ``market_update`` pushes, in the envelope ``{"mode": "push", "type": ...,
"publish_time": ..., "msg": ...}``), and to :class:`Emission` values that carry each object
encoded once. They read the model and never change it, draw no random numbers and read no clock:
the publish time is passed in, already formatted.

This module does no IO and starts no threads.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence

from imgfeed.feeds.img.protocol.codec import encode_message, format_timestamp
from imgfeed.feeds.img.simulator import names
from imgfeed.feeds.img.simulator.config import ScenarioConfig
from imgfeed.feeds.img.simulator.model import (
    MATCH_BET,
    SENT_AT_MARK,
    SPORT_ID,
    THREE_BALL,
    WIN_ONLY,
    Emission,
    EventState,
    MarketInfo,
    MarketState,
    stage_of,
)

__all__ = [
    "utc_text",
    "push",
    "competition_msg",
    "event_msg",
    "market_type_msg",
    "market_msg",
    "image",
    "update_obj",
    "emission",
    "update_emission",
    "snapshot",
]


def utc_text(epoch: float) -> str:
    """``epoch`` (seconds) as the feed writes a timestamp."""
    return format_timestamp(datetime.fromtimestamp(epoch, timezone.utc))


def push(kind: str, pt: str, msg: Any) -> Dict[str, Any]:
    """A push of type ``kind`` published at ``pt``."""
    return {"mode": "push", "type": kind, "publish_time": pt, "msg": msg}


def competition_msg(tour: int) -> Dict[str, Any]:
    """The ``msg`` of tour number ``tour``'s ``competition`` push (tours past the named ones are numbered)."""
    arena = names.ARENA_TOUR_IDS[tour % len(names.ARENA_TOUR_IDS)]
    name = names.TOURS[tour % len(names.TOURS)]
    if tour >= len(names.TOURS):
        name = f"{name} {tour // len(names.TOURS) + 1}"
        arena = f"{arena}{tour}"
    return {"id": f"comp.golf_{arena}", "name": name, "sport_id": SPORT_ID, "arena_id": arena, "start_time": None}


def event_msg(e: EventState, config: ScenarioConfig) -> Dict[str, Any]:
    """The ``msg`` of a tournament's ``event`` push, with its stage now."""
    comp = competition_msg(e.tour)
    return {
        "id": e.id,
        "name": e.name,
        "competition_id": comp["id"],
        "arena_competition_id": comp["arena_id"],
        "arena_id": e.arena_id,
        "start_time": utc_text(e.start_time),
        "stage": stage_of(e, config),
        "meta": [{"event_id": e.arena_id, "offering_levels": ["M1"]}],
    }


def market_type_msg(type_id: str) -> Dict[str, Any]:
    """The ``msg`` of a ``market_type`` push."""
    names_by_id = {t[0]: t[1] for t in (WIN_ONLY, MATCH_BET, THREE_BALL)}
    if type_id in names_by_id:
        return {"id": type_id, "name": names_by_id[type_id]}
    return {"id": type_id, "name": f"Top {type_id[len('mt.top'):]} Finish (incl. ties)"}


def market_msg(m: MarketState, config: ScenarioConfig) -> Dict[str, Any]:
    """The ``msg`` of a market's ``market`` push (its offering entry)."""
    e = m.event
    return {
        "id": m.id,
        "arena_id": m.arena_id,
        "name": m.name,
        "event_id": e.id,
        "arena_event_id": int(e.arena_id),
        "tags": [SPORT_ID, m.type_id, e.id, competition_msg(e.tour)["id"]],
        "start_time": utc_text(e.start_time),
        "stage": stage_of(e, config),
        "numwinners": m.numwinners,
    }


def image(m: MarketState) -> Dict[str, Any]:
    """The ``msg`` of a market's ``market_update``: its full current image (a fresh dict)."""
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


def update_obj(m: MarketState, pt: str, stamp_send_time: bool) -> Dict[str, Any]:
    """A ``market_update`` push of the market's image; with ``stamp_send_time``, marked for the
    writer to fill in ``sim_sent_at`` (:data:`~imgfeed.feeds.img.simulator.model.SENT_AT_MARK`)."""
    msg = image(m)
    if stamp_send_time:
        msg["sim_sent_at"] = SENT_AT_MARK
    return push("market_update", pt, msg)


def emission(kind: str, msg: Any, pt: str, market: Optional[MarketInfo] = None) -> Emission:
    """A push of type ``kind``, encoded once, for every session that is to get it."""
    obj = push(kind, pt, msg)
    return Emission(kind, obj, encode_message(obj), market)


def update_emission(m: MarketState, pt: str, stamp_send_time: bool) -> Emission:
    """The market's ``market_update`` (see :func:`update_obj`), encoded once."""
    obj = update_obj(m, pt, stamp_send_time)
    return Emission("market_update", obj, encode_message(obj), m.info)


def snapshot(
    events: Sequence[EventState], markets: Sequence[MarketState], config: ScenarioConfig, pt: str
) -> List[Dict[str, Any]]:
    """The post-init offering of these tournaments and markets, in the documented order.

    One ``sport``, the ``competition`` for every tour, an ``event`` per tournament, a
    ``market_type`` for every type among ``markets`` (first use first), and a ``market`` per market
    (docs/protocol.md section 4). Which tournaments and markets are offered is the engine's choice.
    """
    out: List[Dict[str, Any]] = [push("sport", pt, {"id": SPORT_ID, "name": "Golf"})]
    for tour in range(config.tours):
        out.append(push("competition", pt, competition_msg(tour)))
    out.extend(push("event", pt, event_msg(e, config)) for e in events)
    types = dict.fromkeys(m.type_id for m in markets)
    out.extend(push("market_type", pt, market_type_msg(t)) for t in types)
    out.extend(push("market", pt, market_msg(m, config)) for m in markets)
    return out

"""What a new tournament is made of: a field of golfers with fresh form, and its markets.

Contract: plain functions that build the model (:mod:`imgfeed.feeds.img.simulator.model`) from the
random generator the engine passes in, and draw from it in a fixed order, so that a seed gives the
same tournaments every time. Each tournament offers a win market, top-N markets, head-to-head
(tournament match bet) markets and three-ball markets per hole, with the long ``~7c``-escaped ids
of docs/protocol.md section 10, each priced from the field's strengths as it is made. Which event number
and which first market number a tournament gets, putting its markets on the feed and announcing
them are the engine's business.

This module does no IO and starts no threads.
"""

from __future__ import annotations

import functools
import math
import random
from typing import List, Sequence, Set

from imgfeed.feeds.img.simulator import names
from imgfeed.feeds.img.simulator.config import ScenarioConfig
from imgfeed.feeds.img.simulator.model import (
    MATCH_BET,
    THREE_BALL,
    WIN_ONLY,
    EventState,
    Golfer,
    MarketState,
    MarketTypeSpec,
    escape_id,
    reprice,
    top_finish_type,
)

__all__ = ["make_golfers", "new_tournament"]


def make_golfers(rng: random.Random, n: int) -> List[Golfer]:
    """A pool of ``n`` golfers with distinct names, ids and a strength each (standard normal)."""
    ids = rng.sample(range(10, 20000), n)
    seen: Set[str] = set()
    golfers = []
    for gid in ids:
        while True:
            name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
            if name not in seen:
                break
        seen.add(name)
        golfers.append(Golfer(f"g:{gid}", name, rng.gauss(0.0, 1.0)))
    return golfers


def new_tournament(
    rng: random.Random,
    config: ScenarioConfig,
    pool: Sequence[Golfer],
    *,
    number: int,
    name: str,
    tour: int,
    start: float,
    age: int,
    first_market_number: int,
) -> EventState:
    """Tournament ``number`` on tour ``tour``, ``age`` steps old, with a field drawn from ``pool``
    and all its markets, whose ``arena_id`` numbers run on from ``first_market_number``."""
    cfg = config
    # Fresh strengths per tournament: form is what the random walk then moves. The spread
    # grows with the field (about the expected best of n normal draws), so that a favourite
    # is around 4/1-8/1 in a 156-man field and the longest shots near the 1000 cap, as in
    # real golf win markets.
    spread = 0.6 * math.sqrt(2.0 * math.log(cfg.golfers))
    field = [
        Golfer(g.id, g.name, max(-2.5, min(2.5, g.strength)) * spread + rng.gauss(0.0, 0.3))
        for g in rng.sample(pool, cfg.golfers)
    ]
    event_name = f"{name} {2025 + number % 3}"
    event = EventState(f"ev.golf_{number}", str(number), event_name, tour, start, age, field)

    add = functools.partial(_add_market, event, first_market_number)
    ranked = sorted(field, key=lambda g: -g.strength)
    add("win", f"golf_{number}_winonly", "Win Only", WIN_ONLY, 1, field, 1.0)
    for n in cfg.top_n:
        sharpness = 1.0 / math.sqrt(n)
        add("top", f"golf_{number}_top{n}", f"Top {n} Finish", top_finish_type(n), n, field, sharpness)
    for k in range(cfg.head_to_heads):
        a, b = ranked[2 * k], ranked[2 * k + 1]
        mid = escape_id(f"golf_{number}_matchbet|golfer_ids={a.id[2:]},{b.id[2:]}")
        add("h2h", mid, f"{a.name} v {b.name}", MATCH_BET, 1, [a, b], 0.5)
    pre, play = cfg.pre_play_steps, cfg.in_play_steps
    for k in range(cfg.three_ball_groups):
        group = field[3 * k : 3 * k + 3]
        ids = ",".join(g.id[2:] for g in group)
        for hole in range(1, cfg.holes + 1):
            mid = escape_id(f"golf_{number}_threeball_hole|golfer_ids={ids}|hole_num={hole}|round_num=1")
            title = f"3-Ball Hole {hole}: " + " v ".join(g.name for g in group)
            market = add("threeball", mid, title, THREE_BALL, 1, group, 0.25)
            market.hole = hole
            # Hole h is finished a fraction h/(holes+1) of the way through play.
            market.settle_age = pre + max(1, (play * hole) // (cfg.holes + 1))
    return event


def _add_market(
    event: EventState,
    first_market_number: int,
    kind: str,
    mid: str,
    title: str,
    mtype: MarketTypeSpec,
    numwinners: int,
    golfers: Sequence[Golfer],
    sharpness: float,
) -> MarketState:
    """Make one market of ``event``, priced, and append it to ``event.markets``."""
    market = MarketState(
        id=mid,
        arena_id=f"m-{first_market_number + len(event.markets)}",
        name=title,
        type_id=mtype[0],
        overround=mtype[2],
        numwinners=numwinners,
        golfers=list(golfers),
        event=event,
        kind=kind,
        sharpness=sharpness,
    )
    reprice(market)
    event.markets.append(market)
    return market

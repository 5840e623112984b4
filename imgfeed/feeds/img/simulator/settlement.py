"""How the scenario's markets settle: one result per tournament, and the settlements it implies.

Contract: plain functions over the model (:mod:`imgfeed.feeds.img.simulator.model`). A tournament's
result (72-hole scores, and per-hole scores for the three-balls) is drawn once, from the random
generator the engine passes in, and every market of the tournament settles from that same result:
dead heats are paid ``m / k`` (:func:`~imgfeed.feeds.img.simulator.pricing.place_settlements`),
a tied head-to-head is void, and a re-settlement gives the best-placed golfer a penalty stroke and
settles again. Which markets settle, and when, is the engine's business; it emits the images.

This module does no IO and starts no threads.
"""

from __future__ import annotations

import random
from typing import Dict, Optional

from imgfeed.feeds.img.simulator import pricing
from imgfeed.feeds.img.simulator.config import ScenarioConfig
from imgfeed.feeds.img.simulator.model import EventState, MarketState

__all__ = ["draw_result", "settlement_for", "settle", "resettle"]


def draw_result(event: EventState, rng: random.Random, holes: int) -> None:
    """Draw the tournament's result once: 72-hole scores and per-hole three-ball scores."""
    if event.scores:
        return
    for g in event.golfers:
        event.scores[g.id] = int(round(280.0 - 2.0 * g.strength + rng.gauss(0.0, 4.0)))
        for hole in range(1, holes + 1):
            event.hole_scores[(hole, g.id)] = max(2, int(round(4.0 - 0.1 * g.strength + rng.gauss(0.0, 0.7))))
    # A play-off decides a tie for the win: the golfer with the best draw takes it, one stroke.
    best = min(event.scores.values())
    tied = [gid for gid, s in event.scores.items() if s == best]
    if len(tied) > 1:
        winner = rng.choice(tied)
        for gid in tied:
            if gid != winner:
                event.scores[gid] += 1


def settlement_for(m: MarketState, penalty: Optional[str] = None) -> Dict[str, Dict[str, float]]:
    """Each golfer's settlement in the market, from the drawn result (``penalty``: one more stroke
    for that golfer)."""
    event = m.event
    if m.kind == "threeball":
        scores = {g.id: float(event.hole_scores[(m.hole, g.id)]) for g in m.golfers}
    else:
        scores = {g.id: float(event.scores[g.id]) for g in m.golfers}
    if penalty is not None:
        scores[penalty] += 1.0
    if m.kind == "h2h":
        a, b = (scores[g.id] for g in m.golfers)
        if a == b:
            # A tied match bet is void: stakes back (docs/protocol.md: stake_returned 1.0).
            return {g.id: dict(pricing.VOID) for g in m.golfers}
    return pricing.place_settlements(scores, m.numwinners)


def settle(m: MarketState, rng: random.Random, config: ScenarioConfig) -> None:
    """Settle the market from its tournament's result (drawn now if not yet), and maybe pick the
    age at which it will be re-settled (``config.resettle_probability``)."""
    draw_result(m.event, rng, config.holes)
    m.status = "settled"
    m.settlement = settlement_for(m)
    if rng.random() < config.resettle_probability and config.ended_steps > 1:
        m.resettle_age = config.pre_play_steps + config.in_play_steps + rng.randint(1, config.ended_steps - 1)


def resettle(m: MarketState) -> None:
    """A late correction: the best-placed golfer gets a penalty stroke, settle again."""
    assert m.settlement is not None
    leader = max(m.golfers, key=lambda g: (m.settlement[g.id]["payout_returned"], g.id))  # type: ignore[index]
    m.settlement = settlement_for(m, penalty=leader.id)
    m.resettled = True

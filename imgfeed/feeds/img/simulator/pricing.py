"""The price model: probabilities in, decimal odds on a tick ladder out; results in, settlements out.

Pure functions, no randomness and no state, so they are easy to check by hand:

- A fair price is ``1 / p``. A bookmaker's price includes a margin: ``1 / (p * (1 + overround))``,
  so the implied probabilities ``1 / price`` of a market sum to ``numwinners * (1 + overround)``
  (a 20 % overround on a 150-runner win market is typical of golf).
- Prices are rounded to the usual decimal-odds ladder (1.01 .. 1000, finer steps at short odds;
  :mod:`imgfeed.loopback.ladder`).
- Settlement follows the dead-heat rule: when ``k`` selections tie for the last ``m`` paying
  places, each is paid ``m / k`` of a winning bet (``payout_returned``); a void selection gets its
  stake back (``stake_returned`` 1.0), a loser gets nothing.
"""

from __future__ import annotations

import bisect
import math
from typing import Dict, List, Mapping, Sequence

from imgfeed.loopback import ladder
from imgfeed.loopback.ladder import MAX_PRICE, MIN_PRICE

__all__ = [
    "MIN_PRICE",
    "MAX_PRICE",
    "round_to_tick",
    "price_for",
    "prices_for",
    "TICKS",
    "normalise",
    "place_settlements",
    "WINNER",
    "LOSER",
    "VOID",
]

#: The whole ladder (about 350 prices, :mod:`imgfeed.loopback.ladder`): rounding is one bisect,
#: which matters at tens of thousands of price updates per second.
TICKS: List[float] = list(ladder.TICKS)

#: Settlement factors (docs/protocol.md section 5).
WINNER: Dict[str, float] = {"stake_returned": 0.0, "payout_returned": 1.0}
LOSER: Dict[str, float] = {"stake_returned": 0.0, "payout_returned": 0.0}
VOID: Dict[str, float] = {"stake_returned": 1.0, "payout_returned": 0.0}


def round_to_tick(price: float) -> float:
    """Round decimal odds to the nearest price of the ladder, within ``MIN_PRICE..MAX_PRICE``."""
    if not price > MIN_PRICE:  # also catches NaN
        return MIN_PRICE
    if price >= MAX_PRICE:
        return MAX_PRICE
    i = bisect.bisect_left(TICKS, price)
    lower, upper = TICKS[i - 1], TICKS[i]
    return upper if upper - price <= price - lower else lower


def price_for(probability: float, overround: float) -> float:
    """Decimal odds for a selection with this probability, including the market's margin."""
    if probability <= 0.0:
        return MAX_PRICE
    return round_to_tick(1.0 / (probability * (1.0 + overround)))


def prices_for(probabilities: Sequence[float], overround: float) -> List[float]:
    """:func:`price_for` of each probability (the hot path of the scenario, kept inline)."""
    ticks, bisect_left = TICKS, bisect.bisect_left
    scale = 1.0 / (1.0 + overround)
    out = []
    for p in probabilities:
        price = scale / p if p > 0.0 else MAX_PRICE
        if not price > MIN_PRICE:
            out.append(MIN_PRICE)
        elif price >= MAX_PRICE:
            out.append(MAX_PRICE)
        else:
            i = bisect_left(ticks, price)
            lower, upper = ticks[i - 1], ticks[i]
            out.append(upper if upper - price <= price - lower else lower)
    return out


def normalise(weights: Sequence[float], total: float, cap: float = 0.98) -> List[float]:
    """Scale positive weights to probabilities summing to ``total``, none above ``cap``.

    ``total`` is the market's number of winners (1 for a win market, N for top-N). Capping keeps a
    strong favourite's top-20 probability below certainty; the excess is spread over the others
    (iterative proportional fitting, a few rounds at most).
    """
    n = len(weights)
    if n == 0:
        return []
    total = min(total, cap * n)
    # The common case: nothing reaches the cap, one pass.
    scale = total / sum(weights) if sum(weights) > 0 else 0.0
    probs = [w * scale for w in weights]
    if probs and max(probs) <= cap and min(probs) > 0.0:
        return probs
    probs = [max(w, 1e-12) for w in weights]
    fixed = [False] * n
    for _ in range(n):
        free_sum = sum(p for p, f in zip(probs, fixed) if not f)
        remaining = total - sum(cap for f in fixed if f)
        scale = remaining / free_sum if free_sum > 0 else 0.0
        over = False
        for i in range(n):
            if not fixed[i]:
                probs[i] *= scale
                if probs[i] > cap:
                    probs[i] = cap
                    fixed[i] = True
                    over = True
        if not over:
            break
    return probs


def place_settlements(scores: Mapping[str, float], places: int) -> Dict[str, Dict[str, float]]:
    """Settle a "finish in the top ``places``" market (a win market is ``places=1``) by scores.

    Lower scores are better (golf). Ties share the remaining places under the dead-heat rule:
    ``k`` selections tied for the last ``m`` places each get ``payout_returned = m / k``.

    >>> place_settlements({"a": 68, "b": 70, "c": 70, "d": 71}, 2)["b"]
    {'stake_returned': 0.0, 'payout_returned': 0.5}
    """
    ordered = sorted(scores.items(), key=lambda kv: kv[1])
    result: Dict[str, Dict[str, float]] = {}
    position = 0
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j][1] == ordered[i][1]:
            j += 1
        tied = j - i
        paying = max(0, min(places - position, tied))
        fraction = paying / tied
        for sid, _ in ordered[i:j]:
            if fraction >= 1.0:
                result[sid] = dict(WINNER)
            elif fraction > 0.0:
                result[sid] = {"stake_returned": 0.0, "payout_returned": fraction}
            else:
                result[sid] = dict(LOSER)
        position += tied
        i = j
    return result


def implied_total(prices: Sequence[float]) -> float:
    """The sum of ``1 / price`` over a market: ``numwinners * (1 + overround)`` when freshly priced."""
    return math.fsum(1.0 / p for p in prices if p)

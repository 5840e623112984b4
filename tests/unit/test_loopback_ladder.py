"""imgfeed.loopback.ladder: the odds ladder both test servers price on."""

from __future__ import annotations

import json

import pytest

from imgfeed.loopback.ladder import MAX_PRICE, MIN_PRICE, TICKS, price_at, tick_index


def test_the_ladder_is_the_classic_one() -> None:
    assert len(TICKS) == 350
    assert TICKS[0] == MIN_PRICE and TICKS[-1] == MAX_PRICE
    assert list(TICKS) == sorted(set(TICKS))
    # Band edges and steps: 0.01 to 2, 0.02 to 3, ..., 10 to 1000.
    assert TICKS[:3] == (1.01, 1.02, 1.03) and TICKS[9] == 1.1
    assert TICKS[TICKS.index(2.0) + 1] == 2.02 and TICKS[TICKS.index(100.0) + 1] == 110.0
    assert json.dumps(TICKS[:10]).count(".") == 10 and "0000" not in json.dumps(TICKS)


@pytest.mark.parametrize(
    "price, index", [(0.5, 0), (1.01, 0), (1.015, 0), (1.1, 9), (2.01, TICKS.index(2.0)), (5000.0, 349)]
)
def test_tick_index_is_the_highest_tick_at_or_below(price: float, index: int) -> None:
    assert tick_index(price) == index


def test_price_at_clamps_to_the_ends() -> None:
    assert price_at(-3) == MIN_PRICE and price_at(10_000) == MAX_PRICE and price_at(9) == 1.1

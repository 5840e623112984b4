"""The price model and settlement rules, checked by hand-computed cases."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.img.simulator.pricing import (
    MAX_PRICE,
    MIN_PRICE,
    TICKS,
    implied_total,
    normalise,
    place_settlements,
    price_for,
    prices_for,
    round_to_tick,
)


@pytest.mark.parametrize(
    "raw, ticked",
    [(1.0, 1.01), (1.234, 1.23), (2.313, 2.32), (3.33, 3.35), (5.04, 5.0), (9.5, 9.6), (13.3, 13.5),
     (27.4, 27.0), (41.5, 42.0), (77.0, 75.0), (333.0, 330.0), (5000.0, 1000.0), (float("nan"), 1.01)],
)  # fmt: skip
def test_round_to_tick(raw: float, ticked: float) -> None:
    assert round_to_tick(raw) == ticked


@given(st.floats(min_value=0.0001, max_value=0.999))
def test_price_is_on_the_ladder_and_below_fair(p: float) -> None:
    price = price_for(p, 0.1)
    assert MIN_PRICE <= price <= MAX_PRICE
    assert round_to_tick(price) == price
    # A margin makes every price shorter than fair (within one tick of rounding).
    assert price <= round_to_tick(1.0 / p) or price == MIN_PRICE


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=20), st.floats(0.0, 0.3))
def test_prices_for_is_price_for_of_each(probs: list, overround: float) -> None:
    assert prices_for(probs, overround) == [price_for(p, overround) for p in probs]


def test_ladder() -> None:
    assert TICKS[:3] == [1.01, 1.02, 1.03] and TICKS[-2:] == [990.0, 1000.0]
    assert 2.02 in TICKS and 2.01 not in TICKS and 3.05 in TICKS and 3.02 not in TICKS and 9.8 in TICKS


def test_prices_of_a_fresh_market_carry_the_overround() -> None:
    probs = normalise([5.0, 3.0, 1.0, 1.0], 1)
    assert sum(probs) == pytest.approx(1.0)
    total = implied_total([price_for(p, 0.08) for p in probs])
    assert total == pytest.approx(1.08, abs=0.02)


def test_normalise_caps_probabilities_for_top_n() -> None:
    probs = normalise([100.0, 1.0, 1.0, 1.0, 1.0], 3, cap=0.9)
    assert sum(probs) == pytest.approx(3.0)
    assert max(probs) == pytest.approx(0.9)


def test_place_settlements_dead_heat_rule() -> None:
    # Two places; b and c tie for second: one place for two -> half each.
    result = place_settlements({"a": 68, "b": 70, "c": 70, "d": 71}, 2)
    assert result["a"] == {"stake_returned": 0.0, "payout_returned": 1.0}
    assert result["b"] == result["c"] == {"stake_returned": 0.0, "payout_returned": 0.5}
    assert result["d"] == {"stake_returned": 0.0, "payout_returned": 0.0}
    # Three tie for the last place of a top-3 with one place left: a third each.
    three = place_settlements({"a": 1, "b": 2, "c": 3, "d": 3, "e": 3}, 3)
    assert three["c"]["payout_returned"] == pytest.approx(1 / 3)
    assert sum(s["payout_returned"] for s in three.values()) == pytest.approx(3)


@given(st.dictionaries(st.text(min_size=1, max_size=3), st.integers(60, 80), min_size=2, max_size=20), st.integers(1, 5))
def test_payouts_always_sum_to_the_places(scores: dict, places: int) -> None:
    result = place_settlements(scores, places)
    assert sum(s["payout_returned"] for s in result.values()) == pytest.approx(min(places, len(scores)))

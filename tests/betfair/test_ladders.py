"""Ladders against the simplest model: a dict, sorted when read."""

from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.betfair.books import PriceSize
from imgfeed.feeds.betfair.cache.ladders import LevelLadder, PriceLadder

_prices = st.sampled_from([1.01, 1.5, 2, 2.02, 3.45, 10, 11.5, 1000])
_sizes = st.one_of(st.just(0), st.just(0.0), st.floats(0.01, 1e6, allow_nan=False))
_price_batches = st.lists(st.lists(st.tuples(_prices, _sizes).map(list), max_size=6), max_size=12)
_level_batches = st.lists(
    st.lists(st.tuples(st.integers(0, 9), _prices, _sizes).map(list), max_size=6), max_size=12
)


@given(_price_batches, st.booleans())
def test_price_ladder_matches_a_dict_model(batches, descending):
    ladder = PriceLadder(descending)
    model = {}
    for rows in batches:
        ladder.apply(rows)
        for price, size in rows:
            if size:
                model[price] = size
            else:
                model.pop(price, None)
        assert ladder.snapshot() == tuple(
            PriceSize(p, s) for p, s in sorted(model.items(), reverse=descending)
        )
        assert ladder.sizes() == model and len(ladder) == len(model)


@given(_level_batches)
def test_level_ladder_matches_a_dict_model(batches):
    ladder = LevelLadder()
    model = {}
    for rows in batches:
        ladder.apply(rows)
        for level, price, size in rows:
            if size:
                model[level] = PriceSize(price, size)
            else:
                model.pop(level, None)
        assert ladder.snapshot() == tuple(model[level] for level in sorted(model))
        assert ladder.levels() == model


def test_size_zero_removes_and_unknown_removals_are_ignored():
    ladder = PriceLadder()
    ladder.apply([[2.0, 5.0], [3.0, 1.0]])
    ladder.apply([[2.0, 0], [9.0, 0]])
    assert ladder.snapshot() == (PriceSize(3.0, 1.0),)


def test_back_ladders_are_best_price_first():
    backs, lays = PriceLadder(descending=True), PriceLadder()
    for ladder in (backs, lays):
        ladder.apply([[2.0, 1], [2.5, 1], [1.5, 1]])
    assert [level.price for level in backs.snapshot()] == [2.5, 2.0, 1.5]
    assert [level.price for level in lays.snapshot()] == [1.5, 2.0, 2.5]


def test_level_zero_rows_remove_the_level():
    ladder = LevelLadder()
    ladder.apply([[0, 2.5, 10], [1, 2.4, 5], [2, 2.3, 1]])
    ladder.apply([[1, 2.3, 1], [2, 0, 0]])
    assert ladder.snapshot() == (PriceSize(2.5, 10), PriceSize(2.3, 1))


def test_snapshots_are_kept_until_the_next_change():
    ladder = PriceLadder()
    ladder.apply([[2.0, 1.0]])
    first = ladder.snapshot()
    assert ladder.snapshot() is first
    ladder.apply([[2.0, 3.0]])
    second = ladder.snapshot()
    assert second is not first and first == (PriceSize(2.0, 1.0),)  # the old snapshot is untouched


def test_clear_empties_the_ladder():
    ladder = PriceLadder()
    ladder.apply([[2.0, 1.0]])
    ladder.clear()
    assert ladder.snapshot() == () and len(ladder) == 0
    ladder.apply([[3.0, 1.0], [2.0, 1.0]])
    assert ladder.snapshot() == (PriceSize(2.0, 1.0), PriceSize(3.0, 1.0))


def test_price_size_is_an_immutable_pair():
    level = PriceSize(2.5, 10.0)
    price, size = level
    assert (price, size) == (level.price, level.size) == (2.5, 10.0)
    assert "PriceLadder" in repr(PriceLadder()) and "LevelLadder" in repr(LevelLadder())

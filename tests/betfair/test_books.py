"""The public book records."""

import attrs
import pytest

from imgfeed.feeds.betfair.books import (
    MarketBook,
    Order,
    OrderBook,
    PriceSize,
    RunnerBook,
    RunnerDefinition,
    RunnerOrders,
)


def test_market_book_finds_runners_by_id_and_handicap():
    runners = (RunnerBook(selection_id=1, handicap=-0.5), RunnerBook(selection_id=1, handicap=0.5))
    book = MarketBook(market_id="1.1", runners=runners)
    assert book.runner(1, 0.5) is runners[1] and book.runner(1) is None and book.runner(2, -0.5) is None


def test_runner_book_reads_definition_fields():
    definition = RunnerDefinition(selection_id=1, sort_priority=2, adjustment_factor=4.5, bsp=3.2)
    runner = RunnerBook(selection_id=1, definition=definition)
    assert (runner.sort_priority, runner.adjustment_factor, runner.actual_sp) == (2, 4.5, 3.2)
    assert runner.removal_date is None
    bare = RunnerBook(selection_id=1)
    assert (bare.sort_priority, bare.adjustment_factor, bare.actual_sp, bare.removal_date) == (None,) * 4


def test_order_book_flattens_orders():
    a, b = (Order(bet_id=x, market_id="1.1", selection_id=1) for x in "ab")
    book = OrderBook(
        market_id="1.1",
        runners=(
            RunnerOrders(selection_id=1, orders=(a,)),
            RunnerOrders(selection_id=2, handicap=1.5, orders=(b,)),
        ),
    )
    assert book.orders == (a, b) and book.runner(2, 1.5).orders == (b,) and book.runner(3) is None


def test_records_are_frozen_and_compare_by_value():
    book = MarketBook(
        market_id="1.1", runners=(RunnerBook(selection_id=1, available_to_back=(PriceSize(2, 1),)),)
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        book.market_id = "1.2"  # type: ignore[misc]
    assert book == attrs.evolve(book)
    assert "runners=<1>" in repr(book)

"""The order cache, rule by rule, and betfairlightweight's order samples."""

import threading

import pytest

from imgfeed.errors import ConfigError
from imgfeed.feeds.betfair.books import PriceSize
from imgfeed.feeds.betfair.cache.orders import OrderCache

from .helpers import DATA, data_lines, ocm, order_pipeline


def _order(bet_id="1", status="E", **fields):
    return {
        "id": bet_id,
        "p": 2.0,
        "s": 10.0,
        "side": "B",
        "status": status,
        "pt": "L",
        "ot": "L",
        "pd": 1609915841000,
        "sm": 0,
        "sr": 10.0,
        "sl": 0,
        "sc": 0,
        "sv": 0,
        "rfo": "",
        "rfs": "",
        **fields,
    }


def _cache(*changes, **kwargs):
    cache = OrderCache(**kwargs)
    for change in changes:
        cache.apply(change)
    return cache


def test_orders_are_replaced_whole_by_bet_id():
    cache = _cache(
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A", rfo="first"), _order("B")]}]}]),
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A", status="EC", sm=10, sr=0, avp=2.0)]}]}]),
    )
    orders = {o.bet_id: o for o in cache.book("1.1").orders}
    assert set(orders) == {"A", "B"}
    replaced = orders["A"]
    assert (replaced.status, replaced.size_matched, replaced.size_remaining) == ("EXECUTION_COMPLETE", 10, 0)
    assert replaced.customer_order_ref == ""  # no field merge: the new version's value, not "first"
    assert replaced.side == "BACK" and replaced.selection_id == 5 and replaced.market_id == "1.1"


def test_matched_ladders_are_deltas_and_an_empty_list_empties_them():
    cache = _cache(ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "mb": [[2, 10], [3, 5]], "ml": [[4, 1]]}]}]))
    cache.apply(ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "mb": [[3, 0], [2.5, 2]]}]}]))
    runner = cache.book("1.1").runner(5)
    assert runner.matched_backs == (PriceSize(2.5, 2), PriceSize(2, 10))  # best price first
    assert runner.matched_lays == (PriceSize(4, 1),)
    cache.apply(ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "ml": []}]}]))
    runner = cache.book("1.1").runner(5)
    assert runner.matched_lays == () and len(runner.matched_backs) == 2


def test_strategy_matches_per_ref():
    cache = _cache(
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "smc": {"s1": {"mb": [[2, 3]]}, "s2": {"ml": [[4, 1]]}}}]}]),
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "smc": {"s1": {"mb": [[2, 5], [3, 1]], "ml": [[5, 1]]}}}]}]),
    )
    matches = {m.strategy_ref: m for m in cache.book("1.1").runner(5).strategy_matches}
    assert matches["s1"].matched_backs == (PriceSize(3, 1), PriceSize(2, 5))
    assert matches["s1"].matched_lays == (PriceSize(5, 1),)
    assert matches["s2"].matched_lays == (PriceSize(4, 1),) and matches["s2"].matched_backs == ()


def test_runner_full_image_replaces_the_runner():
    cache = _cache(
        ocm(
            oc=[
                {
                    "id": "1.1",
                    "orc": [
                        {"id": 5, "uo": [_order("A")], "mb": [[2, 1]], "smc": {"s": {"mb": [[2, 1]]}}},
                        {"id": 6, "uo": [_order("C")]},
                    ],
                }
            ]
        ),
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "fullImage": True, "uo": [_order("B")]}]}]),
    )
    book = cache.book("1.1")
    runner = book.runner(5)
    assert [o.bet_id for o in runner.orders] == ["B"]
    assert runner.matched_backs == () and runner.strategy_matches == ()
    assert [o.bet_id for o in book.runner(6).orders] == ["C"]  # other runners untouched


def test_runners_are_keyed_by_id_and_handicap():
    record = order_pipeline().feed([(DATA / "streaming_ocm_FULL_IMAGE.json").read_bytes()])
    book = record.cache.book("1.161613698")
    assert record.errors == []
    assert {(r.selection_id, r.handicap) for r in book.runners} >= {(7017905, 8.5), (7017905, 7.5)}
    assert book.runner(7017905, 8.5).orders[0].bet_id == "175706685825"
    assert book.runner(7017905, 8.5).matched_backs == (PriceSize(2, 2),)


def test_market_full_image_replaces_the_entry_and_an_empty_one_removes_it():
    cache = _cache(
        ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A")]}, {"id": 6, "uo": [_order("B")]}]}])
    )
    cache.apply(ocm(oc=[{"id": "1.1", "fullImage": True, "orc": [{"id": 6, "uo": [_order("C")]}]}]))
    assert [(r.selection_id, [o.bet_id for o in r.orders]) for r in cache.book("1.1").runners] == [(6, ["C"])]
    assert cache.apply(ocm(oc=[{"id": "1.1", "fullImage": True, "accountId": 1}])) == ["1.1"]
    assert "1.1" not in cache and cache.get("1.1") is None


def test_bflw_empty_image_sample_removes_the_market():
    pipeline = order_pipeline().feed(
        [
            (DATA / "streaming_ocm_FULL_IMAGE.json").read_bytes(),
            (DATA / "streaming_ocm_EMPTY_IMAGE.json").read_bytes(),
        ]
    )
    assert pipeline.errors == [] and "1.161613698" not in pipeline.cache


def test_sub_image_replaces_every_market():
    cache = _cache(ocm(oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order()]}]}]))
    cache.apply(
        ocm(ct="SUB_IMAGE", oc=[{"id": "1.2", "fullImage": True, "orc": [{"id": 5, "mb": [[2, 1]]}]}])
    )
    assert cache.market_ids() == ["1.2"]


def test_closed_markets_are_evicted_after_the_retention():
    cache = OrderCache(closed_retention=30)
    cache.apply(ocm(received_at=10.0, oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order()]}]}]))
    cache.apply(ocm(received_at=20.0, oc=[{"id": "1.1", "closed": True}]))
    assert cache.book("1.1").closed
    assert cache.evict(49.0) == [] and "1.1" in cache
    assert cache.evict(50.0) == ["1.1"] and "1.1" not in cache


def test_execution_complete_orders_are_dropped_after_their_retention():
    cache = OrderCache(complete_retention=100)
    cache.apply(
        ocm(received_at=0.0, oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A"), _order("B")]}]}])
    )
    cache.apply(
        ocm(received_at=5.0, oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A", status="EC")]}]}])
    )
    cache.apply(
        ocm(received_at=50.0, oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A", status="EC", sc=1)]}]}])
    )
    before = cache.book("1.1")
    assert cache.evict(104.9) == []
    assert cache.evict(105.0) == ["1.1"]  # counted from the first change that completed it
    assert [o.bet_id for o in cache.book("1.1").orders] == ["B"]
    assert {o.bet_id for o in before.orders} == {"A", "B"}  # an old snapshot keeps what it showed
    assert "complete_orders=0" in repr(cache)


def test_completed_orders_of_a_replaced_runner_are_forgotten():
    cache = OrderCache(complete_retention=1)
    cache.apply(
        ocm(received_at=0.0, oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order("A", status="EC")]}]}])
    )
    cache.apply(
        ocm(received_at=0.5, oc=[{"id": "1.1", "orc": [{"id": 5, "fullImage": True, "uo": [_order("Z")]}]}])
    )
    assert cache.evict(10.0) == [] and [o.bet_id for o in cache.book("1.1").orders] == ["Z"]


@pytest.mark.parametrize("field", ["closed_retention", "complete_retention"])
@pytest.mark.parametrize("value", [-1, "1", None, float("inf"), False])
def test_bad_retention_names_the_field(field, value):
    with pytest.raises(ConfigError) as caught:
        OrderCache(**{field: value})
    assert caught.value.field == field


def test_books_are_kept_until_the_market_changes():
    cache = _cache(ocm(pt=1609915842193, clk="X", oc=[{"id": "1.1", "orc": [{"id": 5, "uo": [_order()]}]}]))
    book = cache.book("1.1")
    assert cache.book("1.1") is book and book.clk == "X" and book.publish_time.year == 2021
    cache.apply(ocm(oc=[{"id": "1.1", "orc": [{"id": 6, "mb": [[2, 1]]}]}]))
    again = cache.book("1.1")
    assert again is not book and again.runners[0] is book.runners[0]


def test_apply_refuses_a_lone_segment_and_missing_books_raise():
    cache = OrderCache()
    with pytest.raises(ValueError):
        cache.apply(ocm(segmentType="SEG", oc=[]))
    with pytest.raises(KeyError):
        cache.book("1.1")


def test_bflw_order_historical_file():
    pipeline = order_pipeline().feed(data_lines("ORDER-1.177596575"), received_at=1.0)
    assert pipeline.errors == []
    book = pipeline.cache.book("1.177596575")
    assert book.closed
    orders = {o.bet_id: o for o in book.orders}
    assert orders["221073337451"].status == "EXECUTION_COMPLETE"
    assert orders["221073337451"].size_cancelled == 0.8 and orders["221073337451"].cancelled_date.year == 2021
    assert orders["221073362321"].status == "EXECUTABLE" and orders["221073362321"].price == 15.5
    assert (
        orders["221073337451"].regulator_code == "REG_GGC"
        and orders["221073337451"].persistence_type == "LAPSE"
    )


def test_bflw_update_and_sub_image_samples_decode_and_apply():
    pipeline = order_pipeline().feed(
        [
            (DATA / name).read_bytes()
            for name in (
                "streaming_ocm_SUB_IMAGE.json",
                "streaming_ocm_UPDATE.json",
                "streaming_ocm_NEW_FULL_IMAGE.json",
            )
        ]
    )
    assert pipeline.errors == []
    assert pipeline.cache.book("1.128111667").closed
    assert pipeline.cache.book("1.128111667").runner(8935915).matched_backs == (PriceSize(80, 0.08),)
    assert pipeline.cache.book("1.128126331").orders[0].side == "LAY"
    assert pipeline.stream.is_image_complete


def test_books_read_from_another_thread_with_a_lock():
    cache = OrderCache(lock=threading.Lock())
    done = threading.Event()
    failures = []

    def reader():
        while not done.is_set():
            try:
                for market_id in cache.market_ids():
                    book = cache.get(market_id)
                    if book is not None:
                        len(book.orders)
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(exc)
                return

    thread = threading.Thread(target=reader, name="imgfeed-test-order-reader")
    thread.start()
    try:
        for i in range(3000):
            cache.apply(
                ocm(
                    oc=[
                        {
                            "id": f"1.{i % 7}",
                            "fullImage": i % 11 == 0,
                            "orc": [{"id": i % 3, "uo": [_order(str(i))], "mb": [[2, i % 4]]}],
                        }
                    ]
                )
            )
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and failures == []

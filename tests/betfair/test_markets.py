"""The market cache, rule by rule, then against the generator's model of the truth."""

import math
import threading

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfeed.errors import ConfigError
from imgfeed.feeds.betfair.books import PriceSize
from imgfeed.feeds.betfair.cache.markets import MarketCache

from .helpers import DATA, Pipeline, data_lines, mcm
from .streams import MarketStreamGenerator


def _definition(status="OPEN", version=1, runners=((1, 0), (2, 0)), **fields):
    return {
        "status": status,
        "version": version,
        "inPlay": False,
        "runners": [
            {"id": i, **({"hc": hc} if hc else {}), "status": "ACTIVE", "sortPriority": n + 1}
            for n, (i, hc) in enumerate(runners)
        ],
        **fields,
    }


def _cache(*changes, **kwargs):
    cache = MarketCache(**kwargs)
    for change in changes:
        cache.apply(change)
    return cache


def _runner(cache, market_id="1.1", selection_id=1, handicap=0.0):
    return cache.book(market_id).runner(selection_id, handicap)


def test_sub_image_replaces_every_market_of_the_subscription():
    cache = _cache(
        mcm(ct="SUB_IMAGE", mc=[{"id": "1.1", "img": True}, {"id": "1.2", "img": True}]),
        mcm(ct="SUB_IMAGE", mc=[{"id": "1.2", "img": True, "tv": 5}]),
    )
    assert cache.market_ids() == ["1.2"] and len(cache) == 1 and "1.1" not in cache


def test_resub_delta_patches_and_replaces_imaged_markets():
    cache = _cache(
        mcm(
            ct="SUB_IMAGE",
            mc=[
                {"id": "1.1", "img": True, "rc": [{"id": 1, "atb": [[2, 10]]}]},
                {"id": "1.2", "img": True, "rc": [{"id": 1, "atb": [[3, 10]], "ltp": 3}]},
                {"id": "1.3", "img": True},
            ],
        ),
        mcm(
            ct="RESUB_DELTA",
            mc=[
                {"id": "1.1", "rc": [{"id": 1, "atb": [[2.5, 4]]}]},
                {"id": "1.2", "img": True, "rc": [{"id": 1, "atb": [[4, 1]]}]},
            ],
        ),
    )
    assert cache.market_ids() == ["1.1", "1.2", "1.3"]
    assert _runner(cache).available_to_back == (PriceSize(2.5, 4), PriceSize(2, 10))
    replaced = _runner(cache, "1.2")
    assert replaced.available_to_back == (PriceSize(4, 1),) and replaced.last_price_traded is None


def test_img_replaces_a_market_and_its_runners():
    cache = _cache(
        mcm(
            mc=[{"id": "1.1", "marketDefinition": _definition(), "rc": [{"id": 1, "atl": [[5, 5]]}], "tv": 9}]
        ),
        mcm(mc=[{"id": "1.1", "img": True, "rc": [{"id": 3, "ltp": 2}]}]),
    )
    book = cache.book("1.1")
    assert [r.selection_id for r in book.runners] == [3]
    assert book.definition is None and book.status is None and book.total_matched is None


def test_a_change_for_an_unknown_market_creates_it():
    cache = _cache(mcm(mc=[{"id": "1.9", "rc": [{"id": 4, "ltp": 1.5}]}]))
    assert _runner(cache, "1.9", 4).last_price_traded == 1.5


def test_a_duplicate_market_in_an_image_keeps_the_higher_definition_version():
    cache = _cache(
        mcm(
            ct="SUB_IMAGE",
            mc=[
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=7),
                    "rc": [{"id": 1, "ltp": 7}],
                },
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=3),
                    "rc": [{"id": 1, "ltp": 3}],
                },
            ],
        )
    )
    assert cache.book("1.1").version == 7 and _runner(cache).last_price_traded == 7
    tie = _cache(
        mcm(
            ct="SUB_IMAGE",
            mc=[
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=3),
                    "rc": [{"id": 1, "ltp": 1}],
                },
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=3),
                    "rc": [{"id": 1, "ltp": 2}],
                },
            ],
        )
    )
    assert _runner(tie).last_price_traded == 2  # on a tie, the later copy


def test_a_newer_duplicate_replaces_the_older():
    cache = _cache(
        mcm(
            ct="SUB_IMAGE",
            mc=[
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=3),
                    "rc": [{"id": 1, "ltp": 3}],
                },
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": _definition(version=9),
                    "rc": [{"id": 1, "ltp": 9}],
                },
            ],
        )
    )
    assert cache.book("1.1").version == 9 and _runner(cache).last_price_traded == 9


def test_the_definition_is_replaced_whole_and_sets_runner_state():
    cache = _cache(
        mcm(mc=[{"id": "1.1", "marketDefinition": _definition(venue="Ascot")}]),
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "marketDefinition": {
                        "status": "SUSPENDED",
                        "version": 2,
                        "inPlay": True,
                        "runners": [
                            {
                                "id": 1,
                                "status": "REMOVED",
                                "adjustmentFactor": 12.5,
                                "sortPriority": 1,
                                "removalDate": "2024-05-01T13:55:00.000Z",
                            },
                            {"id": 2, "status": "ACTIVE", "sortPriority": 2, "bsp": 3.5},
                        ],
                    },
                }
            ]
        ),
    )
    book = cache.book("1.1")
    assert (book.status, book.inplay, book.version) == ("SUSPENDED", True, 2)
    assert book.definition.venue is None  # whole: nothing kept from the old definition
    removed, other = book.runners
    assert (removed.status, removed.adjustment_factor, removed.sort_priority) == ("REMOVED", 12.5, 1)
    assert removed.removal_date.year == 2024 and other.actual_sp == 3.5
    assert removed.definition is book.definition.runners[0]


def test_a_runner_the_new_definition_omits_keeps_its_last_definition():
    cache = _cache(
        mcm(mc=[{"id": "1.1", "marketDefinition": _definition(runners=((1, 0), (2, 0)))}]),
        mcm(mc=[{"id": "1.1", "marketDefinition": _definition(version=2, runners=((1, 0),))}]),
    )
    runners = cache.book("1.1").runners
    assert [r.selection_id for r in runners] == [1, 2]
    assert runners[1].status == "ACTIVE" and runners[1].definition.selection_id == 2


def test_runners_are_keyed_by_id_and_handicap():
    cache = _cache(
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "marketDefinition": _definition(runners=((7, 0.5), (7, -0.5))),
                    "rc": [
                        {"id": 7, "hc": 0.5, "ltp": 1.9},
                        {"id": 7, "hc": -0.5, "ltp": 2.1},
                        {"id": 8, "ltp": 3.0},
                    ],
                }
            ]
        )
    )
    assert _runner(cache, "1.1", 7, 0.5).last_price_traded == 1.9
    assert _runner(cache, "1.1", 7, -0.5).last_price_traded == 2.1
    assert _runner(cache, "1.1", 7, -0.5).status == "ACTIVE"
    unknown = _runner(cache, "1.1", 8)  # not in the definition: created, status unknown
    assert unknown.last_price_traded == 3.0 and unknown.status is None and unknown.definition is None


def test_price_ladders_upsert_and_remove_by_size_zero():
    cache = _cache(
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "rc": [
                        {
                            "id": 1,
                            "atb": [[2, 10], [2.2, 5]],
                            "atl": [[2.4, 3], [2.6, 1]],
                            "spb": [[1.01, 9], [1.5, 1]],
                            "spl": [[1000, 2], [500, 4]],
                            "trd": [[2.2, 50], [2.3, 40]],
                        }
                    ],
                }
            ]
        ),
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "rc": [{"id": 1, "atb": [[2.2, 0], [2.1, 7]], "atl": [[2.4, 0]], "trd": [[2.2, 55]]}],
                }
            ]
        ),
    )
    runner = _runner(cache)
    assert runner.available_to_back == (PriceSize(2.1, 7), PriceSize(2, 10))
    assert runner.available_to_lay == (PriceSize(2.6, 1),)
    assert runner.traded_volume == (PriceSize(2.2, 55), PriceSize(2.3, 40))
    assert runner.starting_price_back == (PriceSize(1.5, 1), PriceSize(1.01, 9))
    assert runner.starting_price_lay == (PriceSize(500, 4), PriceSize(1000, 2))


def test_trd_empty_list_clears_but_other_empty_lists_do_nothing():
    cache = _cache(
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "rc": [
                        {"id": 1, "trd": [[2, 5]], "atb": [[2, 1]], "batb": [[0, 2, 1]], "bdatb": [[0, 2, 1]]}
                    ],
                }
            ]
        ),
        mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "trd": [], "atb": [], "batb": [], "bdatb": []}]}]),
    )
    runner = _runner(cache)
    assert runner.traded_volume == ()
    assert runner.available_to_back == (PriceSize(2, 1),)
    assert runner.best_available_to_back == runner.best_display_available_to_back == (PriceSize(2, 1),)


def test_level_ladders_upsert_by_level_and_zero_size_removes_the_level():
    cache = _cache(
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "rc": [
                        {
                            "id": 1,
                            "batb": [[0, 2.5, 10], [1, 2.4, 5], [2, 2.3, 1]],
                            "batl": [[0, 2.6, 3]],
                            "bdatl": [[0, 2.6, 4], [1, 2.7, 1]],
                        }
                    ],
                }
            ]
        ),
        mcm(
            mc=[
                {
                    "id": "1.1",
                    "rc": [
                        {
                            "id": 1,
                            "batb": [[0, 2.4, 5], [1, 2.3, 1], [2, 0, 0]],
                            "batl": [[0, 0, 0]],
                            "bdatl": [[1, 2.8, 2]],
                        }
                    ],
                }
            ]
        ),
    )
    runner = _runner(cache)
    assert runner.best_available_to_back == (PriceSize(2.4, 5), PriceSize(2.3, 1))
    assert runner.best_available_to_lay == ()
    assert runner.best_display_available_to_lay == (PriceSize(2.6, 4), PriceSize(2.8, 2))
    assert runner.best_display_available_to_back == ()


def test_scalars_replace_and_null_means_unchanged():
    cache = _cache(
        mcm(
            mc=[
                {"id": "1.1", "tv": 100, "rc": [{"id": 1, "ltp": 2, "tv": 50, "spn": 2.1, "spf": "Infinity"}]}
            ]
        ),
        mcm(
            mc=[
                {"id": "1.1", "tv": None, "rc": [{"id": 1, "ltp": 2.2, "tv": None, "spn": None, "atb": None}]}
            ]
        ),
    )
    runner = _runner(cache)
    assert (runner.last_price_traded, runner.total_matched, runner.starting_price_near) == (2.2, 50, 2.1)
    assert runner.starting_price_far == math.inf and cache.book("1.1").total_matched == 100


def test_starting_prices_nan_strings_become_floats():
    runner = _runner(_cache(mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "spn": "NaN", "spf": 4}]}])))
    assert math.isnan(runner.starting_price_near) and runner.starting_price_far == 4


def test_con_is_surfaced_per_market_for_its_last_change():
    cache = _cache(mcm(mc=[{"id": "1.1", "con": True}, {"id": "1.2"}]))
    assert cache.book("1.1").conflated and not cache.book("1.2").conflated
    cache.apply(mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "ltp": 2}]}]))
    assert not cache.book("1.1").conflated


def test_publish_time_and_clk_are_those_of_the_last_change():
    cache = _cache(mcm(pt=1471370159007, clk="A", mc=[{"id": "1.1"}]), mcm(pt=1471370160000, clk="B", mc=[]))
    book = cache.book("1.1")
    assert book.clk == "A" and book.publish_time.year == 2016 and book.publish_time.microsecond == 7000


def test_apply_returns_changed_markets_once_in_order():
    cache = MarketCache()
    assert cache.apply(mcm(mc=[{"id": "1.2"}, {"id": "1.1"}, {"id": "1.2", "tv": 1}])) == ["1.2", "1.1"]
    assert cache.apply(mcm(ct="HEARTBEAT")) == []


def test_apply_refuses_a_lone_segment():
    with pytest.raises(ValueError, match="SEG_START segment"):
        MarketCache().apply(mcm(ct="SUB_IMAGE", segmentType="SEG_START", mc=[{"id": "1.1"}]))


def test_closed_markets_are_evicted_after_the_retention():
    cache = MarketCache(closed_retention=60)
    cache.apply(
        mcm(
            received_at=100.0,
            mc=[
                {"id": "1.1", "marketDefinition": _definition("CLOSED")},
                {"id": "1.2", "marketDefinition": _definition("OPEN")},
            ],
        )
    )
    assert cache.is_closed("1.1") and not cache.is_closed("1.2")
    assert cache.evict(159.9) == []
    assert cache.book("1.1").status == "CLOSED"  # still readable within the retention
    assert cache.evict(160.0) == ["1.1"]
    assert cache.market_ids() == ["1.2"] and cache.evict(10_000) == []


def test_a_market_that_reopens_is_not_evicted():
    cache = MarketCache(closed_retention=10)
    cache.apply(mcm(received_at=0.0, mc=[{"id": "1.1", "marketDefinition": _definition("CLOSED")}]))
    cache.apply(mcm(received_at=5.0, mc=[{"id": "1.1", "marketDefinition": _definition("OPEN", 2)}]))
    assert cache.evict(100.0) == [] and "1.1" in cache


def test_close_time_is_the_first_change_that_closed_it():
    cache = MarketCache(closed_retention=10)
    cache.apply(mcm(received_at=0.0, mc=[{"id": "1.1", "marketDefinition": _definition("CLOSED")}]))
    cache.apply(mcm(received_at=8.0, mc=[{"id": "1.1", "marketDefinition": _definition("CLOSED", 2)}]))
    assert cache.evict(10.0) == ["1.1"]


@pytest.mark.parametrize("value", [-1, "60", None, float("inf"), float("nan"), True])
def test_bad_retention_names_the_field(value):
    with pytest.raises(ConfigError) as caught:
        MarketCache(closed_retention=value)
    assert caught.value.field == "closed_retention"


def test_books_are_kept_until_the_market_changes_and_share_unchanged_runners():
    cache = _cache(mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "ltp": 2}, {"id": 2, "ltp": 3}]}, {"id": "1.2"}]))
    first = cache.book("1.1")
    assert cache.book("1.1") is first
    other = cache.book("1.2")
    cache.apply(mcm(mc=[{"id": "1.1", "rc": [{"id": 2, "ltp": 4}]}]))
    second = cache.book("1.1")
    assert second is not first and cache.book("1.2") is other
    assert second.runners[0] is first.runners[0]  # runner 1 did not change
    assert first.runners[1].last_price_traded == 3 and second.runners[1].last_price_traded == 4


def test_a_book_is_a_snapshot_that_later_changes_do_not_touch():
    cache = _cache(mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "atb": [[2, 1]]}]}]))
    before = cache.book("1.1")
    cache.apply(mcm(mc=[{"id": "1.1", "rc": [{"id": 1, "atb": [[2, 0], [3, 1]]}]}]))
    assert before.runners[0].available_to_back == (PriceSize(2, 1),)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        before.status = "CLOSED"  # type: ignore[misc]


def test_books_read_from_another_thread_with_a_lock_lose_nothing():
    # Building a book sorts ladders and keeps what it built; without the lock a reader thread could
    # swap a ladder's dict under the writer and lose updates. With it, the end state is exact.
    generator = MarketStreamGenerator(seed=3, markets=3, runners=6)
    lines = generator.image() + [generator.delta(markets=2) for _ in range(1500)]
    pipeline = Pipeline(cache=MarketCache(lock=threading.Lock()))
    pipeline.feed(lines[:1])
    failures = []
    reads = []
    done = threading.Event()

    def reader():
        while not done.is_set():
            try:
                for market_id in pipeline.cache.market_ids():
                    book = pipeline.cache.book(market_id)
                    reads.append(sum(len(r.available_to_back) for r in book.runners))
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                failures.append(exc)
                return

    threads = [threading.Thread(target=reader, name=f"imgfeed-test-reader-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    try:
        pipeline.feed(lines[1:])
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads) and failures == [] and reads
    assert _state(pipeline.cache) == _state(Pipeline().feed(lines).cache) == _truth(generator)


def test_missing_market_raises_key_error_and_get_returns_none():
    cache = MarketCache()
    with pytest.raises(KeyError, match="1.404"):
        cache.book("1.404")
    assert cache.get("1.404") is None


def test_clear_and_container_protocol():
    cache = _cache(mcm(mc=[{"id": "1.1", "marketDefinition": _definition("CLOSED")}, {"id": "1.2"}]))
    assert list(cache) == ["1.1", "1.2"] and "markets=2" in repr(cache)
    cache.clear()
    assert len(cache) == 0 and cache.evict(1e12) == []


def test_bflw_sub_image_sample():
    pipeline = Pipeline().feed([(DATA / "streaming_mcm_SUB_IMAGE.json").read_bytes()])
    book = pipeline.cache.book("1.126235656")
    assert book.status == "OPEN" and len(book.runners) == 7 and book.definition.market_type == "WIN"


def test_historical_file_ends_closed_with_a_winner():
    pipeline = Pipeline().feed(data_lines("BASIC-1.132153978"))
    assert pipeline.errors == []
    book = pipeline.cache.book("1.132153978")
    assert book.status == "CLOSED" and book.inplay
    assert [r.status for r in book.runners].count("WINNER") == 1
    assert book.runner(12115648).last_price_traded == 1.01


# --- against the generator's truth -----------------------------------------------------------------


def _state(cache):
    out = {}
    for market_id in cache.market_ids():
        book = cache.book(market_id)
        out[market_id] = {
            "status": book.status,
            "tv": book.total_matched,
            "runners": {
                (r.selection_id, r.handicap): {
                    "status": r.status,
                    "atb": list(r.available_to_back),
                    "atl": list(r.available_to_lay),
                    "trd": list(r.traded_volume),
                    "spb": list(r.starting_price_back),
                    "spl": list(r.starting_price_lay),
                    "batb": list(r.best_available_to_back),
                    "batl": list(r.best_available_to_lay),
                    "bdatb": list(r.best_display_available_to_back),
                    "bdatl": list(r.best_display_available_to_lay),
                    "ltp": r.last_price_traded,
                    "tv": r.total_matched,
                    "spn": _sp(r.starting_price_near),
                    "spf": _sp(r.starting_price_far),
                }
                for r in book.runners
            },
        }
    return out


def _sp(value):
    if isinstance(value, str):
        value = float(value)
    return "nan" if value is not None and math.isnan(value) else value


def _truth(generator):
    truth = generator.truth()
    for market in truth.values():
        for runner in market["runners"].values():
            runner["spn"], runner["spf"] = _sp(runner["spn"]), _sp(runner["spf"])
    return truth


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4), st.booleans())
def test_random_streams_end_equal_to_the_truth(seed, markets, handicap):
    generator = MarketStreamGenerator(seed=seed, markets=markets, runners=4, handicap=handicap)
    lines = generator.image()
    market_ids = sorted(generator.markets)
    for step in range(120):
        choice = generator.rng.random()
        market_id = generator.rng.choice(market_ids)
        if choice < 0.02:
            lines.append(generator.remove_runner(market_id))
        elif choice < 0.04:
            lines.extend(generator.add_runner(market_id, before_definition=step % 2 == 0))
        elif choice < 0.05:
            lines.append(generator.clear_traded(market_id))
        elif choice < 0.07:
            lines.append(generator.definition_change(market_id, inPlay=True))
        else:
            lines.append(generator.delta(markets=generator.rng.randint(1, markets), conflated=choice > 0.95))
    pipeline = Pipeline().feed(lines)
    assert pipeline.errors == []
    assert _state(pipeline.cache) == _truth(generator)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 12))
def test_splitting_an_image_into_segments_anywhere_gives_the_same_cache(seed, segments):
    generator = MarketStreamGenerator(seed=seed, markets=12, runners=3)
    deltas = [generator.delta(markets=3) for _ in range(20)]
    whole = Pipeline().feed(generator.image() + deltas)
    generator.clock -= 1  # same envelope clocks for the segmented copy
    split = Pipeline().feed(generator.image(segments=segments) + deltas)
    assert split.errors == whole.errors == []
    assert _state(split.cache) == _state(whole.cache) == _truth(generator)
    assert split.stream.is_image_complete and split.stream.initial_clk is not None


class _BookEveryChange(Pipeline):
    """A pipeline that takes the book of every changed market after every line, as handlers will."""

    def feed(self, lines, received_at=0.0):
        for line in lines:
            before = len(self.changed)
            super().feed([line], received_at)
            for market_id in self.changed[before:]:
                if market_id in self.cache:
                    self.cache.book(market_id)
        return self


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_books_taken_after_every_change_end_as_books_taken_once(seed):
    generator = MarketStreamGenerator(seed=seed, markets=2, runners=4)
    first = sorted(generator.markets)[0]
    lines = generator.image() + [generator.delta(markets=2) for _ in range(60)]
    lines += generator.add_runner(first) + [generator.remove_runner(first), generator.clear_traded(first)]
    lines += [generator.delta(markets=2) for _ in range(60)] + generator.add_runner(
        first, before_definition=False
    )
    lines += [generator.close(first)] + [generator.delta(markets=2) for _ in range(20)]
    eager = _BookEveryChange().feed(lines)
    lazy = Pipeline().feed(lines)
    assert _state(eager.cache) == _state(lazy.cache) == _truth(generator)


def test_a_runner_added_after_a_book_appears_in_the_next():
    cache = _cache(mcm(mc=[{"id": "1.1", "marketDefinition": _definition(runners=((1, 0),))}]))
    first = cache.book("1.1")
    cache.apply(mcm(mc=[{"id": "1.1", "rc": [{"id": 2, "ltp": 5}]}]))
    second = cache.book("1.1")
    assert [r.selection_id for r in second.runners] == [1, 2] and second.runners[0] is first.runners[0]
    cache.apply(
        mcm(mc=[{"id": "1.1", "marketDefinition": _definition("SUSPENDED", 2, runners=((1, 0), (2, 0)))}])
    )
    third = cache.book("1.1")
    assert [r.status for r in third.runners] == ["ACTIVE", "ACTIVE"] and third.runners[
        1
    ].last_price_traded == 5
    assert third.runners[1] is not second.runners[1]  # its definition arrived

"""Cross-checks with betfairlightweight: the same lines into both caches give the same books.

betfairlightweight (bflw) is the Python peer Betfair's users know; it is a test-only dependency
here. Each scenario feeds the same lines to bflw's ``StreamListener`` (its historical pipeline,
``lightweight=True``) and to imgfeed's decode -> stream -> cache pipeline, then compares, per market
and runner: market status and traded volume, runner status, ltp, tv, spn/spf, the full ladders
(atb, atl, trd, spb, spl) and the best ladders (batb, batl, bdatb, bdatl), including their order.
Generated scenarios are also compared with the generator's own model of the truth.

Where the two disagree by design, a test below says so and shows the difference:

- a ``SUB_IMAGE`` in mid-stream drops the markets it does not list (bflw keeps them: stale books);
- a duplicate market in one image keeps the higher definition version (bflw keeps the last copy);
- an empty order-stream ``ml: []``/``mb: []`` empties the matched ladder (bflw keeps it), and an empty
  market ``fullImage`` removes the market (bflw keeps an empty entry).

bflw's published ``availableToBack`` falls back to the best-offer ladders when ``atb`` is empty; the
comparison reads bflw's ladders themselves, so each ladder is compared with its namesake.
Level ladders: bflw deletes a level on a zero-size row, as imgfeed does (Betfair's Java sample
keeps the zero row), so they are compared in full.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

import betfairlightweight
import pytest

from .helpers import DATA, Pipeline, data_lines, order_pipeline
from .peer import bflw_state, feed, imgfeed_state, market_listener
from .streams import MarketStreamGenerator
from .test_markets import _truth


def _both(lines: List[bytes]):
    pipeline = Pipeline().feed(lines)
    assert pipeline.errors == []
    listener = market_listener()
    feed(listener, lines)
    return pipeline, imgfeed_state(pipeline.cache), bflw_state(listener)


def _as_truth(state: Dict[str, Any]) -> Dict[str, Any]:
    """Our normalised state in the shape of the generator's truth (tv None where never sent)."""
    out = {}
    for market_id, market in state.items():
        out[market_id] = {
            "status": market["status"],
            "tv": market["tv"],
            "runners": {key: {**runner} for key, runner in market["runners"].items()},
        }
    return out


def _truth_normalised(generator: MarketStreamGenerator) -> Dict[str, Any]:
    truth = _truth(generator)
    for market in truth.values():
        market["tv"] = market["tv"] or 0
        for runner in market["runners"].values():
            runner["tv"] = runner["tv"] or 0
            for name in ("atb", "atl", "trd", "spb", "spl", "batb", "batl", "bdatb", "bdatl"):
                runner[name] = [tuple(level) for level in runner[name]]
    return truth


def _assert_same(ours: Dict[str, Any], theirs: Dict[str, Any]) -> None:
    assert sorted(ours) == sorted(theirs)
    for market_id in ours:
        assert ours[market_id]["status"] == theirs[market_id]["status"], market_id
        assert ours[market_id]["tv"] == theirs[market_id]["tv"], market_id
        assert sorted(ours[market_id]["runners"]) == sorted(theirs[market_id]["runners"]), market_id
        for key, runner in ours[market_id]["runners"].items():
            assert runner == theirs[market_id]["runners"][key], (market_id, key)


# --- bflw's own samples ---------------------------------------------------------------------------


def test_historical_file():
    _, ours, theirs = _both(data_lines("BASIC-1.132153978"))
    _assert_same(ours, theirs)
    assert ours["1.132153978"]["status"] == "CLOSED"


def test_stream_samples():
    names = [
        "streaming_mcm_SUB_IMAGE.json",
        "streaming_mcm_update.json",
        "streaming_mcm_UPDATE_tv.json",
        "streaming_mcm_HEARTBEAT.json",
        "streaming_mcm_RESUB_DELTA.json",
        "streaming_mcm_UPDATE_md.json",
    ]
    lines = [(DATA / name).read_bytes().strip() for name in names]
    _, ours, theirs = _both(lines)
    _assert_same(ours, theirs)
    assert len(ours) > 10  # the RESUB_DELTA sample brings many markets


# --- generated scenarios --------------------------------------------------------------------------


def _check(generator: MarketStreamGenerator, lines: List[bytes]) -> Pipeline:
    pipeline, ours, theirs = _both(lines)
    _assert_same(ours, theirs)
    _assert_same(_as_truth(ours), _truth_normalised(generator))
    return pipeline


def test_plain_run_with_removals_by_size_zero():
    generator = MarketStreamGenerator(seed=11, markets=3, runners=8)
    lines = generator.image() + [generator.delta(markets=generator.rng.randint(1, 3)) for _ in range(1500)]
    assert sum(line.count(b",0]") for line in lines) > 500  # plenty of size-0 removals, both kinds
    _check(generator, lines)


def test_asian_handicap_runners_keyed_by_id_and_hc():
    generator = MarketStreamGenerator(seed=12, markets=1, runners=6, handicap=True)
    _check(generator, generator.image() + [generator.delta() for _ in range(400)])


def test_resub_delta_after_a_clock_resume_and_two_drops():
    generator = MarketStreamGenerator(seed=13, markets=4, runners=5)
    lines = generator.image() + [generator.delta(markets=2) for _ in range(200)]
    pipeline = Pipeline().feed(lines)
    listener = market_listener()
    feed(listener, lines)
    market_ids = sorted(generator.markets)
    for drop, imaged in enumerate([(market_ids[0],), ()]):
        withheld = [generator.delta(markets=2) for _ in range(50)]  # sent while we were away
        resumed = [generator.resub_delta(withheld, imaged=imaged)]
        after = [generator.delta(markets=2) for _ in range(100)]
        pipeline.stream.connection_lost()
        assert not pipeline.stream.is_image_complete
        payload = pipeline.stream.resubscribe_payload()
        assert payload["initial_clk"].startswith("INIT") and payload["clk"]
        pipeline.stream.subscribed(1, resumed=True)
        pipeline.feed(resumed)
        assert pipeline.stream.is_image_complete, drop
        pipeline.feed(after)
        feed(listener, resumed + after)
    assert pipeline.errors == []
    ours = imgfeed_state(pipeline.cache)
    _assert_same(ours, bflw_state(listener))
    _assert_same(_as_truth(ours), _truth_normalised(generator))


def test_200_market_segmented_image():
    generator = MarketStreamGenerator(seed=14, markets=200, runners=4)
    lines = generator.image(segments=17) + [generator.delta(markets=5) for _ in range(300)]
    assert sum(b'"segmentType"' in line for line in lines) == 17
    pipeline = _check(generator, lines)
    assert len(pipeline.cache) == 200 and pipeline.stream.is_image_complete
    # bflw applied the segments one by one; imgfeed applied one change, once
    assert pipeline.stream.stats()["images"] == 1


def test_conflated_messages():
    generator = MarketStreamGenerator(seed=15, markets=3, runners=5)
    lines = generator.image() + [generator.delta(markets=3, conflated=True) for _ in range(300)]
    pipeline = _check(generator, lines)
    assert all(pipeline.cache.book(market_id).conflated for market_id in generator.markets)
    assert pipeline.stream.stats()["unrequested_conflations"] == 900


@pytest.mark.parametrize("before_definition", [True, False])
def test_runner_added_mid_market(before_definition):
    generator = MarketStreamGenerator(seed=16, markets=2, runners=4)
    market_id = sorted(generator.markets)[0]
    lines = generator.image() + [generator.delta(markets=2) for _ in range(100)]
    lines += generator.add_runner(market_id, before_definition=before_definition)
    lines += [generator.delta(markets=2) for _ in range(100)]
    pipeline = _check(generator, lines)
    assert len(pipeline.cache.book(market_id).runners) == 5


def test_runner_removed_traded_cleared_and_market_closed():
    generator = MarketStreamGenerator(seed=17, markets=2, runners=5)
    first, second = sorted(generator.markets)
    lines = generator.image() + [generator.delta(markets=2) for _ in range(100)]
    lines += [generator.remove_runner(first), generator.clear_traded(second)]
    lines += [generator.delta(markets=2) for _ in range(100)]
    lines += [generator.definition_change(first, inPlay=True), generator.close(first)]
    pipeline = _check(generator, lines)
    book = pipeline.cache.book(first)
    assert book.status == "CLOSED" and [r.status for r in book.runners].count("WINNER") == 1
    assert pipeline.cache.is_closed(first)


# --- where imgfeed differs from bflw on purpose ----------------------------------------------------


def test_difference_a_mid_stream_sub_image_drops_markets_it_does_not_list():
    generator = MarketStreamGenerator(seed=18, markets=3, runners=3)
    kept, dropped = sorted(generator.markets)[:2], sorted(generator.markets)[2]
    lines = generator.image() + [generator.delta(markets=3) for _ in range(50)]
    lines += generator.image(market_ids=kept)  # a new subscription's image without the third market
    pipeline, ours, theirs = _both(lines)
    assert dropped not in ours and dropped in theirs  # bflw keeps a book the server no longer sends
    del theirs[dropped]
    _assert_same(ours, theirs)


def _duplicate_image(first_version: int, second_version: int) -> bytes:
    def market(version: int, ltp: float) -> Dict[str, Any]:
        return {
            "id": "1.5",
            "img": True,
            "marketDefinition": {
                "status": "OPEN",
                "version": version,
                "runners": [{"id": 1, "status": "ACTIVE"}],
            },
            "rc": [{"id": 1, "ltp": ltp}],
        }

    return json.dumps(
        {
            "op": "mcm",
            "id": 1,
            "ct": "SUB_IMAGE",
            "pt": 1,
            "clk": "C",
            "initialClk": "I",
            "mc": [market(first_version, 7.0), market(second_version, 3.0)],
        }
    ).encode()


def test_difference_a_duplicate_market_in_an_image_keeps_the_higher_version():
    _, ours, theirs = _both([_duplicate_image(7, 3)])
    assert ours["1.5"]["runners"][(1, 0.0)]["ltp"] == 7.0  # the copy with version 7
    assert theirs["1.5"]["runners"][(1, 0.0)]["ltp"] == 3.0  # bflw: the last copy
    _, ours, theirs = _both([_duplicate_image(3, 7)])
    _assert_same(ours, theirs)  # when the newer copy comes last, both agree


# --- the order stream -----------------------------------------------------------------------------


def _order_listener() -> Any:
    listener = betfairlightweight.StreamListener(lightweight=True, max_latency=None)
    listener.register_stream(0, "orderSubscription")
    return listener


def _orders_state_bflw(listener: Any) -> Dict[str, Any]:
    out = {}
    for market_id, market in listener.stream._caches.items():
        runners = {}
        for key, runner in market.runners.items():
            runners[(key[0], float(key[1]))] = {
                "orders": {
                    bet_id: (o.status, o.size_matched, o.size_remaining, o.size_cancelled, o.price)
                    for bet_id, o in runner.unmatched_orders.items()
                },
                "mb": sorted((d["price"], d["size"]) for d in runner.matched_backs.serialised),
                "ml": sorted((d["price"], d["size"]) for d in runner.matched_lays.serialised),
            }
        out[market_id] = {"closed": bool(market.closed), "runners": runners}
    return out


def _orders_state_ours(cache: Any) -> Dict[str, Any]:
    out = {}
    for market_id in cache.market_ids():
        book = cache.book(market_id)
        out[market_id] = {
            "closed": book.closed,
            "runners": {
                (r.selection_id, r.handicap): {
                    "orders": {
                        o.bet_id: (
                            {"EXECUTABLE": "E", "EXECUTION_COMPLETE": "EC"}[o.status],
                            o.size_matched,
                            o.size_remaining,
                            o.size_cancelled,
                            o.price,
                        )
                        for o in r.orders
                    },
                    "mb": sorted(r.matched_backs),
                    "ml": sorted(r.matched_lays),
                }
                for r in book.runners
            },
        }
    return out


def _order_lines() -> List[bytes]:
    def uo(bet_id, status="E", sm=0.0, sr=10.0, sc=0.0, p=2.0):
        return {
            "id": bet_id,
            "p": p,
            "s": 10.0,
            "side": "B",
            "status": status,
            "pt": "L",
            "ot": "L",
            "pd": 1609915841000,
            "sm": sm,
            "sr": sr,
            "sl": 0,
            "sc": sc,
            "sv": 0,
            "rfo": "",
            "rfs": "",
        }

    messages = [
        {
            "ct": "SUB_IMAGE",
            "initialClk": "I",
            "clk": "1",
            "oc": [{"id": "1.7", "fullImage": True, "orc": [{"id": 1, "fullImage": True, "uo": [uo("A")]}]}],
        },
        {
            "clk": "2",
            "oc": [
                {
                    "id": "1.7",
                    "orc": [
                        {"id": 1, "uo": [uo("A", sm=4, sr=6)], "mb": [[2.0, 4]]},
                        {"id": 2, "hc": 1.5, "uo": [uo("B", p=3.0)]},
                    ],
                }
            ],
        },
        {
            "clk": "3",
            "oc": [
                {
                    "id": "1.7",
                    "orc": [
                        {"id": 1, "uo": [uo("A", "EC", sm=10, sr=0)], "mb": [[2.0, 10]]},
                        {"id": 2, "hc": 1.5, "uo": [uo("B", "EC", sr=0, sc=10, p=3.0)]},
                    ],
                }
            ],
        },
        {
            "clk": "4",
            "oc": [
                {"id": "1.8", "orc": [{"id": 1, "uo": [uo("C", sm=1, sr=9)], "ml": [[5.0, 1], [6.0, 2]]}]}
            ],
        },
        {"clk": "5", "oc": [{"id": "1.8", "orc": [{"id": 1, "ml": [[5.0, 0], [6.0, 3]]}]}]},
        {"clk": "6", "oc": [{"id": "1.7", "closed": True}]},
    ]
    return [
        json.dumps({"op": "ocm", "id": 2, "pt": 1609915842193 + i, **m}).encode()
        for i, m in enumerate(messages)
    ]


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(data_lines("ORDER-1.177596575"), id="bflw-historical"),
        pytest.param(
            [
                (DATA / n).read_bytes().strip()
                for n in (
                    "streaming_ocm_SUB_IMAGE.json",
                    "streaming_ocm_FULL_IMAGE.json",
                    "streaming_ocm_UPDATE.json",
                    "streaming_ocm_NEW_FULL_IMAGE.json",
                )
            ],
            id="bflw-samples",
        ),
        pytest.param(_order_lines(), id="generated"),
    ],
)
def test_order_stream(lines):
    pipeline = order_pipeline().feed(lines)
    assert pipeline.errors == []
    listener = _order_listener()
    feed(listener, lines)
    assert _orders_state_ours(pipeline.cache) == _orders_state_bflw(listener)


def test_difference_empty_matched_list_and_empty_full_image():
    lines = _order_lines() + [
        json.dumps(
            {"op": "ocm", "id": 2, "pt": 1, "oc": [{"id": "1.8", "orc": [{"id": 1, "ml": []}]}]}
        ).encode(),
        json.dumps({"op": "ocm", "id": 2, "pt": 2, "oc": [{"id": "1.7", "fullImage": True}]}).encode(),
    ]
    pipeline = order_pipeline().feed(lines)
    listener = _order_listener()
    feed(listener, lines)
    ours, theirs = _orders_state_ours(pipeline.cache), _orders_state_bflw(listener)
    assert ours["1.8"]["runners"][(1, 0.0)]["ml"] == []  # the server says nothing is matched any more
    assert theirs["1.8"]["runners"][(1, 0.0)]["ml"] == [(6.0, 3)]  # bflw keeps the old position
    assert "1.7" not in ours and theirs["1.7"]["runners"] == {}  # bflw keeps an empty entry

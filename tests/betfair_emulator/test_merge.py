"""The one merge function and its diff: merge(a, diff(a, b)) == b, and the fold of deltas is the image."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.betfair.emulator import Scenario, ScenarioConfig, diff, merge
from imgfeed.feeds.betfair.emulator.prices import TICKS

prices = st.sampled_from(TICKS[:60])
sizes = st.floats(min_value=0.01, max_value=500, allow_nan=False).map(lambda x: round(x, 2))


def ladder(reverse: bool) -> Any:
    return st.dictionaries(prices, sizes, max_size=8).map(
        lambda d: [[p, s] for p, s in sorted(d.items(), reverse=reverse)]
    )


def levels() -> Any:
    return st.lists(st.tuples(prices, sizes), max_size=5).map(
        lambda rows: [[i, p, s] for i, (p, s) in enumerate(rows)]
    )


runner = st.fixed_dictionaries(
    {
        "atb": ladder(True),
        "atl": ladder(False),
        "trd": ladder(False),
        "batb": levels(),
        "bdatl": levels(),
        "ltp": prices,
        "tv": sizes,
    }
)


def market(runners: List[Dict[str, Any]], status: str) -> Dict[str, Any]:
    rc = [{"id": i + 1, **r} for i, r in enumerate(runners)]
    return {"id": "1.1", "img": True, "marketDefinition": {"status": status}, "tv": 1.0, "rc": rc}


@given(
    st.lists(runner, min_size=2, max_size=2),
    st.lists(runner, min_size=2, max_size=2),
    st.sampled_from(["OPEN", "SUSPENDED"]),
)
def test_merge_of_diff_gives_the_new_image(
    old: List[Dict[str, Any]], new: List[Dict[str, Any]], status: str
) -> None:
    a, b = market(old, "OPEN"), market(new, status)
    delta = diff(a, b)
    assert "img" not in delta
    assert merge(copy.deepcopy(a), delta) == b


@given(st.lists(st.lists(runner, min_size=2, max_size=2), min_size=2, max_size=5))
def test_accumulated_deltas_keep_removals_and_patch_like_the_sequence(
    images: List[List[Dict[str, Any]]],
) -> None:
    states = [market(r, "OPEN") for r in images]
    acc = None
    for before, after in zip(states, states[1:]):  # noqa: B905 (python_requires 3.9: no strict=)
        acc = merge(acc, diff(before, after))
    assert acc is not None
    assert merge(copy.deepcopy(states[0]), acc) == states[-1]  # one conflated delta == the sequence


def test_the_change_log_image_is_the_fold_of_the_published_deltas() -> None:
    scenario = Scenario(
        ScenarioConfig(
            seed=3, markets=8, pre_play_steps=3, in_play_steps=3, closed_steps=1, start_time=1.7e9
        ),
        clock=lambda: 1.7e9,
    )
    for _ in range(30):
        scenario.step()
        for info in scenario.market_infos():
            model = scenario.market_model(info.market_id)
            assert model is not None
            assert scenario.markets_log.image(info.market_id) == model.render()
            for rc in model.render()["rc"]:
                if rc["batb"] and rc["batl"]:
                    assert rc["batb"][0][1] < rc["batl"][0][1]  # best back < best lay


def test_same_seed_same_changes() -> None:
    def run() -> List[Any]:
        scenario = Scenario(ScenarioConfig(seed=8, markets=6, start_time=1.7e9), clock=lambda: 1.7e9)
        return [(b.markets, b.orders) for b in (scenario.step() for _ in range(20))]

    assert run() == run()

"""The change-list checks: good messages pass, each bad field is named by its path."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.betfair.protocol.validate import FieldError, check_market_changes, check_order_changes

from .helpers import DATA, data_lines

GOOD_RUNNER = {
    "id": 7,
    "hc": -1.5,
    "ltp": 2.5,
    "tv": 10,
    "spn": "NaN",
    "spf": 3.2,
    "atb": [[2.5, 10.0], [2.4, 0]],
    "atl": [],
    "trd": [[2.5, 1]],
    "spb": [[1.01, 2]],
    "spl": [[1000, 3]],
    "batb": [[0, 2.5, 10.0], [1, 0, 0]],
    "batl": [],
    "bdatb": [[2, 2.4, 1]],
    "bdatl": None,
    "somethingNew": {"kept": True},
}


def test_good_market_changes_pass():
    check_market_changes([{"id": "1.1", "img": True, "tv": 3.5, "con": False, "rc": [GOOD_RUNNER]}])
    check_market_changes([{"id": "1.1"}, {"id": "1.2", "rc": []}])


@pytest.mark.parametrize(
    "name", ["streaming_mcm_SUB_IMAGE.json", "streaming_mcm_RESUB_DELTA.json", "streaming_mcm_UPDATE_md.json"]
)
def test_betfairlightweight_samples_pass(name):
    import json

    check_market_changes(json.loads((DATA / name).read_bytes())["mc"])


def test_historical_file_passes():
    import json

    for line in data_lines("BASIC-1.132153978"):
        check_market_changes(json.loads(line)["mc"])


@pytest.mark.parametrize(
    "mc, path, expected",
    [
        ({"id": 1}, "mc[0].id", "a string"),
        ([], "mc[0]", "an object"),
        ({"id": "1.1", "img": "yes"}, "mc[0].img", "true or false"),
        ({"id": "1.1", "tv": "3"}, "mc[0].tv", "a finite number"),
        ({"id": "1.1", "rc": {}}, "mc[0].rc", "a list"),
        ({"id": "1.1", "rc": [{"id": "7"}]}, "mc[0].rc[0].id", "an integer"),
        ({"id": "1.1", "rc": [{"id": True}]}, "mc[0].rc[0].id", "an integer"),
        ({"id": "1.1", "rc": [{"id": 7, "ltp": "2.5"}]}, "mc[0].rc[0].ltp", "a finite number"),
        ({"id": "1.1", "rc": [{"id": 7, "ltp": float("nan")}]}, "mc[0].rc[0].ltp", "a finite number"),
        ({"id": "1.1", "rc": [{"id": 7, "spn": "soon"}]}, "mc[0].rc[0].spn", "a number, 'NaN' or 'Infinity'"),
        ({"id": "1.1", "rc": [{"id": 7, "atb": [[2.5, 1], [2.4]]}]}, "mc[0].rc[0].atb[1]", "[price, size]"),
        ({"id": "1.1", "rc": [{"id": 7, "atl": [[2.5, "1"]]}]}, "mc[0].rc[0].atl[0][1]", "a finite size"),
        (
            {"id": "1.1", "rc": [{"id": 7, "trd": [[float("inf"), 1]]}]},
            "mc[0].rc[0].trd[0][0]",
            "a finite price",
        ),
        ({"id": "1.1", "rc": [{"id": 7, "spb": {"2.5": 1}}]}, "mc[0].rc[0].spb", "a list of [price, size]"),
        ({"id": "1.1", "rc": [{"id": 7, "batb": [[0, 2.5]]}]}, "mc[0].rc[0].batb[0]", "[level, price, size]"),
        (
            {"id": "1.1", "rc": [{"id": 7, "batl": [[0.5, 2.5, 1]]}]},
            "mc[0].rc[0].batl[0][0]",
            "a level (an integer 0..99)",
        ),
        (
            {"id": "1.1", "rc": [{"id": 7, "bdatb": [[-1, 2.5, 1]]}]},
            "mc[0].rc[0].bdatb[0][0]",
            "a level (an integer 0..99)",
        ),
        (
            {"id": "1.1", "rc": [{"id": 7, "bdatl": [[0, 2.5, None]]}]},
            "mc[0].rc[0].bdatl[0][2]",
            "a finite size",
        ),
        (
            {"id": "1.1", "rc": [{"id": 7, "batb": [[10**9, 2.5, 1]]}]},
            "mc[0].rc[0].batb[0][0]",
            "a level (an integer 0..99)",
        ),
        ({"id": "1.1", "marketDefinition": []}, "mc[0].marketDefinition", "an object"),
        ({"id": "1.1", "marketDefinition": {"version": "1"}}, "mc[0].marketDefinition.version", "an integer"),
        ({"id": "1.1", "marketDefinition": {"inPlay": 1}}, "mc[0].marketDefinition.inPlay", "true or false"),
        (
            {"id": "1.1", "marketDefinition": {"marketTime": "tomorrow"}},
            "mc[0].marketDefinition.marketTime",
            "an ISO 8601 time string",
        ),
        (
            {"id": "1.1", "marketDefinition": {"regulators": ["A", 2]}},
            "mc[0].marketDefinition.regulators[1]",
            "a string",
        ),
        (
            {"id": "1.1", "marketDefinition": {"runners": [{"id": 1}, {"status": "ACTIVE"}]}},
            "mc[0].marketDefinition.runners[1]",
            "'id' to be present",
        ),
        (
            {"id": "1.1", "marketDefinition": {"runners": [{"id": 1, "bsp": "lots"}]}},
            "mc[0].marketDefinition.runners[0].bsp",
            "a number, 'NaN' or 'Infinity'",
        ),
        (
            {"id": "1.1", "marketDefinition": {"keyLineDefinition": {"kl": [{"id": 1, "hc": "x"}]}}},
            "mc[0].marketDefinition.keyLineDefinition.kl[0].hc",
            "a finite number",
        ),
    ],
)
def test_bad_market_changes_are_named_by_path(mc, path, expected):
    with pytest.raises(FieldError) as caught:
        check_market_changes([mc] if isinstance(mc, dict) and path.startswith("mc[0]") else [mc])
    assert caught.value.path == path
    assert caught.value.expected == expected
    assert path in str(caught.value)


def test_a_non_list_mc_is_named():
    with pytest.raises(FieldError, match=r"^mc: expected a list"):
        check_market_changes({"id": "1.1"})  # type: ignore[arg-type]


def test_bools_in_ladder_rows_are_a_documented_weakness_of_the_fast_path():
    # The fast path takes JSON true/false as 1/0 in rows (see validate's comment); it must not crash.
    check_market_changes([{"id": "1.1", "rc": [{"id": 7, "atb": [[True, 2]]}]}])


GOOD_ORDER = {
    "id": "221073337451",
    "p": 34,
    "s": 0.8,
    "side": "B",
    "status": "E",
    "pt": "L",
    "ot": "L",
    "pd": 1609915841000,
    "sm": 0,
    "sr": 0.8,
    "sl": 0,
    "sc": 0,
    "sv": 0,
    "rac": "",
    "rc": "REG_GGC",
    "rfo": "ref",
    "rfs": "strategy",
}


def test_good_order_changes_pass():
    check_order_changes(
        [
            {
                "id": "1.1",
                "accountId": 5,
                "fullImage": True,
                "closed": False,
                "orc": [
                    {
                        "id": 3,
                        "hc": 0,
                        "fullImage": True,
                        "uo": [GOOD_ORDER],
                        "mb": [[2, 1]],
                        "ml": [],
                        "smc": {"strategy": {"mb": [[2, 1]]}},
                    }
                ],
            }
        ]
    )


@pytest.mark.parametrize(
    "oc, path, expected",
    [
        ({"id": 1}, "oc[0].id", "a string"),
        ({"id": "1.1", "closed": "no"}, "oc[0].closed", "true or false"),
        ({"id": "1.1", "orc": [{"hc": 0}]}, "oc[0].orc[0]", "'id' to be present"),
        ({"id": "1.1", "orc": [{"id": 3, "uo": [{"p": 2}]}]}, "oc[0].orc[0].uo[0]", "'id' to be present"),
        (
            {"id": "1.1", "orc": [{"id": 3, "uo": [{**GOOD_ORDER, "pd": 1.5}]}]},
            "oc[0].orc[0].uo[0].pd",
            "epoch milliseconds",
        ),
        (
            {"id": "1.1", "orc": [{"id": 3, "uo": [{**GOOD_ORDER, "md": 10**20}]}]},
            "oc[0].orc[0].uo[0].md",
            "epoch milliseconds",
        ),
        (
            {"id": "1.1", "orc": [{"id": 3, "uo": [{**GOOD_ORDER, "sm": "1"}]}]},
            "oc[0].orc[0].uo[0].sm",
            "a finite number",
        ),
        ({"id": "1.1", "orc": [{"id": 3, "mb": [[2]]}]}, "oc[0].orc[0].mb[0]", "[price, size]"),
        (
            {"id": "1.1", "orc": [{"id": 3, "smc": {"s": {"ml": [[2, "x"]]}}}]},
            "oc[0].orc[0].smc['s'].ml[0][1]",
            "a finite size",
        ),
        (
            {"id": "1.1", "orc": [{"id": 3, "smc": []}]},
            "oc[0].orc[0].smc",
            "an object of strategy ref -> {mb, ml}",
        ),
    ],
)
def test_bad_order_changes_are_named_by_path(oc, path, expected):
    with pytest.raises(FieldError) as caught:
        check_order_changes([oc])
    assert (caught.value.path, caught.value.expected) == (path, expected)


_scalar = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(["NaN", "Infinity", "x", ""])
)
_json = (
    _scalar
    | st.lists(st.lists(_scalar, max_size=4), max_size=3)
    | st.dictionaries(st.text(max_size=2), _scalar)
)
_runner_keys = st.sampled_from(
    [
        "id",
        "hc",
        "ltp",
        "tv",
        "spn",
        "spf",
        "atb",
        "atl",
        "trd",
        "spb",
        "spl",
        "batb",
        "batl",
        "bdatb",
        "bdatl",
    ]
)


@given(st.dictionaries(_runner_keys, _json, max_size=6))
def test_any_runner_change_either_passes_or_is_named(runner_change):
    # The fast and slow paths must agree: a disagreement would surface as AssertionError.
    try:
        check_market_changes([{"id": "1.1", "rc": [runner_change]}])
    except FieldError as error:
        assert error.path.startswith("mc[0].rc[0]")

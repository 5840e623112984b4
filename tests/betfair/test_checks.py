"""The check building blocks: paths, required keys, bounds."""

import pytest

from imgfeed.feeds.betfair.protocol.checks import (
    MAX_LEVEL,
    Bad,
    FieldError,
    check_list,
    epoch_ms,
    integer,
    iso_time,
    level_rows,
    list_of,
    number,
    object_of,
    price_rows,
    sp_number,
    string,
)
from imgfeed.feeds.betfair.protocol.times import MAX_EPOCH_MS, MIN_EPOCH_MS

ITEM = object_of({"size": number, "names": list_of(string)}, {"id": integer})


def test_paths_accumulate_from_the_inside_out():
    with pytest.raises(FieldError) as caught:
        check_list("things", [{"id": 1}, {"id": 2, "names": ["a", 3]}], ITEM)
    assert caught.value.path == "things[1].names[1]"
    assert str(caught.value) == "things[1].names[1]: expected a string, got int 3"


def test_required_keys_and_nulls():
    with pytest.raises(FieldError, match=r"things\[0\]: expected 'id' to be present"):
        check_list("things", [{"id": None}], ITEM)
    check_list("things", [{"id": 1, "size": None, "other": "ignored"}], ITEM)


def test_long_values_are_shortened_in_messages():
    with pytest.raises(FieldError) as caught:
        check_list("things", [{"id": "x" * 500}], ITEM)
    assert len(str(caught.value)) < 150 and str(caught.value).endswith("...")


@pytest.mark.parametrize(
    "check, good, bad",
    [
        (number, [0, -1.5, 10**30], [True, "1", float("nan"), float("inf"), None]),
        (sp_number, [1.5, float("nan"), "NaN", "Infinity", "-Infinity"], ["nan", True, None]),
        (epoch_ms, [0, MIN_EPOCH_MS, MAX_EPOCH_MS], [MAX_EPOCH_MS + 1, MIN_EPOCH_MS - 1, 1.0, "1"]),
        (iso_time, ["2024-01-01T00:00:00.000Z"], ["2024-13-01T00:00:00Z", 5]),
        (price_rows, [[], [[1.5, 2]]], [[[1.5]], [[1.5, 2, 3]], [["1", 2]], {}]),
        (
            level_rows,
            [[], [[0, 1.5, 2], [MAX_LEVEL, 1, 1]]],
            [[[MAX_LEVEL + 1, 1, 1]], [[-1, 1, 1]], [[0, 1]]],
        ),
    ],
)
def test_scalar_and_row_checks(check, good, bad):
    for value in good:
        check(value)
    for value in bad:
        with pytest.raises(Bad):
            check(value)

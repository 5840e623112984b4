from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imgfeed.feeds.betfair.protocol.times import (
    MAX_EPOCH_MS,
    MIN_EPOCH_MS,
    epoch_ms_to_datetime,
    parse_iso_time,
)

UTC = timezone.utc


def test_epoch_ms_is_exact_and_aware():
    dt = epoch_ms_to_datetime(1497351220318)
    assert dt == datetime(2017, 6, 13, 10, 53, 40, 318000, tzinfo=UTC)
    assert dt.tzinfo is UTC


@given(st.integers(MIN_EPOCH_MS, MAX_EPOCH_MS))
def test_epoch_ms_round_trips_without_float_rounding(ms):
    dt = epoch_ms_to_datetime(ms)
    assert (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) == ms


@pytest.mark.parametrize("ms", [MIN_EPOCH_MS - 1, MAX_EPOCH_MS + 1])
def test_epoch_ms_outside_datetime_range_raises_overflow(ms):
    with pytest.raises(OverflowError):
        epoch_ms_to_datetime(ms)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2017-06-14T18:55:00.000Z", datetime(2017, 6, 14, 18, 55, tzinfo=UTC)),
        ("2017-06-14T18:55:00Z", datetime(2017, 6, 14, 18, 55, tzinfo=UTC)),
        ("2017-06-14T18:55:00.000", datetime(2017, 6, 14, 18, 55, tzinfo=UTC)),  # no offset: UTC
        ("2017-06-14T20:55:00.000+02:00", datetime(2017, 6, 14, 18, 55, tzinfo=UTC)),
    ],
)
def test_iso_times_become_aware_utc(text, expected):
    parsed = parse_iso_time(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2017-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00"])
def test_bad_iso_times_raise_value_error(text):
    with pytest.raises(ValueError):
        parse_iso_time(text)

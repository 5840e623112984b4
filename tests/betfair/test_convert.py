"""Wire dicts to book records."""

import json
import math
from datetime import datetime, timezone

import pytest

from imgfeed.feeds.betfair.cache.convert import (
    market_definition,
    order,
    runner_definition,
    runner_key,
    starting_price,
)

from .helpers import DATA

UTC = timezone.utc


def test_market_definition_maps_every_schema_field():
    raw = json.loads((DATA / "streaming_market_definition.json").read_bytes())
    raw.update(
        venue="Ascot",
        raceType="Flat",
        timezone="Europe/London",
        regulators=["MR_INT"],
        countryCode="GB",
        openDate="2016-08-17T17:00:00.000Z",
        settledTime="2016-08-17T18:20:00.000Z",
        suspendReason="x",
        discountAllowed=True,
        eachWayDivisor=4,
        lineMinUnit=0.5,
        lineMaxUnit=99.5,
        lineInterval=1,
        priceLadderDefinition={"type": "CLASSIC"},
        version=123,
        betDelayModels=["PASSIVE"],
    )
    definition = market_definition(raw)
    assert (definition.status, definition.in_play, definition.version, definition.bet_delay) == (
        "OPEN",
        False,
        123,
        0,
    )
    assert (definition.event_id, definition.event_type_id, definition.market_type) == ("27890558", "7", "WIN")
    assert (definition.betting_type, definition.country_code, definition.venue) == ("ODDS", "GB", "Ascot")
    assert (definition.race_type, definition.timezone, definition.regulators) == (
        "Flat",
        "Europe/London",
        ("MR_INT",),
    )
    assert definition.market_time == datetime(2016, 8, 17, 18, 10, tzinfo=UTC)
    assert definition.suspend_time == datetime(2016, 8, 17, 18, 10, tzinfo=UTC)
    assert definition.open_date == datetime(2016, 8, 17, 17, 0, tzinfo=UTC)
    assert definition.settled_time == datetime(2016, 8, 17, 18, 20, tzinfo=UTC)
    assert (definition.number_of_winners, definition.number_of_active_runners) == (1, 7)
    assert (definition.bsp_market, definition.bsp_reconciled, definition.turn_in_play_enabled) == (
        True,
        False,
        True,
    )
    assert (definition.persistence_enabled, definition.cross_matching, definition.runners_voidable) == (
        True,
        False,
        False,
    )
    assert (definition.complete, definition.discount_allowed, definition.suspend_reason) == (True, True, "x")
    assert (definition.market_base_rate, definition.each_way_divisor) == (5.0, 4.0)
    assert (definition.line_min_unit, definition.line_max_unit, definition.line_interval) == (0.5, 99.5, 1.0)
    assert definition.price_ladder_type == "CLASSIC"
    assert definition.key_line == ((11131804, -2.0), (11064886, 2.0))
    assert len(definition.runners) == 7
    first = definition.runners[0]
    assert (first.selection_id, first.handicap, first.status, first.sort_priority) == (
        11131804,
        0.0,
        "ACTIVE",
        1,
    )
    assert first.adjustment_factor == 44.323
    assert definition.raw is raw and definition.raw["betDelayModels"] == ["PASSIVE"]  # unmodelled, kept


def test_an_empty_definition_is_all_none():
    definition = market_definition({})
    assert definition.status is None and definition.runners == () and definition.key_line == ()


def test_runner_definition():
    runner = runner_definition(
        {
            "id": 5,
            "hc": -1.5,
            "name": "Horse",
            "status": "REMOVED",
            "sortPriority": 3,
            "adjustmentFactor": 12,
            "bsp": "NaN",
            "removalDate": "2024-05-01T13:55:00.000Z",
        }
    )
    assert (runner.selection_id, runner.handicap, runner.name, runner.status) == (5, -1.5, "Horse", "REMOVED")
    assert runner.adjustment_factor == 12.0 and math.isnan(runner.bsp)
    assert runner.removal_date == datetime(2024, 5, 1, 13, 55, tzinfo=UTC)


@pytest.mark.parametrize(
    "value, expected", [(None, None), (2.5, 2.5), (3, 3.0), ("Infinity", math.inf), ("-Infinity", -math.inf)]
)
def test_starting_prices(value, expected):
    assert starting_price(value) == expected
    assert math.isnan(starting_price("NaN"))


def test_runner_key_defaults_hc_to_zero():
    assert (
        runner_key({"id": 5})
        == (5, 0)
        == runner_key({"id": 5, "hc": None})
        == runner_key({"id": 5, "hc": 0.0})
    )
    assert runner_key({"id": 5, "hc": -0.5}) == (5, -0.5)


def test_order_spells_out_codes_and_converts_dates():
    raw = {
        "id": "78996704480",
        "p": 1.02,
        "s": 2,
        "side": "L",
        "status": "EC",
        "pt": "P",
        "ot": "LOC",
        "pd": 1478546670000,
        "md": 1478546670500,
        "cd": 1478546670001,
        "ld": 1478546671000,
        "avp": 1.02,
        "sm": 1,
        "sr": 0,
        "sl": 0.5,
        "sc": 0.25,
        "sv": 0.25,
        "bsp": 4,
        "rac": "auth",
        "rc": "REG_GGC",
        "rfo": "order-ref",
        "rfs": "strategy",
        "lsrc": "MKT_UNKNOWN",
    }
    record = order(raw, "1.128126331", 10895629, 0)
    assert (record.bet_id, record.market_id, record.selection_id, record.handicap) == (
        "78996704480",
        "1.128126331",
        10895629,
        0.0,
    )
    assert (record.side, record.status, record.persistence_type, record.order_type) == (
        "LAY",
        "EXECUTION_COMPLETE",
        "PERSIST",
        "LIMIT_ON_CLOSE",
    )
    assert record.is_complete
    assert record.placed_date == datetime(2016, 11, 7, 19, 24, 30, tzinfo=UTC)
    assert record.matched_date == datetime(2016, 11, 7, 19, 24, 30, 500000, tzinfo=UTC)
    assert record.cancelled_date.microsecond == 1000 and record.lapsed_date.second == 31
    assert (record.price, record.size, record.bsp_liability, record.average_price_matched) == (
        1.02,
        2.0,
        4.0,
        1.02,
    )
    assert (record.size_matched, record.size_remaining, record.size_lapsed) == (1.0, 0.0, 0.5)
    assert (record.size_cancelled, record.size_voided) == (0.25, 0.25)
    assert (record.customer_order_ref, record.customer_strategy_ref) == ("order-ref", "strategy")
    assert (record.regulator_code, record.regulator_auth_code, record.lapse_status_reason_code) == (
        "REG_GGC",
        "auth",
        "MKT_UNKNOWN",
    )
    assert record.raw is raw


def test_order_codes_this_version_does_not_know_are_kept():
    record = order({"id": "1", "side": "X", "status": "NEW", "ot": "FOK", "pt": "Z"}, "1.1", 1, 0)
    assert (record.side, record.status, record.order_type, record.persistence_type) == (
        "X",
        "NEW",
        "FOK",
        "Z",
    )
    assert not record.is_complete and record.placed_date is None

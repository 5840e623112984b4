"""One market id form that a person sees and types (issue 15, point 1).

The server's ids are raw (``golf_2800_matchbet~7cgolfer_ids~3d12501~2c14604``); the pretty output
shows that form, with the decoded one beside it, and ``--market`` takes either. A subscription that
matches nothing the offering lists is warned about once, in one line.
"""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import ujson

from imgfeed.cli._subscription import describe_subscription, unmatched_warning
from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.feeds.img.protocol.messages import decode_market_id
from tests.cli.conftest import run_subprocess


def _long_id(sim: Any) -> str:
    return next(m for m in sim.server.scenario.market_ids(include_finished=False) if "~7c" in m)


def _jsonl(out: str) -> List[Dict[str, Any]]:
    return [ujson.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("form", ["raw", "decoded"])
def test_market_takes_either_form(sim: Any, form: str) -> None:
    raw = _long_id(sim)
    given = raw if form == "raw" else decode_market_id(raw)
    result = run_subprocess(
        ["tail", *sim.connect_args("--market", given, "--format", "jsonl", "--duration", "1.5")]
    )
    assert result.code == 0, result
    assert result.err == "", result.err  # no "matches nothing" warning
    updated = {o["msg"]["id"] for o in _jsonl(result.out) if o["kind"] == "market_update"}
    assert updated == {raw}  # jsonl shows the id exactly as the server sent it


def test_pretty_shows_the_raw_id_with_the_decoded_one_beside_it(sim: Any) -> None:
    raw = _long_id(sim)
    result = run_subprocess(["tail", *sim.connect_args("--market", raw, "--duration", "1.5")])
    assert result.code == 0, result
    assert f" market_update {raw} ({decode_market_id(raw)}) [" in result.out
    assert f" market {raw} ({decode_market_id(raw)}) " in result.out


def test_a_market_not_in_the_offering_is_warned_about_once(sim: Any) -> None:
    args = sim.connect_args("--market", "golf_1_nosuchmarket", "--format", "jsonl", "--duration", "1.5")
    result = run_subprocess(["tail", *args])
    assert result.code == 0, result
    n = len(sim.server.scenario.market_ids(include_finished=False))
    assert result.err.splitlines() == [
        f"imgfeed: warning: --market golf_1_nosuchmarket is not in the offering ({n} markets listed now), so "
        "no prices will flow for it; ids are compared exactly: copy them from `imgfeed tail --format jsonl` "
        '(the msg.id of its "market" and "event" lines)'
    ]
    assert "market_update" not in {o["kind"] for o in _jsonl(result.out)}


# --- the warning, without a network ---------------------------------------------------------------


def _push(kind: str, msg: Dict[str, Any]) -> bytes:
    return ujson.dumps({"mode": "push", "type": kind, "msg": msg}).encode()


@pytest.fixture
def snapshot() -> Any:
    book = MarketBook()
    book.session_started()
    lines = [
        _push("sport", {"id": "sp.golf", "name": "Golf"}),
        _push("event", {"id": "ev.1", "name": "One"}),
        _push("event", {"id": "ev.2", "name": "Two"}),
        _push("market_type", {"id": "mt.winonly", "name": "Win"}),
        _push("market_type", {"id": "mt.matchbet", "name": "Match"}),
        _push("market", {"id": "m1", "name": "Win", "event_id": "ev.1", "tags": ["mt.winonly"]}),
        _push("market", {"id": "m2", "name": "Match", "event_id": "ev.2", "tags": ["mt.matchbet"]}),
    ]
    book.apply(decode_line(line, 1.0) for line in lines)
    return book.snapshot()


def test_filters_that_match_say_nothing(snapshot: Any) -> None:
    assert unmatched_warning({"event_ids": ["ev.1"]}, snapshot) is None
    assert unmatched_warning({"market_ids": ["m2", "nope"]}, snapshot) is None  # one of them matches
    assert unmatched_warning({}, snapshot) is None


def test_known_ids_that_together_match_nothing(snapshot: Any) -> None:
    warning = unmatched_warning({"event_ids": ["ev.1"], "market_type_ids": ["mt.matchbet"]}, snapshot)
    assert warning == (
        "warning: --event ev.1 --market-type mt.matchbet together match none of the 2 markets listed now "
        "(a market must match every one given), so no prices will flow"
    )


def test_several_unknown_ids_are_named_in_one_line(snapshot: Any) -> None:
    warning = unmatched_warning({"event_ids": ["ev.9"], "market_ids": ["x"]}, snapshot)
    assert warning is not None and "\n" not in warning
    assert warning.startswith(
        "warning: --event ev.9, --market x are not in the offering (2 markets listed now)"
    )


def test_an_empty_offering_is_not_compared(snapshot: Any) -> None:
    assert unmatched_warning({"market_ids": ["x"]}, MarketBook().snapshot()) is None


def test_describe_subscription() -> None:
    assert describe_subscription(None) == "nothing"
    assert describe_subscription({}) == "every market"
    assert (
        describe_subscription({"event_ids": ["ev.1", "ev.2"], "market_ids": ["m"]})
        == "--event ev.1 ev.2 --market m"
    )

"""The scenario engine: deterministic, and a believable golf market.

"Believable" is checked, not eyeballed: prices sit on the odds ladder near ``1 / p`` with a margin,
every freshly priced market has an overround in the expected band, settlements agree with one
result per tournament (one winner per win market, dead heats paid m/k, ties in a match bet void),
and ids use only the slug alphabet with the long form decoding as docs/protocol.md shows.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List

import pytest

from imgfeed.feeds.img.protocol import decode_line, decode_market_id
from imgfeed.feeds.img.simulator import Emission, Scenario, ScenarioConfig, escape_id
from imgfeed.feeds.img.simulator.pricing import implied_total
from imgfeed.feeds.img.simulator.scenario import stamp_send_time

T0 = 1_700_000_000.0
SLUG = re.compile(r"^[0-9a-zA-Z\-_.~]+$")


def scenario(**options: Any) -> Scenario:
    options.setdefault("seed", 11)
    return Scenario(ScenarioConfig.of_size("small", **options), clock=lambda: T0)


def run(s: Scenario, steps: int, updates: int = 5) -> List[Emission]:
    out: List[Emission] = []
    for _ in range(steps):
        out += s.step(updates=updates, now=T0)
    return out


def lifetime(s: Scenario) -> int:
    c = s.config
    return c.pre_play_steps + c.in_play_steps + c.ended_steps + 1


def test_same_seed_same_feed() -> None:
    a, b = scenario(seed=5), scenario(seed=5)
    assert [e.line for e in run(a, 120)] == [e.line for e in run(b, 120)]
    assert a.snapshot(T0) == b.snapshot(T0)


def test_different_seed_different_feed() -> None:
    assert [e.line for e in run(scenario(seed=1), 30)] != [e.line for e in run(scenario(seed=2), 30)]


def test_ids_are_slugs_and_long_ids_decode() -> None:
    s = scenario()
    ids = s.market_ids()
    assert all(SLUG.match(mid) for mid in ids)
    threeball = [mid for mid in ids if "threeball" in mid]
    assert threeball
    decoded = decode_market_id(threeball[0])
    assert re.fullmatch(r"golf_\d+_threeball_hole\|golfer_ids=\d+,\d+,\d+\|hole_num=\d+\|round_num=1", decoded)
    assert any("matchbet~7cgolfer_ids~3d" in mid for mid in ids)
    assert escape_id("a|b=c,d é") == "a~7cb~3dc~2cd~20~c3~a9"


def test_prices_are_near_one_over_p_with_a_margin() -> None:
    s = scenario()
    for mid in s.market_ids(include_finished=False):
        info = s.market_info(mid)
        image = s.market_image(mid)
        prices = [sel["price"] for sel in image["selections"]]
        assert all(1.01 <= p <= 1000 for p in prices)
        total = implied_total(prices) / info["numwinners"]
        # Overround per market: a few percent on two-way markets, up to ~25% on big fields (the
        # ladder's rounding and the long-odds cap move it a little).
        assert 1.0 < total < 1.35, (mid, total)


def test_market_shapes() -> None:
    s = scenario()
    by_type: Dict[str, List[Dict[str, Any]]] = {}
    for mid in s.market_ids(include_finished=False):
        info = s.market_info(mid)
        by_type.setdefault(info["tags"][1], []).append(s.market_image(mid))
        assert info["id"] == mid and info["event_id"].startswith("ev.golf_")
    assert set(by_type) == {"mt.winonly", "mt.top5", "mt.top10", "mt.matchbet", "mt.threeball_hole"}
    assert all(len(m["selections"]) == 30 for m in by_type["mt.winonly"])
    assert all(len(m["selections"]) == 2 for m in by_type["mt.matchbet"])
    assert all(len(m["selections"]) == 3 for m in by_type["mt.threeball_hole"])
    assert all(sel["id"].startswith("g:") for m in by_type["mt.winonly"] for sel in m["selections"])
    top5 = s.market_info(next(mid for mid in s.market_ids() if mid.endswith("_top5")))
    assert top5["numwinners"] == 5


def test_a_tournament_lives_its_whole_life() -> None:
    s = scenario()
    event_id = s.event_ids(include_finished=False)[0]
    emissions = run(s, lifetime(s))
    stages = [e.obj["msg"]["stage"] for e in emissions if e.kind == "event" and e.obj["msg"]["id"] == event_id]
    assert stages == ["in_play", "ended"]
    statuses = {e.obj["msg"]["status"] for e in emissions if e.is_update}
    assert {"open", "suspended", "closed", "settled"} <= statuses
    removed = [e.obj["msg"] for e in emissions if e.kind == "remove_markets"]
    assert any(all(mid.startswith(f"golf_{event_id[8:]}_") for mid in r) for r in removed)
    assert event_id not in s.event_ids()
    # A replacement tournament was announced when it ended, so the feed goes on.
    assert len(s.event_ids(include_finished=False)) == 1


def settled_images(emissions: List[Emission]) -> Dict[str, Dict[str, Any]]:
    """The final settled image of each market (later ones, i.e. re-settlements, win)."""
    return {e.market.id: e.obj["msg"] for e in emissions if e.is_update and e.obj["msg"]["status"] == "settled"}


def test_settlements_are_consistent_with_one_result() -> None:
    s = scenario(resettle_probability=0.0)
    event_id = s.event_ids(include_finished=False)[0]
    number = event_id[len("ev.golf_") :]
    images = settled_images(run(s, lifetime(s) - s.config.ended_steps))
    mine = {mid: img for mid, img in images.items() if mid.startswith(f"golf_{number}_")}
    assert mine
    payouts = lambda img: {sel["id"]: sel["settlement"]["payout_returned"] for sel in img["selections"]}  # noqa: E731
    win = payouts(mine[f"golf_{number}_winonly"])
    [winner] = [g for g, p in win.items() if p > 0]
    assert win[winner] == 1.0
    for n in (5, 10):
        top = payouts(mine[f"golf_{number}_top{n}"])
        assert sum(top.values()) == pytest.approx(n)  # dead heats share the places exactly
        assert top[winner] == 1.0  # the winner finished in every top-N
    for mid, img in mine.items():
        for sel in img["selections"]:
            st = sel["settlement"]
            assert st["stake_returned"] in (0.0, 1.0) and 0.0 <= st["payout_returned"] <= 1.0
        if "threeball" in mid:
            assert sum(payouts(img).values()) == pytest.approx(1.0)
        if "matchbet" in mid:
            p = payouts(img)
            void = all(sel["settlement"] == {"stake_returned": 1.0, "payout_returned": 0.0} for sel in img["selections"])
            assert void or sorted(p.values()) == [0.0, 1.0]
            if winner in p and not void:
                assert p[winner] == 1.0


def test_dead_heats_and_voids_happen() -> None:
    fractions = set()
    voids = 0
    for seed in range(6):
        s = scenario(seed=seed, resettle_probability=0.0)
        for img in settled_images(run(s, lifetime(s), updates=0)).values():
            for sel in img["selections"]:
                st = sel["settlement"]
                fractions.add(round(st["payout_returned"], 3))
                voids += st["stake_returned"] == 1.0
    assert fractions & {0.5, 0.333, 0.25, 0.667}, fractions
    assert voids > 0


def test_resettlement_changes_a_settled_market() -> None:
    s = scenario(resettle_probability=1.0)
    emissions = run(s, lifetime(s) + 1, updates=0)
    seen: Dict[str, List[Any]] = {}
    for e in emissions:
        if e.is_update and e.obj["msg"]["status"] == "settled":
            seen.setdefault(e.market.id, []).append([sel["settlement"] for sel in e.obj["msg"]["selections"]])
    resettled = {mid: v for mid, v in seen.items() if len(v) > 1}
    assert resettled
    assert any(v[0] != v[-1] for v in resettled.values())


def test_snapshot_order_and_include_finished() -> None:
    s = scenario()
    kinds = [o["type"] for o in s.snapshot(T0)]
    order = ["sport", "competition", "event", "market_type", "market"]
    assert kinds == sorted(kinds, key=order.index)
    live = s.snapshot(T0)
    everything = s.snapshot(T0, include_finished=True)
    assert {o["msg"]["stage"] for o in live if o["type"] == "event"} <= {"pre_play", "in_play"}
    assert "ended" in {o["msg"]["stage"] for o in everything if o["type"] == "event"}


def test_listeners_get_each_step() -> None:
    s = scenario()
    got: List[List[Emission]] = []
    s.add_listener(got.append)
    out = s.step(updates=4, now=T0, advance=False)
    assert got == [out] and len([e for e in out if e.is_update]) == 4
    s.remove_listener(got.append)
    s.step(now=T0)
    assert len(got) == 1


def test_send_time_stamp_is_optional_and_filled_in_at_write_time() -> None:
    plain = scenario()
    assert all("sim_sent_at" not in e.obj["msg"] for e in plain.step(updates=3, now=T0) if e.is_update)
    stamped = scenario(stamp_send_time=True)
    lines = [e.line for e in stamped.step(updates=3, now=T0, advance=False)]
    written = decode_line(stamp_send_time(lines[0], T0 + 1.5).rstrip(b"\n"))
    assert written.raw["msg"]["sim_sent_at"] == T0 + 1.5
    assert stamp_send_time(b"no mark here\n", T0) == b"no mark here\n"
    # The stored image stays the market's own.
    assert all("sim_sent_at" not in stamped.market_image(mid) for mid in stamped.market_ids())


def test_large_preset_has_thousands_of_markets() -> None:
    s = Scenario(ScenarioConfig.of_size("large"), clock=lambda: T0)
    assert len(s.market_ids()) > 2000
    assert len(s.event_ids()) == 15  # 3 tours x (4 live + 1 recently finished)


def test_hand_controls_emit_at_once() -> None:
    s = scenario()
    got: List[List[Emission]] = []
    s.add_listener(got.append)
    mid = next(m for m in s.market_ids(include_finished=False) if m.endswith("_winonly"))
    [suspended] = s.set_market_status(mid, "suspended", now=T0)
    assert suspended.obj["msg"]["status"] == "suspended" and s.market_image(mid)["status"] == "suspended"
    assert all(sel["status"] == "suspended" for sel in suspended.obj["msg"]["selections"])
    [settled] = s.settle_market(mid, now=T0)
    assert settled.obj["msg"]["status"] == "settled"
    assert sum(sel["settlement"]["payout_returned"] for sel in settled.obj["msg"]["selections"]) == 1.0
    [resettled] = s.settle_market(mid, now=T0)
    assert resettled.obj["msg"]["status"] == "settled"
    with pytest.raises(ValueError):
        s.set_market_status(mid, "open")
    [removed] = s.remove_markets([mid, "no-such-market"], now=T0)
    assert removed.kind == "remove_markets" and removed.obj["msg"] == [mid]
    assert mid not in s.market_ids()
    assert s.remove_markets(["no-such-market"]) == []
    assert [len(batch) for batch in got] == [1, 1, 1, 1, 0]
    # The moved market no longer takes price moves after it settled.
    assert all(e.market.id != mid for e in s.step(updates=50, now=T0, advance=False))


def test_a_removed_market_is_never_mentioned_again() -> None:
    s = scenario()
    event_id = s.event_ids(include_finished=False)[0]
    gone = [m for m in s.market_ids() if m.startswith(f"golf_{event_id[8:]}_")][:4]
    s.remove_markets(gone, now=T0)
    for e in run(s, lifetime(s)):
        mentioned = e.obj["msg"] if e.kind == "remove_markets" else [e.market.id] if e.market else []
        assert not set(gone) & set(mentioned), e.kind

"""A deterministic generator of ESA market streams, with its own model of the truth.

Tests use it two ways: the lines go to both imgfeed's cache and betfairlightweight's (the
cross-checks), and :attr:`MarketStreamGenerator.truth` -- maintained here by the simplest possible
rules, independently of the cache -- is what the cache must end up equal to.

What it produces looks like Betfair's market stream: a definition per market (optionally an Asian
handicap market whose runners share ids and differ by ``hc``), full-depth ladders (``atb``/``atl``)
that move by a few prices per delta with removals by size 0, best-offer level ladders derived from
them (``batb``/``batl``/``bdatb``/``bdatl``, with ``[level, 0, 0]`` rows when depth shrinks),
traded volume (``trd``, ``tv``, ``ltp``), starting prices (``spn``/``spf``/``spb``/``spl``),
definition changes (suspend, in-play, a runner removed, a runner added mid-market, close with
winner and bsp), conflated deltas (``con``), resubscription deltas (``RESUB_DELTA``) and segmented
images.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any, Dict, List, Optional, Tuple

TICKS = sorted(
    {round(1.01 + 0.01 * i, 2) for i in range(99)}
    | {round(2 + 0.02 * i, 2) for i in range(50)}
    | {round(3 + 0.05 * i, 2) for i in range(20)}
    | {round(4 + 0.1 * i, 1) for i in range(20)}
    | {float(6 + 0.2 * i) for i in range(20)}
    | {float(v) for v in (10, 11, 12, 13, 14, 15, 17, 19, 21, 23, 26, 29, 34, 40, 50, 70, 100, 1000)}
)
LEVELS = 3
Key = Tuple[int, float]


def line(obj: Dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _Runner:
    def __init__(self, rng: random.Random, key: Key) -> None:
        self.key = key
        self.center = rng.randrange(20, len(TICKS) - 40)
        self.atb: Dict[float, float] = {}
        self.atl: Dict[float, float] = {}
        self.trd: Dict[float, float] = {}
        self.spb: Dict[float, float] = {}
        self.spl: Dict[float, float] = {}
        self.levels: Dict[str, Dict[int, List[float]]] = {n: {} for n in ("batb", "batl", "bdatb", "bdatl")}
        self.ltp: Optional[float] = None
        self.tv: Optional[float] = None
        self.spn: Any = None
        self.spf: Any = None


class MarketStreamGenerator:
    """Markets whose ladders move; every emitted line is also applied to :attr:`truth`."""

    def __init__(self, seed: int = 0, markets: int = 1, runners: int = 6, handicap: bool = False) -> None:
        self.rng = random.Random(seed)
        self.clock = 1000
        self.pt = 1_700_000_000_000
        self.markets: Dict[str, Dict[str, Any]] = {}
        for m in range(markets):
            market_id = f"1.{200000000 + seed * 1000 + m}"
            keys: List[Key] = (
                [(100 + i // 2, (-0.5 if i % 2 else 0.5) * (1 + i // 2)) for i in range(runners)]
                if handicap and m == 0
                else [(10000 + seed * 100 + i, 0.0) for i in range(runners)]
            )
            self.markets[market_id] = {
                "definition": self._definition(keys),
                "runners": {key: _Runner(self.rng, key) for key in keys},
                "tv": 0.0,
            }
            for runner in self.markets[market_id]["runners"].values():
                self._seed_ladders(runner)

    # --- the model ----------------------------------------------------------------------------

    def _definition(self, keys: List[Key]) -> Dict[str, Any]:
        return {
            "status": "OPEN",
            "inPlay": False,
            "version": 1,
            "betDelay": 0,
            "complete": True,
            "eventId": "29000000",
            "eventTypeId": "7",
            "marketType": "WIN",
            "bettingType": "ODDS",
            "marketTime": "2024-05-01T14:00:00.000Z",
            "openDate": "2024-05-01T14:00:00.000Z",
            "numberOfWinners": 1,
            "numberOfActiveRunners": len(keys),
            "bspMarket": True,
            "runners": [
                {
                    "id": k[0],
                    **({"hc": k[1]} if k[1] else {}),
                    "status": "ACTIVE",
                    "sortPriority": i + 1,
                    "adjustmentFactor": 10.0,
                }
                for i, k in enumerate(keys)
            ],
        }

    def _seed_ladders(self, runner: _Runner) -> None:
        for offset in range(1, 8):
            runner.atb[TICKS[runner.center - offset]] = round(self.rng.uniform(2, 500), 2)
            runner.atl[TICKS[runner.center + offset]] = round(self.rng.uniform(2, 500), 2)
        for offset in range(-3, 4):
            runner.trd[TICKS[runner.center + offset]] = round(self.rng.uniform(1, 900), 2)
        runner.ltp = TICKS[runner.center]
        runner.tv = round(sum(runner.trd.values()), 2)
        runner.spn, runner.spf = round(runner.ltp * 1.1, 2), "NaN"
        runner.spb = {1.01: 50.0}
        runner.spl = {1000.0: 20.0}
        for side, book in (("b", runner.atb), ("l", runner.atl)):
            for name in (f"bat{side}", f"bdat{side}"):
                runner.levels[name] = self._best(book, side == "b")

    @staticmethod
    def _best(book: Dict[float, float], descending: bool) -> Dict[int, List[float]]:
        best = sorted(book.items(), reverse=descending)[:LEVELS]
        return {level: [level, price, size] for level, (price, size) in enumerate(best)}

    def _market_tv(self, market: Dict[str, Any]) -> float:
        return round(sum(r.tv or 0 for r in market["runners"].values()), 2)

    def _runner_image(self, runner: _Runner) -> Dict[str, Any]:
        rc: Dict[str, Any] = {"id": runner.key[0]}
        if runner.key[1]:
            rc["hc"] = runner.key[1]
        for name in ("atb", "atl", "trd", "spb", "spl"):
            rc[name] = [[p, s] for p, s in getattr(runner, name).items()]
        for name, levels in runner.levels.items():
            rc[name] = [list(row) for row in levels.values()]
        for name in ("ltp", "tv", "spn", "spf"):
            if getattr(runner, name) is not None:
                rc[name] = getattr(runner, name)
        return rc

    def market_image(self, market_id: str) -> Dict[str, Any]:
        market = self.markets[market_id]
        return {
            "id": market_id,
            "img": True,
            "tv": market["tv"],
            "marketDefinition": copy.deepcopy(market["definition"]),
            "rc": [self._runner_image(r) for r in market["runners"].values()],
        }

    # --- changes ------------------------------------------------------------------------------

    def _runner_delta(self, runner: _Runner, market: Dict[str, Any]) -> Dict[str, Any]:
        rng = self.rng
        rc: Dict[str, Any] = {"id": runner.key[0]}
        if runner.key[1]:
            rc["hc"] = runner.key[1]
        runner.center = max(10, min(len(TICKS) - 12, runner.center + rng.choice((-1, 0, 0, 1))))
        for name, book, side in (("atb", runner.atb, -1), ("atl", runner.atl, 1)):
            rows = []
            for _ in range(rng.randint(0, 3)):
                price = TICKS[runner.center + side * rng.randint(1, 9)]
                size = 0 if price in book and rng.random() < 0.4 else round(rng.uniform(2, 500), 2)
                rows.append([price, size])
                if size:
                    book[price] = size
                else:
                    book.pop(price, None)
            # prices that crossed the centre leave the book
            for price in [p for p in book if (p >= TICKS[runner.center]) == (side < 0)]:
                rows.append([price, 0])
                del book[price]
            if rows:
                rc[name] = rows
                for level_name in (f"bat{name[2]}", f"bdat{name[2]}"):
                    new = self._best(book, side < 0)
                    old = runner.levels[level_name]
                    level_rows = [row for level, row in new.items() if old.get(level) != row]
                    level_rows += [[level, 0, 0] for level in old if level not in new]
                    runner.levels[level_name] = new
                    if level_rows:
                        rc[level_name] = level_rows
        if rng.random() < 0.5:
            price = TICKS[runner.center + rng.choice((-1, 0, 1))]
            traded = round(runner.trd.get(price, 0) + rng.uniform(1, 50), 2)
            runner.trd[price] = traded
            runner.ltp, runner.tv = price, round(sum(runner.trd.values()), 2)
            rc.update(trd=[[price, traded]], ltp=price, tv=runner.tv)
            market["tv"] = self._market_tv(market)
        if rng.random() < 0.1:
            runner.spn = round(TICKS[runner.center] * rng.uniform(0.9, 1.1), 2)
            runner.spf = rng.choice((runner.spn, "NaN", "Infinity"))
            rc.update(spn=runner.spn, spf=runner.spf)
        if rng.random() < 0.05:
            price = TICKS[rng.randrange(len(TICKS))]
            size = 0 if price in runner.spb else round(rng.uniform(1, 99), 2)
            if size:
                runner.spb[price] = size
            else:
                runner.spb.pop(price, None)
            rc["spb"] = [[price, size]]
        return rc

    def _emit(self, mc: List[Dict[str, Any]], **envelope: Any) -> bytes:
        self.clock += 1
        self.pt += self.rng.randint(20, 400)
        return line({"op": "mcm", "id": 1, "clk": f"AAA{self.clock}", "pt": self.pt, **envelope, "mc": mc})

    def delta(self, markets: int = 1, conflated: bool = False) -> bytes:
        """One ordinary delta touching ``markets`` random markets (1 to 3 runners each)."""
        mc = [self._market_delta(mid, conflated) for mid in self.rng.sample(sorted(self.markets), markets)]
        return self._emit(mc)

    def _market_delta(self, market_id: str, conflated: bool = False) -> Dict[str, Any]:
        market = self.markets[market_id]
        runners = list(market["runners"].values())
        change: Dict[str, Any] = {"id": market_id}
        picked = self.rng.sample(runners, min(len(runners), self.rng.randint(1, 3)))
        change["rc"] = [self._runner_delta(r, market) for r in picked]
        change["tv"] = market["tv"]
        if conflated:
            change["con"] = True
        return change

    def definition_change(self, market_id: str, **fields: Any) -> bytes:
        """A new whole definition for one market, with ``fields`` changed (version + 1)."""
        definition = self.markets[market_id]["definition"]
        definition.update(fields)
        definition["version"] += 1
        return self._emit([{"id": market_id, "marketDefinition": copy.deepcopy(definition)}])

    def remove_runner(self, market_id: str) -> bytes:
        definition = self.markets[market_id]["definition"]
        runner = next((r for r in definition["runners"] if r["status"] == "ACTIVE"), None)
        if runner is not None:  # (with none left active, only the version moves)
            runner.update(status="REMOVED", adjustmentFactor=12.5, removalDate="2024-05-01T13:55:00.000Z")
            definition["numberOfActiveRunners"] -= 1
        return self.definition_change(market_id)

    def add_runner(self, market_id: str, before_definition: bool = True) -> List[bytes]:
        """A runner added mid-market: prices first (unknown runner), then the definition, or not."""
        market = self.markets[market_id]
        key = (max(k[0] for k in market["runners"]) + 1, 0.0)
        runner = market["runners"][key] = _Runner(self.rng, key)
        self._seed_ladders(runner)
        market["tv"] = self._market_tv(market)
        prices = self._emit([{"id": market_id, "tv": market["tv"], "rc": [self._runner_image(runner)]}])
        market["definition"]["runners"].append(
            {
                "id": key[0],
                "status": "ACTIVE",
                "sortPriority": len(market["runners"]),
                "adjustmentFactor": 1.0,
            }
        )
        definition = self.definition_change(market_id)
        return [prices, definition] if before_definition else [definition, prices]

    def close(self, market_id: str) -> bytes:
        """The market closes: the first active runner wins, the others lose, all get a bsp."""
        definition = self.markets[market_id]["definition"]
        winner_picked = False
        for i, runner in enumerate(definition["runners"]):
            if runner["status"] == "ACTIVE":
                runner["status"] = "LOSER" if winner_picked else "WINNER"
                winner_picked = True
            runner["bsp"] = round(2 + i * 1.5, 2)
        return self.definition_change(
            market_id, status="CLOSED", inPlay=True, bspReconciled=True, complete=True
        )

    def clear_traded(self, market_id: str) -> bytes:
        """``trd: []`` for the first runner: clears its traded ladder (betfairlightweight's rule)."""
        runner = next(iter(self.markets[market_id]["runners"].values()))
        runner.trd = {}
        rc = {"id": runner.key[0], **({"hc": runner.key[1]} if runner.key[1] else {}), "trd": []}
        return self._emit([{"id": market_id, "rc": [rc]}])

    # --- images and resubscription ------------------------------------------------------------

    def image(
        self, segments: int = 1, ct: str = "SUB_IMAGE", market_ids: Optional[List[str]] = None
    ) -> List[bytes]:
        """The full state as one image message, or split into ``segments`` segmented messages."""
        mc = [self.market_image(mid) for mid in (market_ids or list(self.markets))]
        envelope = {"ct": ct, "initialClk": f"INIT{self.clock}", "heartbeatMs": 5000, "conflateMs": 0}
        if segments <= 1:
            return [self._emit(mc, **envelope)]
        bounds = sorted(self.rng.sample(range(1, len(mc)), segments - 1)) if len(mc) >= segments else []
        edges = [0] + bounds + [len(mc)]
        parts = [mc[edges[i] : edges[i + 1]] for i in range(len(edges) - 1)]
        out = []
        for i, part in enumerate(parts):
            kind = "SEG_START" if i == 0 else "SEG_END" if i == len(parts) - 1 else "SEG"
            out.append(self._emit(part, **envelope, segmentType=kind))
        return out

    def resub_delta(self, withheld: List[bytes], imaged: Tuple[str, ...] = ()) -> bytes:
        """The ``RESUB_DELTA`` after a drop: ``withheld`` deltas merged, ``imaged`` markets as images."""
        merged: Dict[str, Dict[str, Any]] = {}
        for raw in withheld:
            for change in json.loads(raw)["mc"]:
                target = merged.setdefault(change["id"], {"id": change["id"], "rc": []})
                target["rc"].extend(change.get("rc", []))
                for key in ("tv", "marketDefinition"):
                    if key in change:
                        target[key] = change[key]
        mc = [self.market_image(mid) if mid in imaged else c for mid, c in merged.items()]
        mc += [self.market_image(mid) for mid in imaged if mid not in merged]
        return self._emit(mc, ct="RESUB_DELTA")

    def heartbeat(self) -> bytes:
        return self._emit([], ct="HEARTBEAT")

    # --- the truth ----------------------------------------------------------------------------

    def truth(self) -> Dict[str, Dict[str, Any]]:
        """market id -> {"status", "tv", "runners": {(id, hc): {ladders and scalars}}}."""
        out: Dict[str, Dict[str, Any]] = {}
        for market_id, market in self.markets.items():
            statuses = {(r["id"], r.get("hc") or 0.0): r["status"] for r in market["definition"]["runners"]}
            out[market_id] = {
                "status": market["definition"]["status"],
                "tv": market["tv"],
                "runners": {
                    key: {
                        "status": statuses.get(key),
                        "atb": sorted(r.atb.items(), reverse=True),
                        "atl": sorted(r.atl.items()),
                        "trd": sorted(r.trd.items()),
                        "spb": sorted(r.spb.items(), reverse=True),
                        "spl": sorted(r.spl.items()),
                        **{
                            n: [(row[1], row[2]) for _, row in sorted(lv.items())]
                            for n, lv in r.levels.items()
                        },
                        "ltp": r.ltp,
                        "tv": r.tv,
                        "spn": r.spn,
                        "spf": r.spf,
                    }
                    for key, r in market["runners"].items()
                },
            }
        return out

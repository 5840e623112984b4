"""The emulated account's orders on one market: placed, matched, cancelled, lapsed.

Contract: an :class:`OrderBook` holds every order the account placed on one market (executable
``E`` and execution-complete ``EC``) with the matched positions, and renders them with
:meth:`OrderBook.render` as a canonical ``OrderMarketChange`` image (``fullImage`` true): each
runner's ``uo`` orders in full, ``mb`` / ``ml`` (matched backs / lays by price) and ``smc`` (the
same per customer strategy ref). The scenario diffs successive images to get the ``ocm`` deltas;
filtering (E-only images, strategy refs, positions) is the subscription's business.

Orders follow Betfair's fields: ``p``/``s`` placed price and size, ``sm``/``sr``/``sl``/``sc``/
``sv`` matched, remaining, lapsed, cancelled and voided, ``pd``/``md``/``cd``/``ld`` dates in epoch
milliseconds, ``avp`` average price matched, ``rfo``/``rfs`` customer order and strategy refs
(empty string when not set, as the specification says), ``pt`` persistence (``L`` lapses at the
off), ``ot`` order type. All randomness comes from the ``random.Random`` passed in.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Optional

from imgfeed.feeds.betfair.emulator.markets import MarketModel
from imgfeed.feeds.betfair.emulator.merge import Change
from imgfeed.feeds.betfair.emulator.prices import money

__all__ = ["OrderBook", "ACCOUNT_ID", "STRATEGY_REFS"]

#: The emulated account.
ACCOUNT_ID = 1234567
#: Customer strategy refs the account's orders use ("" is an order without one).
STRATEGY_REFS = ("", "emu-strategy-a", "emu-strategy-b")


class OrderBook:
    """The account's orders on one market. See the module docstring."""

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.closed = False
        self.orders: Dict[str, Dict[str, Any]] = {}
        self._runner_of: Dict[str, int] = {}
        #: selection id -> side ("mb" / "ml") -> price -> matched size.
        self._matched: Dict[int, Dict[str, Dict[float, float]]] = {}
        #: selection id -> strategy ref -> side -> price -> matched size.
        self._by_strategy: Dict[int, Dict[str, Dict[str, Dict[float, float]]]] = {}

    def __repr__(self) -> str:
        live = sum(1 for o in self.orders.values() if o["status"] == "E")
        return f"<OrderBook {self.market_id} orders={len(self.orders)} executable={live}>"

    def executable(self) -> List[Dict[str, Any]]:
        return [o for o in self.orders.values() if o["status"] == "E"]

    # --- events ----------------------------------------------------------------------------------

    def step(self, rng: random.Random, market: MarketModel, bet_id: int, now: float) -> bool:
        """One order event (place, match part or all, cancel); returns whether ``bet_id`` was used."""
        live = [o for o in self.executable() if self._runner_active(market, o["id"])]
        if market.is_open and (not live or rng.random() < 0.4):
            return self._place(rng, market, bet_id, now)
        if not live:
            return False
        order = rng.choice(live)
        roll = rng.random()
        if roll < 0.7 and market.is_open:
            amount = order["sr"] if roll < 0.2 else money(order["sr"] * rng.uniform(0.2, 0.8))
            self._match(order, max(amount, 0.01), now)
        elif roll >= 0.7:
            order.update(sc=money(order["sc"] + order["sr"]), sr=0.0, cd=_ms(now), status="EC")
        return False

    def lapse(
        self,
        now: float,
        persistence: Optional[str] = None,
        selection_id: Optional[int] = None,
        reason: Optional[str] = None,
    ) -> None:
        """Lapse executable orders (all, those of one persistence type, or of one runner)."""
        for order in self.executable():
            if persistence is not None and order.get("pt") != persistence:
                continue
            if selection_id is not None and self._runner_of[order["id"]] != selection_id:
                continue
            order.update(sl=money(order["sl"] + order["sr"]), sr=0.0, ld=_ms(now), status="EC")
            if reason is not None:
                order["lsrc"] = reason

    def close(self, now: float) -> None:
        """The market closed: what is still executable lapses, and the market is flagged closed."""
        self.lapse(now, reason="MKT_UNKNOWN")
        self.closed = True

    def _runner_active(self, market: MarketModel, bet_id: str) -> bool:
        sid = self._runner_of[bet_id]
        return any(r.selection_id == sid and r.status == "ACTIVE" for r in market.runners)

    def _place(self, rng: random.Random, market: MarketModel, bet_id: int, now: float) -> bool:
        runners = [r for r in market.active_runners() if r.back and r.lay]
        if not runners:
            return False
        runner = rng.choice(runners)
        side = rng.choice("BL")
        price = max(runner.back) if side == "B" else min(runner.lay)
        size = money(rng.choice((2, 5, 10, 20, 50)) * 1.0)
        bid = str(bet_id)
        self.orders[bid] = {
            "id": bid,
            "p": price,
            "s": size,
            "side": side,
            "status": "E",
            "pt": rng.choice(("L", "P")),
            "ot": "L",
            "pd": _ms(now),
            "sm": 0.0,
            "sr": size,
            "sl": 0.0,
            "sc": 0.0,
            "sv": 0.0,
            "rac": "",
            "rc": "REG_GGC",
            "rfo": f"emu-{bet_id}",
            "rfs": rng.choice(STRATEGY_REFS),
        }
        self._runner_of[bid] = runner.selection_id
        return True

    def _match(self, order: Dict[str, Any], amount: float, now: float) -> None:
        amount = min(amount, order["sr"])
        sm = money(order["sm"] + amount)
        sr = money(order["sr"] - amount)
        order.update(sm=sm, sr=sr, md=_ms(now), avp=order["p"])
        if sr <= 0:
            order.update(sr=0.0, status="EC")
        sid = self._runner_of[order["id"]]
        key = "mb" if order["side"] == "B" else "ml"
        ladder = self._matched.setdefault(sid, {}).setdefault(key, {})
        ladder[order["p"]] = money(ladder.get(order["p"], 0.0) + amount)
        if order["rfs"]:
            per = self._by_strategy.setdefault(sid, {}).setdefault(order["rfs"], {}).setdefault(key, {})
            per[order["p"]] = money(per.get(order["p"], 0.0) + amount)

    # --- rendering -------------------------------------------------------------------------------

    def render(self) -> Change:
        """The canonical image of the account's orders on this market (``fullImage`` true)."""
        runners: Dict[int, Change] = {}
        for order in self.orders.values():
            sid = self._runner_of[order["id"]]
            runners.setdefault(sid, {"id": sid, "uo": []})["uo"].append(dict(order))
        for sid, sides in self._matched.items():
            runner = runners.setdefault(sid, {"id": sid, "uo": []})
            for key, ladder in sides.items():
                runner[key] = [[p, s] for p, s in sorted(ladder.items())]
        for sid, refs in self._by_strategy.items():
            runner = runners.setdefault(sid, {"id": sid, "uo": []})
            runner["smc"] = {
                ref: {key: [[p, s] for p, s in sorted(ladder.items())] for key, ladder in sides.items()}
                for ref, sides in refs.items()
            }
        out: Change = {"id": self.market_id, "accountId": ACCOUNT_ID, "fullImage": True}
        if self.closed:
            out["closed"] = True
        out["orc"] = [runners[sid] for sid in sorted(runners)]
        return out


def _ms(now: float) -> int:
    """A date as the order stream sends it: epoch milliseconds (whole seconds, as Betfair's)."""
    return int(now) * 1000

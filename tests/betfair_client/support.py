"""Helpers of the Betfair client suite: a recording handler, books in comparable form, waits.

:func:`imgfeed_books`, :func:`emulator_books` and :func:`bflw_books` put a market's state in one
shape (runner status, ltp, tv, spn, spf, every price ladder as sorted ``(price, size)`` pairs,
every level ladder as ``(price, size)`` pairs in level order), so that the three can be compared
with ``==``.
"""

from __future__ import annotations

from typing import Any, Dict, List

from imgfeed.betfair import BetfairClient, BetfairHandler, MarketBook
from imgfeed.feeds.betfair.emulator import EmulatorServer, MarketDataFilter, MarketFilter
from tests.calls import CallRecorder, recorder_of
from tests.calls import called as called  # re-exported: the suite imports it from here

WAIT = 10.0

PRICE = ("atb", "atl", "trd", "spb", "spl")
LEVEL = ("batb", "batl", "bdatb", "bdatl")
_FIELDS = {
    "atb": "available_to_back",
    "atl": "available_to_lay",
    "trd": "traded_volume",
    "spb": "starting_price_back",
    "spl": "starting_price_lay",
    "batb": "best_available_to_back",
    "batl": "best_available_to_lay",
    "bdatb": "best_display_available_to_back",
    "bdatl": "best_display_available_to_lay",
}


class Recorder(CallRecorder, BetfairHandler):
    """Records every Betfair callback as ``(method, args)``, in order, and lets a test wait for one."""

    noisy = "on_market_book"
    noisy_label = "books"
    timeout = WAIT


recorder_of(Recorder, BetfairHandler)


def _levels(ladder: Any) -> List[tuple]:
    return [(p, s) for p, s in ladder]


def book_shape(book: MarketBook) -> Dict[str, Any]:
    runners = {}
    for r in book.runners:
        entry: Dict[str, Any] = {
            "status": r.status,
            "ltp": r.last_price_traded,
            "tv": r.total_matched or 0,
            "spn": r.starting_price_near,
            "spf": r.starting_price_far,
        }
        for key in PRICE:
            entry[key] = sorted((p, s) for p, s in getattr(r, _FIELDS[key]))
        for key in LEVEL:
            entry[key] = _levels(getattr(r, _FIELDS[key]))
        runners[(r.selection_id, r.handicap)] = entry
    return {
        "status": book.status,
        "inplay": book.inplay,
        "version": book.version,
        "tv": book.total_matched or 0,
        "runners": runners,
    }


def imgfeed_books(client: BetfairClient, market_ids: List[str]) -> Dict[str, Any]:
    return {m: book_shape(client.markets.book(m)) for m in market_ids}


def emulator_books(server: EmulatorServer, market_ids: List[str], data_filter: Dict[str, Any]) -> Dict[str, Any]:
    """The books the emulator's own state says a subscriber with ``data_filter`` must have."""
    columns = MarketDataFilter.from_json(data_filter)
    out = {}
    with server.scenario.lock:
        for market_id in market_ids:
            image = columns.project(server.scenario.markets_log.image(market_id)) or {}
            definition = image.get("marketDefinition", {})
            runners: Dict[tuple, Dict[str, Any]] = {}
            for rd in definition.get("runners", []):
                runners[(rd["id"], rd.get("hc", 0))] = {"status": rd["status"]}
            for rc in image.get("rc", []):
                entry = runners.setdefault((rc["id"], rc.get("hc", 0)), {"status": None})
                entry.update(ltp=rc.get("ltp"), tv=rc.get("tv", 0), spn=rc.get("spn"), spf=rc.get("spf"))
                for key in PRICE:
                    entry[key] = sorted((row[0], row[1]) for row in rc.get(key, []) if row[1])
                for key in LEVEL:
                    entry[key] = [(row[1], row[2]) for row in sorted(rc.get(key, [])) if row[2]]
            for entry in runners.values():
                for key in ("ltp", "spn", "spf"):
                    entry.setdefault(key, None)
                entry.setdefault("tv", 0)
                for key in PRICE + LEVEL:
                    entry.setdefault(key, [])
            out[market_id] = {
                "status": definition.get("status"),
                "inplay": definition.get("inPlay"),
                "version": definition.get("version"),
                "tv": image.get("tv", 0),
                "runners": runners,
            }
    return out


def bflw_books(listener: Any, market_ids: List[str]) -> Dict[str, Any]:
    """betfairlightweight's caches, in the same shape (its ladders keep level numbers as keys)."""

    def price_rows(available: Any) -> List[tuple]:
        return sorted((row[0], row[1]) for row in available.order_book.values())

    def level_rows(available: Any) -> List[tuple]:
        return [(row[1], row[2]) for row in sorted(available.order_book.values()) if row[2]]

    out = {}
    for market_id in market_ids:
        cache = listener.stream._caches[market_id]
        runners = {}
        for r in cache.runners:
            entry: Dict[str, Any] = {
                "status": r.definition.get("status"),
                "ltp": r.last_price_traded,
                "tv": r.total_matched or 0,
                "spn": r.starting_price_near,
                "spf": r.starting_price_far,
                "atb": price_rows(r.available_to_back),
                "atl": price_rows(r.available_to_lay),
                "trd": price_rows(r.traded),
                "spb": price_rows(r.starting_price_back),
                "spl": price_rows(r.starting_price_lay),
                "batb": level_rows(r.best_available_to_back),
                "batl": level_rows(r.best_available_to_lay),
                "bdatb": level_rows(r.best_display_available_to_back),
                "bdatl": level_rows(r.best_display_available_to_lay),
            }
            runners[(r.selection_id, float(r.handicap or 0))] = entry
        definition = cache.market_definition
        out[market_id] = {
            "status": definition.get("status"),
            "inplay": definition.get("inPlay"),
            "version": definition.get("version"),
            "tv": cache.total_matched or 0,
            "runners": runners,
        }
    return out


def subscribed_markets(server: EmulatorServer, market_filter: Dict[str, Any]) -> List[str]:
    rows = MarketFilter.from_json(market_filter)
    return [i.market_id for i in server.scenario.market_infos() if rows.matches(i)]


def live_session(server: EmulatorServer, kind: str = "mcm") -> Any:
    """The (first) open session of the emulator with a ``kind`` subscription."""
    return next(s for s in server.sessions() if s.subscription(kind) is not None)


def caught_up(server: EmulatorServer, client: BetfairClient, kind: str = "mcm") -> None:
    """Wait until the emulator wrote everything and the client applied up to the last clk written."""
    assert server.wait_for_flush(WAIT)
    session = next(s for s in server.sessions() if s.subscription(kind) is not None)
    view = client.markets if kind == "mcm" else client.orders
    expected = session.last_clk(kind)
    assert view.wait_until(lambda: view.clocks.get("clk") == expected, WAIT), (view.clocks, expected)


def assert_same_books(server: EmulatorServer, client: BetfairClient, market_filter: Dict[str, Any],
                      data_filter: Dict[str, Any]) -> List[str]:
    market_ids = subscribed_markets(server, market_filter)
    assert market_ids
    expected = emulator_books(server, market_ids, data_filter)
    actual = imgfeed_books(client, market_ids)
    for market_id in market_ids:
        assert actual[market_id] == expected[market_id], market_id
    return market_ids

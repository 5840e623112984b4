"""betfairlightweight as a real peer: feed it the same lines, read back its caches.

betfairlightweight (bflw, MIT) is a test-only dependency. Its historical pipeline is a
``StreamListener`` whose ``on_data`` takes one line; registering the stream with id 0 makes it
accept messages of any subscription id, as its historical stream does.

The states compared are normalised to one shape for both sides (see :func:`imgfeed_state`):
ladders as lists of ``(price, size)`` in each side's published order, starting prices as floats
(``"NaN"`` -> nan), and a traded volume never sent as 0 (bflw's default, where imgfeed says None).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Iterable

import betfairlightweight

from imgfeed.feeds.betfair.cache.convert import starting_price
from imgfeed.feeds.betfair.cache.markets import MarketCache

LADDERS = {
    "atb": "available_to_back",
    "atl": "available_to_lay",
    "trd": "traded",
    "spb": "starting_price_back",
    "spl": "starting_price_lay",
    "batb": "best_available_to_back",
    "batl": "best_available_to_lay",
    "bdatb": "best_display_available_to_back",
    "bdatl": "best_display_available_to_lay",
}
BOOK_FIELDS = {
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


def market_listener() -> Any:
    listener = betfairlightweight.StreamListener(lightweight=True, max_latency=None)
    listener.register_stream(0, "marketSubscription")
    return listener


def feed(listener: Any, lines: Iterable[bytes]) -> None:
    for raw in lines:
        listener.on_data(raw.decode())


def _sp(value: Any) -> Any:
    value = starting_price(value)
    return "nan" if value is not None and math.isnan(value) else value


def bflw_state(listener: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for market_id, market in listener.stream._caches.items():
        runners = {}
        for key, runner in market.runner_dict.items():
            state: Dict[str, Any] = {
                "status": runner._definition_status,
                "ltp": runner.last_price_traded,
                "tv": runner.total_matched,
                "spn": _sp(runner.starting_price_near),
                "spf": _sp(runner.starting_price_far),
            }
            for wire, attr in LADDERS.items():
                state[wire] = [(d["price"], d["size"]) for d in getattr(runner, attr).serialised]
            runners[(key[0], float(key[1]))] = state
        out[market_id] = {"status": market._definition_status, "tv": market.total_matched, "runners": runners}
    return out


def imgfeed_state(cache: MarketCache) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for market_id in cache.market_ids():
        book = cache.book(market_id)
        runners = {}
        for runner in book.runners:
            state: Dict[str, Any] = {
                "status": runner.status,
                "ltp": runner.last_price_traded,
                "tv": 0 if runner.total_matched is None else runner.total_matched,
                "spn": _sp(runner.starting_price_near),
                "spf": _sp(runner.starting_price_far),
            }
            for wire, field in BOOK_FIELDS.items():
                state[wire] = [tuple(level) for level in getattr(runner, field)]
            runners[(runner.selection_id, runner.handicap)] = state
        out[market_id] = {
            "status": book.status,
            "tv": 0 if book.total_matched is None else book.total_matched,
            "runners": runners,
        }
    return out

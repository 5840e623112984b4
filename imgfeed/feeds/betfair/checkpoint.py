"""The caches as wire lines: a synthetic ``SUB_IMAGE`` that rebuilds them in a fresh client.

Contract: :func:`checkpoint_lines` returns at most two CRLF lines, an ``mcm`` and an ``ocm``, each
``ct: SUB_IMAGE`` with the stream's subscription ``id`` and its committed ``initialClk`` and
``clk``; every market (every order market) is one change with ``img: true`` (``fullImage: true``)
holding its whole state; a stream whose data is stale (``status: 503``) gives its line that
``status`` too, so that the fresh client is as suspended as the stream was. Fed to a fresh client
of this feed after its session came up (a fan-out's late joiner), they rebuild the same books:
the same definition, runner status, ``ltp``, ``tv``, ``spn``/``spf``, every price ladder as
``[price, size]`` and every level ladder as ``[level, price, size]``, the market's ``tv``, and the
orders with their matched ladders and strategy matches. A stream with no subscription (and no data) gives no line.

Called under the adapter's lock (:meth:`~imgfeed.feeds.betfair.adapter.BetfairAdapter.checkpoint`);
this module reads the caches' state (a friend of :mod:`.cache`) and changes nothing.

Known limits: a runner that a newer market definition no longer lists keeps, in the cache, the
status of the last definition that did; the checkpoint's definition is the newer one, so that
runner comes back without a definition. ``con`` and each market's own ``pt``/``clk`` are not
carried: the image has one ``pt``, the newest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from imgfeed.feeds.betfair.cache.ladders import LevelLadder, PriceLadder
from imgfeed.feeds.betfair.protocol.messages import STALE_STATUS
from imgfeed.framing import encode_line

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.betfair.sides import MarketSide, OrderSide

__all__ = ["checkpoint_lines", "market_changes", "order_changes"]


def _ladder(ladder: Any) -> List[List[Any]]:
    if isinstance(ladder, PriceLadder):
        return [[price, size] for price, size in sorted(ladder.sizes().items())]
    assert isinstance(ladder, LevelLadder)
    return [[level, row.price, row.size] for level, row in sorted(ladder.levels().items())]


def market_changes(cache: Any) -> List[Dict[str, Any]]:
    """Every cached market as one ``img: true`` market change."""
    out: List[Dict[str, Any]] = []
    for state in list(cache._markets.values()):
        change: Dict[str, Any] = {"id": state.market_id, "img": True}
        if state.definition is not None:
            change["marketDefinition"] = state.definition
        if state.tv is not None:
            change["tv"] = state.tv
        runners = []
        for (selection_id, handicap), runner in state.runners.items():
            rc: Dict[str, Any] = {"id": selection_id}
            if handicap:
                rc["hc"] = handicap
            rc.update(runner.scalars)
            for name, ladder in runner.ladders.items():
                rows = _ladder(ladder)
                if rows:
                    rc[name] = rows
            runners.append(rc)
        if runners:
            change["rc"] = runners
        out.append(change)
    return out


def order_changes(cache: Any) -> List[Dict[str, Any]]:
    """Every market of the order cache as one ``fullImage: true`` order market change."""
    out: List[Dict[str, Any]] = []
    for market in list(cache._markets.values()):
        runners = []
        for (selection_id, handicap), runner in market.runners.items():
            orc: Dict[str, Any] = {"id": selection_id, "fullImage": True}
            if handicap:
                orc["hc"] = handicap
            if runner.orders:
                orc["uo"] = list(runner.orders.values())
            for side in ("mb", "ml"):
                rows = _ladder(runner.matched[side])
                if rows:
                    orc[side] = rows
            if runner.strategies:
                orc["smc"] = {
                    ref: {side: _ladder(ladders[side]) for side in ("mb", "ml")}
                    for ref, ladders in runner.strategies.items()
                }
            runners.append(orc)
        change: Dict[str, Any] = {"id": market.market_id, "fullImage": True, "orc": runners}
        if market.closed:
            change["closed"] = True
        out.append(change)
    return out


def _envelope(op: str, stream: Any, pt: Optional[int], key: str, changes: List[Dict[str, Any]]) -> bytes:
    message: Dict[str, Any] = {"op": op, "ct": "SUB_IMAGE"}
    if stream.subscription_id is not None:
        message["id"] = stream.subscription_id
    for wire, value in (("initialClk", stream.initial_clk), ("clk", stream.clk), ("pt", pt)):
        if value is not None:
            message[wire] = value
    if stream.heartbeat_ms is not None:
        message["heartbeatMs"] = stream.heartbeat_ms
    if stream.is_stale:
        message["status"] = STALE_STATUS  # the data is as stale as the stream it was taken from
    message[key] = changes
    return encode_line(message, b"\r\n")


def checkpoint_lines(markets: "MarketSide", orders: "OrderSide") -> List[bytes]:
    """The lines that rebuild both caches (module docstring)."""
    lines: List[bytes] = []
    if markets.request is not None or len(markets.cache):
        changes = market_changes(markets.cache)
        pt = max((m.pt for m in markets.cache._markets.values() if m.pt is not None), default=None)
        lines.append(_envelope("mcm", markets.stream, pt, "mc", changes))
    if orders.request is not None or len(orders.cache):
        changes = order_changes(orders.cache)
        pt = max((m.pt for m in orders.cache._markets.values() if m.pt is not None), default=None)
        lines.append(_envelope("ocm", orders.stream, pt, "oc", changes))
    return lines

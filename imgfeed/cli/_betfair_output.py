"""How the command line prints a Betfair stream: one JSON object per line, or one readable line per book.

Contract of ``--format jsonl`` with ``--feed betfair`` (stdout only; logs go to stderr):

- a market book: ``{"kind": "market_book", "received_at", "market_id", "status", "inplay",
  "total_matched", "version", "conflated", "publish_time", "clk", "runners": [{"selection_id",
  "handicap", "status", "ltp", "total_matched", "atb", "atl", "batb", "batl", "bdatb", "bdatl",
  "trd", "spb", "spl", "spn", "spf"}]}``, each ladder a list of ``[price, size]`` best first and
  only the ladders that hold something: the whole market after the change, never a delta;
- an order book: ``{"kind": "order_book", "market_id", "closed", "orders": [{"bet_id",
  "selection_id", "side", "price", "size", "status", "size_matched", "size_remaining", ...}]}``;
- ``{"kind": "market_status", "market_id", "tradable"}`` when a market's tradability changes;
- ``{"kind": "status", "id", "status_code", "error_code", "error_message", "connection_closed"}``;
- the lifecycle events of ``imgfeed.cli._output`` (``connected`` with the ``session_id``, which is
  Betfair's connectionId, ``disconnected``, ``suspended_all``, ``resumed_all``, ``protocol_error``).

``pretty`` is for people: a book is one line with the market's state and the best back and lay
of its first runners; a market is shown as tradable only when the client says it is.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from imgfeed.cli._output import LinePrinter, event_json, iso_utc, protocol_error_json
from imgfeed.cli._pretty import describe_disconnect
from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.books import Ladder, MarketBook, OrderBook, RunnerBook
from imgfeed.feeds.betfair.handler import BetfairHandler
from imgfeed.feeds.betfair.protocol.messages import StatusMessage
from imgfeed.runtime.events import Disconnected, DisconnectReason, Session, SuspendReason

__all__ = ["market_book_json", "order_book_json", "BetfairPrinter", "BetfairStatusLog", "best"]

_LADDERS = {
    "atb": "available_to_back",
    "atl": "available_to_lay",
    "batb": "best_available_to_back",
    "batl": "best_available_to_lay",
    "bdatb": "best_display_available_to_back",
    "bdatl": "best_display_available_to_lay",
    "trd": "traded_volume",
    "spb": "starting_price_back",
    "spl": "starting_price_lay",
}
#: How many runners a pretty line shows.
_PRETTY_RUNNERS = 3


def _rows(ladder: Ladder) -> List[List[float]]:
    return [[level.price, level.size] for level in ladder]


def _runner_json(runner: RunnerBook) -> Dict[str, Any]:
    obj: Dict[str, Any] = {
        "selection_id": runner.selection_id,
        "handicap": runner.handicap,
        "status": runner.status,
        "ltp": runner.last_price_traded,
        "total_matched": runner.total_matched,
    }
    for wire, field in _LADDERS.items():
        ladder = getattr(runner, field)
        if ladder:
            obj[wire] = _rows(ladder)
    for wire, value in (("spn", runner.starting_price_near), ("spf", runner.starting_price_far)):
        if value is not None:
            obj[wire] = value if value == value and abs(value) != float("inf") else str(value)
    return obj


def market_book_json(book: MarketBook) -> Dict[str, Any]:
    return {
        "kind": "market_book",
        "received_at": iso_utc(),
        "market_id": book.market_id,
        "status": book.status,
        "inplay": book.inplay,
        "total_matched": book.total_matched,
        "version": book.version,
        "conflated": book.conflated,
        "publish_time": None if book.publish_time is None else book.publish_time.isoformat(),
        "clk": book.clk,
        "runners": [_runner_json(r) for r in book.runners],
    }


def order_book_json(book: OrderBook) -> Dict[str, Any]:
    orders = []
    for order in book.orders:
        orders.append(
            {
                "bet_id": order.bet_id,
                "selection_id": order.selection_id,
                "handicap": order.handicap,
                "side": order.side,
                "price": order.price,
                "size": order.size,
                "status": order.status,
                "size_matched": order.size_matched,
                "size_remaining": order.size_remaining,
                "average_price_matched": order.average_price_matched,
                "customer_strategy_ref": order.customer_strategy_ref,
            }
        )
    return {"kind": "order_book", "received_at": iso_utc(), "market_id": book.market_id,
            "closed": book.closed, "orders": orders}


def best(ladder: Ladder) -> str:
    return "-" if not ladder else f"{ladder[0].price:g}"


def _back_lay(runner: RunnerBook) -> str:
    back = runner.best_available_to_back or runner.best_display_available_to_back or runner.available_to_back
    lay = runner.best_available_to_lay or runner.best_display_available_to_lay or runner.available_to_lay
    ltp = "" if runner.last_price_traded is None else f" ltp {runner.last_price_traded:g}"
    return f"{runner.selection_id} {best(back)}/{best(lay)}{ltp}"


class BetfairPrinter(BetfairHandler):
    """Prints books, statuses and lifecycle events, pretty or as JSON lines (module docstring)."""

    def __init__(self, printer: LinePrinter, jsonl: bool) -> None:
        self.printer = printer
        self.jsonl = jsonl

    def _event(self, kind: str, text: str, **details: Any) -> None:
        if self.jsonl:
            self.printer.json(event_json(kind, **details))
        else:
            self.printer.line(text)

    def on_market_book(self, book: MarketBook) -> None:
        if self.jsonl:
            self.printer.json(market_book_json(book))
            return
        state = book.status or "?"
        if book.inplay:
            state += " in-play"
        tv = "" if book.total_matched is None else f" tv {book.total_matched:g}"
        runners = " | ".join(_back_lay(r) for r in book.runners[:_PRETTY_RUNNERS])
        more = f" (+{len(book.runners) - _PRETTY_RUNNERS})" if len(book.runners) > _PRETTY_RUNNERS else ""
        con = " conflated" if book.conflated else ""
        self.printer.line(f"{book.market_id} {state}{tv}{con}  {runners}{more}")

    def on_order_book(self, book: OrderBook) -> None:
        if self.jsonl:
            self.printer.json(order_book_json(book))
            return
        orders = ", ".join(
            f"{o.bet_id} {o.side} {o.size:g}@{o.price:g} {o.status}" for o in book.orders if o.price and o.size
        )
        self.printer.line(f"orders {book.market_id}{' closed' if book.closed else ''}: {orders or 'none'}")

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        self._event("market_status", f"{market_id} {'tradable' if tradable else 'NOT tradable'}",
                    market_id=market_id, tradable=tradable)

    def on_status(self, status: StatusMessage) -> None:
        if status.is_success and not self.jsonl:
            return
        self._event(
            "status",
            f"status {status.error_code}: {status.error_message}",
            id=status.id,
            status_code=status.status_code,
            error_code=status.error_code,
            error_message=status.error_message,
            connection_closed=status.connection_closed,
        )

    def on_connect(self, session: Session) -> None:
        self._event("connected", f"connected to {session.address}, connectionId {session.session_id}",
                    session_id=session.session_id, address=session.address, number=session.number)

    def on_disconnect(self, reason: Disconnected) -> None:
        self._event("disconnected", describe_disconnect(reason), reason=reason.reason, detail=reason.detail,
                    will_retry=reason.will_retry, retry_in=reason.retry_in, code=reason.code)

    def on_suspend_all(self, reason: SuspendReason) -> None:
        self._event("suspended_all", f"ALL MARKETS SUSPENDED: {reason}", reason=reason)

    def on_resume_all(self) -> None:
        self._event("resumed_all", "suspension lifted")

    def on_protocol_error(self, error: ProtocolError) -> None:
        if self.jsonl:
            self.printer.json(protocol_error_json(error))
        else:
            self.printer.line(f"protocol error: {error}")


class BetfairStatusLog(BetfairHandler):
    """The connection's story on stderr, each event once (``record``, ``tail --format jsonl``)."""

    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self.log = logger or logging.getLogger("imgfeed.betfair.cli")

    def on_connect(self, session: Session) -> None:
        self.log.info("connected to %s, connectionId %s (#%d)", session.address, session.session_id, session.number)

    def on_disconnect(self, reason: Disconnected) -> None:
        if reason.reason is DisconnectReason.USER_STOP:
            self.log.info("disconnected: user stop")
        else:
            self.log.warning("%s", describe_disconnect(reason))

    def on_suspend_all(self, reason: SuspendReason) -> None:
        level = logging.INFO if reason is SuspendReason.DISCONNECTED else logging.WARNING
        self.log.log(level, "all markets suspended: %s", reason)

    def on_protocol_error(self, error: ProtocolError) -> None:
        self.log.warning("protocol error: %s", error)

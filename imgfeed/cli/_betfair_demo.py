"""``imgfeed demo --feed betfair``: the Betfair emulator and a client in one process, with live ladders.

Needs nothing but this package: the emulator makes its CA and certificate in a temporary
directory, listens on 127.0.0.1 (a free port), and a real :class:`~imgfeed.betfair.BetfairClient`
connects to it over verified TLS, subscribes to every market (best offers, last traded, traded
volume, definitions) and the account's orders, and the view below is drawn until Ctrl-C or
``--duration``.

:func:`render` is pure (books and health in, lines out), as :mod:`imgfeed.cli.console` is: each
market gets a header (its id, type, venue, and whether it may be traded *now*: ``TRADABLE``, or
why not) and one line per runner with three levels of back and lay and the last traded price.
A price is never shown as tradable when the client says it is not. The drawing (alternate screen
on a terminal, one summary line per second elsewhere) is :class:`~imgfeed.cli.console.LiveView`'s
approach, with its escape codes.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from typing import IO, List, Optional, Sequence, Tuple

from imgfeed.cli import console
from imgfeed.cli._betfair import run_client
from imgfeed.cli._painter import Painter
from imgfeed.cli._run import quieted
from imgfeed.cli._text import can_show_unicode, printable, to_ascii
from imgfeed.cli.console import FeedHealth
from imgfeed.feeds.betfair.books import Ladder, MarketBook, RunnerBook
from imgfeed.feeds.betfair.client import BetfairClient
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    EmulatorServer,
    ScenarioConfig,
)

__all__ = ["run", "render", "market_state"]

_LEVELS = 3


def market_state(book: MarketBook, tradable: bool, suspended: Optional[str]) -> str:
    """``TRADABLE`` only when the client says so; otherwise why not."""
    if tradable:
        return "TRADABLE"
    if suspended is not None:
        return f"SUSPENDED ({suspended})"
    return book.status or "WAITING"


def _cells(ladder: Ladder, reverse: bool) -> str:
    cells = [f"{level.price:>6g} {level.size:>7.2f}" for level in ladder[:_LEVELS]]
    cells += [" " * 14] * (_LEVELS - len(cells))
    return " ".join(reversed(cells) if reverse else cells)


def _runner_line(runner: RunnerBook) -> str:
    name = runner.definition.name if runner.definition is not None and runner.definition.name else str(runner.selection_id)
    back = runner.best_available_to_back or runner.available_to_back
    lay = runner.best_available_to_lay or runner.available_to_lay
    ltp = "" if runner.last_price_traded is None else f"{runner.last_price_traded:g}"
    status = "" if runner.status in (None, "ACTIVE") else f" {runner.status}"
    return f"  {name[:22]:<22}{status} {_cells(back, True)} | {_cells(lay, False)}  ltp {ltp}"


def _order_key(book: MarketBook) -> Tuple[bool, str]:
    return (book.status != "OPEN", book.market_id)


def render(
    books: Sequence[MarketBook],
    tradable: Sequence[str],
    suspended: Optional[str],
    health: FeedHealth,
    now: float,
    width: int = 120,
    height: int = 40,
) -> List[str]:
    """The view's lines (module docstring), cut to ``width`` x ``height`` with what was left out said."""
    state = "DISCONNECTED" if not health.connected else (f"ALL SUSPENDED: {suspended}" if suspended else "LIVE")
    age = "-" if health.heartbeat_age is None else f"{health.heartbeat_age:.1f} s"
    lines = [
        f"imgfeed demo --feed betfair  {health.source}  {state}",
        f"connectionId {health.session_id or '-'}  last message {age} ago  {health.rate:.1f} msg/s  "
        f"{health.messages} msgs  {len(tradable)}/{len(books)} markets tradable  up {int(now - health.started_at)} s",
    ]
    if health.note:
        lines.append(health.note)
    lines.append("")
    shown = 0
    for book in sorted(books, key=_order_key):
        definition = book.definition
        what = "" if definition is None else f"{definition.market_type or ''} {definition.venue or definition.country_code or ''}"
        inplay = " in-play" if book.inplay else ""
        tv = "" if book.total_matched is None else f" matched {book.total_matched:,.0f}"
        block = [f"{book.market_id} {what.strip()}{inplay}{tv}  {market_state(book, book.market_id in tradable, suspended)}"]
        block += [_runner_line(r) for r in book.runners]
        if len(lines) + len(block) > height - 1:
            break
        lines += block
        shown += 1
    if shown < len(books):
        lines.append(f"... and {len(books) - shown} more markets")
    return [printable(line)[:width] for line in lines]


class _View:
    """Draws :func:`render` on a terminal in place, elsewhere one summary line per second."""

    def __init__(self, stream: IO[str], tty: bool) -> None:
        self.stream = stream
        self.tty = tty
        self.ascii_only = not can_show_unicode(stream)
        self._started = False
        self._last_second = -1

    def draw(self, lines: List[str], summary: str, elapsed: float) -> None:
        if self.tty:
            prefix = "" if self._started else console._ALT_SCREEN_ON + console._HIDE_CURSOR
            self._started = True
            body = (console._ERASE_LINE + "\n").join([*lines, "", "Ctrl-C to exit"])
            self.stream.write(prefix + console._HOME + body + console._ERASE_LINE + console._ERASE_BELOW)
        elif int(elapsed) > self._last_second:
            self._last_second = int(elapsed)
            self.stream.write((to_ascii(summary) if self.ascii_only else summary) + "\n")
        self.stream.flush()

    def close(self, final: Sequence[str] = ()) -> None:
        if self.tty and self._started:
            self.stream.write(console._SHOW_CURSOR + console._ALT_SCREEN_OFF)
            self._started = False
        for line in final:
            self.stream.write(line + "\n")
        self.stream.flush()


class _Painter(Painter):
    """Draws the ladders from the main thread, at most every :data:`REFRESH` seconds."""

    def __init__(self, client: BetfairClient, view: _View, source: str) -> None:
        super().__init__(client, source)
        self.client = client
        self.view = view

    def draw(self) -> None:
        stats = self.client.stats()
        health = self.health(stats, stats.silence)
        markets = self.client.markets
        tradable = sorted(markets.tradable())
        reason = markets.suspend_reason
        suspended = None if reason is None or stats.session_id is None else str(reason)
        books = markets.books()
        cols, rows = console._terminal_size()
        lines = render(books, tradable, suspended, health, time.time(), cols, rows - 2)
        summary = (
            f"[{int(time.time() - self.started):>4}s] {'LIVE' if health.connected else 'DISCONNECTED'} "
            f"{health.rate:.1f} msg/s {stats.messages} msgs {len(tradable)}/{len(books)} markets tradable"
        )
        self.view.draw(lines, summary, time.time() - self.started)


def run(args: argparse.Namespace) -> int:
    import sys

    scenario = ScenarioConfig(seed=args.seed, markets=8, updates_per_second=min(args.updates_per_second, 50.0))
    view = _View(sys.stdout, tty=False if args.plain else sys.stdout.isatty())
    with tempfile.TemporaryDirectory(prefix="imgfeed-demo-betfair-") as certs:
        server = EmulatorServer(EmulatorConfig(), scenario, port=0, cert_dir=certs)
        server.start()
        try:
            config = BetfairConfig(
                app_key=DEFAULT_APP_KEY,
                session_token=DEFAULT_SESSION_TOKEN,
                host="localhost",
                port=server.port,
                cafile=server.cafile,
                heartbeat_ms=1000,
            )
            client = BetfairClient(config)
            painter = _Painter(client, view, f"emulator localhost:{server.port}")
            options = argparse.Namespace(
                no_markets=False,
                orders=True,
                ladder_levels=_LEVELS,
                fields=["EX_BEST_OFFERS", "EX_LTP", "EX_TRADED_VOL", "EX_MARKET_DEF"],
            )
            with quieted("imgfeed", logging.ERROR, when=view.tty and not args.verbose):
                try:
                    code = run_client(client, options, duration=args.duration, on_tick=painter.tick)
                finally:
                    view.close()
        finally:
            server.stop()
    stats = client.stats()
    view.close(
        [
            f"imgfeed demo --feed betfair: {stats.messages} messages in {time.time() - painter.started:.0f} s, "
            f"{stats.sessions} session(s). Next: `imgfeed simulate --feed betfair` and "
            "`imgfeed tail --feed betfair` (see the README)."
        ]
    )
    return code

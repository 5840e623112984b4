"""The live terminal view of ``imgfeed demo``: tournaments, markets, best prices, and feed health.

Contract: :func:`render` is a pure function from a :class:`~imgfeed.feeds.img.book.BookSnapshot` and a
:class:`FeedHealth` to a list of text lines -- no IO, no clock of its own -- so it is tested without
a terminal. It fits the height it is given: when not every tournament fits, it shows fewer markets
per tournament, then fewer tournaments with a "... and N more tournaments" line, never silently
less. :class:`LiveView` draws those lines: on a terminal it draws on the alternate screen (as
``less`` and ``top`` do, so that redraws never pile up in the scrollback) and restores the normal
screen in :meth:`LiveView.close`; elsewhere (a pipe, a CI log) it prints one compact summary line
per second of the run, because escape codes in a log file are noise. A stream whose encoding cannot
show the text (an ASCII-only locale) gets ASCII: ``-`` and ``...`` for the decorations and escapes
(``\\xf8``) for the letters of names, never a ``UnicodeEncodeError``.

Why not ``rich``, whose ``Live`` and ``Table`` do the alternate screen, widths, encodings and
colour detection? Measured: 20 s of the demo on a 120x40 pseudo-terminal, process CPU from
``os.times()``, three runs each: no view 0.47 s, this module 0.44-0.56 s, the same view drawn with
``rich.live.Live`` + ``rich.table.Table`` 0.71-0.74 s. So the view's own share is about 0.05 s
here and 0.25 s with rich (both small next to the feed), and rich wrote twice the bytes to the
terminal (170 KB against 84 KB), which a slow SSH session to a trading box feels. Neither number
decides it; what does is that rich would be four packages (rich, pygments, markdown-it-py, mdurl)
in the core of a client that needs three, for one screen of its first command, or, as an optional
extra, a second rendering path to keep in step with this one. The terminal problems this module
had (encodings, scrollback, small windows) took a few tested lines each.

What the view promises a reader: a market is shown as ``OPEN`` only when the book says it is
tradable now (docs/protocol.md section 8); otherwise it says why not (``SUSPENDED``, ``CLOSED``,
``SETTLED``, ``WAITING`` for its first image on this connection, or ``ALL SUSPENDED: <reason>``
at the top when the whole feed is suspended). A stale price is never shown as live.
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from typing import IO, Deque, Dict, List, Optional, Sequence, Tuple

import attrs

from imgfeed.cli._text import can_show_unicode, printable, to_ascii
from imgfeed.feeds.img.book import BookSnapshot
from imgfeed.feeds.img.protocol.messages import (
    Event,
    Market,
    MarketStatus,
    MarketUpdate,
    Selection,
)

__all__ = ["FeedHealth", "RateMeter", "render", "summary_line", "LiveView", "printable"]

#: How many seconds of arrivals the messages-per-second figure averages over.
RATE_WINDOW = 5.0


class RateMeter:
    """Messages per second over the last :data:`RATE_WINDOW` seconds. Thread-safe.

    Counts are kept per whole second, so memory is bounded however fast the feed is.
    """

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self.window = window
        self._lock = threading.Lock()
        self._buckets: Deque[Tuple[int, int]] = collections.deque()
        self.total = 0

    def add(self, n: int = 1, now: Optional[float] = None) -> None:
        second = int(time.time() if now is None else now)
        with self._lock:
            self.total += n
            if self._buckets and self._buckets[-1][0] == second:
                self._buckets[-1] = (second, self._buckets[-1][1] + n)
            else:
                self._buckets.append((second, n))
            self._trim(second)

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - self.window:
            self._buckets.popleft()

    def rate(self, now: Optional[float] = None) -> float:
        now = time.time() if now is None else now
        with self._lock:
            self._trim(int(now))
            return sum(n for _, n in self._buckets) / self.window


@attrs.frozen
class FeedHealth:
    """What the top of the view says about the connection.

    Attributes:
        source: where the feed comes from (``"simulator 127.0.0.1:40123"``).
        connected: whether a session is up.
        session_id: the server's id for the session, if any.
        heartbeat_age: seconds since the last heartbeat (``client.stats().heartbeat_age``), or
            ``None`` when no session is up.
        messages: messages received so far.
        rate: messages per second, recently.
        started_at: when the view started.
        note: the last notable event in words ("reconnecting: eof"), or "".
    """

    source: str
    connected: bool
    session_id: Optional[str]
    heartbeat_age: Optional[float]
    messages: int
    rate: float
    started_at: float
    note: str = ""


# --- rendering (pure) ----------------------------------------------------------------------------


def _market_state(snapshot: BookSnapshot, market_id: str, image: Optional[MarketUpdate]) -> str:
    if snapshot.is_tradable(market_id):
        return "OPEN"
    if snapshot.suspended is not None:
        return "SUSPENDED"
    if image is None:
        return "WAITING"
    status = image.status
    if status == MarketStatus.OPEN:
        return "WAITING"  # an open image from an earlier connection: state unknown until its update
    return str(status).upper()


def best_prices(image: Optional[MarketUpdate], n: int = 3) -> List[Selection]:
    """The ``n`` shortest priced selections (the favourites), shortest first."""
    if image is None:
        return []
    priced = [s for s in image.selections if s.price is not None]
    priced.sort(key=lambda s: s.price)  # type: ignore[arg-type, return-value]
    return priced[:n]


def _size(image: Optional[MarketUpdate]) -> int:
    return 0 if image is None else len(image.raw["msg"].get("selections") or ())


def _market_order(snapshot: BookSnapshot, market: Market) -> Tuple[bool, int, int, str, str]:
    # Tradable first; then the biggest (the win market has the whole field); of equal size the
    # fewest winners (win before top 5); then by name, for a stable order.
    return (
        not snapshot.is_tradable(market.id),
        -_size(snapshot.images.get(market.id)),
        market.numwinners or 1_000,
        market.name,
        market.id,
    )


def _fit(text: str, width: int, ellipsis: str = "…") -> str:
    return text if len(text) <= width else text[: max(0, width - len(ellipsis))] + ellipsis


def _age(age: Optional[float]) -> str:
    return "-" if age is None else f"{max(0.0, age):.1f}s ago"


def _event_order(event: Event) -> Tuple[int, str]:
    # In-play tournaments first: they are the ones moving.
    return (0 if str(event.stage) == "in_play" else 1, event.name)


def render(
    snapshot: BookSnapshot,
    health: FeedHealth,
    now: float,
    width: int = 100,
    max_events: int = 4,
    max_markets: int = 4,
    prices_per_market: int = 3,
    color: bool = False,
    height: Optional[int] = None,
    ascii_only: bool = False,
) -> List[str]:
    """The view as lines of at most ``width`` characters (colour codes aside).

    With ``height``, at most that many lines: tournaments keep fewer markets each (down to one)
    before any tournament is left out, and left-out tournaments are counted on the last line.
    With ``ascii_only``, only ASCII characters (see :func:`to_ascii`).
    """
    dash, ellipsis = (" - ", "...") if ascii_only else (" — ", "…")

    def show(text: str) -> str:
        text = printable(text)
        return to_ascii(text) if ascii_only else text

    def fit(text: str, room: int) -> str:
        return _fit(text, room, ellipsis)

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines: List[str] = []
    up = int(now - health.started_at)
    session = health.session_id or "-"
    lines.append(fit(show(f"imgfeed{dash}{health.source}{dash}session {session}{dash}up {up}s"), width))
    if not health.connected:
        state, code = "DISCONNECTED", "1;31"
    elif snapshot.suspended is not None:
        state, code = show(f"ALL SUSPENDED: {snapshot.suspended}"), "1;31"
    else:
        state, code = "LIVE", "1;32"
    status = fit(
        f"{state}   heartbeat {_age(health.heartbeat_age)}   "
        f"{health.rate:.1f} msg/s   {health.messages} messages   "
        f"{len(snapshot.tradable)}/{len(snapshot.markets)} markets tradable",
        width,
    )
    lines.append(paint(state, code) + status[len(state) :] if status.startswith(state) else status)
    if health.note:
        lines.append(fit(show(health.note), width))
    lines.append("")
    markets_by_event: Dict[Optional[str], List[Market]] = collections.defaultdict(list)
    for market in snapshot.markets.values():
        markets_by_event[market.event_id].append(market)
    events = sorted(snapshot.events.values(), key=_event_order)
    if not events:
        lines.append("waiting for the offering...")
        return lines
    for markets in markets_by_event.values():
        # Lead with the prices a trader looks at first (see _market_order).
        markets.sort(key=lambda m: _market_order(snapshot, m))

    def block(event: Event, shown_markets: int) -> List[str]:
        markets = markets_by_event.get(event.id, [])
        out = [fit(show(f"{event.name}  [{event.stage or '-'}]  {len(markets)} markets"), width)]
        for market in markets[:shown_markets]:
            image = snapshot.images.get(market.id)
            state = _market_state(snapshot, market.id, image)
            best = best_prices(image, prices_per_market)
            prices = show("  ".join(f"{s.name or s.id} {s.price:g}" for s in best))
            name = fit(show(market.name or market.id), 28)
            code = "32" if state == "OPEN" else "31" if state in ("SUSPENDED", "CLOSED") else "33"
            prices = fit(prices, max(0, width - 42))
            out.append(f"  {name:<28} {paint(f'{state:<10}', code)} {prices}".rstrip())
        if len(markets) > shown_markets:
            out.append(f"  ... and {len(markets) - shown_markets} more")
        return out

    def more(left_out: int) -> List[str]:
        return [f"... and {left_out} more tournaments"] if left_out else []

    shown = events[:max_events]
    room = None if height is None else max(1, height - len(lines))
    blocks = [block(e, max_markets) for e in shown]
    if room is not None:
        # Fewer markets per tournament first, so that every tournament keeps its line ...
        for per_event in range(max_markets, 0, -1):
            blocks = [block(e, per_event) for e in shown]
            if sum(map(len, blocks)) + len(more(len(events) - len(shown))) <= room:
                break
        else:
            # ... then fewer tournaments, counted on the last line rather than dropped in silence.
            kept: List[List[str]] = []
            for candidate in blocks:
                if sum(map(len, kept)) + len(candidate) + 1 > room:
                    break
                kept.append(candidate)
            blocks = kept
    for lines_of_event in blocks:
        lines.extend(lines_of_event)
    lines.extend(more(len(events) - len(blocks)))
    return lines


def summary_line(snapshot: BookSnapshot, health: FeedHealth, now: float, ascii_only: bool = False) -> str:
    """One line for logs and pipes: the state, heartbeat age, rate, and the first priced market."""
    state = (
        "DISCONNECTED"
        if not health.connected
        else (f"SUSPENDED({snapshot.suspended})" if snapshot.suspended is not None else "LIVE")
    )
    text = (
        f"[{int(now - health.started_at):>4}s] {state} heartbeat {_age(health.heartbeat_age)} "
        f"{health.rate:.1f} msg/s {health.messages} msgs "
        f"{len(snapshot.events)} tournaments "
        f"{len(snapshot.tradable)}/{len(snapshot.markets)} markets tradable"
    )
    # The market a trader would look at first (see _market_order), with its two shortest prices.
    markets = [snapshot.markets[m] for m in snapshot.tradable if m in snapshot.markets]

    def in_play_first(m: Market) -> Tuple[bool, Tuple[bool, int, int, str, str]]:
        event = snapshot.events.get(m.event_id or "")
        return (event is None or str(event.stage) != "in_play", _market_order(snapshot, m))

    for market in sorted(markets, key=in_play_first):
        best = best_prices(snapshot.images.get(market.id), 2)
        if best:
            event = snapshot.events.get(market.event_id or "")
            where = f"{event.name} " if event is not None else ""
            text += f" | {where}{market.name}: " + ", ".join(f"{s.name or s.id} {s.price:g}" for s in best)
            break
    return to_ascii(printable(text)) if ascii_only else printable(text)


# --- drawing -------------------------------------------------------------------------------------

#: Enter and leave the alternate screen (xterm's private mode 1049, which also saves the cursor).
_ALT_SCREEN_ON, _ALT_SCREEN_OFF = "\x1b[?1049h", "\x1b[?1049l"
_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
#: Cursor home; erase to the end of the line; erase below the cursor.
_HOME, _ERASE_LINE, _ERASE_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
#: The lines under the view: a blank one and how to leave.
_FOOTER = ("", "Ctrl-C to exit")


class LiveView:
    """Draw :func:`render` output to a stream: on a terminal in place, elsewhere as summary lines.

    Args:
        stream: where to draw (stdout by default).
        tty: force terminal mode on or off; by default, whether ``stream`` is a terminal.
        summary_every: in summary mode, one line per this many seconds of the run (each slot of
            the run gets its line, labelled with its start, however the draws fall).
        size: the terminal's (columns, rows); by default asked at every draw, so a resized
            window is followed.
    """

    def __init__(
        self,
        stream: Optional[IO[str]] = None,
        tty: Optional[bool] = None,
        summary_every: float = 1.0,
        size: Optional[Tuple[int, int]] = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.summary_every = summary_every
        self.ascii_only = not can_show_unicode(self.stream)
        self._size = size
        self._last_slot = -1
        self._started = False
        self._closed = False

    def draw(self, snapshot: BookSnapshot, health: FeedHealth, now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        if self._closed:
            return
        if self.tty:
            cols, rows = self._size or _terminal_size()
            lines = render(
                snapshot,
                health,
                now,
                width=cols,
                max_events=1000,
                color=True,
                height=max(1, rows - len(_FOOTER)),
                ascii_only=self.ascii_only,
            )
            prefix = "" if self._started else _ALT_SCREEN_ON + _HIDE_CURSOR
            self._started = True
            # Overwrite in place and erase what is left: no flicker of a full clear. No newline
            # after the last row, which would scroll the screen by one.
            body = (_ERASE_LINE + "\n").join([*lines, *_FOOTER])
            self.stream.write(prefix + _HOME + body + _ERASE_LINE + _ERASE_BELOW)
        else:
            slot = int(max(0.0, now - health.started_at) // self.summary_every)
            if slot <= self._last_slot:
                return
            self._last_slot = slot
            self.stream.write(summary_line(snapshot, health, now, ascii_only=self.ascii_only) + "\n")
        self.stream.flush()

    def close(self, final: Sequence[str] = ()) -> None:
        """Leave the alternate screen, restore the cursor, and print ``final`` lines. Idempotent."""
        if self.tty and self._started and not self._closed:
            self.stream.write(_SHOW_CURSOR + _ALT_SCREEN_OFF)
        self._closed = True
        for line in final:
            self.stream.write((to_ascii(line) if self.ascii_only else line) + "\n")
        self.stream.flush()


def _terminal_size() -> Tuple[int, int]:
    import shutil

    cols, rows = shutil.get_terminal_size((100, 30))
    return max(40, cols), max(10, rows)

"""The live terminal view of ``imgfeed demo``: tournaments, markets, best prices, and feed health.

Contract: :func:`render` is a pure function from a :class:`~imgfeed.feeds.img.book.BookSnapshot` and a
:class:`FeedHealth` to a list of text lines -- no IO, no clock of its own -- so it is tested without
a terminal. :class:`LiveView` draws those lines: on a terminal it redraws the screen in place (ANSI
"cursor home, clear"), elsewhere (a pipe, a CI log) it prints one compact summary line per refresh,
because escape codes in a log file are noise.

What the view promises a reader: a market is shown as ``OPEN`` only when the book says it is
tradable now (protocol.md section 8); otherwise it says why not (``SUSPENDED``, ``CLOSED``,
``SETTLED``, ``WAITING`` for its first image on this connection, or ``ALL SUSPENDED: <reason>``
at the top when the whole feed is suspended). A stale price is never shown as live.
"""

from __future__ import annotations

import collections
import re
import sys
import threading
import time
from typing import IO, Deque, Dict, List, Optional, Sequence, Tuple

import attrs

from imgfeed.feeds.img.protocol.messages import Event, Market, MarketStatus, MarketUpdate, Selection, decode_market_id
from imgfeed.feeds.img.book import BookSnapshot

__all__ = ["FeedHealth", "RateMeter", "render", "summary_line", "LiveView"]

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


# C0 controls, DEL and C1 controls: what a terminal acts on rather than shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), never acted on.

    Server text (names, ids) may hold anything (protocol.md section 3), including escape sequences
    that would retitle, clear or rewrite the user's terminal.
    """
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


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
) -> List[str]:
    """The view as lines of at most ``width`` characters (colour codes aside)."""

    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines: List[str] = []
    up = int(now - health.started_at)
    session = health.session_id or "-"
    lines.append(_fit(f"imgfeed — {health.source} — session {session} — up {up}s", width))
    if not health.connected:
        state = paint("DISCONNECTED", "1;31")
    elif snapshot.suspended is not None:
        state = paint(printable(f"ALL SUSPENDED: {snapshot.suspended}"), "1;31")
    else:
        state = paint("LIVE", "1;32")
    lines.append(
        f"{state}   heartbeat {_age(health.heartbeat_age)}   "
        f"{health.rate:.1f} msg/s   {health.messages} messages   "
        f"{len(snapshot.tradable)}/{len(snapshot.markets)} markets tradable"
    )
    if health.note:
        lines.append(_fit(printable(health.note), width))
    lines.append("")
    markets_by_event: Dict[Optional[str], List[Market]] = collections.defaultdict(list)
    for market in snapshot.markets.values():
        markets_by_event[market.event_id].append(market)
    events = sorted(snapshot.events.values(), key=_event_order)
    if not events:
        lines.append("waiting for the offering...")
    for event in events[:max_events]:
        markets = markets_by_event.get(event.id, [])
        # Lead with the prices a trader looks at first (see _market_order).
        markets.sort(key=lambda m: _market_order(snapshot, m))
        lines.append(_fit(printable(f"{event.name}  [{event.stage or '-'}]  {len(markets)} markets"), width))
        for market in markets[:max_markets]:
            image = snapshot.images.get(market.id)
            state = _market_state(snapshot, market.id, image)
            shown = printable(
                "  ".join(f"{s.name or s.id} {s.price:g}" for s in best_prices(image, prices_per_market))
            )
            name = _fit(printable(market.name or decode_market_id(market.id)), 28)
            code = "32" if state == "OPEN" else "31" if state in ("SUSPENDED", "CLOSED") else "33"
            shown = _fit(shown, max(0, width - 42))
            lines.append(f"  {name:<28} {paint(f'{state:<10}', code)} {shown}".rstrip())
        if len(markets) > max_markets:
            lines.append(f"  ... and {len(markets) - max_markets} more")
    if len(events) > max_events:
        lines.append(f"... and {len(events) - max_events} more tournaments")
    return lines


def summary_line(snapshot: BookSnapshot, health: FeedHealth, now: float) -> str:
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
    return printable(text)


# --- drawing -------------------------------------------------------------------------------------

_HOME_CLEAR = "\x1b[H\x1b[2J"
_HIDE_CURSOR, _SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"


class LiveView:
    """Draw :func:`render` output to a stream, in place on a terminal, as summary lines elsewhere.

    Args:
        stream: where to draw (stdout by default).
        tty: force terminal mode on or off; by default, whether ``stream`` is a terminal.
        summary_every: in summary mode, print a line at most this often (seconds).
    """

    def __init__(
        self, stream: Optional[IO[str]] = None, tty: Optional[bool] = None, summary_every: float = 1.0
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.summary_every = summary_every
        self._last_summary = 0.0
        self._started = False

    def draw(self, snapshot: BookSnapshot, health: FeedHealth, now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        if self.tty:
            size = _terminal_size()
            lines = render(
                snapshot, health, now, width=size[0], max_events=max(1, (size[1] - 6) // 6), color=True
            )
            # Keep the footer on screen: cut the body, never the hint that says how to leave.
            lines = lines[: max(1, size[1] - 3)] + ["", "Ctrl-C to exit"]
            prefix = _HIDE_CURSOR if not self._started else ""
            self._started = True
            self.stream.write(prefix + _HOME_CLEAR + "\n".join(lines) + "\n")
        elif now - self._last_summary >= self.summary_every:
            self._last_summary = now
            self.stream.write(summary_line(snapshot, health, now) + "\n")
        self.stream.flush()

    def close(self, final: Sequence[str] = ()) -> None:
        """Restore the cursor and print ``final`` lines below the view."""
        if self.tty and self._started:
            self.stream.write(_SHOW_CURSOR)
        for line in final:
            self.stream.write(line + "\n")
        self.stream.flush()


def _terminal_size() -> Tuple[int, int]:
    import shutil

    cols, rows = shutil.get_terminal_size((100, 30))
    return max(40, cols), max(10, rows)

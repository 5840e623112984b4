"""The demo's live view: what it says about each market, rendered without a terminal."""

from __future__ import annotations

import io
from typing import List

from imgfeed.cli.console import FeedHealth, LiveView, RateMeter, render, summary_line
from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.protocol.codec import decode_line


def _push(kind: str, msg: str) -> bytes:
    return ('{"mode": "push", "type": "%s", "msg": %s}' % (kind, msg)).encode()


OFFERING = [
    _push("sport", '{"id": "sp.golf", "name": "Golf"}'),
    _push("event", '{"id": "ev.1", "name": "The Open", "stage": "in_play"}'),
    _push("event", '{"id": "ev.2", "name": "Later Classic", "stage": "pre_play"}'),
    _push("market", '{"id": "m.win", "name": "Win Only", "event_id": "ev.1"}'),
    _push("market", '{"id": "m.top5", "name": "Top 5", "event_id": "ev.1"}'),
    _push("market", '{"id": "m.wait", "name": "First Round Leader", "event_id": "ev.1"}'),
]


def _update(market_id: str, status: str, prices: List[float]) -> bytes:
    sels = ", ".join(
        '{"id": "g:%d", "name": "Golfer %d", "price": %s}' % (i, i, p) for i, p in enumerate(prices)
    )
    return _push(
        "market_update", '{"id": "%s", "status": "%s", "selections": [%s]}' % (market_id, status, sels)
    )


def _book() -> MarketBook:
    book = MarketBook()
    book.session_started()
    book.apply(decode_line(line, 1.0) for line in OFFERING)
    book.apply(
        [
            decode_line(_update("m.win", "open", [9.5, 3.25, 21, 4.0]), 2.0),
            decode_line(_update("m.top5", "suspended", [1.5]), 2.0),
        ]
    )
    return book


HEALTH = FeedHealth(
    source="simulator 127.0.0.1:1",
    connected=True,
    session_id="s-1",
    heartbeat_age=1.0,
    messages=42,
    rate=8.5,
    started_at=90.0,
)


def _line(lines: List[str], needle: str) -> str:
    return next(line for line in lines if needle in line)


def test_view_shows_tradable_state_and_best_prices() -> None:
    lines = render(_book().snapshot(), HEALTH, now=100.0)
    assert "session s-1" in lines[0] and "up 10s" in lines[0]
    assert "LIVE" in lines[1] and "heartbeat 1.0s ago" in lines[1] and "8.5 msg/s" in lines[1]
    assert "1/3 markets tradable" in lines[1]
    win = _line(lines, "Win Only")
    assert "OPEN" in win
    assert win.index("Golfer 1 3.25") < win.index("Golfer 3 4") < win.index("Golfer 0 9.5")
    assert "Golfer 2" not in win  # only the three shortest prices
    assert "SUSPENDED" in _line(lines, "Top 5")
    assert "WAITING" in _line(lines, "First Round Leader")
    assert lines.index(_line(lines, "The Open")) < lines.index(_line(lines, "Later Classic"))


def test_after_a_reconnect_old_prices_are_not_shown_as_live() -> None:
    book = _book()
    book.session_lost()
    lost = render(book.snapshot(), HEALTH, now=100.0)
    assert "ALL SUSPENDED: disconnected" in lost[1]
    assert "SUSPENDED" in _line(lost, "Win Only")
    book.session_started()
    again = render(book.snapshot(), HEALTH, now=100.0)
    assert "WAITING" in _line(again, "Win Only")  # an image from the old session is not live
    assert "0/3 markets tradable" in again[1]


def test_heartbeat_late_suspends_everything() -> None:
    book = _book()
    book.heartbeat_late()
    lines = render(book.snapshot(), HEALTH, now=100.0)
    assert "ALL SUSPENDED: heartbeat late" in lines[1]
    assert "OPEN" not in _line(lines, "Win Only")


def test_lines_fit_the_width() -> None:
    lines = render(_book().snapshot(), HEALTH, now=100.0, width=50)
    assert all(len(line) <= 50 for line in lines if "LIVE" not in line)


def test_summary_line_for_pipes() -> None:
    text = summary_line(_book().snapshot(), HEALTH, now=100.0)
    assert "\n" not in text and "\x1b" not in text
    assert "LIVE" in text and "Win Only: Golfer 1 3.25, Golfer 3 4" in text


def test_live_view_draws_on_the_alternate_screen_and_restores_it() -> None:
    snapshot = _book().snapshot()
    tty = io.StringIO()
    view = LiveView(tty, tty=True, size=(80, 24))
    view.draw(snapshot, HEALTH, now=100.0)
    view.draw(snapshot, HEALTH, now=101.0)
    view.close(["bye"])
    out = tty.getvalue()
    assert out.startswith("\x1b[?1049h\x1b[?25l")  # alternate screen, cursor hidden, once
    assert out.count("\x1b[?1049h") == 1 and out.count("\x1b[H") == 2  # then redrawn in place
    assert out.endswith("\x1b[?25h\x1b[?1049l" + "bye\n")  # restored before the last words
    view.close()
    assert tty.getvalue().count("\x1b[?1049l") == 1  # close is idempotent


def test_summary_mode_gives_every_second_its_line() -> None:
    snapshot = _book().snapshot()
    pipe = io.StringIO()
    view = LiveView(pipe, tty=False, summary_every=1.0)
    # Draws every 0.6 s, as the demo's loop does: each second of the run still gets its line.
    for step in range(11):
        view.draw(snapshot, HEALTH, now=HEALTH.started_at + 0.6 * step)
    assert "\x1b" not in pipe.getvalue()
    labels = [line.split("]")[0] for line in pipe.getvalue().splitlines()]
    assert labels == [f"[{n:>4}s" for n in range(7)]


def _many_events(n: int, markets_each: int) -> MarketBook:
    book = MarketBook()
    book.session_started()
    lines = [_push("sport", '{"id": "sp.golf", "name": "Golf"}')]
    for e in range(n):
        lines.append(_push("event", '{"id": "ev.%d", "name": "Tournament %d", "stage": "in_play"}' % (e, e)))
        for m in range(markets_each):
            market = '{"id": "m.%d.%d", "name": "Market %d", "event_id": "ev.%d"}' % (e, m, m, e)
            lines.append(_push("market", market))
    book.apply(decode_line(line, 1.0) for line in lines)
    return book


def test_at_80x24_every_tournament_keeps_its_line() -> None:
    lines = render(_many_events(4, 32).snapshot(), HEALTH, now=100.0, width=80, height=22, max_events=1000)
    assert len(lines) <= 22 and all(len(line) <= 80 for line in lines)
    assert all(any(f"Tournament {e}" in line for line in lines) for e in range(4))
    assert sum("more" in line for line in lines) == 4  # each tournament says how many markets are not shown


def test_tournaments_that_do_not_fit_are_counted_not_dropped() -> None:
    lines = render(_many_events(12, 5).snapshot(), HEALTH, now=100.0, width=80, height=22, max_events=1000)
    assert len(lines) <= 22
    shown = sum(1 for line in lines if line.startswith("Tournament "))
    assert 0 < shown < 12
    assert lines[-1] == f"... and {12 - shown} more tournaments"


def test_an_ascii_only_terminal_gets_ascii() -> None:
    book = _book()
    event = '{"id": "ev.1", "name": "Ciudad de México — Open", "stage": "in_play"}'
    book.apply([decode_line(_push("event", event), 3.0)])
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    view = LiveView(stream, tty=True, size=(40, 24))  # narrow: the title is cut with "..."
    assert view.ascii_only
    view.draw(book.snapshot(), HEALTH, now=100.0)
    view.close(["Åsa"])
    stream.flush()
    out = stream.buffer.getvalue().decode("ascii")  # type: ignore[attr-defined]
    assert "M\\xe9xico \\u2014 Open" in out and "imgfeed - simulator" in out and "..." in out
    assert "\\xc5sa" in out
    assert not view.ascii_only or LiveView(io.StringIO(), tty=False).ascii_only is False


def test_rate_meter_counts_a_window() -> None:
    meter = RateMeter(window=5.0)
    for t in range(10):
        meter.add(10, now=1000.0 + t)
    assert meter.total == 100
    assert meter.rate(now=1009.5) == 10.0
    assert meter.rate(now=2000.0) == 0.0


def test_server_text_with_terminal_escapes_is_shown_escaped() -> None:
    """A name holding an escape sequence is shown as text; it never reaches the terminal raw."""
    from imgfeed.cli.console import printable

    assert printable("Rory\x1b]0;owned\x07 McIlroy\x9b") == "Rory\\x1b]0;owned\\x07 McIlroy\\x9b"
    assert printable("Åsa Højgaard") == "Åsa Højgaard"

"""``imgfeed demo``, the README's first command: live prices with no set-up, a clean exit."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from typing import Dict, List, NamedTuple, Optional

import pytest

from tests.cli.conftest import run_subprocess

#: The demo serves two tours of two tournaments each (imgfeed/cli/demo.py).
DEMO_TOURNAMENTS = 4


def test_demo_runs_for_its_duration_and_shows_prices() -> None:
    result = run_subprocess(
        ["demo", "--duration", "3", "--updates-per-second", "50", "--heartbeat-interval", "0.5"]
    )
    assert result.code == 0, result
    assert result.err == "", result.err  # a first command that prints errors looks broken
    lines = result.out.splitlines()
    # stdout is a pipe here, so the demo prints summary lines instead of redrawing the screen
    assert "\x1b" not in result.out
    live = [line for line in lines if " LIVE " in line]
    assert live, result
    assert any(re.search(r"\| .+: .+ \d+(\.\d+)?", line) for line in live), result  # a market and its prices
    assert re.search(r"\d+/\d+ markets tradable", live[-1])
    assert lines[-1].startswith("imgfeed demo: ") and "messages" in lines[-1]


def test_demo_needs_no_files_and_leaves_none(tmp_path: "object") -> None:
    import os

    env = {"HOME": str(tmp_path)}  # no ~/.ssh: the demo must not need or write one
    result = run_subprocess(["demo", "--duration", "1", "--heartbeat-interval", "0.3"], env=env)
    assert result.code == 0, result
    assert os.listdir(str(tmp_path)) == []


class PtyRun(NamedTuple):
    code: int
    out: str
    err: str


def _demo_on_a_terminal(columns: int = 100, rows: int = 30, env: Optional[Dict[str, str]] = None) -> PtyRun:
    """Run ``imgfeed demo`` on a pseudo-terminal of that size until it drew prices twice, then Ctrl-C."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "imgfeed", "demo", "--heartbeat-interval", "0.5"]
        + ["--updates-per-second", "50"],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=full_env,
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30.0
        # Read until the view has been drawn three times with prices, or the deadline.
        while out.count(b"\x1b[H") < 3 or b"OPEN" not in out:
            remaining = deadline - time.monotonic()
            assert remaining > 0, out[-2000:]
            ready, _, _ = select.select([master], [], [], remaining)
            if ready:
                out += os.read(master, 65536)
        proc.send_signal(signal.SIGINT)
        while True:  # drain until the child closes the terminal
            ready, _, _ = select.select([master], [], [], 20.0)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child has exited and closed its end
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(20.0)
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5.0)
        proc.stderr.close()  # type: ignore[union-attr]
        os.close(master)
    return PtyRun(code, out.decode("utf-8", "replace"), err)


def _last_frame(text: str) -> List[str]:
    """The rows of the last screen drawn (the pty turns each "\\n" into "\\r\\n")."""
    frame = text.rsplit("\x1b[H", 1)[1].split("\x1b[J", 1)[0]
    return [row.replace("\x1b[K", "").rstrip("\r") for row in frame.split("\n")]


def test_demo_draws_on_the_alternate_screen_and_ctrl_c_restores_it() -> None:
    """On a terminal the view is redrawn in place on the alternate screen; Ctrl-C exits 0 and restores it."""
    run = _demo_on_a_terminal()
    assert run.code == 0, run.err
    assert run.err == "", run.err
    text = run.out
    assert text.count("\x1b[?1049h") == 1 and text.count("\x1b[?1049l") == 1
    before, after = text.split("\x1b[?1049l")
    assert "\x1b[?25h" in before[-20:]  # the cursor is shown again ...
    assert "Ctrl-C to exit" in before and "LIVE" in before and "heartbeat" in before
    assert after.strip().startswith("imgfeed demo: ")  # ... and the last words are on the normal screen


def test_demo_at_80x24_counts_what_does_not_fit() -> None:
    run = _demo_on_a_terminal(columns=80, rows=24)
    assert run.code == 0, run.err
    rows = _last_frame(run.out.split("\x1b[?1049l")[0])
    assert len(rows) <= 24 and rows[-1] == "Ctrl-C to exit"
    visible = [re.sub("\x1b\\[[0-9;]*m", "", row) for row in rows]
    assert all(len(row) <= 80 for row in visible), visible
    tournaments = [row for row in visible if re.search(r"\[(pre_play|in_play|ended|-)\]  \d+ markets$", row)]
    counted = [re.match(r"\.\.\. and (\d+) more tournaments", row) for row in visible]
    more = [int(m.group(1)) for m in counted if m]
    assert len(tournaments) + sum(more) == DEMO_TOURNAMENTS, visible  # none dropped in silence
    assert any(re.match(r"  \.\.\. and \d+ more$", row) for row in visible)


def test_demo_on_an_ascii_only_terminal() -> None:
    run = _demo_on_a_terminal(env={"LC_ALL": "C", "PYTHONIOENCODING": "ascii"})
    assert run.code == 0, run.err
    assert "Traceback" not in run.err and "UnicodeEncodeError" not in run.err
    assert all(ord(ch) < 128 for ch in run.out)
    assert "imgfeed - simulator 127.0.0.1:" in run.out  # ASCII decorations instead of "—"


@pytest.mark.parametrize("env", [{"LC_ALL": "C"}, {"LC_ALL": "C", "PYTHONIOENCODING": "ascii"}])
def test_plain_demo_and_tail_in_an_ascii_only_locale(env: Dict[str, str], sim: "object") -> None:
    demo = run_subprocess(["demo", "--plain", "--duration", "2", "--heartbeat-interval", "0.3"], env=env)
    assert demo.code == 0 and demo.err == "", demo
    assert " LIVE " in demo.out
    args = sim.connect_args("--subscribe-all", "--duration", "1.5")  # type: ignore[attr-defined]
    for fmt in ("pretty", "jsonl"):
        tail = run_subprocess(["tail", *args, "--format", fmt], env=env)
        assert tail.code == 0 and "Traceback" not in tail.err, tail
        assert "market_update" in tail.out
        if fmt == "jsonl":
            assert all(isinstance(json.loads(line), dict) for line in tail.out.splitlines())


def test_plain_demo_prints_every_second() -> None:
    result = run_subprocess(["demo", "--plain", "--duration", "6.5", "--heartbeat-interval", "0.5"])
    assert result.code == 0, result
    seconds = [int(m.group(1)) for m in re.finditer(r"^\[\s*(\d+)s\]", result.out, flags=re.M)]
    assert seconds == list(range(seconds[0], seconds[-1] + 1)) and seconds[-1] >= 5, seconds

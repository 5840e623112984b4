"""``imgfeed demo``, the README's first command: live prices with no set-up, a clean exit."""

from __future__ import annotations

import re

from tests.cli.conftest import run_subprocess


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


def test_demo_redraws_in_place_on_a_terminal() -> None:
    """On a terminal (a pseudo-terminal here) the view is redrawn in place, and Ctrl-C exits 0."""
    import os
    import pty
    import select
    import signal
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imgfeed",
            "demo",
            "--heartbeat-interval",
            "0.5",
            "--updates-per-second",
            "50",
        ],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 30.0
        # Read until the view has been drawn twice with prices, or the deadline.
        while out.count(b"\x1b[H\x1b[2J") < 3 or b"OPEN" not in out:
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
    text = out.decode("utf-8", "replace")
    assert code == 0, err
    assert "Traceback" not in err, err
    assert "Ctrl-C to exit" in text and "LIVE" in text and "heartbeat" in text
    assert "\x1b[?25h" in text  # the cursor is shown again on exit
    assert "imgfeed demo: " in text.splitlines()[-1]

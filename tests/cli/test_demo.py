"""``imgfeed demo``, the README's first command: live prices with no set-up, a clean exit."""

from __future__ import annotations

import re

from tests.cli.conftest import run_subprocess


def test_demo_runs_for_its_duration_and_shows_prices() -> None:
    result = run_subprocess(
        ["demo", "--duration", "3", "--updates-per-second", "50", "--heartbeat-interval", "0.5"]
    )
    assert result.code == 0, result
    assert "Traceback" not in result.err
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

"""Every benchmark script runs, in its tiny ``--quick`` configuration, and prints its table.

These tests keep the scripts from rotting as the code they measure changes. They never assert a
speed: the machines that run the suite are shared and noisy, and the figures are for people.
Each script runs as a subprocess, exactly as the README tells a user to run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import List

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(ROOT, "benchmarks")

#: script -> (columns its table must have, words that must appear somewhere in the output)
SCRIPTS = {
    "betfair": (["file", "stage", "lines/s", "µs/line", "vs bflw", "vs floor"], ["ratio imgfeed/bflw books"]),
    "decode": (["stage", "lines/s", "MB/s", "µs/line", "vs floor"], ["ratio imgfeed/floor"]),
    "fanout": (["path", "records/s", "µs/record", "vs bare loop"], ["ratio imgfeed/bare loop", "p99"]),
    "replay": (["file", "stage", "records/s", "µs/record", "vs floor"], ["ratio replay / floor"]),
    "latency": (
        ["updates/s", "client", "samples", "p50", "p99", "max", "p99 vs baseline", "client CPU"],
        ["imgfeed: FeedClient -> handler: p99 at 1,000 updates/s"],
    ),
    "slow_handler": (
        ["t (s)", "RSS (MB)", "RSS vs first", "queue depth", "conflated", "received", "delivered", "threads"],
        ["last images equal to the server's"],
    ),
    "throughput": (
        ["client", "messages/s", "MB/s", "CPU s / 100k msgs", "cipher", "vs baseline (msgs/s)"],
        ["ratio imgfeed/baseline", "per round imgfeed/baseline: median", "aes128"],
    ),
    "soak": (
        ["t (s)", "RSS (MB)", "RSS trimmed (MB)", "server RSS trimmed (MB)", "threads", "fds", "faults"],
        ["book images equal to the server's", "flat rss_trimmed_mb", "verdict: "],
    ),
}

#: Scripts whose exit status is a verdict (1: a check failed). Four seconds are too few to judge
#: flatness, and tests/reliability/test_soak.py judges the short soak's checks itself: here only
#: that the script runs to its verdict counts.
VERDICT_SCRIPTS = {"soak"}


def _run(name: str, extra: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, os.path.join(BENCHMARKS, f"{name}.py"), "--quick", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )


def _header_cells(output: str) -> List[List[str]]:
    """The cells of every Markdown table header row (the row above a |---| line)."""
    lines = output.splitlines()
    headers = []
    for above, line in zip(lines, lines[1:]):
        if line.startswith("|-") and above.startswith("|"):
            headers.append([c.strip() for c in above.strip("|").split("|")])
    return headers


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_prints_its_table(name: str) -> None:
    columns, words = SCRIPTS[name]
    if name == "fanout" and shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (the README's test command installs it)")
    result = _run(name, [])
    allowed = (0, 1) if name in VERDICT_SCRIPTS else (0,)
    assert result.returncode in allowed, f"{name}.py failed:\n{result.stdout}\n{result.stderr}"
    headers = _header_cells(result.stdout)
    assert any(all(c in h for c in columns) for h in headers), (
        f"{name}.py printed no table with columns {columns}:\n{result.stdout}"
    )
    for word in words:
        assert word in result.stdout, f"{name}.py did not print {word!r}:\n{result.stdout}"
    assert "CPU:" in result.stdout, "the machine description is missing"


def test_throughput_runs_its_clients_on_the_cpu_asked_for() -> None:
    cpu = min(os.sched_getaffinity(0))
    result = _run("throughput", ["--cpu", str(cpu)])
    assert result.returncode == 0, f"throughput.py --cpu failed:\n{result.stdout}\n{result.stderr}"
    assert f"the clients on CPU {cpu} only" in result.stdout and "ratio imgfeed/baseline" in result.stdout


def test_throughput_names_the_cpus_it_may_use_for_a_cpu_it_may_not() -> None:
    cpu = max(os.sched_getaffinity(0)) + 1
    result = _run("throughput", ["--cpu", str(cpu)])
    assert result.returncode != 0 and f"--cpu {cpu}: this process may run on CPUs" in result.stderr, result.stderr

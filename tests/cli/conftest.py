"""Fixtures for the command-line tests: run ``imgfeed`` in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional, Sequence, Tuple

import pytest

from imgfeed.cli import main


class CliResult:
    """What one run of the command line produced."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture) -> "object":
    """Run ``imgfeed ARGS`` in this process; returns a :class:`CliResult`."""

    def run(*args: str) -> CliResult:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(args: Sequence[str], timeout: float = 60.0, env: Optional[dict] = None) -> CliResult:
    """Run ``python -m imgfeed ARGS`` as a child process, bounded by ``timeout``."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "imgfeed", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def single_error_line(result: CliResult) -> str:
    """The one line a bad input must produce on stderr (no traceback)."""
    lines: List[str] = [line for line in result.err.splitlines() if line.strip()]
    assert "Traceback" not in result.err, result
    assert len(lines) == 1, result
    return lines[0]


def split_pub(line: str) -> Tuple[str, str]:
    kind, blob = line.split()[:2]
    return kind, blob

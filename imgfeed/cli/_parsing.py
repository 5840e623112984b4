"""Argument-parsing helpers shared by the subcommands: one-line usage errors and checked numbers.

Contract: a value the command cannot use is refused by argparse, before anything starts, with one
line that names the option, what it expects and what it got, in words a person at a terminal
uses (never Python's: no ``None``, no ``float``).
"""

from __future__ import annotations

import argparse
import math
from typing import NoReturn

__all__ = ["one_line_errors", "seconds", "positive_number"]


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a usage error as one line (plus where to get help), not a usage dump.

    argparse prints the whole usage block before the error; for a command with a dozen options that
    buries the one line that matters ("argument --port: not a whole number: 'x'").
    """

    def error(message: str) -> "NoReturn":
        parser.exit(2, f"{parser.prog}: error: {message} (see `{parser.prog} --help`)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def seconds(text: str) -> float:
    """An argparse ``type``: a number of seconds greater than 0 (``--duration``, the timeouts)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds greater than 0, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """An argparse ``type``: a number greater than 0 (``--speed``, ``--updates-per-second``)."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}")
    return value

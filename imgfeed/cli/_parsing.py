"""Argument-parsing helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["one_line_errors"]


def one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make ``parser`` report a usage error as one line (plus where to get help), not a usage dump.

    argparse prints the whole usage block before the error; for a command with a dozen options that
    buries the one line that matters ("argument --port: not a whole number: 'x'").
    """

    def error(message: str) -> "NoReturn":
        parser.exit(2, f"{parser.prog}: error: {message} (see `{parser.prog} --help`)\n")

    parser.error = error  # type: ignore[method-assign]
    return parser

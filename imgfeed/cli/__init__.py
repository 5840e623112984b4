"""The ``imgfeed`` command line: one subcommand per module in this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func=<callable taking the parsed args and returning an exit code>``. ``main`` turns the
user-facing errors of imgfeed into one clear line on stderr and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional, Sequence

from imgfeed._version import __version__
from imgfeed.errors import ImgFeedError

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: List[str] = ["demo", "simulate", "tail", "record", "replay", "check", "keygen"]

_DESCRIPTION = """\
imgfeed: a client for the IMG Arena golf odds distribution service.

Start with `imgfeed demo` to see live (simulated) golf prices, then `imgfeed simulate` and
`imgfeed tail` to connect the client to a local simulator as you would to the real service.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgfeed", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"imgfeed {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr (-vv: debug)")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"imgfeed.cli.{name}").register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except ImgFeedError as exc:
        print(f"imgfeed: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The ``imgfeed`` command line: one subcommand per module in this package.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func=<callable taking the parsed args and returning an exit code>``. ``main`` turns the
user-facing errors of imgfeed into one clear line on stderr and a non-zero exit code, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from typing import List, Optional, Sequence

from imgfeed._version import __version__
from imgfeed.cli._run import quieted
from imgfeed.errors import ImgFeedError

__all__ = ["main", "build_parser"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: List[str] = ["demo", "simulate", "tail", "record", "replay", "fanout", "check", "keygen"]

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
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging on stderr, paramiko's too (-vv: all)"
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"imgfeed.cli.{name}").register(subparsers)
    return parser


#: Loggers whose records the commands say in their own words, shown only with ``-v``: paramiko's
#: (a port that is not SSH gives ~20 lines of ERROR traceback per attempt, which the command says
#: in one line), and the client's lifecycle warnings ("disconnected (...)"), which each command's
#: handler says once, with when the next attempt is; and the IMG feed's own warnings (a
#: subscription that matches nothing), which the commands say in their words too.
QUIET_LOGGERS = {
    "paramiko": logging.CRITICAL + 1,
    "imgfeed.runtime": logging.ERROR,
    "imgfeed.feeds.img": logging.ERROR,
}


def _escape_what_cannot_be_encoded() -> None:
    """An ASCII-only locale shows ``\\xf8`` for ``ø`` instead of failing with ``UnicodeEncodeError``."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            reconfigure(errors="backslashreplace")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _escape_what_cannot_be_encoded()
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    with contextlib.ExitStack() as quiet:
        for name, level in QUIET_LOGGERS.items():
            quiet.enter_context(quieted(name, level, when=args.verbose == 0))
        try:
            return int(func(args) or 0)
        except ImgFeedError as exc:
            print(f"imgfeed: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

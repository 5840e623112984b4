"""``imgfeed replay``: play a recording through the client and print it, as ``tail`` would have.

Uses :func:`imgfeed.replay`, so the recording goes through the same decoding, market book and
dispatch as a live feed. ``--format summary`` prints only the counts at the end, which is a quick way
to check a recording.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import List

from imgfeed.cli import _betfair
from imgfeed.cli._output import LinePrinter
from imgfeed.cli._parsing import one_line_errors, positive_number
from imgfeed.cli._pretty import make_handler
from imgfeed.cli._run import quieted
from imgfeed.feeds.betfair.replay import is_betfair_file
from imgfeed.feeds.img.handler import Handler
from imgfeed.recording.replay import replay
from imgfeed.signals import stop_on_signals

__all__ = ["register", "run"]


def _speed(text: str) -> float:
    try:
        return positive_number(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (--as-fast-as-possible replays without pacing)") from None


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "replay",
        help="play a recording (or a Betfair historical file) through the client and print it",
        description="Play a recording made by `imgfeed record` (of either feed), or a Betfair "
        "historical data file (plain, .gz or .bz2), through the client (same decoding, books and "
        "handlers as a live feed) and print it like `imgfeed tail`. The feed is told from the "
        "file's content.",
    )
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="the recording (several: the parts of a rotated one, in order)",
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="N times the recorded pace, N > 0 (default: %(default)s, as recorded; "
        "--as-fast-as-possible for no pacing)",
    )
    pace.add_argument(
        "--as-fast-as-possible",
        "--fast",
        dest="fast",
        action="store_true",
        help="no pacing: as fast as the output goes",
    )
    parser.add_argument(
        "--format",
        choices=("pretty", "jsonl", "summary"),
        default="pretty",
        help="pretty or jsonl as for `imgfeed tail`; summary: only the counts at the end "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="replay the complete lines of a file that ends in the middle of a line "
        "(a recorder that crashed)",
    )
    one_line_errors(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    speed = None if args.fast else args.speed
    stop = threading.Event()  # Ctrl-C, SIGTERM, or the reader of our output went away
    printer = LinePrinter(on_broken=stop.set)
    handlers: List[Handler] = (
        [] if args.format == "summary" else [make_handler(args.format, printer, replay=True)]
    )
    # The end of the file is the end of the replay's "connection"; the client reports it as a
    # disconnection that it will not retry. True, but noise here. A corrupt or truncated file is
    # logged by the replay transport and raised: the error line below says it, once.
    quiet = args.verbose == 0
    with stop_on_signals(stop), quieted("imgfeed.runtime", logging.CRITICAL, when=quiet):
        with quieted("imgfeed.transport.replay", logging.CRITICAL, when=quiet):
            if is_betfair_file(args.files[0]):
                return _betfair.replay_files(args, speed, stop)
            result = replay(
                args.files, handlers=handlers, speed=speed, allow_truncated=args.allow_truncated, stop=stop
            )
    stats = result.stats
    print(
        f"imgfeed: {'stopped after' if stop.is_set() else 'replayed'} {result.lines} lines: "
        f"{stats.messages} messages, "
        f"{stats.protocol_errors} protocol errors, {len(result.book)} markets in the offering"
        + (" (the recording was not finished; complete lines replayed)" if result.truncated else ""),
        file=sys.stdout if args.format == "summary" else sys.stderr,
    )
    return 0

"""``imgfeed record``: write the raw feed, with receive times, to a recording file.

It says where it writes and what it subscribed to as it starts (and that it records no prices
when it subscribed to nothing), then one log line per event of the connection on stderr (see
:class:`~imgfeed.cli._pretty.StatusLog`), and stops quietly on Ctrl-C or SIGTERM. The client runs
as for ``tail`` (reconnects, re-subscribes); a
:class:`~imgfeed.transport.recording.RecordingTransport` around each SSH connection writes every
line the client receives, flushed as it is written (see :mod:`imgfeed.recording` for the format).
Replay the file with ``imgfeed replay`` or ``imgfeed.replay(...)``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Dict, List, Optional

from imgfeed.cli import _betfair
from imgfeed.cli._common import (
    add_connection_options,
    add_subscription_options,
    config_from_args,
    subscription_filters,
)
from imgfeed.cli._parsing import positive_number, seconds
from imgfeed.cli._pretty import StatusLog
from imgfeed.cli._run import run_client
from imgfeed.cli._subscription import describe_subscription
from imgfeed.feeds.img.client import FeedClient, ssh_transport_factory
from imgfeed.recording.writer import RecordingWriter
from imgfeed.transport.recording import recording_factory

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  imgfeed record --host 127.0.0.1 --port 2093 --user demo --key demo_key --known-hosts sim_known_hosts \\
      --subscribe-all --out feed.jsonl.gz
  imgfeed record ... --subscribe-all --out feed.jsonl.gz --rotate-mb 100    # feed.1.jsonl.gz, feed.2...
"""


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "record",
        help="record the raw feed with receive times (JSON lines, optionally gzip)",
        description="Connect with the full client and write every line received, with its receive "
        "time, to --out (gzip when the name ends in .gz). Each line is flushed as it is written, so a "
        "crash loses at most the line being written. Stop with Ctrl-C or SIGTERM.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _betfair.add_feed_option(parser)
    add_connection_options(parser)
    add_subscription_options(parser)
    _betfair.add_betfair_options(parser)
    out = parser.add_argument_group("output")
    out.add_argument(
        "--out", required=True, metavar="FILE", help="the recording to write (replaced if it exists)"
    )
    out.add_argument(
        "--rotate-mb",
        type=positive_number,
        metavar="MB",
        help="start a new file (FILE.1, FILE.2 ... before the suffixes) after this many megabytes",
    )
    out.add_argument(
        "--fsync", action="store_true", help="also fsync every line (survives a power cut; slower)"
    )
    parser.add_argument("--duration", type=seconds, metavar="SECONDS", help="stop after this many seconds")
    parser.set_defaults(func=run)


def starting_line(path: str, address: str, filters: Optional[Dict[str, List[str]]]) -> str:
    """What ``record`` says as it starts: where it writes, from where, and what it subscribed to."""
    where = f"imgfeed: recording {address} to {os.path.abspath(path)}"
    if filters is None:
        return (
            f"{where} with no subscription: only the offering and heartbeats will be recorded, no prices "
            "(add --subscribe-all, or --event/--market-type/--market); Ctrl-C stops"
        )
    return f"{where}, subscribed to {describe_subscription(filters)}; Ctrl-C stops"


def run(args: argparse.Namespace) -> int:
    if args.feed == "betfair":
        return _betfair.record(args)
    config = config_from_args(args)
    filters = subscription_filters(args)
    rotate = None if args.rotate_mb is None else max(1, int(args.rotate_mb * 1024 * 1024))
    writer = RecordingWriter(args.out, source=config.address, rotate_bytes=rotate, fsync=args.fsync)
    try:
        factory = recording_factory(ssh_transport_factory(config), writer, config.max_line_length)
        client = FeedClient(
            config, handlers=[StatusLog(logging.getLogger("imgfeed.record"))], transport_factory=factory
        )
        print(starting_line(args.out, config.address, filters), file=sys.stderr, flush=True)
        code = run_client(client, args, filters, duration=args.duration)
    except BaseException:
        writer.close()
        if writer.lines_written == 0:
            for path in writer.paths:  # nothing was recorded: leave no empty file behind
                os.unlink(path)
        raise
    writer.close()
    files = ", ".join(writer.paths)
    print(f"imgfeed: recorded {writer.lines_written} lines to {files}", file=sys.stderr)
    return code

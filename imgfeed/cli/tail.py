"""``imgfeed tail``: connect with the full client and print what arrives.

The client is the one applications use -- reconnection, suspension rules and all -- so what ``tail``
shows is what a handler would see. ``--format jsonl`` prints one JSON object per line on stdout
(see :mod:`imgfeed.cli._output` for the contract); logs go to stderr.
"""

from __future__ import annotations

import argparse
import threading

from imgfeed.cli._common import (
    add_connection_options,
    add_subscription_options,
    config_from_args,
    subscription_filters,
)
from imgfeed.cli._output import LinePrinter, make_handler
from imgfeed.cli._run import run_client
from imgfeed.feeds.img.client import FeedClient

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  imgfeed tail --host 127.0.0.1 --port 2093 --user demo --key demo_key \
      --known-hosts sim_known_hosts --subscribe-all
  imgfeed tail ... --event ev.golf_1100 --format jsonl | jq -c 'select(.kind == "market_update")'
"""


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "tail",
        help="connect and print the feed (pretty, or one JSON object per line)",
        description="Connect with the full client (it reconnects by itself and applies the suspension "
        "rules) and print every message and connection event until Ctrl-C.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_connection_options(parser)
    add_subscription_options(parser)
    parser.add_argument(
        "--format",
        choices=("pretty", "jsonl"),
        default="pretty",
        help="pretty: one readable line per message; jsonl: one JSON object per line (default: %(default)s)",
    )
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    filters = subscription_filters(args)
    stop = threading.Event()
    printer = LinePrinter(on_broken=stop.set)  # `imgfeed tail | head`: stop when head has had enough
    client = FeedClient(config, handlers=[make_handler(args.format, printer)])
    return run_client(client, args, filters, duration=args.duration, stop=stop)

"""``imgfeed tail``: connect with the full client and print what arrives.

The client is the one applications use -- reconnection, suspension rules and all -- so what ``tail``
shows is what a handler would see. ``--format jsonl`` prints one JSON object per line on stdout
(see :mod:`imgfeed.cli._output` for the contract); logs go to stderr, where a disconnection is
also said once for the person watching. Market ids are shown raw, as ``--market`` takes them (the
decoded form beside them in pretty output); ``--market`` accepts either form.
"""

from __future__ import annotations

import argparse
import logging
import threading

from imgfeed.cli import _betfair, tail_redis
from imgfeed.cli._common import (
    add_connection_options,
    add_subscription_options,
    config_from_args,
    subscription_filters,
)
from imgfeed.cli._output import LinePrinter
from imgfeed.cli._parsing import seconds
from imgfeed.cli._pretty import StatusLog, make_handler
from imgfeed.cli._run import run_client
from imgfeed.feeds.img.client import FeedClient

__all__ = ["register", "run"]

_EXAMPLES = """\
examples:
  imgfeed tail --host 127.0.0.1 --port 2093 --user demo --key demo_key \
      --known-hosts sim_known_hosts --subscribe-all
  imgfeed tail ... --event ev.golf_1100 --format jsonl | jq -c 'select(.kind == "market_update")'
  imgfeed tail ... --market 'golf_6005_matchbet~7cgolfer_ids~3d9548~2c14689'
  IMGFEED_BETFAIR_SESSION=... imgfeed tail --feed betfair --host localhost --port 8443 \
      --app-key emulator-app-key --cafile ~/.imgfeed/emulator/ca.pem --event-type-id 7
  imgfeed tail --from-redis redis://localhost:6379/0 --stream racing --format jsonl   # IMG or Betfair
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
    _betfair.add_feed_option(parser, default=None)  # None: IMG, or with --from-redis the stream's
    add_connection_options(parser)
    add_subscription_options(parser)
    _betfair.add_betfair_options(parser)
    parser.add_argument(
        "--format",
        choices=("pretty", "jsonl"),
        default="pretty",
        help="pretty: one readable line per message; jsonl: one JSON object per line (default: %(default)s)",
    )
    parser.add_argument("--duration", type=seconds, metavar="SECONDS", help="stop after this many seconds")
    tail_redis.add_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.from_redis:
        return tail_redis.run(args)
    if args.feed == "betfair":
        return _betfair.tail(args)
    tail_redis.check_direct(args)
    config = config_from_args(args)
    filters = subscription_filters(args)
    stop = threading.Event()
    printer = LinePrinter(on_broken=stop.set)  # `imgfeed tail | head`: stop when head has had enough
    handlers = [make_handler(args.format, printer)]
    if args.format == "jsonl":
        # stdout is for programs; the person watching still hears of a disconnection, once, on stderr.
        handlers.append(StatusLog(logging.getLogger("imgfeed.tail")))
    client = FeedClient(config, handlers=handlers)
    return run_client(client, args, filters, duration=args.duration, stop=stop)

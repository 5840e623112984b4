"""``imgfeed fanout``: hold the feed's one connection and publish it to a Redis stream.

The client runs as for ``tail`` -- IMG by default, Betfair with ``--feed betfair`` and the same
Betfair options as ``tail`` -- (reconnects, re-subscribes, the suspension rules); a
:class:`~imgfeed.fanout.redis.Publisher` taps it and writes every line and lifecycle marker to
``--stream``, with checkpoints for consumers that join late (docs/fanout.md). Consumers are
``imgfeed tail --from-redis`` or :func:`imgfeed.fanout.redis.consume` in your services. One log
line per event of the connection on stderr, and the publisher's counters when it stops.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any, Callable, Tuple

from imgfeed.cli import _betfair
from imgfeed.cli._common import (
    add_connection_options,
    add_subscription_options,
    config_from_args,
    subscription_filters,
)
from imgfeed.cli._parsing import positive_number, seconds
from imgfeed.cli._pretty import StatusLog
from imgfeed.cli._redis import PASSWORD_ENV, add_redis_tls_option, target_from_args
from imgfeed.cli._run import run_client
from imgfeed.feeds.img.client import FeedClient

__all__ = ["register", "run"]

_EXAMPLES = f"""\
examples:
  imgfeed fanout --host 127.0.0.1 --port 2093 --user demo --key demo_key --known-hosts sim_known_hosts \\
      --subscribe-all --redis redis://localhost:6379/0 --stream golf
  {PASSWORD_ENV}=... imgfeed fanout ... --redis rediss://fanout@redis.internal:6380/0 --stream golf
  imgfeed tail --from-redis redis://localhost:6379/0 --stream golf     # on any other machine
  IMGFEED_BETFAIR_SESSION=... imgfeed fanout --feed betfair --host localhost --port 8443 \
      --app-key emulator-app-key --cafile ~/.imgfeed/emulator/ca.pem --event-type-id 7 \
      --redis redis://localhost:6379/0 --stream racing
"""


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "fanout",
        help="connect once and publish the feed to a Redis stream for any number of consumers",
        description="Connect with the full client and publish every line received, and every "
        "connection event, to a Redis stream, with checkpoints for consumers that start late. "
        "Stop with Ctrl-C or SIGTERM.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _betfair.add_feed_option(parser)
    add_connection_options(parser)
    add_subscription_options(parser)
    _betfair.add_betfair_options(parser)
    out = parser.add_argument_group("redis")
    out.add_argument("--redis", required=True, metavar="URL", help="redis://[user[:password]@]host[:port][/db] or rediss://")
    out.add_argument("--stream", required=True, metavar="NAME", help="the stream's key")
    out.add_argument("--maxlen", type=int, default=1_000_000, metavar="N", help="trim the stream to about N entries (default: %(default)s)")
    out.add_argument(
        "--checkpoint-interval", type=positive_number, default=30.0, metavar="S",
        help="seconds between checkpoints for late joiners (default: %(default)s)",
    )
    add_redis_tls_option(out)
    parser.add_argument("--duration", type=seconds, metavar="SECONDS", help="stop after this many seconds")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imgfeed.fanout.redis import Publisher

    target = target_from_args(args.redis, args, "--redis")
    client, address, run_feed = _betfair_client(args) if args.feed == "betfair" else _img_client(args)
    publisher = Publisher(client, target, args.stream, maxlen=args.maxlen, checkpoint_interval=args.checkpoint_interval)
    print(f"imgfeed: publishing {address} to {target.describe()} stream {args.stream}", file=sys.stderr, flush=True)
    publisher.start()
    try:
        return run_feed()
    finally:
        publisher.stop(timeout=5.0)
        s = publisher.stats()
        print(
            f"imgfeed: published {s.lines} lines and {s.written - s.lines} markers in {s.batches} batches; "
            f"{s.checkpoints} checkpoints, {s.dropped} dropped, {s.gaps} gaps, {s.buffered} not written",
            file=sys.stderr,
            flush=True,
        )


#: (the client, its address, run it until stopped -> the exit code)
_Feed = Tuple[Any, str, Callable[[], int]]


def _img_client(args: argparse.Namespace) -> _Feed:
    config = config_from_args(args)
    filters = subscription_filters(args)
    client = FeedClient(config, handlers=[StatusLog(logging.getLogger("imgfeed.fanout"))])
    return client, config.address, lambda: run_client(client, args, filters, duration=args.duration)


def _betfair_client(args: argparse.Namespace) -> _Feed:
    from imgfeed.cli._betfair_output import BetfairStatusLog
    from imgfeed.feeds.betfair.client import BetfairClient

    config = _betfair.config_from_args(args)
    _betfair.filters_from_args(args)  # a bad --ladder-levels is said now, before anything connects
    client = BetfairClient(config, handlers=[BetfairStatusLog(logging.getLogger("imgfeed.fanout"))])
    return client, config.address, lambda: _betfair.run_client(client, args, duration=args.duration)

"""``imgfeed tail --from-redis URL --stream NAME``: print a fan-out stream as ``tail`` prints the feed.

The consumer is the one services use (:class:`~imgfeed.fanout.redis.StreamConsumer`): it starts
from the latest checkpoint, follows the upstream's sessions and suspensions, and reconnects to
Redis by itself, so what it prints is what a handler downstream would see. The stream's feed
(its publisher says which) decides the output: IMG's records, or Betfair's books as ``tail --feed
betfair`` prints them; a ``--feed`` given must be the stream's. With ``--group`` and
``--consumer`` it reads as a member of a consumer group, acknowledging each entry once printed.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from typing import Any, List

from imgfeed.cli._output import LinePrinter
from imgfeed.cli._pretty import StatusLog, make_handler
from imgfeed.cli._redis import add_redis_tls_option, target_from_args
from imgfeed.cli._run import quieted
from imgfeed.errors import ConfigError, ImgFeedError
from imgfeed.runtime.stats import ClientState
from imgfeed.signals import stop_on_signals

__all__ = ["add_options", "run", "check_direct"]

#: How often the main thread checks for Ctrl-C, --duration and a consumer that stopped.
_POLL = 0.2


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--from-redis --stream --group --consumer``; ``--host`` and ``--user`` become optional
    (:func:`check_direct` asks for them when ``--from-redis`` is not given)."""
    for action in parser._actions:
        if action.dest in ("host", "user"):
            action.required = False
    group = parser.add_argument_group("from a fan-out stream (instead of --host)")
    group.add_argument("--from-redis", metavar="URL", help="read a stream `imgfeed fanout` publishes")
    group.add_argument("--stream", metavar="NAME", help="the stream's key (with --from-redis)")
    group.add_argument("--group", metavar="G", help="read as a member of this consumer group")
    group.add_argument("--consumer", metavar="C", help="this member's name in --group")
    add_redis_tls_option(group)


def check_direct(args: argparse.Namespace) -> None:
    """Without ``--from-redis``, ``--host`` and ``--user`` are required."""
    missing = [o for o, v in (("--host", args.host), ("--user", args.user)) if not v]
    if missing:
        raise ImgFeedError(f"the following arguments are required: {', '.join(missing)} (or --from-redis)")


def run(args: argparse.Namespace) -> int:
    from imgfeed.fanout.redis import StreamConsumer

    if not args.stream:
        raise ImgFeedError("--from-redis needs --stream NAME")
    if (args.group is None) != (args.consumer is None):
        raise ImgFeedError("--group and --consumer go together")
    target = target_from_args(args.from_redis, args, "--from-redis")
    stop = threading.Event()
    printer = LinePrinter(on_broken=stop.set)
    try:
        consumer = StreamConsumer(target, args.stream, feed=args.feed, group=args.group, consumer=args.consumer)
    except ConfigError as exc:
        if exc.field != "feed":
            raise
        if args.feed is not None and exc.value == args.feed:
            raise ImgFeedError(f"bad --feed {exc.value!r}: expected {exc.allowed}") from None
        raise ImgFeedError(f"the stream {args.stream!r} carries the feed {exc.value!r}; expected {exc.allowed}") from None
    for handler in _handlers(consumer.feed, args.format, printer):
        consumer.add_handler(handler)
    with quieted("imgfeed.betfair", logging.WARNING, when=args.verbose == 0):
        return _run(consumer, args, stop)


def _handlers(feed: str, output: str, printer: LinePrinter) -> List[Any]:
    """What prints the stream: the feed's own printer, and with jsonl its story on stderr."""
    if feed == "betfair":
        from imgfeed.cli._betfair_output import BetfairPrinter, BetfairStatusLog

        return [BetfairPrinter(printer, jsonl=output == "jsonl")] + ([BetfairStatusLog()] if output == "jsonl" else [])
    handlers = [make_handler(output, printer)]
    if output == "jsonl":
        handlers.append(StatusLog(logging.getLogger("imgfeed.tail")))
    return handlers


def _run(consumer: Any, args: argparse.Namespace, stop: threading.Event) -> int:
    deadline = None if args.duration is None else time.monotonic() + args.duration
    with stop_on_signals(stop):
        consumer.start()
        try:
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if consumer.state in (ClientState.STOPPING, ClientState.STOPPED):
                    break
                stop.wait(_POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic())))
        finally:
            consumer.stop(timeout=5.0)
    consumer.join(timeout=5.0)
    return 0

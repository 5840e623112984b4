"""``--feed betfair`` for ``tail``, ``record``, ``replay`` and ``fanout``: options, checks and the run loop.

Contract: :func:`add_betfair_options` adds the Betfair options (in their own group, so that the
IMG options stay as they are); :func:`config_from_args` builds a
:class:`~imgfeed.feeds.betfair.config.BetfairConfig` and raises one line saying what is wrong and
which option sets it. The session token comes from ``--session-token`` or, better (a command
line is visible to every user of the machine), from ``$IMGFEED_BETFAIR_SESSION``; it is never
printed or logged. :func:`run_client` starts the client, subscribes (retrying until a session is
live), and runs until Ctrl-C, SIGTERM or ``--duration``; a failure that needs a person (an app
key refused, a certificate that does not verify) ends it with one line that says what to check.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from imgfeed.cli._betfair_output import BetfairPrinter, BetfairStatusLog
from imgfeed.cli._output import LinePrinter
from imgfeed.cli._run import quieted
from imgfeed.errors import (
    AuthenticationError,
    CertificateError,
    ClientClosedError,
    ConfigError,
    ImgFeedError,
    RequestTimeoutError,
    ServerRefusedError,
)
from imgfeed.feeds.betfair.adapter import SubscriptionError
from imgfeed.feeds.betfair.client import BetfairClient, tls_transport_factory
from imgfeed.feeds.betfair.config import DEFAULT_HOST, DEFAULT_PORT, BetfairConfig
from imgfeed.feeds.betfair.replay import replay
from imgfeed.recording.writer import RecordingWriter
from imgfeed.runtime.stats import ClientState
from imgfeed.signals import stop_on_signals
from imgfeed.transport.recording import recording_factory

__all__ = [
    "SESSION_ENV",
    "DEFAULT_FIELDS",
    "add_feed_option",
    "add_betfair_options",
    "config_from_args",
    "filters_from_args",
    "run_client",
    "join_explained",
    "tail",
    "record",
    "replay_files",
]

#: Where the session token may come from instead of the command line.
SESSION_ENV = "IMGFEED_BETFAIR_SESSION"
#: What ``tail`` asks for unless told otherwise: the best prices, last traded, volume, definitions.
DEFAULT_FIELDS = ("EX_BEST_OFFERS", "EX_LTP", "EX_TRADED_VOL", "EX_MARKET_DEF")
_POLL = 0.2
_SUBSCRIBE_SLICE = 1.0
log = logging.getLogger("imgfeed.betfair.cli")


def add_feed_option(parser: Any, default: Optional[str] = "img") -> None:
    """``--feed img|betfair``; ``default=None``: not given stays ``None`` (``tail --from-redis``:
    the stream says which feed it carries, and a ``--feed`` given must agree)."""
    parser.add_argument(
        "--feed",
        choices=("img", "betfair"),
        default=default,
        help="which feed: IMG Arena golf over SSH (default), or Betfair's Exchange Stream API over TLS"
        + ("; with --from-redis: the stream's (default: whichever it carries)" if default is None else ""),
    )


def _fields(text: str) -> List[str]:
    fields = [f.strip().upper() for f in text.split(",") if f.strip()]
    if not fields:
        raise argparse.ArgumentTypeError(f"expected comma-separated fields, e.g. EX_BEST_OFFERS,EX_LTP; got {text!r}")
    return fields


def add_betfair_options(parser: argparse.ArgumentParser, subscription: bool = True) -> None:
    """The options of ``--feed betfair`` (``--host``/``--port`` are shared with the IMG feed).

    ``subscription=False`` leaves out what only a subscription uses (filters, fields, conflation),
    for commands that only connect, such as ``check``.
    """
    group = parser.add_argument_group(
        "Betfair (--feed betfair)",
        f"--host defaults to {DEFAULT_HOST} and --port to {DEFAULT_PORT}. The session token is read "
        f"from ${SESSION_ENV} when --session-token is not given (safer: a command line is visible "
        "to other users).",
    )
    add = group.add_argument
    add("--app-key", metavar="KEY", help="your Betfair application key")
    add("--session-token", metavar="TOKEN", help=f"a session token from Betfair's login (or ${SESSION_ENV})")
    add("--cafile", metavar="FILE", help="CA certificates to verify the server with (default: the system's)")
    if not subscription:
        parser.set_defaults(heartbeat_ms=5000, conflate_ms=None)
        return
    add("--market-id", dest="bf_market_ids", nargs="+", action="extend", metavar="ID", help="markets, e.g. 1.23456789")
    add("--event-type-id", dest="bf_event_type_ids", nargs="+", action="extend", metavar="ID",
        help="event types, e.g. 7 (horse racing), 1 (football)")
    add("--event-id", dest="bf_event_ids", nargs="+", action="extend", metavar="ID", help="events")
    add("--market-type-code", dest="bf_market_types", nargs="+", action="extend", metavar="TYPE",
        help="Betfair market types, e.g. WIN MATCH_ODDS")
    add("--country", dest="bf_countries", nargs="+", action="extend", metavar="CODE", help="e.g. GB IE")
    add("--fields", type=_fields, default=list(DEFAULT_FIELDS), metavar="F,F,...",
        help=f"market data fields (default: {','.join(DEFAULT_FIELDS)})")
    add("--ladder-levels", type=int, default=3, metavar="N", help="levels of the best-offer ladders, 1-10 (default: 3)")
    add("--heartbeat-ms", type=int, default=5000, metavar="MS", help="heartbeat interval to ask for, 500-5000 (default: 5000)")
    add("--conflate-ms", type=int, metavar="MS", help="conflation to ask for, 0-120000 (default: none)")
    add("--orders", action="store_true", help="also subscribe to the account's orders")
    add("--no-markets", action="store_true", help="do not subscribe to markets (with --orders: orders only)")


_OPTION_OF_FIELD = {"session_token": "--session-token", "app_key": "--app-key"}


def config_from_args(args: argparse.Namespace, **overrides: Any) -> BetfairConfig:
    """The client's configuration from the options (module docstring).

    Raises:
        ImgFeedError: one line naming the option and what it takes.
    """
    token = args.session_token or os.environ.get(SESSION_ENV)
    if not args.app_key:
        raise ImgFeedError("--feed betfair needs --app-key (your Betfair application key)")
    if not token:
        raise ImgFeedError(f"--feed betfair needs a session token: set ${SESSION_ENV} (or --session-token)")
    try:
        return BetfairConfig(
            app_key=args.app_key,
            session_token=token,
            host=args.host or DEFAULT_HOST,
            port=args.port or DEFAULT_PORT,
            cafile=args.cafile,
            heartbeat_ms=args.heartbeat_ms,
            conflate_ms=args.conflate_ms,
            **overrides,
        )
    except ConfigError as exc:
        option = _OPTION_OF_FIELD.get(exc.field, "--" + exc.field.replace("_", "-"))
        shown = "<hidden>" if exc.field == "session_token" else repr(exc.value)
        raise ImgFeedError(f"bad {option} {shown}: expected {exc.allowed}") from None


def filters_from_args(args: argparse.Namespace) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """The ``marketFilter`` and ``marketDataFilter`` the options ask for."""
    market_filter: Dict[str, Any] = {}
    for option, key in (
        ("bf_market_ids", "marketIds"),
        ("bf_event_type_ids", "eventTypeIds"),
        ("bf_event_ids", "eventIds"),
        ("bf_market_types", "marketTypes"),
        ("bf_countries", "countryCodes"),
    ):
        values = getattr(args, option, None)
        if values:
            market_filter[key] = list(values)
    if not 1 <= args.ladder_levels <= 10:
        raise ImgFeedError(f"bad --ladder-levels {args.ladder_levels}: expected 1 to 10")
    return market_filter, {"fields": list(args.fields), "ladderLevels": args.ladder_levels}


def _subscribe(client: BetfairClient, args: argparse.Namespace, stop: threading.Event) -> None:
    """Subscribe as the options say, waiting (in slices, so Ctrl-C works) for a live session."""
    market_filter, data_filter = filters_from_args(args)
    wanted: List[Callable[[], Any]] = []
    if not args.no_markets:
        wanted.append(lambda: client.subscribe_markets(market_filter, data_filter, timeout=_SUBSCRIBE_SLICE))
    if args.orders:
        wanted.append(lambda: client.subscribe_orders(timeout=_SUBSCRIBE_SLICE))
    for request in wanted:
        while not stop.is_set():
            try:
                request()
                break
            except RequestTimeoutError:
                if client.state in (ClientState.STOPPING, ClientState.STOPPED):
                    return
            except ClientClosedError:
                return
            except SubscriptionError as exc:
                raise ImgFeedError(f"{exc}; narrow the filter (--market-id, --event-type-id ...)") from None


def run_client(
    client: BetfairClient,
    args: argparse.Namespace,
    duration: Optional[float] = None,
    stop: Optional[threading.Event] = None,
    on_tick: Optional[Callable[[], None]] = None,
) -> int:
    """Run ``client`` until stopped (module docstring); returns the exit code."""
    stop = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration
    with stop_on_signals(stop):
        client.start()
        try:
            # Subscribing waits for a live session; on its own thread, so that the main thread
            # goes on drawing (demo) and noticing Ctrl-C meanwhile.
            errors: List[BaseException] = []

            def subscribe() -> None:
                try:
                    _subscribe(client, args, stop)
                except BaseException as exc:  # noqa: B036 -- handed to the main thread
                    errors.append(exc)
                    stop.set()

            subscriber = threading.Thread(target=subscribe, name="imgfeed-cli-subscribe", daemon=True)
            subscriber.start()
            while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                if client.state in (ClientState.STOPPING, ClientState.STOPPED):
                    break
                if on_tick is not None:
                    on_tick()
                stop.wait(_POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic())))
            stop.set()
            subscriber.join(_SUBSCRIBE_SLICE * 2)
            if errors:
                raise errors[0]
        finally:
            client.stop(timeout=5.0)
    join_explained(client)
    return 0


def join_explained(client: BetfairClient) -> None:
    """Join a stopped client; a failure that needs a person becomes one line saying what to check."""
    try:
        client.join(timeout=5.0)
    except CertificateError as exc:
        raise ImgFeedError(f"{exc}. Check --host and --cafile") from None
    except ServerRefusedError as exc:
        raise ImgFeedError(f"Betfair refused the connection: {exc}") from None
    except AuthenticationError as exc:
        raise ImgFeedError(f"{exc}. Log in again and pass the new token in ${SESSION_ENV}") from None


def tail(args: argparse.Namespace) -> int:
    """``imgfeed tail --feed betfair``."""
    config = config_from_args(args)
    stop = threading.Event()
    printer = LinePrinter(on_broken=stop.set)
    handlers: List[Any] = [BetfairPrinter(printer, jsonl=args.format == "jsonl")]
    if args.format == "jsonl":
        handlers.append(BetfairStatusLog())
    with quieted("imgfeed.betfair", logging.WARNING, when=args.verbose == 0):
        return run_client(BetfairClient(config, handlers=handlers), args, duration=args.duration, stop=stop)


def record(args: argparse.Namespace) -> int:
    """``imgfeed record --feed betfair``: the lines the client receives, with receive times."""
    config = config_from_args(args)
    rotate = None if args.rotate_mb is None else max(1, int(args.rotate_mb * 1024 * 1024))
    writer = RecordingWriter(args.out, source=config.address, rotate_bytes=rotate, fsync=args.fsync, feed="betfair")
    try:
        factory = recording_factory(tls_transport_factory(config), writer, config.max_line_length)
        client = BetfairClient(config, handlers=[BetfairStatusLog()], transport_factory=factory)
        print(f"imgfeed: recording {config.address} to {os.path.abspath(args.out)}; Ctrl-C stops",
              file=sys.stderr, flush=True)
        code = run_client(client, args, duration=args.duration)
    except BaseException:
        writer.close()
        if writer.lines_written == 0:
            for path in writer.paths:
                os.unlink(path)
        raise
    writer.close()
    print(f"imgfeed: recorded {writer.lines_written} lines to {', '.join(writer.paths)}", file=sys.stderr)
    return code


def replay_files(args: argparse.Namespace, speed: Optional[float], stop: threading.Event) -> int:
    """``imgfeed replay FILE`` for a Betfair historical file or a recording of a Betfair stream."""
    printer = LinePrinter(on_broken=stop.set)
    handlers = [] if args.format == "summary" else [BetfairPrinter(printer, jsonl=args.format == "jsonl")]
    result = replay(args.files, handlers=handlers, speed=speed, allow_truncated=args.allow_truncated, stop=stop)
    stats = result.stats
    print(
        f"imgfeed: {'stopped after' if stop.is_set() else 'replayed'} {result.lines} lines of a Betfair stream: "
        f"{stats.messages} messages, {stats.protocol_errors} protocol errors, {len(result.markets)} markets, "
        f"{len(result.orders)} order markets",
        file=sys.stdout if args.format == "summary" else sys.stderr,
    )
    return 0

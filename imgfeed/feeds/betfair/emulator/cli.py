"""The emulator's command line: :func:`add_arguments` and :func:`run`, for ``imgfeed simulate --feed
betfair`` (the lead wires them into ``imgfeed``) and ``python -m imgfeed.feeds.betfair.emulator``.

``run`` makes the CA and server certificate on first use (``~/.imgfeed/emulator`` by default, mode
0700, files 0600), starts the emulator, prints exactly how to connect (host, port, the CA file for
``cafile``, the accepted app key and session token, an ``openssl s_client`` command and a Python
snippet), and serves until Ctrl-C, SIGTERM or ``--duration``; then it stops cleanly (every
connection closed, every thread joined). A bad setting is an error that names the option.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Optional, TextIO

from imgfeed.errors import ImgFeedError
from imgfeed.feeds.betfair.emulator.config import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    ScenarioConfig,
)
from imgfeed.feeds.betfair.emulator.faults import SPLIT_MODES
from imgfeed.feeds.betfair.emulator.server import DEFAULT_CERT_DIR, EmulatorServer
from imgfeed.loopback.cli import serve

__all__ = ["add_arguments", "run", "DEFAULT_PORT", "DESCRIPTION", "EPILOG"]

#: Betfair listens on 443, which needs privileges; the emulator's default is the usual alternative.
DEFAULT_PORT = 8443

DESCRIPTION = (
    "Run a local Betfair Exchange Stream API over TLS with emulated horse racing, football and tennis "
    "markets and an account's orders, and print how to connect to it."
)
EPILOG = """\
examples:
  python -m imgfeed.feeds.betfair.emulator                      # 127.0.0.1:8443, 12 markets, 5 steps/s
  python -m imgfeed.feeds.betfair.emulator --port 0 --markets 200 --segment-size 16384
  python -m imgfeed.feeds.betfair.emulator --split utf8 --chunk-sizes 1,3   # hostile framing
"""


def _sizes(text: str) -> tuple:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated byte counts, e.g. 1,3,7; got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"chunk sizes must be integers >= 1, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--cert-dir",
        default=DEFAULT_CERT_DIR,
        metavar="DIR",
        help="the CA and server certificate live here, made on first use (default: %(default)s)",
    )
    parser.add_argument(
        "--app-key",
        action="append",
        metavar="KEY",
        help=f"accepted app key (repeatable; default: {DEFAULT_APP_KEY})",
    )
    parser.add_argument(
        "--session-token",
        action="append",
        metavar="TOKEN",
        help=f"accepted session token (repeatable; default: {DEFAULT_SESSION_TOKEN})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="scenario seed: same seed, same markets (default: 0)"
    )
    parser.add_argument(
        "--markets", type=int, default=12, metavar="N", help="markets open at once (default: 12)"
    )
    parser.add_argument(
        "--order-markets",
        type=int,
        default=3,
        metavar="N",
        help="markets with the account's orders (default: 3)",
    )
    parser.add_argument(
        "--updates-per-second",
        type=float,
        default=5.0,
        metavar="N",
        help="scenario steps per second (default: 5)",
    )
    parser.add_argument(
        "--connection-limit", type=int, default=10, metavar="N", help="connections per app key (default: 10)"
    )
    parser.add_argument(
        "--subscription-limit",
        type=int,
        default=200,
        metavar="N",
        help="markets per subscription (default: 200)",
    )
    parser.add_argument(
        "--auth-timeout", type=float, default=15.0, metavar="S", help="seconds to authenticate (default: 15)"
    )
    parser.add_argument(
        "--segment-size",
        type=int,
        default=32 * 1024,
        metavar="BYTES",
        help="segment messages above this size (default: 32768)",
    )
    parser.add_argument(
        "--split",
        choices=SPLIT_MODES,
        help="cut every write inside CRLF, inside UTF-8 characters, or after CRLF",
    )
    parser.add_argument(
        "--chunk-sizes", type=_sizes, metavar="N,N,...", help="write in pieces of these sizes, e.g. 1"
    )
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")


def _instructions(server: EmulatorServer, app_key: str, token: str) -> str:
    q = shlex.quote
    cafile = server.cafile
    host = "localhost" if server.host in ("127.0.0.1", "::1") else server.host
    auth = f'{{"op":"authentication","id":1,"appKey":"{app_key}","session":"{token}"}}'
    sub = (
        '{"op":"marketSubscription","id":2,"marketFilter":{},'
        '"marketDataFilter":{"fields":["EX_BEST_OFFERS","EX_LTP"]}}'
    )
    return f"""\
Betfair Exchange Stream API emulator listening on {server.host}:{server.port} (TLS)
  scenario:      seed {server.scenario.config.seed}, {server.scenario.config.markets} markets, \
{server.scenario.config.updates_per_second:g} steps/s

  host:          {host} (the certificate covers 127.0.0.1 and localhost)
  port:          {server.port}
  cafile:        {cafile}
  app key:       {app_key}
  session token: {token} (emulator-only credentials)

Connect with OpenSSL, then paste the two lines below:
  openssl s_client -quiet -crlf -verify_return_error -CAfile {q(cafile)} -connect {host}:{server.port}
  {auth}
  {sub}

Connect from Python:
  ctx = ssl.create_default_context(cafile={cafile!r})
  sock = ctx.wrap_socket(socket.create_connection(({host!r}, {server.port})), server_hostname={host!r})

Connect with imgfeed:
  imgfeed tail --feed betfair --host {host} --port {server.port} --app-key {q(app_key)} \
--session-token {q(token)} \
--cafile {q(cafile)}

Ctrl-C stops the emulator.
"""


def run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Run the emulator with the options of :func:`add_arguments`; returns the exit status."""
    out = out if out is not None else sys.stdout
    app_keys = args.app_key or [DEFAULT_APP_KEY]
    tokens = args.session_token or [DEFAULT_SESSION_TOKEN]
    try:
        config = EmulatorConfig(
            app_keys=app_keys,
            session_tokens=tokens,
            connection_limit=args.connection_limit,
            subscription_limit=args.subscription_limit,
            auth_timeout=args.auth_timeout,
            segment_size=args.segment_size,
        )
        scenario_config = ScenarioConfig(
            seed=args.seed,
            markets=args.markets,
            order_markets=args.order_markets,
            updates_per_second=args.updates_per_second,
        )
    except ValueError as exc:
        raise ImgFeedError(str(exc)) from None
    server = EmulatorServer(config, scenario_config, host=args.host, port=args.port, cert_dir=args.cert_dir)
    if args.split:
        server.faults.set_split(args.split)
    if args.chunk_sizes:
        server.faults.set_chunking(args.chunk_sizes)
    return serve(
        server,
        out,
        args.duration,
        lambda: _instructions(server, app_keys[0], tokens[0]),
        "emulator",
        "knows the emulator's app key and session token",
    )

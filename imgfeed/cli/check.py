"""``imgfeed check``: is everything set up? Connect, start a session, wait for a heartbeat.

Prints the session id (quote it to IMG Arena support) and exits 0, or prints what failed and what
to do and exits 1; Ctrl-C or SIGTERM before the verdict exits 130 and prints nothing. It makes one
connection attempt and never subscribes, so it is cheap to run from a deployment script or a
monitoring probe. ``--feed betfair`` checks a Betfair set-up instead: TLS,
certificate, app key and session token, up to the authentication (:mod:`imgfeed.cli._betfair_check`).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Optional

from imgfeed.cli import _betfair, _betfair_check
from imgfeed.cli._common import add_connection_options, config_from_args
from imgfeed.cli._run import INTERRUPTED, check_once, join_explained, quieted
from imgfeed.feeds.img.client import FeedClient
from imgfeed.feeds.img.config import ReconnectPolicy
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.messages import Heartbeat, ServerClosing
from imgfeed.runtime.events import Disconnected, Session

__all__ = ["register", "run", "CheckHandler"]


class CheckHandler(Handler):
    """Notes the session, the first heartbeat, and why the connection ended."""

    def __init__(self) -> None:
        self.session: Optional[Session] = None
        self.heartbeat_at: Optional[float] = None
        self.disconnect: Optional[Disconnected] = None
        self.closing: Optional[ServerClosing] = None
        self.markets = 0
        self.done = threading.Event()

    def on_connect(self, session: Session) -> None:
        self.session = session

    def on_market(self, record: object) -> None:
        self.markets += 1

    def on_heartbeat(self, record: Heartbeat) -> None:
        if self.heartbeat_at is None:
            self.heartbeat_at = time.time()
            self.done.set()

    def on_server_closing(self, record: ServerClosing) -> None:
        self.closing = record

    def on_disconnect(self, reason: Disconnected) -> None:
        self.disconnect = reason
        self.done.set()


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "check",
        help="connect, start a session, wait for one heartbeat, print the session id",
        description="Check a set-up end to end: key, host key, username, network and the session "
        "(with --feed betfair: certificate, app key and session token, up to the authentication). "
        "Exit code 0 when a heartbeat arrived (Betfair: when authenticated), 1 otherwise (with the reason).",
    )
    _betfair.add_feed_option(parser)
    add_connection_options(parser)
    _betfair.add_betfair_options(parser, subscription=False)
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="give up after this many seconds (default: %(default)s; heartbeats come every 3 s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.feed == "betfair":
        return _betfair_check.check(args)
    # The client's own lines about the failed connection ("disconnected", "giving up after 1 failed
    # connection attempts") would repeat the reason printed below.
    with quieted("imgfeed.runtime", logging.CRITICAL, when=args.verbose == 0):
        return _check(args)


def _check(args: argparse.Namespace) -> int:
    # One attempt: a check reports, it does not retry.
    config = config_from_args(args, reconnect=ReconnectPolicy(max_attempts=1))
    check = CheckHandler()
    client = FeedClient(config, handlers=[check])
    started = time.time()
    interrupted, ended = check_once(client, check, args.timeout)
    if interrupted:  # Ctrl-C, SIGTERM: no verdict
        return INTERRUPTED
    join_explained(client, args)
    session = check.session
    if check.heartbeat_at is not None and session is not None:
        print(
            f"ok: session {session.session_id or '(none: Mustard-era server)'} on {config.address}; "
            f"first heartbeat after {check.heartbeat_at - started:.1f} s; "
            f"{check.markets} markets in the offering"
        )
        return 0
    if check.closing is not None:
        reason = f"the server closed the session: {check.closing.reason}"
    elif ended is not None:
        reason = str(ended)
    elif session is not None:
        reason = f"session {session.session_id} started but no heartbeat arrived within {args.timeout} s"
    else:
        reason = f"no session within {args.timeout} s"
    print(f"imgfeed: check failed: {reason} (see the README, Troubleshooting)", file=sys.stderr)
    return 1

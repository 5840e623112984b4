"""``imgfeed check --feed betfair``: connect over TLS, authenticate, print the connection id.

Contract: one connection attempt, no subscription. Success is Betfair's ``status: SUCCESS`` to the
authentication, which proves the network path, the certificate, the app key and the session token
together; it prints ``ok: connectionId ...`` (quote it to Betfair's support) and returns 0. Any
other ending prints one line saying what failed and what to check, and returns 1; a failure that
needs a person (a refused app key, a certificate that does not verify) is raised as
:class:`~imgfeed.errors.ImgFeedError`, which the command line prints and exits 2 on, as ``tail`` does.
The session token is never printed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Optional

import attrs

from imgfeed.cli._betfair import config_from_args, join_explained
from imgfeed.cli._run import INTERRUPTED, check_once, quieted
from imgfeed.feeds.betfair.client import BetfairClient
from imgfeed.feeds.betfair.handler import BetfairHandler
from imgfeed.runtime.events import Disconnected, Session

__all__ = ["check", "AuthCheck"]


class AuthCheck(BetfairHandler):
    """Notes the authenticated session, or why the connection ended first."""

    def __init__(self) -> None:
        self.session: Optional[Session] = None
        self.disconnect: Optional[Disconnected] = None
        self.done = threading.Event()

    def on_connect(self, session: Session) -> None:
        # The runtime calls this once the handshake is done: for Betfair, after the authentication.
        self.session = session
        self.done.set()

    def on_disconnect(self, reason: Disconnected) -> None:
        self.disconnect = reason
        self.done.set()


def check(args: argparse.Namespace) -> int:
    """Run the check (module docstring); returns the exit code."""
    base = config_from_args(args)
    config = attrs.evolve(base, reconnect=attrs.evolve(base.reconnect, max_attempts=1))
    probe = AuthCheck()
    client = BetfairClient(config, handlers=[probe])
    started = time.monotonic()
    # The client's own lines about the failed attempt ("giving up after 1 failed connection
    # attempts") would repeat the one line printed below.
    quiet = args.verbose == 0
    with quieted("imgfeed.runtime", logging.CRITICAL, when=quiet), \
            quieted("imgfeed.betfair", logging.CRITICAL, when=quiet):
        interrupted, ended = check_once(client, probe, args.timeout)
        if interrupted:  # Ctrl-C, SIGTERM: no verdict
            return INTERRUPTED
        join_explained(client)
    session = probe.session
    if session is not None:
        print(
            f"ok: connectionId {session.session_id} on {config.address}; authenticated after "
            f"{time.monotonic() - started:.1f} s"
        )
        return 0
    reason = str(ended) if ended is not None else f"not authenticated within {args.timeout:g} s"
    print(f"imgfeed: check failed: {reason} (see the README, Betfair troubleshooting)", file=sys.stderr)
    return 1

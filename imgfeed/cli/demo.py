"""``imgfeed demo``: the simulator and a client in one process, with a live view of the prices.

The first command a new user runs, so it needs nothing but this package: no key files, no
known_hosts, no network beyond loopback. It makes a throwaway client key in memory, starts the
simulator on 127.0.0.1 with a fresh in-memory host key, writes that host key to a temporary
known_hosts file (host keys are verified here as everywhere), connects a real
:class:`~imgfeed.FeedClient` over SSH, subscribes to everything, and draws
:mod:`imgfeed.cli.console`'s view until Ctrl-C or ``--duration``.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from typing import Any

from imgfeed.cli._betfair import add_feed_option
from imgfeed.cli._painter import Painter
from imgfeed.cli._parsing import one_line_errors, seconds
from imgfeed.cli._run import quieted, run_client
from imgfeed.cli.console import LiveView
from imgfeed.feeds.img.client import FeedClient
from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer

__all__ = ["register", "run", "memory_key"]

def memory_key() -> Any:
    """A fresh Ed25519 ``paramiko.PKey`` that never touches the disk."""
    import io

    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return paramiko.Ed25519Key(file_obj=io.StringIO(pem.decode("ascii")))


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "demo",
        help="see live (simulated) golf prices -- or Betfair ladders -- in one command",
        description="Start the simulator and a client in this process and show a live view: "
        "tournaments, markets with their shortest prices, whether each market may be traded now, "
        "heartbeat age and messages per second. Ctrl-C exits.",
    )
    add_feed_option(parser)
    parser.add_argument("--duration", type=seconds, metavar="SECONDS", help="exit after this many seconds")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="scenario seed: another seed, other tournaments (default: %(default)s)",
    )
    parser.add_argument(
        "--updates-per-second",
        type=float,
        default=20.0,
        metavar="N",
        help="how busy the simulated feed is (default: %(default)s)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=seconds,
        default=3.0,
        metavar="S",
        help="seconds between the simulator's heartbeats (default: %(default)s, as the service)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="print a summary line per second instead of redrawing the screen "
        "(the default when stdout is not a terminal)",
    )
    one_line_errors(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "feed", "img") == "betfair":
        from imgfeed.cli import _betfair_demo

        return _betfair_demo.run(args)
    # paramiko's records (it logs the simulator's side of the connection closing as an ERROR when
    # the demo ends) are hidden by imgfeed.cli.main unless -v.
    client_key = memory_key()
    scenario = ScenarioConfig.of_size(
        "small", seed=args.seed, tours=2, events_per_tour=2, updates_per_second=args.updates_per_second
    )
    server = SimulatorServer(
        authorized_keys=[client_key],
        session_config=SessionConfig(heartbeat_interval=args.heartbeat_interval),
        scenario_config=scenario,
    )
    view = LiveView(tty=False if args.plain else None)
    with tempfile.TemporaryDirectory(prefix="imgfeed-demo-") as tmp:
        server.start()
        try:
            known_hosts = os.path.join(tmp, "known_hosts")
            server.write_known_hosts(known_hosts)
            config = FeedConfig(
                host=server.host, port=server.port, username="demo", pkey=client_key, known_hosts=known_hosts
            )
            client = FeedClient(config)
            painter = _Painter(client, view, f"simulator {server.host}:{server.port}")
            # run_client names these in its (unlikely here) authentication and host-key errors.
            connection = argparse.Namespace(
                user="demo", key="(in memory)", known_hosts=known_hosts, host=server.host, port=server.port
            )
            # Log lines would scribble over the redrawn screen; the view shows the state.
            with quieted("imgfeed", logging.ERROR, when=view.tty and not args.verbose):
                try:
                    code = run_client(
                        client, connection, filters={}, duration=args.duration, on_tick=painter.tick
                    )
                finally:
                    view.close()  # the normal screen back, whatever happened (Ctrl-C included)
        finally:
            server.stop()
    stats = client.stats()
    view.close(
        [
            f"imgfeed demo: {stats.messages} messages in {time.time() - painter.started:.0f} s, "
            f"{stats.sessions} session(s). Next: `imgfeed simulate` and `imgfeed tail` (see the README)."
        ]
    )
    return code


class _Painter(Painter):
    """Draws the view from the main thread, at most every :data:`REFRESH` seconds."""

    def __init__(self, client: FeedClient, view: LiveView, source: str) -> None:
        super().__init__(client, source)
        self.client = client
        self.view = view

    def draw(self) -> None:
        stats = self.client.stats()
        last = stats.last_disconnect
        note = "" if last is None or stats.session_id is not None else f"last disconnection: {last}"
        self.view.draw(self.client.book.snapshot(), self.health(stats, stats.heartbeat_age, note))

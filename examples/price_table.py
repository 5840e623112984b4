"""A live price table: the smallest complete imgfeed application. Copy it and start from here.

It shows the three things every trading application does with imgfeed:

1. subclass :class:`imgfeed.Handler` and override the ``on_*`` methods it cares about -- here the
   price updates and the lifecycle events that say when prices may or may not be trusted;
2. start a :class:`imgfeed.FeedClient` and subscribe -- the client connects, reconnects and
   re-subscribes by itself from then on;
3. ask ``client.book`` what is tradable *now* (the feed's suspension rules applied for you).

Try it against the local simulator. In one terminal::

    imgfeed simulate

(it makes a client key and a known_hosts file under ``~/.imgfeed/simulator`` and prints their
paths), and in another::

    python examples/price_table.py --host 127.0.0.1 --port 2093 --user demo \\
        --key ~/.imgfeed/simulator/client_ed25519 --known-hosts ~/.imgfeed/simulator/known_hosts

Stop it with Ctrl-C. Against the real service, use the host, port and username IMG Arena gave you,
your private key, and a known_hosts file holding the service's host key.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Dict, List, Optional, TextIO

import imgfeed


class PriceTable(imgfeed.Handler):
    """Prints every price change, and says loudly when prices stop (or start) being trustworthy.

    Handler methods run on the client's dispatcher thread, one at a time, in the order the feed
    sent the messages. Keep them quick: the feed does not wait for them, but a slow handler sees
    ever fewer intermediate prices (the client keeps only the latest image of each market).
    """

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.names: Dict[str, str] = {}  # market id -> market name, from the snapshot

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def on_connect(self, session: imgfeed.Session) -> None:
        self.say(f"== connected to {session.address}, session {session.session_id} (#{session.number})")

    def on_disconnect(self, reason: imgfeed.Disconnected) -> None:
        then = "reconnecting" if reason.will_retry else "not reconnecting"
        self.say(f"== disconnected: {reason} ({then})")

    def on_market(self, record: imgfeed.Market) -> None:
        self.names[record.id] = record.name

    def on_market_update(self, record: imgfeed.MarketUpdate) -> None:
        # The favourite is the selection with the shortest price (unpriced selections have None).
        priced = [(s.price, s.name or s.id) for s in record.selections if s.price is not None]
        best = "{1} @ {0:g}".format(*min(priced)) if priced else "no prices"
        name = self.names.get(record.market_id, record.market_id)
        self.say(f"{name[:40]:40}  {record.status!s:9}  {best}")

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        if not tradable:
            self.say(f"-- {self.names.get(market_id, market_id)}: not tradable")

    def on_suspend_all(self, reason: imgfeed.SuspendReason) -> None:
        self.say(f"!! every market suspended: {reason} -- do not trade on these prices")

    def on_resume_all(self) -> None:
        self.say("== suspension lifted")

    def on_handler_error(self, exc: BaseException, record: object) -> None:
        self.say(f"!! handler error: {exc!r}")


def print_summary(client: imgfeed.FeedClient, out: TextIO = sys.stdout) -> None:
    """One line from the book: what may be traded right now."""
    snapshot = client.book.snapshot()
    state = f"suspended ({snapshot.suspended})" if snapshot.suspended else "live"
    print(
        f"== {len(snapshot.tradable)} of {len(snapshot.markets)} markets tradable; feed {state}",
        file=out,
        flush=True,
    )


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=imgfeed.DEFAULT_PORT)
    parser.add_argument("--user", required=True, help="the username assigned to you")
    parser.add_argument("--key", required=True, help="your private key file")
    parser.add_argument("--known-hosts", required=True, help="known_hosts file with the server's host key")
    parser.add_argument("--event", action="append", help="only this event id (repeatable); default: all")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    try:
        config = imgfeed.FeedConfig(
            host=args.host,
            port=args.port,
            username=args.user,
            key_filename=args.key,
            known_hosts=args.known_hosts,
        )
    except imgfeed.ConfigError as exc:  # e.g. a key or known_hosts file that does not exist
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = imgfeed.FeedClient(config, handlers=[PriceTable()])
    client.start()
    try:
        # A request made right after start() waits for the session; once it succeeds the client
        # re-sends it by itself after every reconnect.
        client.subscribe(event_ids=args.event)
        remaining = args.seconds
        while remaining is None or remaining > 0:
            step = 5.0 if remaining is None else min(5.0, remaining)
            if client.join(timeout=step):  # True: the client stopped by itself (raises why)
                break
            print_summary(client)
            if remaining is not None:
                remaining -= step
    except KeyboardInterrupt:
        pass
    except imgfeed.ImgFeedError as exc:  # e.g. an unknown host key, a rejected key
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.stop()
    return 0

if __name__ == "__main__":
    sys.exit(main())

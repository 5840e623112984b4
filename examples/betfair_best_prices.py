"""Best back and lay prices from Betfair's Exchange Stream API, only while they may be acted on.

The Betfair counterpart of ``price_table.py``: subclass :class:`imgfeed.betfair.BetfairHandler`,
start a :class:`imgfeed.betfair.BetfairClient`, subscribe once (the client re-subscribes with its
clocks after every reconnect), and ask ``client.markets.is_tradable`` before trusting a price.
Every book a handler receives is the whole market after the change, never a delta.

Try it against the local emulator. In one terminal::

    imgfeed simulate --feed betfair

and in another (the session token is read from the environment, never from the command line)::

    IMGFEED_BETFAIR_SESSION=emulator-session-token python examples/betfair_best_prices.py \\
        --host localhost --port 8443 --app-key emulator-app-key --cafile ~/.imgfeed/emulator/ca.pem

Stop it with Ctrl-C. Against Betfair, leave out ``--host``, ``--port`` and ``--cafile`` and use
your app key and a session token from Betfair's login.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional, TextIO

from imgfeed import betfair


class BestPrices(betfair.BetfairHandler):
    """Prints each market's best back and lay per runner after each change, and why a market
    may not be traded when it may not.

    Handler methods run on the client's dispatcher thread, one at a time, in stream order.
    """

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def on_connection(self, connection_id: Optional[str]) -> None:
        self.say(f"== connection {connection_id} (quote it to Betfair's support)")

    def on_connect(self, session: betfair.Session) -> None:
        self.say(f"== authenticated on {session.address} (session #{session.number})")

    def on_disconnect(self, reason: betfair.Disconnected) -> None:
        then = "reconnecting" if reason.will_retry else "not reconnecting"
        self.say(f"== disconnected: {reason} ({then})")

    def on_market_book(self, book: betfair.MarketBook) -> None:
        cells = []
        for runner in book.runners:
            back = runner.best_available_to_back[:1] or runner.available_to_back[:1]
            lay = runner.best_available_to_lay[:1] or runner.available_to_lay[:1]
            back_text = f"{back[0].price:g}" if back else "-"
            lay_text = f"{lay[0].price:g}" if lay else "-"
            cells.append(f"{runner.selection_id}: {back_text}/{lay_text}")
        self.say(f"{book.market_id} {book.status or '?':9} {'  '.join(cells[:4])}")

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        if not tradable:
            self.say(f"-- {market_id}: not tradable")

    def on_suspend_all(self, reason: betfair.SuspendReason) -> None:
        self.say(f"!! every market suspended: {reason} -- do not act on these prices")

    def on_resume_all(self) -> None:
        self.say("== suspension lifted")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=betfair.DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=betfair.DEFAULT_PORT)
    parser.add_argument("--app-key", required=True, help="your Betfair application key")
    parser.add_argument("--cafile", help="CA certificates to verify the server with (default: the system's)")
    parser.add_argument("--event-type-id", default="7", help="event type to follow (default: 7, horse racing)")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    token = os.environ.get("IMGFEED_BETFAIR_SESSION")
    if not token:
        print("error: set IMGFEED_BETFAIR_SESSION to a session token from Betfair's login", file=sys.stderr)
        return 1
    try:
        config = betfair.BetfairConfig(
            app_key=args.app_key, session_token=token, host=args.host, port=args.port, cafile=args.cafile
        )
    except betfair.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    client = betfair.BetfairClient(config, handlers=[BestPrices()])
    client.start()
    try:
        # Waits for the session; the subscription is then re-established after every reconnect.
        client.subscribe_markets(
            market_filter={"eventTypeIds": [args.event_type_id]},
            market_data_filter={"fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"], "ladderLevels": 1},
        )
        remaining = args.seconds
        while remaining is None or remaining > 0:
            step = 5.0 if remaining is None else min(5.0, remaining)
            if client.join(timeout=step):  # True: the client stopped by itself (raises why)
                break
            tradable = [m for m in client.markets.market_ids() if client.markets.is_tradable(m)]
            print(f"== {len(tradable)} markets tradable", flush=True)
            if remaining is not None:
                remaining -= step
    except KeyboardInterrupt:
        pass
    except betfair.ImgFeedError as exc:  # e.g. a refused app key or token, a certificate that fails
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

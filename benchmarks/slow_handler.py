"""slow_handler: a handler 10x slower than the feed; memory, queue and threads must stay flat.

    python benchmarks/slow_handler.py [--seconds 60] [--rate 1000] [--slowdown 10] [--quick]

A feed server in its own process (``_server.py``) streams updates at ``--rate`` per second for
``--seconds`` (600 for the soak), over the 200 markets of the realistic stream. The handler spends
``slowdown / rate`` seconds on each update, so it can take only a tenth of them: the client must
keep reading (the real server drops slow readers, docs/protocol.md 1) and conflate, so that memory stays
bounded and no market ends on a stale price.

Every ``--interval`` seconds it prints the client process's RSS (and its growth over the first
sample, the baseline of this run), the dispatch queue's depth, the updates conflated so far, the
updates received and delivered, and the process's thread count. When the server stops streaming
it writes each market's last image; the handler then drops its delay, the queue drains, and every
market's last image delivered to the handler is compared with the server's.

It runs twice: with the client's default ``conflate_threshold`` and with ``--threshold`` (1,000 by
default), since the threshold is what bounds the memory.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any, Dict, List, Optional

import _common
from _harness import ServerProcess

from imgfeed import FeedClient, Handler


class SlowHandler(Handler):
    """Spends ``delay`` seconds per update (a user's slow code), remembers each market's last image."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.delivered = 0
        self.last: Dict[str, Dict[str, Any]] = {}
        self._pause = threading.Event()  # never set: a wait on it is an interruptible sleep

    def on_market_update(self, record: Any) -> None:
        self.delivered += 1
        self.last[record.market_id] = record.raw
        if self.delay:
            self._pause.wait(self.delay)


def run(args: argparse.Namespace, threshold: Optional[int]) -> Dict[str, Any]:
    with ServerProcess(rate=args.rate, stream_seconds=args.seconds) as server:
        config = server.client_config(conflate_threshold=threshold, parser="ujson")  # the default path
        handler = SlowHandler(args.slowdown / args.rate)
        client = FeedClient(config, handlers=[handler])
        rows: List[List[Any]] = []
        client.start()
        try:
            client.subscribe()
            start = time.monotonic()
            tick = threading.Event()
            rss0: Optional[int] = None
            threads: List[int] = []
            while True:
                tick.wait(max(0.0, start + (len(rows) + 1) * args.interval - time.monotonic()))
                s = client.stats()
                rss = _common.rss_bytes()
                rss0 = rss if rss0 is None else rss0
                threads.append(_common.thread_count())
                rows.append(
                    [
                        f"{time.monotonic() - start:.1f}",
                        f"{rss / 2**20:.0f}",
                        f"{(rss - rss0) / 2**20:+.0f}",
                        s.queue_depth,
                        s.conflated,
                        s.messages,
                        handler.delivered,
                        threads[-1],
                    ]
                )
                if server.last_images() is not None:
                    break
                if time.monotonic() - start > args.seconds + 30:
                    raise RuntimeError("the server never finished streaming")
            # The feed has stopped: let the handler catch up, then compare the last images. Lines
            # still in flight when the server wrote its file arrive meanwhile, so compare until they
            # all match or the handler has been idle with an empty queue for a while.
            handler.delay = 0.0
            expected = {k: json.loads(v) for k, v in (server.last_images() or {}).items()}
            deadline = time.monotonic() + 120
            idle_since = None
            while True:
                stale = [m for m, image in expected.items() if handler.last.get(m) != image]
                if not stale or time.monotonic() > deadline:
                    break
                if client.stats().queue_depth == 0:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 5.0:
                        break  # nothing more is coming: what is stale stays stale
                else:
                    idle_since = None
                tick.wait(0.05)
            final = client.stats()
        finally:
            client.stop(timeout=10)
    return {
        "rows": rows,
        "markets": len(expected),
        "stale": stale,
        "threshold": threshold,
        "effective": config.effective_conflate_threshold,
        "high_water": final.queue_high_water,
        "threads": (min(threads), max(threads)),
        "conflated": final.conflated,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="how long the server streams (600: the soak)"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="updates per second from the server")
    parser.add_argument("--slowdown", type=float, default=10.0, help="how many times slower the handler is")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument(
        "--threshold", type=int, default=1000, help="the conflate_threshold of the second run"
    )
    parser.add_argument(
        "--skip-default",
        action="store_true",
        help="run only with --threshold (the default threshold's run grows to ~1 GB first)",
    )
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.interval, args.rate, args.threshold = 1.5, 0.5, 500.0, 200

    results = ([] if args.skip_default else [run(args, None)]) + [run(args, args.threshold)]

    _common.print_machine()
    print(
        f"Server: {args.rate:,.0f} updates/s for {args.seconds:g} s over 200 markets; handler "
        f"{args.slowdown:g}x slower than the feed ({args.slowdown / args.rate * 1000:g} ms per update)."
    )
    print()
    ok = True
    for r in results:
        label = "default" if r["threshold"] is None else f"{r['threshold']:,}"
        _common.print_table(
            f"slow_handler, conflate_threshold {label} (effective {r['effective']:,})",
            [
                "t (s)",
                "RSS (MB)",
                "RSS vs first",
                "queue depth",
                "conflated",
                "received",
                "delivered",
                "threads",
            ],
            r["rows"],
        )
        equal = r["markets"] - len(r["stale"])
        ok = ok and not r["stale"] and r["markets"] > 0
        print(
            f"last images equal to the server's: {equal}/{r['markets']} markets; queue high water "
            f"{r['high_water']:,}; threads {r['threads'][0]}-{r['threads'][1]}; conflated {r['conflated']:,}"
        )
        if r["stale"]:
            print(f"STALE markets: {', '.join(r['stale'][:10])}")
        print()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

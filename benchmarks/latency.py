"""latency: from the server's write to the handler's call, at 100, 1,000 and 10,000 updates/s.

    python benchmarks/latency.py [--rates 100,1000,10000] [--seconds S] [--quick]

For each rate a feed server in its own process (``_server.py --rate R --stamp``) writes each
update on its own at its due time and stamps it, in its ``publish_time``, with ``time.time()``
just before the write. The client computes ``time.time() - publish_time`` when the update reaches
it -- the same clock, since both run on this machine. Two clients take turns at each rate:

- the baseline: a bare paramiko channel that reads, splits and ``ujson.loads`` each line, and
  takes the latency right after parsing;
- imgfeed: ``FeedClient`` with a handler that takes the latency when ``on_market_update`` is
  called -- after the reader thread, the decoding, the market book, the queue and the dispatcher --
  with the default parser (``parser="ujson"``), and again with ``parser="msgspec"`` (the
  ``imgfeed[speed]`` extra; skipped when msgspec is not installed). Each is named in the table:
  ``parser="auto"`` would pick msgspec wherever the extra is installed and hide which one ran.

Samples of the first 0.5 s (connection, snapshot) are dropped. Reported: p50, p99 and max in
milliseconds, imgfeed's p50 and p99 minus the baseline's (what imgfeed adds), and the share of
one CPU core the client process used (all its threads) -- near 100 % the client is saturated
and its queue, not its code path, sets the latency. Targets (issue 14): p99 under 1 ms at 1,000
updates/s and at most 5 ms at 10,000 updates/s, on an idle machine; each imgfeed client's verdict
is printed under the table.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import _common
import ujson
from _harness import ServerProcess, open_bare_channel

from imgfeed import FeedClient, Handler
from imgfeed.feeds.img.protocol import parse_timestamp
from imgfeed.feeds.img.protocol.fast import AVAILABLE as FAST_PARSER_AVAILABLE
from imgfeed.transport.base import DEFAULT_RECV_SIZE

#: Issue 14's p99 targets by rate (ms): under 1 ms at 1,000/s, at most 5 ms at 10,000/s.
TARGETS_P99_MS = {1000.0: (1.0, "<"), 10000.0: (5.0, "<=")}
_SETTLE = 0.5  # seconds of samples dropped at the start
BARE = "bare: read + split + ujson"


class Run:
    """The latencies one client saw, and the share of a CPU core its process used meanwhile."""

    def __init__(self) -> None:
        self.samples: List[float] = []
        self.cpu = float("nan")
        self.by_thread = ""
        self._t0 = self._c0 = 0.0
        self._threads0: Dict[str, float] = {}

    def begin(self) -> None:
        self._threads0 = _common.thread_cpu_seconds()
        self._t0, self._c0 = time.monotonic(), _common.cpu_seconds()

    def end(self) -> None:
        wall = time.monotonic() - self._t0
        self.cpu = (_common.cpu_seconds() - self._c0) / wall
        n = max(1, len(self.samples))
        parts = []
        for name, used in sorted(_common.thread_cpu_seconds().items()):
            used -= self._threads0.get(name, 0.0)
            if used > 0:
                label = name.replace("imgfeed-", "").replace("MainThread", "main")
                parts.append(f"{'paramiko' if label.startswith('Thread-') else label} {used / n * 1e6:.0f}")
        self.by_thread = ", ".join(parts)


def bare_latencies(server: ServerProcess, seconds: float) -> Run:
    run = Run()
    t, chan = open_bare_channel(server)
    chan.settimeout(1.0)
    loads = ujson.loads
    now = time.time
    samples = run.samples
    partial = b""
    start = time.monotonic()
    settle = start + _SETTLE
    end = start + _SETTLE + seconds
    begun = False
    try:
        while time.monotonic() < end:
            if not begun and time.monotonic() >= settle:
                run.begin()
                begun = True
            data = chan.recv(DEFAULT_RECV_SIZE)
            if not data:
                raise RuntimeError("the server closed the channel")
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for line in lines:
                obj = loads(line)
                stamp = obj.get("publish_time") if obj.get("type") == "market_update" else None
                if stamp is not None:
                    latency = now() - parse_timestamp(stamp).timestamp()
                    if time.monotonic() >= settle:
                        samples.append(latency)
        run.end()
    finally:
        chan.close()
        t.close()
    return run


def _sent_at(record: Any) -> float:
    """The server's write time: the record's ``publish_time``, which the reader has parsed and
    checked already (reading ``record.raw`` would parse the whole line once more; the bare loop's
    single parse is its floor)."""
    return float(record.publish_time.timestamp())


class _Stopwatch(Handler):
    def __init__(self) -> None:
        self.samples: List[float] = []
        self.settle = time.monotonic() + _SETTLE
        self.lock = threading.Lock()

    def on_market_update(self, record: Any) -> None:
        latency = time.time() - _sent_at(record)
        if time.monotonic() >= self.settle:
            self.samples.append(latency)


def imgfeed_latencies(server: ServerProcess, seconds: float, parser: str) -> Run:
    config = server.client_config(parser=parser)
    stopwatch = _Stopwatch()
    run = Run()
    run.samples = stopwatch.samples
    client = FeedClient(config, handlers=[stopwatch])
    client.start()
    try:
        client.subscribe()
        stopwatch.settle = time.monotonic() + _SETTLE
        pause = threading.Event()
        pause.wait(_SETTLE)
        run.begin()
        pause.wait(seconds)
        run.end()
    finally:
        client.stop(timeout=10)
    return run


def _ms(values: List[float], q: Optional[float]) -> float:
    if not values:
        return float("nan")
    return (max(values) if q is None else _common.percentile(values, q)) * 1000


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="100,1000,10000", help="updates per second, comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per client and rate")
    _common.add_switch_interval_arg(parser)
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    _common.apply_switch_interval(args)
    rates = [float(r) for r in args.rates.split(",")]
    if args.quick:
        args.seconds = 0.5
        rates = [100.0, 1000.0]

    clients: List[Tuple[str, Callable[[ServerProcess, float], Run]]] = [
        (BARE, bare_latencies),
        ("imgfeed: FeedClient -> handler", lambda srv, secs: imgfeed_latencies(srv, secs, "ujson")),
    ]
    if FAST_PARSER_AVAILABLE:
        clients.append(
            ("imgfeed[speed]: FeedClient -> handler", lambda srv, secs: imgfeed_latencies(srv, secs, "msgspec"))
        )
    results: Dict[float, Dict[str, Run]] = {}
    for rate in rates:
        with ServerProcess(rate=rate, stamp=True) as server:
            results[rate] = {name: measure(server, args.seconds) for name, measure in clients}

    _common.print_machine()
    print(
        f"{args.seconds:g} s measured per client and rate, after {_SETTLE} s of settling; each update "
        "written on its own by benchmarks/_server.py in its own process; latency = handler time - write time."
    )
    print()
    rows = []
    for rate, r in results.items():
        b = r[BARE].samples
        for name, run in r.items():
            i = run.samples
            rows.append(
                [
                    f"{rate:,.0f}",
                    name,
                    len(i),
                    f"{_ms(i, 50):.3f}",
                    f"{_ms(i, 99):.3f}",
                    f"{_ms(i, None):.3f}",
                    "" if name == BARE else f"{_ms(i, 50) - _ms(b, 50):+.3f}",
                    "" if name == BARE else f"{_ms(i, 99) - _ms(b, 99):+.3f}",
                    f"{run.cpu:.0%}",
                    run.by_thread,
                ]
            )
    _common.print_table(
        "latency (ms)",
        [
            "updates/s",
            "client",
            "samples",
            "p50",
            "p99",
            "max",
            "p50 vs baseline",
            "p99 vs baseline",
            "client CPU",
            "CPU µs/update by thread",
        ],
        rows,
    )
    for rate, (limit, op) in TARGETS_P99_MS.items():
        for name, run in results.get(rate, {}).items():
            if name == BARE:
                continue
            p99 = _ms(run.samples, 99)
            met = p99 < limit if op == "<" else p99 <= limit
            print(
                f"{name}: p99 at {rate:,.0f} updates/s = {p99:.3f} ms "
                f"(target {op} {limit:g} ms: {'met' if met else 'MISSED'})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

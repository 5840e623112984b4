"""throughput: FeedClient end to end against bare paramiko readers, same server, same run.

    python benchmarks/throughput.py [--messages N] [--rounds R] [--quick]

A feed server in a separate process (``_server.py``) streams market updates of the realistic mix
as fast as the SSH channel takes them, over loopback. Three clients take turns against it, each
for N updates after a warm-up, R rounds, interleaved:

- ``bare: read + split``: a paramiko channel that only reads (256 KiB per recv) and splits lines,
  with aes128-gcm@openssh.com (the fastest safe cipher paramiko has; imgfeed prefers it too) and,
  to show that the choice matters, with paramiko's default aes128-ctr + hmac-sha2-256;
- ``bare: read + split + ujson``: the same, plus ``ujson.loads`` of every line -- the baseline:
  the least a Python client of this feed must do;
- ``imgfeed: FeedClient -> handler``: the real client (its SSH transport, reader thread, framing,
  checked decoding into records, market book, dispatch queue, dispatcher thread) and a handler
  that counts the updates it is given, with the default parser (``parser="ujson"``);
- ``imgfeed[speed]: FeedClient -> handler``: the same with ``parser="msgspec"`` (the ``speed``
  extra; skipped when msgspec is not installed);
- ``imgfeed: ... reading every price``: the default client with a handler that reads every
  selection's price, which makes the record parse its line (see ``MarketUpdate``) -- with ujson,
  as an install without the extra does; the ``imgfeed[speed]`` row of it parses with msgspec.

Every round runs the baseline and the two imgfeed rows that the targets compare back to back,
reversing their order every other round. Reported per client (best round by messages/s):
messages/s and MB/s received, client CPU seconds per 100k messages (all its threads, paramiko's
included, from ``os.times``), the server process's CPU use over the same window (near 100 % means
the server, not the client, set the pace), the negotiated cipher, updates conflated by the client,
the ratios to the baseline, and where the client's CPU went (µs per message in each thread, from
/proc). Targets: imgfeed >= 80 % of the baseline, imgfeed[speed] >= 120 %. Below the table, the
ratios of the best rounds, then each round's ratio (its rows ran back to back), their median and
how many rounds met the target.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any, Dict, List, Optional

import _common
import ujson
from _harness import PREFERRED_CIPHER, ServerProcess, open_bare_channel

from imgfeed import FeedClient, Handler
from imgfeed.transport.base import DEFAULT_RECV_SIZE

TARGET = 0.80  # issues 7 and 14: end-to-end throughput >= 80 % of bare read+split+ujson
SPEED_TARGET = 1.2  # issue 14: with imgfeed[speed], >= 1.2 x the bare read+split+ujson loop
_DEFAULT_CIPHER = "aes128-ctr"  # what paramiko negotiates unless told otherwise (with hmac-sha2-256)


class Window:
    """Wall time, CPU time and bytes between the warm-up'th and the (warm-up + n)'th message."""

    def __init__(self, warmup: int, n: int, server: ServerProcess) -> None:
        self.warmup = warmup
        self.n = n
        self.server = server
        self.done = threading.Event()
        self.t0 = self.t1 = 0.0
        self.cpu0 = self.cpu1 = 0.0
        self.scpu0 = self.scpu1 = 0.0
        self.bytes0 = self.bytes1 = 0
        self.count0 = self.count1 = 0

    def start(self, nbytes: int, count: int) -> None:
        self.threads0 = _common.thread_cpu_seconds()
        self.t0, self.cpu0, self.scpu0, self.bytes0, self.count0 = (
            time.perf_counter(),
            _common.cpu_seconds(),
            self.server.cpu_seconds(),
            nbytes,
            count,
        )

    def stop(self, nbytes: int, count: int) -> None:
        self.t1, self.cpu1, self.scpu1, self.bytes1, self.count1 = (
            time.perf_counter(),
            _common.cpu_seconds(),
            self.server.cpu_seconds(),
            nbytes,
            count,
        )
        self.threads1 = _common.thread_cpu_seconds()
        self.done.set()

    def by_thread(self) -> str:
        """µs of CPU per message in each thread that used any, e.g. ``reader 21, dispatcher 3``."""
        n = self.count1 - self.count0
        parts = []
        for name, t1 in sorted(self.threads1.items()):
            used = t1 - self.threads0.get(name, 0.0)
            if used > 0:
                label = name.replace("imgfeed-", "").replace("MainThread", "main")
                label = "paramiko" if label.startswith("Thread-") else label
                parts.append(f"{label} {used / n * 1e6:.0f}")
        return ", ".join(parts)

    def result(self) -> Dict[str, float]:
        wall = self.t1 - self.t0
        n = self.count1 - self.count0
        return {
            "msgs": n / wall,
            "mbs": (self.bytes1 - self.bytes0) / wall / 1e6,
            "cpu100k": (self.cpu1 - self.cpu0) / n * 100_000,
            "server_cpu": (self.scpu1 - self.scpu0) / wall,
            "threads": self.by_thread(),
        }


def run_bare(
    server: ServerProcess, window: Window, parse: bool, cipher: str = PREFERRED_CIPHER
) -> Dict[str, Any]:
    """The baseline: read, split into lines (and ``ujson.loads`` each, with ``parse``)."""
    t, chan = open_bare_channel(server, cipher=cipher)
    loads = ujson.loads
    recv = chan.recv
    seen = 0
    nbytes = 0
    partial = b""
    start_at, stop_at = window.warmup, window.warmup + window.n
    try:
        while seen < stop_at:
            data = recv(DEFAULT_RECV_SIZE)
            if not data:
                raise RuntimeError("the server closed the channel")
            nbytes += len(data)
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            if parse:
                for line in lines:
                    loads(line)
            before = seen
            seen += len(lines)
            if before < start_at <= seen:
                window.start(nbytes, seen)
        window.stop(nbytes, seen)
        return dict(window.result(), cipher=t.local_cipher, conflated=0)
    finally:
        chan.close()
        t.close()


class _Counting(Handler):
    """Counts market updates and heartbeats; marks the measurement window."""

    def __init__(self, window: Window, client_stats: Any, read_prices: bool = False) -> None:
        self.window = window
        self.stats = client_stats
        self.count = 0
        self.read_prices = read_prices

    def on_market_update(self, record: Any) -> None:
        if self.read_prices:
            for selection in record.selections:
                selection.price  # noqa: B018 -- reading it is the point
        self.count += 1
        if self.count == self.window.warmup:
            self.window.start(self.stats().bytes, self.count)
        elif self.count == self.window.warmup + self.window.n:
            self.window.stop(self.stats().bytes, self.count)


def run_imgfeed(server: ServerProcess, window: Window, parser: str = "ujson", read_prices: bool = False) -> Dict[str, Any]:
    with _common.raw_parsed_by(parser):  # a handler reading prices parses raw as that install would
        return _run_imgfeed(server, window, parser, read_prices)


def _run_imgfeed(server: ServerProcess, window: Window, parser: str, read_prices: bool) -> Dict[str, Any]:
    config = server.client_config(parser=parser)
    holder: List[FeedClient] = []
    handler = _Counting(window, lambda: holder[0].stats(), read_prices)
    client = FeedClient(config, handlers=[handler])
    holder.append(client)
    client.start()
    try:
        client.subscribe()
        if not window.done.wait(300):
            raise RuntimeError(f"imgfeed saw only {handler.count} updates in 300 s")
        stats = client.stats()
        # Benchmark-only introspection: which cipher did imgfeed's SSH transport negotiate?
        conn = client._ingest.current
        ssh = getattr(getattr(conn, "transport", None), "_transport", None)
        cipher = getattr(ssh, "local_cipher", "?")
    finally:
        client.stop(timeout=10)
    return dict(window.result(), conflated=stats.conflated, cipher=cipher)


def _cipher(server: ServerProcess, before: int, wait: float = 2.0) -> str:
    """The cipher of the session that ended after ``before`` sessions, as the server saw it."""
    deadline = time.monotonic() + wait
    pause = threading.Event()
    while time.monotonic() < deadline:
        sessions = server.sessions()
        if len(sessions) > before:
            return str(sessions[before]["cipher"])
        pause.wait(0.05)
    return "?"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000, help="updates measured per client per round")
    parser.add_argument("--warmup", type=int, default=3_000, help="updates received before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each client's best is kept")
    parser.add_argument(
        "--source",
        choices=["stream", "simulator"],
        default="stream",
        help="the server: the pre-encoded realistic stream (default, outruns the "
        "clients) or imgfeed's simulator generating updates live",
    )
    parser.add_argument("--only", choices=["imgfeed", "bare"], help="run one kind of client (for profiling)")
    _common.add_switch_interval_arg(parser)
    _common.add_cpu_arg(parser)
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    _common.apply_switch_interval(args)
    if args.quick:
        args.messages, args.warmup, args.rounds = 2_000, 300, 1

    from imgfeed.feeds.img.protocol.fast import AVAILABLE as SPEED

    names = [
        "bare: read + split, paramiko's default cipher",
        "bare: read + split",
        "bare: read + split + ujson",
        "imgfeed: FeedClient -> handler",
        "imgfeed: FeedClient -> handler reading every price",
    ]
    if SPEED:
        names += ["imgfeed[speed]: FeedClient -> handler", "imgfeed[speed]: FeedClient -> handler reading every price"]
    if args.only:
        names = [n for n in names if n.startswith(args.only)]
    best: Dict[str, Dict[str, Any]] = {}
    runs: Dict[str, List[float]] = {name: [] for name in names}  # messages/s, round by round
    with ServerProcess(source=args.source) as server:
        _common.pin_clients(args, server.proc.pid if server.proc else None)
        for round_number in range(args.rounds):
            for name in _run_order(names, round_number):
                window = Window(args.warmup, args.messages, server)
                before = len(server.sessions())
                if name.startswith("imgfeed"):
                    parser = "msgspec" if name.startswith("imgfeed[speed]") else "ujson"
                    result = run_imgfeed(server, window, parser, read_prices="every price" in name)
                elif "default cipher" in name:
                    result = run_bare(server, window, parse=False, cipher=_DEFAULT_CIPHER)
                else:
                    result = run_bare(server, window, parse="ujson" in name)
                if result.get("cipher", "?") == "?":
                    result["cipher"] = _cipher(server, before)
                runs[name].append(result["msgs"])
                if name not in best or result["msgs"] > best[name]["msgs"]:
                    best[name] = result

    _common.print_machine()
    print(
        f"{args.messages:,} market updates per client per round after {args.warmup:,} of warm-up; "
        f"best of {args.rounds} rounds; server: benchmarks/_server.py --source {args.source} "
        "in its own process"
        + ("." if args.cpu is None else f"; the clients on CPU {args.cpu} only, the server on the others.")
    )
    print()
    if args.only:
        for name, r in best.items():
            print(name, {k: v for k, v in r.items()})
        return 0
    base = best["bare: read + split + ujson"]
    rows = []
    for name in names:
        r = best[name]
        rows.append(
            [
                name,
                _common.fmt(r["msgs"]),
                _common.fmt(r["mbs"]),
                _common.fmt(r["cpu100k"]),
                f"{r['server_cpu']:.0%}",
                r["cipher"],
                r["conflated"],
                f"{r['msgs'] / base['msgs']:.0%}",
                f"{r['cpu100k'] / base['cpu100k']:.2f}",
                r["threads"],
            ]
        )
    _common.print_table(
        "throughput",
        [
            "client",
            "messages/s",
            "MB/s",
            "CPU s / 100k msgs",
            "server CPU",
            "cipher",
            "conflated",
            "vs baseline (msgs/s)",
            "CPU vs baseline",
            "CPU µs/msg by thread",
        ],
        rows,
    )
    targets = [("imgfeed", "imgfeed: FeedClient -> handler", TARGET)]
    if SPEED:
        targets.append(("imgfeed[speed]", "imgfeed[speed]: FeedClient -> handler", SPEED_TARGET))
    for label, name, target in targets:
        ratio = best[name]["msgs"] / base["msgs"]
        verdict = "met" if ratio >= target else "MISSED"
        print(f"ratio {label}/baseline = {ratio:.2f} (target >= {target:.2f}: {verdict})")
    for label, name, target in targets:
        print(_per_round(label, runs[name], runs["bare: read + split + ujson"], target))
    return 0


#: The rows that the targets compare, run next to each other in every round.
_PAIRED = ("bare: read + split + ujson", "imgfeed: FeedClient -> handler", "imgfeed[speed]: FeedClient -> handler")


def _run_order(names: List[str], round_number: int) -> List[str]:
    """The rows in the order of this round: the compared ones first, reversed every other round.

    Why: this machine slows down for seconds at a time, for every program. Rows run back to back
    share more of the same moment than rows a whole round apart, and reversing their order every
    other round keeps a steady drift from always favouring the same row.
    """
    paired = [n for n in _PAIRED if n in names]
    if round_number % 2:
        paired.reverse()
    return paired + [n for n in names if n not in paired]


def _per_round(label: str, client: List[float], bare: List[float], target: float) -> str:
    """The ratio to the baseline of each round (rows run back to back), and how many met the target."""
    ratios = sorted(c / b for c, b in zip(client, bare))
    median = statistics.median(ratios)
    met = sum(r >= target for r in ratios)
    listed = ", ".join(f"{r:.2f}" for r in ratios)
    return f"per round {label}/baseline: median {median:.2f} ({listed}); {met} of {len(ratios)} rounds >= {target:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())

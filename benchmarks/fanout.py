"""Fan-out over Redis: records/s feed -> Redis -> consumer -> handler, and latency at 1,000 msg/s.

Baseline in the same run: a bare loop over the same lines and the same redis-server -- a thread
that ``XADD`` s them in pipelined batches, and one that ``XREAD`` s them and ``ujson.loads`` each
(no runtime, no markers, no book, no handler dispatch). Targets (issue 13): imgfeed >= 70 % of
the bare loop's records/s, and p99 < 5 ms through Redis at 1,000 msg/s on loopback. Printed,
never asserted.

The upstream is a ``FeedClient`` over an in-memory transport that plays a realistic stream
(``_stream.py``: the snapshot, then ``market_update`` s of 5-60 selections) as fast as it is read,
or paced at 1,000/s with the send time in each message for the latency run. ``redis-server`` is
started as a child process on a free loopback port, without persistence.

``--parser python`` makes redis-py use its pure-Python parser instead of hiredis (when installed):
run both to see what hiredis is worth here.

    python benchmarks/fanout.py            # ~40 s
    python benchmarks/fanout.py --quick    # a few seconds (tests/benchmarks)
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, List, Optional, Tuple

import ujson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_common_args, fmt, percentile, print_machine, print_table  # noqa: E402
from _stream import build_messages  # noqa: E402

from imgfeed import FeedClient, FeedConfig, Handler  # noqa: E402
from imgfeed.transport.base import Transport  # noqa: E402

STREAM = "bench"


def start_redis(directory: str) -> Tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory, "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        if b"Ready to accept connections" in raw:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], name="bench-redis-output", daemon=True).start()  # type: ignore[union-attr]
    return proc, f"redis://127.0.0.1:{port}/0"


class PlayedFeed(Transport):
    """The upstream: answers ``init`` with the stream's lines, all at once or paced (module docstring)."""

    def __init__(self, lines: List[bytes], rate: Optional[float] = None, stamp: bool = False) -> None:
        self.lines = lines
        self.rate = rate
        self.stamp = stamp
        self.pos = 0
        self.started = threading.Event()
        self.closed = threading.Event()
        self.done = threading.Event()
        self.t0 = 0.0

    def connect(self, timeout: float) -> None:
        pass

    def send(self, data: bytes, timeout: float) -> None:
        self.started.set()

    def recv(self, max_bytes: int = 256 * 1024) -> Optional[bytes]:
        if self.closed.is_set():
            return b""
        if not self.started.wait(0.1) or self.pos >= len(self.lines):
            if self.pos >= len(self.lines):
                self.done.set()
                self.closed.wait(0.1)
            return None
        if self.rate is None:
            chunk, size = [], 0
            while self.pos < len(self.lines) and size < max_bytes // 4:
                chunk.append(self.lines[self.pos])
                size += len(self.lines[self.pos])
                self.pos += 1
            return b"".join(chunk)
        if self.t0 == 0.0:
            self.t0 = time.monotonic()
        due = self.t0 + self.pos / self.rate
        wait = due - time.monotonic()
        if wait > 0:
            self.closed.wait(wait)
        line = self.lines[self.pos]
        self.pos += 1
        if self.stamp and b'"market_update"' in line:
            obj = ujson.loads(line)
            obj["t"] = time.time()
            line = ujson.dumps(obj).encode() + b"\n"
        return line

    def close(self) -> None:
        self.closed.set()


class Counter(Handler):
    def __init__(self, expected: int) -> None:
        self.n = 0
        self.expected = expected
        self.done = threading.Event()
        self.latencies: List[float] = []

    def on_market_update(self, update: Any) -> None:
        t = update.raw.get("t")
        if t is not None:
            self.latencies.append(time.time() - t)
        self.n += 1
        if self.n >= self.expected:
            self.done.set()


def lines_of(n_updates: int) -> Tuple[List[bytes], int]:
    messages = build_messages(n_updates, seed=1)
    lines = [ujson.dumps(m).encode() + b"\n" for m in messages]
    return lines, sum(1 for m in messages if m.get("type") == "market_update")


def config() -> FeedConfig:
    import os

    return FeedConfig(host="bench", username="bench", key_filename=os.devnull, known_hosts=None,
                      host_key_policy="insecure-accept-any", silence_timeout=60.0, heartbeat_timeout=60.0,
                      overflow_policy="block", handler_stall_warning=None)


def consumer_child(url: str, kind: str, expected: int, timeout: float) -> None:
    """``--role consumer``: consume ``expected`` market updates, then print the result as JSON.

    The consumer side runs in its own process, as it does in production (another service, often
    another machine): each side has its own interpreter lock.
    """
    import redis

    latencies: List[float] = []
    first = last = 0.0
    n = 0
    if kind == "bare":
        r = redis.Redis.from_url(url)
        print("ready", flush=True)
        cursor = b"0-0"
        deadline = time.monotonic() + timeout
        while n < expected and time.monotonic() < deadline:
            for _, entries in r.xread({STREAM: cursor}, count=1000, block=50) or ():
                for entry_id, fields in entries:
                    line = fields.get(b"l")
                    cursor = entry_id
                    if line is None:
                        continue
                    obj = ujson.loads(line)  # what the handler would need: the object
                    if obj.get("type") == "market_update":
                        first = first or time.perf_counter()
                        t = obj.get("t")
                        if t is not None:
                            latencies.append(time.time() - t)
                        n += 1
        last = time.perf_counter()
        r.close()
    else:
        from imgfeed.fanout.redis import StreamConsumer

        counter = Counter(expected)
        consumer = StreamConsumer(url, STREAM, [counter], overflow_policy="block", block=0.05, handler_stall_warning=None)
        consumer.start()
        print("ready", flush=True)
        while not counter.done.wait(0.001) and counter.n == 0:
            pass
        first = time.perf_counter()
        counter.done.wait(timeout)
        last = time.perf_counter()
        consumer.stop()
        n, latencies = counter.n, counter.latencies
    print(ujson.dumps({"n": n, "seconds": last - first, "latencies": latencies}), flush=True)


def run(url: str, kind: str, lines: List[bytes], updates: int, rate: Optional[float], timeout: float, parser: str) -> Any:
    """One run: the consumer child, then the producer here (a publisher tapping a client, or bare XADDs)."""
    import redis

    r = redis.Redis.from_url(url)
    r.delete(STREAM, f"{STREAM}:meta", f"{STREAM}:checkpoint")
    feed = PlayedFeed(lines, rate, stamp=rate is not None)
    publisher = client = None
    if kind == "imgfeed":
        from imgfeed.fanout.redis import Publisher

        client = FeedClient(config(), transport_factory=lambda: feed)
        publisher = Publisher(client, url, STREAM, first_checkpoint=3600.0, checkpoint_interval=3600.0).start()
        publisher.wait_until(lambda s: s.written >= 1, 10.0)
    child = subprocess.Popen(
        [sys.executable, __file__, "--role", "consumer", "--kind", kind, "--url", url, "--expected", str(updates),
         "--timeout", str(timeout), "--parser", parser],
        stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if client is not None:
        client.start()
    else:
        bare_produce(r, feed)
    result = ujson.loads(child.stdout.readline())
    child.wait(timeout)
    child.stdout.close()
    if client is not None and publisher is not None:
        client.stop()
        publisher.stop()
    feed.close()
    r.close()
    return result


def bare_produce(r: Any, feed: PlayedFeed) -> None:
    """XADD the feed's lines: pipelined batches of 500 as fast as it can, or one by one as paced."""
    feed.started.set()
    while True:
        data = feed.recv()
        if data is None:
            if feed.pos >= len(feed.lines):
                return
            continue
        pipe = r.pipeline(transaction=False)
        batch = data.split(b"\n")[:-1]
        for i in range(0, len(batch), 500):
            for line in batch[i:i + 500]:
                pipe.xadd(STREAM, {b"l": line}, maxlen=1_000_000, approximate=True)
            pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--updates", type=int, default=50_000, help="market updates in the throughput run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--parser", choices=("auto", "python"), default="auto", help="redis-py's reply parser")
    parser.add_argument("--role", choices=("main", "consumer"), default="main", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="imgfeed", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import redis.connection

    if args.parser == "python":
        from redis._parsers import _RESP2Parser

        redis.connection.DefaultParser = _RESP2Parser  # type: ignore[misc]
    if args.role == "consumer":
        consumer_child(args.url, args.kind, args.expected, args.timeout)
        return
    if args.quick:
        args.updates, args.seconds = 2_000, 1.0
    print_machine()
    print(f"redis-py {redis.__version__}, reply parser {redis.connection.DefaultParser.__name__} (both processes)")
    print()
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(tmp)
        try:
            lines, updates = lines_of(args.updates)
            rates = {}
            for kind in ("bare", "imgfeed"):
                result = run(url, kind, lines, updates, None, 120.0, args.parser)
                rates[kind] = result["n"] / result["seconds"]
            bare_rate, ours_rate = rates["bare"], rates["imgfeed"]
            print_table(
                f"Throughput: {updates:,} market updates ({len(lines):,} lines) through Redis, consumer in its own process",
                ["path", "records/s", "µs/record", "vs bare loop"],
                [
                    ["bare XADD / XREAD + ujson.loads", fmt(bare_rate), fmt(1e6 / bare_rate), "100 %"],
                    ["imgfeed feed -> Redis -> consumer -> handler", fmt(ours_rate), fmt(1e6 / ours_rate),
                     f"{100 * ours_rate / bare_rate:.0f} %"],
                ],
            )
            rate = 1000.0
            paced, paced_updates = lines_of(int(rate * args.seconds))
            rows, p99 = [], {}
            for kind in ("bare", "imgfeed"):
                result = run(url, kind, paced, paced_updates, rate, args.seconds * 3 + 10, args.parser)
                ms = [x * 1000 for x in result["latencies"]]
                p99[kind] = percentile(ms, 99)
                rows.append([kind, f"{len(ms):,}", fmt(percentile(ms, 50)), fmt(p99[kind]), fmt(max(ms) if ms else float("nan"))])
            print_table("Latency through Redis at 1,000 msg/s (ms, send -> handler)", ["path", "samples", "p50", "p99", "max"], rows)
            print(f"ratio imgfeed/bare loop: {ours_rate / bare_rate:.2f} (target >= 0.70); "
                  f"imgfeed p99 at 1,000 msg/s: {fmt(p99['imgfeed'])} ms (target < 5 ms)")
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()

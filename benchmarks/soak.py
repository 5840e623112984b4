"""soak: the client against the simulator at a high update rate, with faults injected at random.

    python benchmarks/soak.py [--minutes 10] [--rate 2000] [--fault-every 2.0] [--seed 1] [--quick]

A :class:`~imgfeed.feeds.img.simulator.SimulatorServer` on loopback serves a "small" tournament scenario,
stepped by this script at ``--rate`` price updates per second. One client subscribes to
everything. A seeded random injector applies one fault at a time, about every ``--fault-every``
seconds: heartbeats stop, output stalls with the socket open, the connection drops, an error push
with any documented reason, a refused reconnection, a rate-limited request, a garbage line,
output cut into tiny writes, a handler that stalls or raises. Every ``--report-every`` seconds it
prints a row: resident memory, threads, file descriptors, and the message counters.

At the end it clears the faults, stops the updates, waits until the client has caught up, and
checks end to end that nothing was lost: every market's latest image in the client's book, and
the latest image its handler received, equal the simulator's. It then says whether memory,
threads and descriptors stayed flat (the last third of the run against the first, after a
warm-up), and exits 1 if any check failed.

The short version of this soak runs in the test suite (``tests/reliability/test_soak.py``); this
script is the long one ("runs 10 minutes with flat memory and thread count").
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import random
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import attrs
import paramiko

from imgfeed import (
    ClientState,
    FeedClient,
    FeedConfig,
    Handler,
    RateLimitedError,
    ReconnectPolicy,
    RequestError,
)
from imgfeed.feeds.img.protocol.messages import CloseReason
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer

__all__ = ["SoakSettings", "SoakResult", "Sample", "run_soak", "FAULTS"]

#: The feed's timings for the soak: the production values (3 s heartbeats, 10 s deadlines, 30 s
#: reconnects) scaled down about 20x, so that many fault-and-recovery cycles fit in ten minutes.
HEARTBEAT_INTERVAL = 0.1
HEARTBEAT_TIMEOUT = 0.5
SILENCE_TIMEOUT = 1.0
RECONNECT_INTERVAL = 0.3

#: Clock steps per second (tournaments move on, markets settle and are removed, new ones appear).
STEPS_PER_SECOND = 2.0


# --- the handler -----------------------------------------------------------------------------------


class SoakHandler(Handler):
    """Counts what it receives, keeps each market's latest image, and can be told to misbehave."""

    def __init__(self) -> None:
        self.updates = 0
        self.latest: Dict[str, Dict[str, Any]] = {}
        self.protocol_errors = 0
        self.raise_next = 0  # raise on this many next updates (a handler bug)
        self.stall = threading.Event()  # set: the handler is stuck until ``unstall`` is set
        self.unstall = threading.Event()
        self._cond = threading.Condition()

    def on_market_update(self, record: Any) -> None:
        if self.stall.is_set():
            self.unstall.wait(30.0)
        with self._cond:
            self.updates += 1
            self.latest[record.market_id] = record.raw["msg"]
            self._cond.notify_all()
        if self.raise_next > 0:
            self.raise_next -= 1
            raise RuntimeError("soak: an injected handler bug")

    def on_remove_markets(self, record: Any) -> None:
        with self._cond:
            for market_id in record.market_ids:
                self.latest.pop(market_id, None)
            self._cond.notify_all()

    def on_protocol_error(self, error: Any) -> None:
        self.protocol_errors += 1

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)


# --- faults --------------------------------------------------------------------------------------


@attrs.define
class _Context:
    server: SimulatorServer
    client: FeedClient
    handler: SoakHandler
    rng: random.Random
    stop: threading.Event
    rate_limited: List[int] = attrs.field(factory=lambda: [0])


def _timed(start: Callable[[_Context], None], end: Callable[[_Context], None]) -> Callable[[_Context], None]:
    """A fault that lasts a random while (up to twice the silence deadline), then is undone."""

    def fault(ctx: _Context) -> None:
        start(ctx)
        try:
            ctx.stop.wait(ctx.rng.uniform(0.1, 2 * SILENCE_TIMEOUT))
        finally:
            end(ctx)

    return fault


def _close_with_any_reason(ctx: _Context) -> None:
    ctx.server.faults.close_all(ctx.rng.choice([r.value for r in CloseReason]))


def _refuse_next_connection(ctx: _Context) -> None:
    ctx.server.faults.reject_connections(
        ctx.rng.choice(["max connections hit", "connection rate limit hit"]), 1
    )
    ctx.server.faults.drop_connections()


def _rate_limited_request(ctx: _Context) -> None:
    ctx.server.faults.rate_limit_next(1)
    try:
        ctx.client.subscribe(timeout=2 * SILENCE_TIMEOUT)
    except RateLimitedError:
        ctx.rate_limited[0] += 1
    except RequestError:
        pass  # no session at that moment (another fault's aftermath): fine


def _stall_handler_start(ctx: _Context) -> None:
    ctx.handler.unstall.clear()
    ctx.handler.stall.set()


def _stall_handler_end(ctx: _Context) -> None:
    ctx.handler.stall.clear()
    ctx.handler.unstall.set()


def _tiny_writes(ctx: _Context) -> None:
    ctx.server.faults.set_chunking([ctx.rng.randint(1, 7), ctx.rng.randint(1, 300)])


#: name -> fault. Each leaves the system as it found it (timed faults undo themselves).
FAULTS: Dict[str, Callable[[_Context], None]] = {
    "heartbeats stop": _timed(
        lambda c: c.server.faults.stop_heartbeats(), lambda c: c.server.faults.resume_heartbeats()
    ),
    "output stalls": _timed(lambda c: c.server.faults.stall(), lambda c: c.server.faults.resume()),
    "connection drops": lambda c: c.server.faults.drop_connections(),
    "error push": _close_with_any_reason,
    "reconnect refused": _refuse_next_connection,
    "request rate-limited": _rate_limited_request,
    "garbage line": lambda c: c.server.faults.send_raw(b'{"mode": "push", "type": \xff garbage\n'),
    "tiny writes": _timed(_tiny_writes, lambda c: c.server.faults.set_chunking(None)),
    "handler stalls": _timed(_stall_handler_start, _stall_handler_end),
    "handler raises": lambda c: setattr(c.handler, "raise_next", c.rng.randint(1, 5)),
}


# --- measurements ----------------------------------------------------------------------------------


def _trim_malloc() -> None:
    """Give freed heap memory back to the OS (glibc's ``malloc_trim``), where there is glibc.

    Memory freed after a backlog (a stalled handler, a burst) stays in the allocator's pools and
    keeps the resident set at its high-water mark; trimming before measuring separates that from
    memory that is still in use.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@attrs.frozen
class Sample:
    """One row of the report."""

    t: float
    #: Resident set size, and the same after giving freed heap memory back (see _trim_malloc).
    rss_mb: float
    rss_trimmed_mb: float
    #: Live Python memory blocks, in thousands (``sys.getallocatedblocks``): a leak of Python
    #: objects shows here even when the resident set is held up by the allocator's high-water mark.
    py_blocks_k: float
    #: Markets in the client's book (its offering), and market images it holds.
    book_markets: int
    book_images: int
    threads: int
    fds: int
    sessions: int
    reconnects: int
    messages: int
    delivered: int
    conflated: int
    protocol_errors: int
    handler_errors: int
    faults: int
    queue_depth: int

    COLUMNS = (
        "t (s)", "RSS (MB)", "RSS trimmed (MB)", "py blocks (k)", "book markets", "book images",
        "threads", "fds", "sessions", "reconnects", "messages", "delivered", "conflated",
        "protocol errors", "handler errors", "faults", "queue",
    )  # fmt: skip

    def cells(self) -> List[str]:
        return [
            f"{self.t:.0f}", f"{self.rss_mb:.1f}", f"{self.rss_trimmed_mb:.1f}", f"{self.py_blocks_k:.0f}",
            str(self.book_markets), str(self.book_images), str(self.threads), str(self.fds),
            str(self.sessions), str(self.reconnects), f"{self.messages:,}", f"{self.delivered:,}",
            f"{self.conflated:,}", str(self.protocol_errors), str(self.handler_errors), str(self.faults),
            str(self.queue_depth),
        ]  # fmt: skip


@attrs.frozen
class SoakSettings:
    """What to run. The defaults are the long soak's; the test suite passes a short version."""

    seconds: float = 600.0
    rate: float = 2000.0
    fault_every: float = 2.0
    seed: int = 1
    report_every: float = 30.0
    warmup: float = 30.0
    #: Allowed growth of the resident set, last third of the run against the first (MB).
    rss_slack_mb: float = 16.0
    #: Allowed growth of the thread and descriptor counts (a connection being set up or torn
    #: down when a sample is taken holds a few more for a moment).
    count_slack: int = 4
    #: Allowed growth of the live Python blocks, as a fraction (backlogs come and go).
    blocks_slack: float = 0.25


@attrs.define
class SoakResult:
    samples: List[Sample]
    faults: Dict[str, int]
    rate_limited: int
    markets_checked: int
    book_mismatches: List[str]
    handler_mismatches: List[str]
    caught_up: bool
    flat: Dict[str, Tuple[float, float, bool]]
    fault_errors: List[str]
    #: Why the client stopped by itself during the run, if it did.
    stopped: Optional[str]

    @property
    def ok(self) -> bool:
        return (
            self.stopped is None
            and not self.fault_errors
            and self.caught_up
            and not self.book_mismatches
            and not self.handler_mismatches
            and all(ok for _, _, ok in self.flat.values())
        )


def _flatness(samples: List[Sample], settings: SoakSettings) -> Dict[str, Tuple[float, float, bool]]:
    """Peak of the last third against the peak of the first third (after the warm-up)."""
    steady = [s for s in samples if s.t >= settings.warmup] or samples
    third = max(1, len(steady) // 3)
    first, last = steady[:third], steady[-third:]
    out: Dict[str, Tuple[float, float, bool]] = {}
    for name, slack in (
        ("rss_mb", settings.rss_slack_mb),
        ("rss_trimmed_mb", settings.rss_slack_mb),
        ("py_blocks_k", None),
        ("threads", settings.count_slack),
        ("fds", settings.count_slack),
    ):
        a = max(getattr(s, name) for s in first)
        b = max(getattr(s, name) for s in last)
        allowed = a * (1 + settings.blocks_slack) if slack is None else a + slack
        out[name] = (a, b, b <= allowed)
    return out


# --- the run ---------------------------------------------------------------------------------------


def _drive(server: SimulatorServer, rate: float, stop: threading.Event) -> None:
    """Step the scenario at ``rate`` updates per second (the simulator's own ticker is off, so the
    soak knows exactly when the feed has stopped moving)."""
    start = time.monotonic()
    emitted = steps = 0
    most = max(1, int(rate * 0.1))  # a backlog of more than 0.1 s is forgiven, not sent as a flood
    while not stop.wait(0.01):
        elapsed = time.monotonic() - start
        owed = int(elapsed * rate) - emitted
        if owed > most:
            emitted += owed - most
            owed = most
        advance = int(elapsed * STEPS_PER_SECOND) > steps
        if owed > 0 or advance:
            server.scenario.step(updates=max(owed, 0), advance=advance)
            emitted += max(owed, 0)
            steps += advance


def _inject(ctx: _Context, fault_every: float, counts: Dict[str, int], errors: List[str]) -> None:
    """Apply a random fault about every ``fault_every`` seconds until told to stop.

    A fault that raises is recorded (and fails the soak), never the end of the injection.
    """
    names = sorted(FAULTS)
    while not ctx.stop.wait(ctx.rng.expovariate(1.0 / fault_every)):
        name = ctx.rng.choice(names)
        try:
            FAULTS[name](ctx)
        except Exception as exc:  # noqa: BLE001 - reported in the result
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
        counts[name] = counts.get(name, 0) + 1


def _sample(t: float, client: FeedClient, handler: SoakHandler, faults: int) -> Sample:
    stats = client.stats()
    book = client.book.snapshot()
    rss = _rss_mb()
    _trim_malloc()
    return Sample(
        t=t,
        rss_mb=rss,
        rss_trimmed_mb=_rss_mb(),
        py_blocks_k=sys.getallocatedblocks() / 1000,
        book_markets=len(book.markets),
        book_images=len(book.images),
        threads=threading.active_count(),
        fds=len(os.listdir("/proc/self/fd")),
        sessions=stats.sessions,
        reconnects=stats.reconnects,
        messages=stats.messages,
        delivered=handler.updates,
        conflated=stats.conflated,
        protocol_errors=stats.protocol_errors,
        handler_errors=stats.handler_errors,
        faults=faults,
        queue_depth=stats.queue_depth,
    )


def _catch_up(server: SimulatorServer, client: FeedClient, handler: SoakHandler, timeout: float) -> bool:
    """With the feed still, wait until the client's session has delivered everything.

    A request's response comes after every update the server sent before it, and the reader
    matches it after applying those updates to the book. The first request may land on a
    connection that a last fault is tearing down; it is then simply sent again.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.request(
                "subscribe", {"market_ids": ["soak-sync"]}, timeout=max(0.1, deadline - time.monotonic())
            )
        except RequestError:
            continue
        return True
    return False


def _compare(
    server: SimulatorServer, client: FeedClient, handler: SoakHandler, timeout: float
) -> Tuple[int, List[str], List[str]]:
    market_ids = server.scenario.market_ids()
    expected = {m: server.scenario.market_image(m) for m in market_ids}
    book = []
    for m, image in expected.items():
        got = client.book.image(m)
        if got is None or got.raw["msg"] != image:
            book.append(m)
    # The handler runs behind the book: give the dispatcher time to drain.
    handler.wait_for(lambda: all(handler.latest.get(m) == image for m, image in expected.items()), timeout)
    handler_bad = [m for m, image in expected.items() if handler.latest.get(m) != image]
    return len(expected), book, handler_bad


def run_soak(settings: SoakSettings, report: Optional[Callable[[Sample], None]] = None) -> SoakResult:
    """Run one soak and return its samples and end-to-end checks (see the module docstring)."""
    rng = random.Random(settings.seed)
    client_key = paramiko.ECDSAKey.generate()
    with tempfile.TemporaryDirectory(prefix="imgfeed-soak-") as tmp:
        server = SimulatorServer(
            authorized_keys=[client_key],
            session_config=SessionConfig(heartbeat_interval=HEARTBEAT_INTERVAL, slow_reader_timeout=5.0),
            scenario_config=ScenarioConfig.of_size("small", seed=settings.seed, updates_per_second=0,
                                                   steps_per_second=STEPS_PER_SECOND),
        )  # fmt: skip
        server.start()
        known_hosts = os.path.join(tmp, "known_hosts")
        server.write_known_hosts(known_hosts)
        config = FeedConfig(
            host=server.host,
            port=server.port,
            username="soak",
            include_finished=True,  # settlements made while disconnected arrive on re-subscribe
            pkey=client_key,
            known_hosts=known_hosts,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            silence_timeout=SILENCE_TIMEOUT,
            init_timeout=2.0,
            connect_timeout=5.0,
            request_timeout=5.0,
            read_timeout=0.1,
            keepalive_interval=0,
            handler_stall_warning=None,
            queue_size=5000,
            reconnect=ReconnectPolicy(interval=RECONNECT_INTERVAL, jitter=0.1, min_delay=RECONNECT_INTERVAL),
        )
        handler = SoakHandler()
        client = FeedClient(config, handlers=[handler], rng=random.Random(settings.seed))
        stop = threading.Event()
        ctx = _Context(server, client, handler, rng, stop)
        counts: Dict[str, int] = {}
        fault_errors: List[str] = []
        stopped: Optional[str] = None
        threads = [
            threading.Thread(target=_drive, args=(server, settings.rate, stop), name="imgfeed-soak-driver"),
            threading.Thread(
                target=_inject,
                args=(ctx, settings.fault_every, counts, fault_errors),
                name="imgfeed-soak-faults",
            ),
        ]
        samples: List[Sample] = []
        try:
            client.start()
            client.subscribe()
            start = time.monotonic()
            for thread in threads:
                thread.start()
            next_report = settings.report_every
            while not stop.wait(max(0.0, start + next_report - time.monotonic())):
                sample = _sample(time.monotonic() - start, client, handler, sum(counts.values()))
                samples.append(sample)
                if report is not None:
                    report(sample)
                if client.state in (ClientState.STOPPING, ClientState.STOPPED):
                    # The client gave up by itself: the worst outcome a soak can find.
                    stopped = f"the client stopped at {sample.t:.0f} s: {client.stats().last_disconnect}"
                    break
                if sample.t >= settings.seconds:
                    break
                next_report += settings.report_every
        finally:
            stop.set()
            for thread in threads:
                thread.join(30.0)
            _stall_handler_end(ctx)
            server.faults.resume_heartbeats()
            server.faults.resume()
            server.faults.set_chunking(None)
        try:
            caught_up = stopped is None and _catch_up(server, client, handler, timeout=30.0)
            checked, book_bad, handler_bad = _compare(
                server, client, handler, timeout=30.0 if caught_up else 0.0
            )
        finally:
            client.stop(10.0)
            server.stop()
    return SoakResult(
        samples=samples,
        faults=counts,
        rate_limited=ctx.rate_limited[0],
        markets_checked=checked,
        book_mismatches=book_bad,
        handler_mismatches=handler_bad,
        caught_up=caught_up,
        flat=_flatness(samples, settings),
        fault_errors=fault_errors,
        stopped=stopped,
    )


# --- the script --------------------------------------------------------------------------------


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main(argv: Optional[List[str]] = None) -> int:
    import _common  # the benchmarks' shared helpers (machine description)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to run (default: %(default)s)")
    parser.add_argument(
        "--rate", type=float, default=2000.0, help="price updates per second (default: %(default)s)"
    )
    parser.add_argument(
        "--fault-every", type=float, default=2.0, help="mean seconds between faults (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the scenario and the faults (default: %(default)s)"
    )
    parser.add_argument(
        "--report-every", type=float, default=30.0, help="seconds between rows (default: %(default)s)"
    )
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    # The injected faults make the client log warnings and tracebacks by design; the table and the
    # checks below are the report.
    for name in ("imgfeed", "paramiko"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.quick:
        settings = SoakSettings(
            seconds=4, rate=500, fault_every=0.5, seed=args.seed, report_every=1, warmup=0
        )
    else:
        settings = SoakSettings(
            seconds=args.minutes * 60, rate=args.rate, fault_every=args.fault_every, seed=args.seed,
            report_every=args.report_every, warmup=min(30.0, args.minutes * 60 / 10),
        )  # fmt: skip
    _common.print_machine()
    print(
        f"**soak: {settings.seconds:.0f} s at {settings.rate:,.0f} updates/s, "
        f"a fault every ~{settings.fault_every} s (seed {settings.seed})**\n"
    )
    print(_row(list(Sample.COLUMNS)))
    print("|" + "|".join("---" for _ in Sample.COLUMNS) + "|")
    result = run_soak(settings, report=lambda s: print(_row(s.cells()), flush=True))
    print()
    print("faults injected: " + ", ".join(f"{k} x{v}" for k, v in sorted(result.faults.items())))
    print(f"rate-limited requests raised RateLimitedError: {result.rate_limited}")
    for error in result.fault_errors:
        print(f"a fault raised: {error}")
    if result.stopped:
        print(result.stopped)
    print(f"caught up after the faults: {'yes' if result.caught_up else 'NO'}")
    checked = result.markets_checked
    print(f"book images equal to the server's: {checked - len(result.book_mismatches)}/{checked}")
    handler_ok = checked - len(result.handler_mismatches)
    print(f"last images equal to the server's (handler): {handler_ok}/{checked}")
    for name, (first, last, ok) in result.flat.items():
        print(f"flat {name}: first third peak {first:g}, last third peak {last:g}: {'yes' if ok else 'NO'}")
    print(f"verdict: {'PASS' if result.ok else 'FAIL'}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Shared helpers for the benchmark scripts: tables, the machine's description, process metrics.

Every benchmark prints Markdown tables (so that ``benchmarks/README.md`` can hold them verbatim)
and reports each figure as a ratio to a baseline measured in the same run, because the machines
these run on are shared and noisy: an absolute number means little, a same-run ratio a lot.

Process metrics are read from ``/proc`` (Linux): no psutil dependency.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import statistics
import sys
import threading
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

__all__ = [
    "add_common_args",
    "cpu_seconds",
    "fmt",
    "machine_lines",
    "percentile",
    "print_machine",
    "print_table",
    "raw_parsed_by",
    "rss_bytes",
    "thread_count",
    "thread_cpu_seconds",
]


@contextlib.contextmanager
def raw_parsed_by(parser: str) -> Iterator[None]:
    """Within: ``MarketUpdate.raw`` is parsed as an install with (``"msgspec"``) or without
    (``"ujson"``) ``imgfeed[speed]`` parses it.

    The record's lazy parse does not follow ``FeedConfig.parser``: it uses msgspec whenever the
    extra is installed (``imgfeed/feeds/img/protocol/prices.py``, ``parse_raw``). A row that names
    the default path must then measure ujson's parse even on a machine with the extra, so this
    swaps the module's function for the row and puts it back after.
    """
    import ujson

    from imgfeed.feeds.img.protocol import prices

    installed = prices.parse_raw
    prices.parse_raw = ujson.loads if parser == "ujson" else installed
    try:
        yield
    finally:
        prices.parse_raw = installed


_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Options every script has: ``--quick`` (a second or two, for the smoke test).

    Also keeps imgfeed's own log lines (a replay's "disconnected (eof)") out of the tables.
    """
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny configuration that runs in a second or two (used by tests/benchmarks)",
    )


def add_switch_interval_arg(parser: argparse.ArgumentParser) -> None:
    """``--switch-interval``: ``sys.setswitchinterval`` for this process (see :func:`apply_switch_interval`)."""
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for this process (default: Python's 0.005 s)",
    )


def apply_switch_interval(args: argparse.Namespace) -> None:
    """Apply ``--switch-interval`` if it was given."""
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)


def add_cpu_arg(parser: argparse.ArgumentParser) -> None:
    """``--cpu``: run this process's clients on one CPU (see :func:`pin_clients`)."""
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="run the clients on this CPU only and the server on the others (os.sched_setaffinity; "
        "default: wherever the OS puts them)",
    )


def pin_clients(args: argparse.Namespace, server_pid: Optional[int]) -> None:
    """Apply ``--cpu``: this thread (so every client thread started from now on) on that CPU, the
    server's process on the others. A client's threads take turns on the GIL; on one core they
    also share its caches (benchmarks/README.md, "One core for the client")."""
    if args.cpu is None:
        return
    cpus = os.sched_getaffinity(0)
    if args.cpu not in cpus:
        raise SystemExit(f"--cpu {args.cpu}: this process may run on CPUs {sorted(cpus)} only")
    others = cpus - {args.cpu}
    if server_pid is not None and others:
        os.sched_setaffinity(server_pid, others)
    os.sched_setaffinity(0, {args.cpu})


# --- the machine -------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _versions() -> str:
    out = []
    for name in ("paramiko", "ujson", "attrs"):
        try:
            module = __import__(name)
            out.append(f"{name} {getattr(module, '__version__', '?')}")
        except ImportError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine_lines() -> List[str]:
    """A few lines that say where the figures were measured, including the load at the time."""
    try:
        load = "%.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        load = "unknown"
    return [
        f"CPU: {_cpu_model()} x {os.cpu_count()} (load average {load} at start)",
        f"OS: {platform.system()} {platform.release()}; Python {platform.python_version()} "
        f"({platform.python_implementation()}); {_versions()}",
    ]


def print_machine() -> None:
    for line in machine_lines():
        print(f"> {line}")
    print()


# --- process metrics -----------------------------------------------------------------------------


def cpu_seconds(pid: Optional[int] = None) -> float:
    """User + system CPU seconds used so far by a process (this one by default), all threads."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        # The command name (field 2) may contain spaces: split after its closing parenthesis.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime (fields 14 and 15)


def thread_cpu_seconds() -> Dict[str, float]:
    """CPU seconds used so far by each live thread of this process, by Python thread name.

    Threads Python did not start (none here) are left out; same-named threads are summed.
    """
    out: Dict[str, float] = {}
    for thread in threading.enumerate():
        tid = thread.native_id
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[thread.name] = out.get(thread.name, 0.0) + (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return out


def _status_field(name: str, pid: Optional[int] = None) -> Optional[int]:
    path = "/proc/self/status" if pid is None else f"/proc/{pid}/status"
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes(pid: Optional[int] = None) -> int:
    """Resident set size of a process, in bytes (``VmRSS``)."""
    kib = _status_field("VmRSS", pid)
    return 0 if kib is None else kib * 1024


def thread_count() -> int:
    """OS threads of this process (``Threads`` in /proc; includes threads Python did not start)."""
    n = _status_field("Threads")
    return threading.active_count() if n is None else n


# --- statistics and tables -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank method."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil, at least 1
    return ordered[int(rank) - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, thousands separated, no scientific notation."""
    if value != value:  # NaN
        return "n/a"
    if value == 0:
        return "0"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    decimals = max(0, digits - magnitude)
    if abs(value) < 1:
        # e.g. 0.0123 with 3 digits -> 0.0123
        s = f"{value:.{digits}g}"
        return s if "e" not in s else f"{value:.6f}"
    return f"{value:,.{decimals}f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table with a bold title line, columns padded for reading in a terminal."""
    cells = [[str(c) for c in columns]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    print(f"**{title}**")
    print()
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    print()
    sys.stdout.flush()

"""The soak's feed server: the simulator in a process of its own, driven by JSON lines on stdin.

    python benchmarks/_soak_server.py '{"authorized_key": "ecdsa-sha2-nistp256 AAAA...", ...}'

Why a separate process: ``soak.py`` judges whether the *client's* memory, threads and descriptors
stay flat. With the simulator in the same process, its buffers (output queued to a stalled or
slowly written connection while the scenario goes on at thousands of updates per second) and its
connection threads would be counted as the client's.

This process owns the :class:`~imgfeed.feeds.img.simulator.SimulatorServer`, the driver that steps
its scenario at ``rate`` updates per second, and the server-side faults. It prints one JSON line
once it listens -- ``{"port": ..., "known_hosts": "..."}`` -- then answers each command line
``{"op": NAME, ...arguments}`` with one line, ``{"ok": result}`` or ``{"error": "..."}``, in
order. Commands:

- ``drive``: start stepping the scenario; ``still``: stop (joined) and clear every fault, so the
  feed no longer moves and output flows normally.
- the faults, as :class:`~imgfeed.feeds.img.simulator.faults.FaultController` names them:
  ``stop_heartbeats``, ``resume_heartbeats``, ``stall``, ``resume``, ``drop_connections``,
  ``close_all`` (``reason``), ``reject_connections`` (``reason``, ``n``), ``rate_limit_next``
  (``n``), ``send_raw`` (``data``, base64), ``set_chunking`` (``sizes``, a list or null).
- ``images``: ``{market id: msg of its latest market_update}`` for every market on the feed.
- ``rss``: this process's resident set in MB, ``[before, after]`` giving freed heap back.
- ``quit``: stop the server and exit. End of stdin does the same (the soak has gone).

Security: the simulator binds 127.0.0.1 only and accepts only the given public key.
"""

from __future__ import annotations

import base64
import ctypes
import json
import logging
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

import paramiko

from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer


def trim_malloc() -> None:
    """Give freed heap memory back to the OS (glibc's ``malloc_trim``), where there is glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss_mb() -> float:
    """This process's resident set size (``VmRSS``), in MB."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class _Driver:
    """Steps the scenario at ``rate`` updates per second on its own thread (the simulator's ticker
    is off, so the soak knows exactly when the feed has stopped moving)."""

    def __init__(self, server: SimulatorServer, rate: float, steps_per_second: float) -> None:
        self.server = server
        self.rate = rate
        self.steps_per_second = steps_per_second
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="imgfeed-soak-driver")
            self.thread.start()

    def join(self, timeout: float) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        start = time.monotonic()
        emitted = steps = 0
        most = max(1, int(self.rate * 0.1))  # a backlog of more than 0.1 s is forgiven, not sent as a flood
        while not self.stop.wait(0.01):
            elapsed = time.monotonic() - start
            owed = int(elapsed * self.rate) - emitted
            if owed > most:
                emitted += owed - most
                owed = most
            advance = int(elapsed * self.steps_per_second) > steps
            if owed > 0 or advance:
                self.server.scenario.step(updates=max(owed, 0), advance=advance)
                emitted += max(owed, 0)
                steps += advance


def _commands(server: SimulatorServer, driver: _Driver) -> Dict[str, Callable[..., Any]]:
    faults = server.faults

    def still() -> None:
        driver.join(30.0)
        faults.resume_heartbeats()
        faults.resume()
        faults.set_chunking(None)

    def images() -> Dict[str, Any]:
        return {m: server.scenario.market_image(m) for m in server.scenario.market_ids()}

    def rss() -> Any:
        before = rss_mb()
        trim_malloc()
        return [before, rss_mb()]

    return {
        "drive": driver.start,
        "still": still,
        "stop_heartbeats": faults.stop_heartbeats,
        "resume_heartbeats": faults.resume_heartbeats,
        "stall": faults.stall,
        "resume": faults.resume,
        "drop_connections": faults.drop_connections,
        "close_all": lambda reason: faults.close_all(reason),
        "reject_connections": lambda reason, n: faults.reject_connections(reason, n),
        "rate_limit_next": lambda n: faults.rate_limit_next(n),
        "send_raw": lambda data: faults.send_raw(base64.b64decode(data)),
        "set_chunking": lambda sizes: faults.set_chunking(sizes),
        "images": images,
        "rss": rss,
    }


def _reply(message: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(argv: Optional[list] = None) -> int:
    options = json.loads((argv if argv is not None else sys.argv[1:])[0])
    # The faults make connections end mid-write by design: not worth a traceback each.
    logging.basicConfig(level=logging.CRITICAL)
    for name in ("imgfeed", "paramiko"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    kind, b64 = options["authorized_key"].split()[:2]
    server = SimulatorServer(
        authorized_keys=[paramiko.PKey.from_type_string(kind, base64.b64decode(b64))],
        session_config=SessionConfig(
            heartbeat_interval=options["heartbeat_interval"],
            slow_reader_timeout=options["slow_reader_timeout"],
        ),
        scenario_config=ScenarioConfig.of_size(
            "small", seed=options["seed"], updates_per_second=0, steps_per_second=options["steps_per_second"]
        ),
    )
    driver = _Driver(server, options["rate"], options["steps_per_second"])
    commands = _commands(server, driver)
    server.start()
    try:
        _reply({"port": server.port, "known_hosts": server.known_hosts_line()})
        for line in sys.stdin:
            request = json.loads(line)
            op = request.pop("op")
            if op == "quit":
                break
            try:
                _reply({"ok": commands[op](**request)})
            except Exception as exc:  # noqa: BLE001 -- reported to the soak, which records it
                _reply({"error": f"{op}: {type(exc).__name__}: {exc}"})
    finally:
        driver.join(30.0)
        server.stop(timeout=10.0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One simulator session over stdin/stdout, for OpenSSH's ``ForceCommand``.

``python -m imgfeed.feeds.img.simulator.stdio [options]`` serves exactly one session: requests are read from
stdin, responses and pushes written to stdout, and the process exits when stdin closes (the
client went away) or the session closes (e.g. "no init sent"). With ``sshd`` running it as a
``ForceCommand``, OpenSSH does the SSH part and a client meets a real, independent SSH server.

One thread, one ``select`` loop with timeouts: stdin, stdout (non-blocking, so a client that stops
reading cannot block the process; after ``--slow-reader-timeout`` it is closed with "slow reader"),
the session's deadlines and the scenario's update rate. Nothing is written to stderr unless
something fails, since sshd passes stderr to the client as extended data.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from typing import List, Optional, Sequence

from imgfeed.feeds.img.simulator.config import ScenarioConfig, SessionConfig
from imgfeed.feeds.img.simulator.scenario import Scenario, stamp_send_time
from imgfeed.feeds.img.simulator.session import ServerSession

__all__ = ["main", "serve", "build_parser"]

#: Bytes per ``os.write``: a pipe takes 64 KiB at once on Linux.
WRITE_SIZE = 64 * 1024


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m imgfeed.feeds.img.simulator.stdio",
        description="Serve one simulated odds feed session on stdin/stdout (for sshd's ForceCommand).",
    )
    parser.add_argument("--heartbeat-interval", type=float, default=3.0, help="seconds between heartbeats (3)")
    parser.add_argument("--init-timeout", type=float, default=10.0, help="seconds to wait for init (10)")
    parser.add_argument("--slow-reader-timeout", type=float, default=10.0, help="seconds stdout may block (10)")
    parser.add_argument("--seed", type=int, default=0, help="scenario seed (0)")
    parser.add_argument("--size", choices=("tiny", "small", "large"), default="small", help="scenario size")
    parser.add_argument("--updates-per-second", type=float, default=5.0, help="market updates per second (5)")
    parser.add_argument("--steps-per-second", type=float, default=1.0, help="tournament clock steps per second (1)")
    parser.add_argument("--mustard", action="store_true", help="behave like the older Mustard service")
    return parser


def serve(
    session_config: SessionConfig,
    scenario_config: ScenarioConfig,
    stdin_fd: int = 0,
    stdout_fd: int = 1,
) -> Optional[str]:
    """Run one session on the two file descriptors until it ends; returns its close reason."""
    scenario = Scenario(scenario_config)
    session = ServerSession(session_config, scenario, time.time())
    scenario.add_listener(session.deliver)
    os.set_blocking(stdout_fd, False)
    out = bytearray()
    stdin_open = True
    start = time.monotonic()
    emitted = 0
    steps = 0
    ups = scenario_config.updates_per_second
    sps = scenario_config.steps_per_second
    blocked_since: Optional[float] = None
    flush_deadline: Optional[float] = None
    while True:
        now = time.time()
        session.tick(now)
        elapsed = time.monotonic() - start
        if ups > 0 and session.is_initialised:
            owed = int(elapsed * ups) - emitted
            most = max(1, int(ups * 0.1))
            if owed > most:  # cannot keep up: forgive the backlog rather than flood (see server.py)
                emitted += owed - most
                owed = most
            advance = int(elapsed * sps) > steps
            if owed > 0 or advance:
                scenario.step(updates=max(owed, 0), now=now, advance=advance)
                emitted += max(owed, 0)
                steps += int(advance)
        out += session.data_to_send()
        if session.closed:
            if flush_deadline is None:
                flush_deadline = now + 2.0
            if not out or now >= flush_deadline:
                return session.close_reason
        deadline = session.next_deadline()
        timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - now))
        if ups > 0:
            timeout = min(timeout, 0.02)
        readers: List[int] = [stdin_fd] if stdin_open and not session.closed else []
        writers: List[int] = [stdout_fd] if out else []
        if not readers and not writers:
            return session.close_reason  # stdin closed (which closes the session), all sent
        r, w, _ = select.select(readers, writers, [], timeout)
        if r:
            data = os.read(stdin_fd, 65536)
            session.receive_data(data, time.time())
            if not data:
                stdin_open = False
        if w:
            if scenario_config.stamp_send_time:
                out[:] = stamp_send_time(bytes(out), time.time())
            try:
                n = os.write(stdout_fd, bytes(out[:WRITE_SIZE]))
            except BlockingIOError:
                n = 0
            except BrokenPipeError:
                return session.close_reason
            del out[:n]
            if n:
                blocked_since = None
        if out and not w:
            blocked_since = blocked_since if blocked_since is not None else time.monotonic()
            if time.monotonic() - blocked_since >= session_config.slow_reader_timeout and not session.closed:
                # docs/protocol.md 1: the service closes a client it cannot write to for 10 s.
                out.clear()
                session.discard_pending()
                session.close("slow reader", time.time())


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    session_config = SessionConfig(
        heartbeat_interval=args.heartbeat_interval,
        init_timeout=args.init_timeout,
        slow_reader_timeout=args.slow_reader_timeout,
        mustard=args.mustard,
    )
    scenario_config = ScenarioConfig.of_size(
        args.size, seed=args.seed, updates_per_second=args.updates_per_second, steps_per_second=args.steps_per_second
    )
    try:
        serve(session_config, scenario_config)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

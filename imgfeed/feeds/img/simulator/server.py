"""The simulator's SSH server: paramiko in server mode on loopback, one session per connection.

Contract:

- ``start()`` returns once the socket listens (on ``127.0.0.1`` and a free port by default);
  ``stop()`` closes every connection and joins every thread it started, within its timeout.
- Authentication is public-key only, against the authorized keys; any username is accepted.
  authorized_keys files are read again for every connection, as sshd does.
- Threads, all named and non-daemon: ``imgfeed-sim-accept``, ``imgfeed-sim-ticker`` (only when
  ``updates_per_second > 0``), and two per connection (see :mod:`imgfeed.feeds.img.simulator.connection`).
- Limits (docs/protocol.md section 7) are applied when a connection is accepted: "max connections
  hit", "connection rate limit hit", or a rejection queued by ``faults.reject_connections``.
- The scenario's output is fanned out here: each step's messages are encoded once and the same
  bytes are queued to every session that wants them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Set,
    Union,
)

import attrs
import paramiko

from imgfeed.feeds.img.simulator import keys
from imgfeed.feeds.img.simulator.config import ScenarioConfig, SessionConfig
from imgfeed.feeds.img.simulator.connection import POLL_INTERVAL, Connection
from imgfeed.feeds.img.simulator.faults import FaultController
from imgfeed.feeds.img.simulator.scenario import Emission, Scenario
from imgfeed.feeds.img.simulator.session import ServerSession
from imgfeed.loopback.server import LoopbackServer
from imgfeed.loopback.session import RequestWindow

__all__ = ["SimulatorServer"]

log = logging.getLogger(__name__)


class SimulatorServer(LoopbackServer[Connection]):
    """A local odds distribution service over SSH. See the module docstring and docs/protocol.md.

    Args:
        authorized_keys: client keys allowed to log in: paramiko keys and/or paths of OpenSSH
            authorized_keys files. Any username is accepted.
        host_key: the server's key: a paramiko key, or a path (an Ed25519 key is created there if
            the file is missing, so known_hosts stays valid across runs); ``None``: a fresh
            Ed25519 key in memory.
        host: address to listen on; loopback by default. Anything else exposes the simulator.
        port: port to listen on; 0 picks a free one (see :attr:`port` after :meth:`start`).
        session_config: timers, limits and Mustard mode of every connection.
        scenario_config: the simulated feed (size, seed, update rate).
        scenario: a ready :class:`Scenario` to serve instead of one built from ``scenario_config``.

    Example:
        >>> with SimulatorServer(authorized_keys=["~/.ssh/id_ed25519.pub"]) as server:  # doctest: +SKIP
        ...     print(server.known_hosts_line())
    """

    _label = "simulator"
    _log = log
    _thread_prefix = "imgfeed-sim"
    _accept_poll = POLL_INTERVAL * 4

    def __init__(
        self,
        authorized_keys: Iterable[keys.KeySource] = (),
        host_key: Optional[Union[paramiko.PKey, str, "os.PathLike[str]"]] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        session_config: Optional[SessionConfig] = None,
        scenario_config: Optional[ScenarioConfig] = None,
        scenario: Optional[Scenario] = None,
    ) -> None:
        super().__init__(host, port)
        self._key_sources = tuple(authorized_keys)
        # Read once now, so that a bad file fails at construction; then again on every connection.
        if not keys.load_authorized_keys(self._key_sources):
            log.warning("simulator has no authorized keys: every login will be refused")
        self.host_key = keys.host_key_from(host_key)
        self.session_config = session_config if session_config is not None else SessionConfig()
        self.scenario = scenario if scenario is not None else Scenario(scenario_config)
        self.faults = FaultController(self)
        self._accept_times = RequestWindow()
        self._stop_reason: Optional[str] = None

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen, and start the accept thread (and the ticker); returns once listening."""
        self._listen()
        self.scenario.add_listener(self._broadcast)
        self._start_thread(self._accept_loop, "accept")
        if self.scenario.config.updates_per_second > 0:
            self._start_thread(self._tick_loop, "ticker")
        log.info("simulator listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float = 5.0, reason: Optional[str] = None) -> None:
        """Close every connection (with the error push ``reason`` if given) and join every thread.

        Idempotent. Threads that do not finish within ``timeout`` are logged, never left silently.
        """
        if not self._started:
            return
        self._stop_reason = reason
        self._shutdown(timeout, lambda conn: conn.close(reason))

    def _stopped_accepting(self) -> None:
        self.scenario.remove_listener(self._broadcast)

    # --- information -----------------------------------------------------------------------------

    def known_hosts_line(self) -> str:
        """``"[127.0.0.1]:PORT ssh-ed25519 AAAA..."``: the known_hosts entry for this server."""
        return keys.known_hosts_line(self.host_key, self.host, self.port)

    def write_known_hosts(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Write a known_hosts file that holds this server's entry only."""
        with open(path, "w", encoding="ascii") as f:
            f.write(self.known_hosts_line() + "\n")

    def sessions(self) -> List[ServerSession]:
        """The sessions of the open connections (for inspection; do not drive them)."""
        return [c.session for c in self._connections_snapshot() if c.session is not None]

    def connection_stats(self) -> List[Dict[str, Any]]:
        """Per open connection: number, username, session id and state, writes and bytes sent."""
        out = []
        for conn in self._connections_snapshot():
            session = conn.session
            out.append(
                {
                    "number": conn.number,
                    "username": conn.username,
                    "session_id": None if session is None else session.session_id,
                    "state": None if session is None else session.state.value,
                    "writes": conn.writes,
                    "bytes_sent": conn.bytes_sent,
                }
            )
        return out

    def wait_for_sessions(self, n: int, timeout: float) -> bool:
        """Wait until at least ``n`` sessions are initialised (``init`` answered) and open."""
        return self.wait_until(lambda: self._initialised() >= n, timeout)

    def allowed_keys(self) -> FrozenSet[keys.PublicKeyId]:
        """The keys allowed to log in now: the given keys, and each authorized_keys file read again.

        Called for every new connection, as OpenSSH's sshd reads ``authorized_keys`` on each
        login, so a key added (or removed) while the simulator runs counts from the next
        connection. A file that has become unreadable or malformed admits no key from it (the
        safe side) and is logged with its line.
        """
        allowed: Set[keys.PublicKeyId] = set()
        for source in self._key_sources:
            try:
                allowed |= keys.load_authorized_keys([source])
            except (OSError, ValueError) as exc:  # ConfigError: a malformed line
                log.warning("simulator: ignoring authorized keys from %s: %s", source, exc)
        return frozenset(allowed)

    def _initialised(self) -> int:
        return sum(1 for c in self._connections if c.session is not None and c.session.is_initialised)

    # --- internals -------------------------------------------------------------------------------

    def _for_each_session(self, action: Callable[[ServerSession], None]) -> None:
        for conn in self._connections_snapshot():
            with conn.lock:
                if conn.session is not None:
                    action(conn.session)
            conn.wake.set()

    def _wake_all(self) -> None:
        for conn in self._connections_snapshot():
            conn.wake.set()

    def _new_session(self) -> ServerSession:
        config = self.session_config
        if self.faults.mustard is not None and self.faults.mustard != config.mustard:
            config = attrs.evolve(config, mustard=self.faults.mustard)
        return ServerSession(config, self.scenario, time.time())

    def _broadcast(self, emissions: List[Emission]) -> None:
        """Scenario listener (called with scenario.lock held): queue the step's output."""
        if not emissions:
            return
        for conn in self._connections_snapshot():
            session = conn.session
            if session is None:
                continue
            with conn.lock:
                session.deliver(emissions)
            conn.wake.set()

    def _admission(self, now: float) -> Optional[str]:
        """Why a new connection must be refused, or None (docs/protocol.md section 7)."""
        rejection = self.faults._next_rejection()
        if rejection is not None:
            return rejection
        config = self.session_config
        if config.max_connections is not None and len(self._connections) >= config.max_connections:
            return "max connections hit"
        if config.connection_rate_limit is not None:
            if self._accept_times.recent(now, config.connection_rate_window) >= config.connection_rate_limit:
                return "connection rate limit hit"
            self._accept_times.add(now)
        return None

    def _accepted(self, sock: socket.socket) -> Connection:
        reject = self._admission(time.time())
        return Connection(self, sock, next(self._numbers), reject)

    def _tick_loop(self) -> None:
        """Drive the scenario: ``updates_per_second`` updates, clock steps at ``steps_per_second``."""
        config = self.scenario.config
        start = time.monotonic()
        emitted = 0
        steps = 0
        interval = min(0.02, 1.0 / config.steps_per_second)
        while not self._stopping.wait(interval):
            elapsed = time.monotonic() - start
            owed = int(elapsed * config.updates_per_second) - emitted
            advance = int(elapsed * config.steps_per_second) > steps
            if owed <= 0 and not advance:
                continue
            # When the machine cannot keep up, the rate saturates: a backlog of more than a tenth
            # of a second is forgiven rather than sent as one flood (which would also hold the
            # scenario lock, and so every reader, for that long).
            most = max(1, int(config.updates_per_second * 0.1))
            if owed > most:
                emitted += owed - most
                owed = most
            owed = max(owed, 0)
            self.scenario.step(updates=owed, advance=advance)
            emitted += owed
            if advance:
                steps += 1

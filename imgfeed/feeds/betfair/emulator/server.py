"""The emulator's TLS server: Betfair's Exchange Stream API on loopback, one session per connection.

Contract:

- ``start()`` makes (on first use) the CA and server certificate in ``cert_dir``, and returns
  once the socket listens (``127.0.0.1`` and a free port by default; any other address is logged
  as a warning: it exposes the emulator). ``stop(timeout)`` closes every connection and joins
  every thread it started within ``timeout``, and says which did not.
- Threads, all named and non-daemon: ``imgfeed-bfemu-accept``, ``imgfeed-bfemu-ticker`` (only
  when ``updates_per_second`` > 0), and one per connection (:mod:`.connection`).
- The scenario's batches are fanned out here, to every session, under the scenario's lock.
- Tests know where the emulator is with the ``wait_for_*`` methods (a condition notified whenever
  a connection did something) and drive it with ``server.scenario.step()`` and ``server.faults``.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import select
import socket
import ssl
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional, Union

from imgfeed.feeds.betfair.emulator.certs import CertificatePaths, ensure_certificates
from imgfeed.feeds.betfair.emulator.config import EmulatorConfig, ScenarioConfig
from imgfeed.feeds.betfair.emulator.connection import POLL_INTERVAL, Connection
from imgfeed.feeds.betfair.emulator.faults import FaultController
from imgfeed.feeds.betfair.emulator.registry import ConnectionRegistry
from imgfeed.feeds.betfair.emulator.scenario import Batch, Scenario
from imgfeed.feeds.betfair.emulator.session import ServerSession

__all__ = ["EmulatorServer", "DEFAULT_CERT_DIR", "is_loopback"]

log = logging.getLogger(__name__)

#: Where the CA and server certificate live unless told otherwise.
DEFAULT_CERT_DIR = os.path.join("~", ".imgfeed", "emulator")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EmulatorServer:
    """A local Betfair Exchange Stream API over TLS. See the module docstring.

    Args:
        config: credentials, limits and timers of every connection.
        scenario_config: the emulated exchange (size, seed, update rate).
        scenario: a ready :class:`Scenario` to serve instead of one built from ``scenario_config``.
        host: address to listen on; loopback by default.
        port: port to listen on; 0 picks a free one (see :attr:`port` after :meth:`start`).
        cert_dir: where the CA and server certificate are kept (made on first use).

    Example:
        >>> with EmulatorServer(cert_dir="/tmp/emu") as server:  # doctest: +SKIP
        ...     ctx = ssl.create_default_context(cafile=server.cafile)
    """

    def __init__(
        self,
        config: Optional[EmulatorConfig] = None,
        scenario_config: Optional[ScenarioConfig] = None,
        scenario: Optional[Scenario] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: Union[str, "os.PathLike[str]"] = DEFAULT_CERT_DIR,
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.scenario = scenario if scenario is not None else Scenario(scenario_config)
        self.host = host
        self.port = port
        self.cert_dir = cert_dir
        self.certificates: Optional[CertificatePaths] = None
        self.faults = FaultController(self)
        self.registry = ConnectionRegistry()
        # Reentrant: a wait_until predicate may call connections() / sessions().
        self._lock = threading.RLock()
        self._condition = threading.Condition(self._lock)
        self._connections: List[Connection] = []
        self._numbers = itertools.count(1)
        self._stopping = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._threads: List[threading.Thread] = []
        self._ssl_context: ssl.SSLContext = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._started = False
        self.connections_accepted = 0

    def __repr__(self) -> str:
        state = "listening" if self._started and not self._stopping.is_set() else "stopped"
        return f"<EmulatorServer {self.host}:{self.port} {state} connections={len(self._connections)}>"

    def __enter__(self) -> "EmulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def cafile(self) -> str:
        """The CA certificate a client verifies the emulator with (``cafile``)."""
        if self.certificates is None:
            raise RuntimeError("the emulator has no certificates before start()")
        return str(self.certificates.ca_cert)

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Make the certificates if needed, listen, start the accept thread (and the ticker)."""
        if self._started:
            raise RuntimeError("EmulatorServer.start() called twice")
        if not is_loopback(self.host):
            log.warning(
                "emulator listening on %s, not loopback: anyone who can reach it can connect", self.host
            )
        self.certificates = ensure_certificates(self.cert_dir, hosts=[self.host])
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.certificates.server_cert), str(self.certificates.server_key))
        self._ssl_context = context
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._started = True
        self.scenario.add_listener(self._broadcast)
        accept = threading.Thread(target=self._accept_loop, name="imgfeed-bfemu-accept")
        self._threads.append(accept)
        accept.start()
        if self.scenario.config.updates_per_second > 0:
            ticker = threading.Thread(target=self._tick_loop, name="imgfeed-bfemu-ticker")
            self._threads.append(ticker)
            ticker.start()
        log.info("Betfair emulator listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and join every thread, all within ``timeout``. Idempotent.

        Threads still alive at the deadline are logged by name, never left silently.
        """
        if not self._started or self._stopping.is_set():
            return
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self.scenario.remove_listener(self._broadcast)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        conns = self.connections()
        for conn in conns:
            conn.close()
        for conn in conns:
            if conn.thread.ident is not None:
                conn.thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()] + [
            c.thread.name for c in conns if c.thread.is_alive()
        ]
        if alive:
            log.warning("emulator threads still running after stop(): %s", ", ".join(alive))

    # --- information -----------------------------------------------------------------------------

    def connections(self) -> List[Connection]:
        with self._lock:
            return list(self._connections)

    def sessions(self) -> List[ServerSession]:
        """The sessions of the open connections (for inspection; do not drive them)."""
        return [c.session for c in self.connections() if c.session is not None]

    def connection_stats(self) -> List[Dict[str, Any]]:
        """Per open connection: number, connection id, state, app key, lines and bytes written."""
        out = []
        for conn in self.connections():
            session = conn.session
            out.append(
                {
                    "number": conn.number,
                    "connection_id": None if session is None else session.connection_id,
                    "state": None if session is None else session.state.value,
                    "lines_sent": conn.lines_sent,
                    "bytes_sent": conn.bytes_sent,
                    "writes": conn.writes,
                }
            )
        return out

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds; it is re-checked whenever a connection acted."""
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

    def wait_for_sessions(self, n: int, timeout: float) -> bool:
        """Wait until at least ``n`` open sessions are authenticated."""
        return self.wait_until(
            lambda: sum(1 for s in self._sessions_locked() if s.is_authenticated) >= n, timeout
        )

    def wait_for_subscriptions(self, n: int, timeout: float, kind: str = "mcm") -> bool:
        """Wait until at least ``n`` open sessions have a ``kind`` (``mcm``/``ocm``) subscription."""
        return self.wait_until(
            lambda: sum(1 for s in self._sessions_locked() if s.subscription(kind) is not None) >= n, timeout
        )

    def wait_for_connection_count(self, n: int, timeout: float) -> bool:
        """Wait until exactly ``n`` connections are open (e.g. 0: every client has gone)."""
        return self.wait_until(lambda: len(self._connections) == n, timeout)

    def wait_for_flush(self, timeout: float) -> bool:
        """Wait until every open connection has written everything queued so far."""
        self._wake_all()
        return self.wait_until(lambda: all(c.is_idle for c in self._connections), timeout)

    def _sessions_locked(self) -> List[ServerSession]:
        return [c.session for c in self._connections if c.session is not None and not c.session.closed]

    # --- internals (for connections and faults) --------------------------------------------------

    def _now(self) -> float:
        return time.time()

    def _changed(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def _wake_all(self) -> None:
        for conn in self.connections():
            conn.wake()

    def _for_each_session(self, action: Callable[[ServerSession], None]) -> None:
        for conn in self.connections():
            with conn.lock:
                if conn.session is not None and not conn.session.closed:
                    action(conn.session)
            conn.wake()

    def _connection_ended(self, conn: Connection) -> None:
        with self._condition:
            if conn in self._connections:
                self._connections.remove(conn)
            self._condition.notify_all()

    def _new_session(self, conn: Connection) -> ServerSession:
        stamp = datetime.now(timezone.utc).strftime("%d%m%y%H%M%S")
        session = ServerSession(
            self.config,
            self.scenario,
            self.registry,
            time.time(),
            connection_id=f"001-{stamp}-{conn.number}",
            forced_failure=self.faults._take,
        )
        session.heartbeats_enabled = not self.faults.heartbeats_stopped
        session.stale_streams = set(self.faults.stale_streams)
        return session

    def _broadcast(self, batch: Batch) -> None:
        """Scenario listener (called with the scenario's lock held): queue the batch everywhere."""
        now = time.time()
        for conn in self.connections():
            with conn.lock:
                if conn.session is not None:
                    conn.session.deliver(batch, now)
            conn.wake()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], POLL_INTERVAL / 5)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.config.send_buffer_size is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer_size)
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    return
                conn = Connection(self, sock, next(self._numbers))
                self._connections.append(conn)
                self.connections_accepted += 1
            conn.thread.start()

    def _tick_loop(self) -> None:
        """Drive the scenario: ``updates_per_second`` steps per second, a backlog forgiven."""
        rate = self.scenario.config.updates_per_second
        interval = 1.0 / rate
        next_at = time.monotonic() + interval
        while not self._stopping.wait(max(0.0, next_at - time.monotonic())):
            self.scenario.step()
            next_at += interval
            if next_at < time.monotonic():  # the machine cannot keep up: no burst to catch up
                next_at = time.monotonic() + interval

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

import logging
import os
import socket
import ssl
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
from imgfeed.loopback.server import LoopbackServer, is_loopback

__all__ = ["EmulatorServer", "DEFAULT_CERT_DIR", "is_loopback"]

log = logging.getLogger(__name__)

#: Where the CA and server certificate live unless told otherwise.
DEFAULT_CERT_DIR = os.path.join("~", ".imgfeed", "emulator")


class EmulatorServer(LoopbackServer[Connection]):
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

    _label = "emulator"
    _log = log
    _thread_prefix = "imgfeed-bfemu"
    _accept_poll = POLL_INTERVAL / 5

    def __init__(
        self,
        config: Optional[EmulatorConfig] = None,
        scenario_config: Optional[ScenarioConfig] = None,
        scenario: Optional[Scenario] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: Union[str, "os.PathLike[str]"] = DEFAULT_CERT_DIR,
    ) -> None:
        super().__init__(host, port)
        self.config = config if config is not None else EmulatorConfig()
        self.scenario = scenario if scenario is not None else Scenario(scenario_config)
        self.cert_dir = cert_dir
        self.certificates: Optional[CertificatePaths] = None
        self.faults = FaultController(self)
        self.registry = ConnectionRegistry()
        self._ssl_context: ssl.SSLContext = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)

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
        self._listen()
        self.scenario.add_listener(self._broadcast)
        self._start_thread(self._accept_loop, "accept")
        if self.scenario.config.updates_per_second > 0:
            self._start_thread(self._tick_loop, "ticker")
        log.info("Betfair emulator listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float = 5.0) -> None:
        """Close every connection and join every thread, all within ``timeout``. Idempotent.

        Threads still alive at the deadline are logged by name, never left silently.
        """
        if not self._started or self._stopping.is_set():
            return
        self._shutdown(timeout, lambda conn: conn.close())

    def _stopped_accepting(self) -> None:
        self.scenario.remove_listener(self._broadcast)

    # --- information -----------------------------------------------------------------------------

    def connections(self) -> List[Connection]:
        """The open connections, a copy."""
        return self._connections_snapshot()

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

    def wait_for_flush(self, timeout: float) -> bool:
        """Wait until every open connection has written everything queued so far."""
        self._wake_all()
        return self.wait_until(lambda: all(c.is_idle for c in self._connections), timeout)

    def _sessions_locked(self) -> List[ServerSession]:
        return [c.session for c in self._connections if c.session is not None and not c.session.closed]

    # --- internals (for connections and faults) --------------------------------------------------

    def _now(self) -> float:
        return time.time()

    def _wake_all(self) -> None:
        for conn in self.connections():
            conn.wake()

    def _for_each_session(self, action: Callable[[ServerSession], None]) -> None:
        for conn in self.connections():
            with conn.lock:
                if conn.session is not None and not conn.session.closed:
                    action(conn.session)
            conn.wake()

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

    def _accepted(self, sock: socket.socket) -> Connection:
        if self.config.send_buffer_size is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.send_buffer_size)
        return Connection(self, sock, next(self._numbers))

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

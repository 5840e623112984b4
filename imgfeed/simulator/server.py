"""The simulator's SSH server: paramiko in server mode on loopback, one session per connection.

Contract:

- ``start()`` returns once the socket listens (on ``127.0.0.1`` and a free port by default);
  ``stop()`` closes every connection and joins every thread it started, within its timeout.
- Authentication is public-key only, against the authorized keys; one ``session`` channel per
  connection, with ``shell`` (a ``pty-req`` is tolerated, as the real service does).
- Threads, all named and non-daemon: ``imgfeed-sim-accept``, ``imgfeed-sim-ticker`` (only when
  ``updates_per_second > 0``), and per connection ``imgfeed-sim-conn-N`` (SSH set-up, then the
  writer) and ``imgfeed-sim-conn-N-reader`` (reads the client's lines continuously).
- The protocol is :class:`~imgfeed.simulator.session.ServerSession`'s; this module only moves
  bytes and time. Lock order: ``scenario.lock`` before a connection's lock, so a subscription
  snapshot and the live updates around it are always sent in order.

Why a writer thread per connection and not one writer for all: a write to a client whose channel
window is full blocks (paramiko waits for the window), and the service must keep serving the
others; the writer notices that it cannot write and, after ``slow_reader_timeout``, closes that
client with "slow reader" (protocol.md section 1).

Why keep a reserve of the channel window: the error push for "slow reader" must still fit when a
client has stopped reading, or the client could never learn why it was dropped.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import select
import socket
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Union

import attrs
import paramiko

from imgfeed.simulator import keys
from imgfeed.simulator.config import ScenarioConfig, SessionConfig
from imgfeed.simulator.faults import FaultController, chunked
from imgfeed.simulator.scenario import Emission, Scenario, stamp_send_time
from imgfeed.simulator.session import ServerSession

__all__ = ["SimulatorServer"]

log = logging.getLogger(__name__)

#: How long a client has to finish the SSH handshake, authenticate and send ``shell``.
SETUP_TIMEOUT = 10.0
#: How often blocked threads look at the stop flag (and a full channel window is re-checked).
POLL_INTERVAL = 0.05
#: Channel window bytes kept free for the final error push (a push is ~150 bytes).
WINDOW_RESERVE = 1024
#: How long a closing connection may take to flush what is queued before it is cut.
CLOSE_FLUSH_TIMEOUT = 2.0


#: paramiko's answer codes (paramiko ships no type hints, so they are typed here once).
_AUTH_SUCCESSFUL: int = paramiko.AUTH_SUCCESSFUL
_AUTH_FAILED: int = paramiko.AUTH_FAILED
_OPEN_SUCCEEDED: int = paramiko.OPEN_SUCCEEDED
_OPEN_PROHIBITED: int = paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class _Interface(paramiko.ServerInterface):
    """What paramiko asks the server: who may log in, which channels and requests are allowed."""

    def __init__(self, allowed: frozenset) -> None:
        self._allowed = allowed
        self.username: Optional[str] = None
        self.shell_requested = threading.Event()
        self._session_opened = False

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_none(self, username: str) -> int:
        return _AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return _AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if (key.get_name(), key.asbytes()) in self._allowed:
            self.username = username
            return _AUTH_SUCCESSFUL
        return _AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        # protocol.md 1: "the client opens one channel of type session".
        if kind == "session" and not self._session_opened:
            self._session_opened = True
            return _OPEN_SUCCEEDED
        return _OPEN_PROHIBITED

    def check_channel_pty_request(self, *args: Any) -> bool:
        return True  # tolerated, as the real service does; it changes nothing here

    def check_channel_env_request(self, channel: paramiko.Channel, name: bytes, value: bytes) -> bool:
        return True  # OpenSSH sends LANG and friends; accepted and ignored

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell_requested.set()
        return True


class _Connection:
    """One client: the SSH transport, its channel, its session, and its two threads."""

    def __init__(self, server: "SimulatorServer", sock: socket.socket, number: int, reject: Optional[str]) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.reject = reject
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.session: Optional[ServerSession] = None
        self.transport: Optional[paramiko.Transport] = None
        self.channel: Optional[paramiko.Channel] = None
        self.username: Optional[str] = None
        self._dropped = False
        self._close_requested: Optional[List[Optional[str]]] = None
        self._chunk_index = 0
        self._line_complete = True
        #: Counters for :meth:`SimulatorServer.connection_stats`.
        self.writes = 0
        self.bytes_sent = 0
        self._reader: Optional[threading.Thread] = None
        self.thread = threading.Thread(target=self._run, name=f"imgfeed-sim-conn-{number}")

    def __repr__(self) -> str:
        return f"<_Connection {self.number} user={self.username!r} session={self.session!r}>"

    # --- control from other threads ----------------------------------------------------------------

    def drop(self) -> None:
        """Abrupt close: shut the TCP socket down under SSH's feet."""
        self._dropped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.wake.set()

    def close(self, reason: Optional[str]) -> None:
        """Close the session (with the error push when ``reason`` is given), flush, disconnect."""
        with self.lock:
            if self.session is not None:
                self.session.close(reason, time.time())
            elif self._close_requested is None:
                self._close_requested = [reason]
        self.wake.set()

    # --- the connection thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._setup():
                self._serve()
        except Exception as exc:  # one connection's failure must never take the server down
            if not self._dropped and not self.server._stopping.is_set():
                log.info("simulator connection %d ended: %r", self.number, exc)
        finally:
            self._teardown()

    def _setup(self) -> bool:
        transport = paramiko.Transport(self.sock)
        self.transport = transport
        transport.add_server_key(self.server.host_key)
        interface = _Interface(self.server._allowed_keys)
        # Every wait of the set-up (key exchange, authentication, channel, shell) is done in short
        # slices, so that a client that goes silent or leaves, or a server stop, ends it at once.
        deadline = time.monotonic() + SETUP_TIMEOUT
        negotiated = threading.Event()
        transport.start_server(event=negotiated, server=interface)
        channel = None
        while channel is None or not interface.shell_requested.is_set():
            if not transport.is_active() or self.server._stopping.is_set() or self._dropped:
                return False
            if time.monotonic() >= deadline:
                log.info("simulator connection %d: no session channel with shell in time", self.number)
                return False
            if not negotiated.is_set():
                negotiated.wait(POLL_INTERVAL)
            elif channel is None:
                channel = transport.accept(POLL_INTERVAL)
            else:
                interface.shell_requested.wait(POLL_INTERVAL)
        self.channel = channel
        self.username = interface.username
        session = self.server._new_session()
        with self.lock:
            self.session = session
            if self.reject is not None:
                session.close(self.reject, time.time())
            elif self._close_requested is not None:
                session.close(self._close_requested[0], time.time())
        log.info(
            "simulator connection %d: user %r, session %s%s",
            self.number, self.username, session.session_id, f", refused: {self.reject}" if self.reject else "",
        )
        channel.settimeout(POLL_INTERVAL)
        self._reader = threading.Thread(target=self._read, name=f"imgfeed-sim-conn-{self.number}-reader")
        self._reader.start()
        return True

    def _read(self) -> None:
        """Read the client's lines continuously and feed them to the session."""
        channel = self.channel
        session = self.session
        assert channel is not None and session is not None
        scenario = self.server.scenario
        while not self._dropped and not self.server._stopping.is_set():
            try:
                data = channel.recv(65536)
            except socket.timeout:
                if session.closed:
                    return
                continue
            except (OSError, EOFError, paramiko.SSHException):
                data = b""
            with scenario.lock, self.lock:
                session.receive_data(data, time.time())
            self.server._session_changed()
            self.wake.set()
            if not data:
                return

    def _serve(self) -> None:
        """The writer: tick the session, write its output, spot a slow reader, close when done."""
        session = self.session
        channel = self.channel
        assert session is not None and channel is not None
        faults = self.server.faults
        buffer = bytearray()
        blocked_since: Optional[float] = None
        flush_deadline: Optional[float] = None
        if faults.heartbeats_stopped:
            session.heartbeats_enabled = False
        stamping = self.server.scenario.config.stamp_send_time
        while not self._dropped:
            # Cleared before looking at the session, so a wake-up that comes while this pass
            # runs makes the wait below return at once instead of being lost.
            self.wake.clear()
            now = time.time()
            with self.lock:
                session.tick(now)
                data = session.data_to_send()
                closed = session.closed
                deadline = session.next_deadline()
            if data:
                buffer += data.replace(b"\n", b"\r\n") if faults.crlf else data
            if self.server._stopping.is_set() and not closed:
                self.close(self.server._stop_reason)
                continue
            if closed:
                if flush_deadline is None:
                    flush_deadline = now + CLOSE_FLUSH_TIMEOUT
                if not buffer or now >= flush_deadline or channel.closed:
                    break
            if buffer and not faults.stalled:
                if stamping:
                    buffer[:] = stamp_send_time(bytes(buffer), time.time())
                # A closing session may use the reserve: its last bytes are the error push.
                reserve = 0 if closed else WINDOW_RESERVE
                progressed = self._write(channel, buffer, faults.chunk_sizes, reserve)
                if progressed:
                    blocked_since = None
                elif blocked_since is None:
                    blocked_since = now
                elif now - blocked_since >= self.server.session_config.slow_reader_timeout and not closed:
                    # protocol.md 1: the service closes a client it cannot send to for 10 s.
                    with self.lock:
                        session.discard_pending()
                        session.close("slow reader", now)
                    # What is unsent is dropped; end a half-sent line so the push is a line of
                    # its own (the client reports the cut line as a protocol error).
                    buffer[:] = b"" if self._line_complete else b"\n"
                    continue
                if buffer:
                    # The window is full: look again soon (paramiko has no event we can wait on
                    # together with our own).
                    self.wake.wait(POLL_INTERVAL)
                    continue
            else:
                blocked_since = None
            if closed and not buffer:
                break
            timeout = 0.5 if deadline is None else min(0.5, max(0.0, deadline - time.time()))
            if faults.stalled:
                timeout = min(timeout, POLL_INTERVAL)
            self.wake.wait(timeout)

    def _write(
        self, channel: paramiko.Channel, buffer: bytearray, sizes: Optional[Sequence[int]], reserve: int
    ) -> bool:
        """Write as much of ``buffer`` as the window allows; returns whether any byte went out."""
        sent_any = False
        while buffer:
            room = channel.out_window_size - reserve
            if room <= 0:
                break
            if sizes:
                piece, self._chunk_index = next(chunked(bytes(buffer[: max(sizes)]), sizes, self._chunk_index))
                want = min(len(piece), room)
            else:
                # paramiko sends at most one packet per call; slicing more would only be copied.
                want = min(len(buffer), room, channel.out_max_packet_size)
            try:
                n = channel.send(bytes(buffer[:want]))
            except socket.timeout:
                break
            if n <= 0:
                break
            self._line_complete = buffer[n - 1] == 0x0A
            self.writes += 1
            self.bytes_sent += n
            del buffer[:n]
            sent_any = True
        return sent_any

    def _teardown(self) -> None:
        channel, transport = self.channel, self.transport
        if channel is not None and not self._dropped:
            try:
                channel.send_exit_status(0)
                channel.shutdown_write()
            except Exception:
                pass
        if channel is not None:
            try:
                channel.close()
            except Exception:  # the client went first (EOFError, socket errors): nothing to tell
                pass
        if transport is not None:
            transport.close()
        self.sock.close()
        if self._reader is not None:
            self._reader.join(SETUP_TIMEOUT)
        if transport is not None:
            transport.join(SETUP_TIMEOUT)
        if self.session is not None:
            with self.lock:
                if not self.session.closed:
                    self.session.close(None, time.time())
            how = "dropped" if self._dropped else (self.session.close_reason or "without a reason")
            log.info("simulator connection %d closed: %s", self.number, how)
        self.server._connection_ended(self)


class SimulatorServer:
    """A local odds distribution service over SSH. See the module docstring and protocol.md.

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
        self._allowed_keys = keys.load_authorized_keys(authorized_keys)
        if not self._allowed_keys:
            log.warning("simulator has no authorized keys: every login will be refused")
        self.host_key = keys.host_key_from(host_key)
        self.host = host
        self.port = port
        self.session_config = session_config if session_config is not None else SessionConfig()
        self.scenario = scenario if scenario is not None else Scenario(scenario_config)
        self.faults = FaultController(self)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._connections: List[_Connection] = []
        self._accept_times: Deque[float] = collections.deque()
        self._numbers = itertools.count(1)
        self._stopping = threading.Event()
        self._stop_reason: Optional[str] = None
        self._listener: Optional[socket.socket] = None
        self._threads: List[threading.Thread] = []
        self._started = False
        self.connections_accepted = 0

    def __repr__(self) -> str:
        state = "listening" if self._started and not self._stopping.is_set() else "stopped"
        return f"<SimulatorServer {self.host}:{self.port} {state} connections={len(self._connections)}>"

    def __enter__(self) -> "SimulatorServer":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Listen, and start the accept thread (and the ticker); returns once listening."""
        if self._started:
            raise RuntimeError("SimulatorServer.start() called twice")
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
        accept = threading.Thread(target=self._accept_loop, name="imgfeed-sim-accept")
        self._threads.append(accept)
        accept.start()
        if self.scenario.config.updates_per_second > 0:
            ticker = threading.Thread(target=self._tick_loop, name="imgfeed-sim-ticker")
            self._threads.append(ticker)
            ticker.start()
        log.info("simulator listening on %s:%d", self.host, self.port)

    def stop(self, timeout: float = 5.0, reason: Optional[str] = None) -> None:
        """Close every connection (with the error push ``reason`` if given) and join every thread.

        Idempotent. Threads that do not finish within ``timeout`` are logged, never left silently.
        """
        if not self._started:
            return
        deadline = time.monotonic() + timeout
        self._stop_reason = reason
        self._stopping.set()
        self.scenario.remove_listener(self._broadcast)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        for conn in self._connections_snapshot():
            conn.close(reason)
        for conn in self._connections_snapshot():
            conn.thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        alive += [c.thread.name for c in self._connections_snapshot() if c.thread.is_alive()]
        if alive:
            log.warning("simulator threads still running after stop(): %s", ", ".join(alive))

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
        with self._changed:
            return self._changed.wait_for(lambda: self._initialised() >= n, timeout)

    def wait_for_connection_count(self, n: int, timeout: float) -> bool:
        """Wait until exactly ``n`` connections are open (e.g. 0: every client was closed)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._connections) == n, timeout)

    def _initialised(self) -> int:
        return sum(1 for c in self._connections if c.session is not None and c.session.is_initialised)

    # --- internals -------------------------------------------------------------------------------

    def _connections_snapshot(self) -> List[_Connection]:
        with self._lock:
            return list(self._connections)

    def _for_each_session(self, action: Callable[[ServerSession], None]) -> None:
        for conn in self._connections_snapshot():
            with conn.lock:
                if conn.session is not None:
                    action(conn.session)
            conn.wake.set()

    def _wake_all(self) -> None:
        for conn in self._connections_snapshot():
            conn.wake.set()

    def _session_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _connection_ended(self, conn: _Connection) -> None:
        with self._changed:
            if conn in self._connections:
                self._connections.remove(conn)
            self._changed.notify_all()

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
        """Why a new connection must be refused, or None (protocol.md section 7)."""
        rejection = self.faults._next_rejection()
        if rejection is not None:
            return rejection
        config = self.session_config
        if config.max_connections is not None and len(self._connections) >= config.max_connections:
            return "max connections hit"
        if config.connection_rate_limit is not None:
            times = self._accept_times
            while times and times[0] <= now - config.connection_rate_window:
                times.popleft()
            if len(times) >= config.connection_rate_limit:
                return "connection rate limit hit"
            times.append(now)
        return None

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], POLL_INTERVAL * 4)
            except (OSError, ValueError):
                return
            if not readable:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stopping.is_set():
                    sock.close()
                    return
                reject = self._admission(time.time())
                conn = _Connection(self, sock, next(self._numbers), reject)
                self._connections.append(conn)
                self.connections_accepted += 1
            conn.thread.start()

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

"""One client connection of the simulator's SSH server: set-up, a reader thread, and the writer.

Contract: a :class:`Connection` is made by :class:`~imgfeed.feeds.img.simulator.server.SimulatorServer` for
each accepted socket. Its thread (``imgfeed-sim-conn-N``) runs the SSH set-up (key exchange,
public-key authentication, one ``session`` channel with ``shell``; a ``pty-req`` is tolerated, as
the real service does), starts the reader (``imgfeed-sim-conn-N-reader``, which reads the client's
lines continuously), then becomes the writer until the session ends. Every wait has a timeout and
watches the server's stop flag. The protocol is :class:`~imgfeed.feeds.img.simulator.session.ServerSession`'s;
this module only moves bytes and time.

Why a writer thread per connection and not one writer for all: a write to a client whose channel
window is full blocks (paramiko waits for the window), and the service must keep serving the
others; the writer notices that it cannot write and, after ``slow_reader_timeout``, closes that
client with "slow reader" (docs/protocol.md section 1).

Why keep a reserve of the channel window: the error push for "slow reader" must still fit when a
client has stopped reading, or the client could never learn why it was dropped.

Lock order: ``scenario.lock`` before a connection's ``lock``, so a subscription snapshot and the
live updates around it are always sent in order.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, List, Optional, Sequence

import paramiko

from imgfeed.feeds.img.simulator.faults import chunked
from imgfeed.feeds.img.simulator.scenario import stamp_send_time
from imgfeed.feeds.img.simulator.session import ServerSession

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.img.simulator.server import SimulatorServer

__all__ = ["Connection", "POLL_INTERVAL", "SETUP_TIMEOUT"]

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
        # docs/protocol.md 1: "the client opens one channel of type session".
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


class Connection:
    """One client: the SSH transport, its channel, its session, and its two threads."""

    def __init__(
        self, server: "SimulatorServer", sock: socket.socket, number: int, reject: Optional[str]
    ) -> None:
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
        return f"<Connection {self.number} user={self.username!r} session={self.session!r}>"

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
        interface = _Interface(self.server.allowed_keys())
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
            self.number,
            self.username,
            session.session_id,
            f", refused: {self.reject}" if self.reject else "",
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
            self.server._changed()
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
                    # docs/protocol.md 1: the service closes a client it cannot send to for 10 s.
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
                window = bytes(buffer[: max(sizes)])
                piece, self._chunk_index = next(chunked(window, sizes, self._chunk_index))
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

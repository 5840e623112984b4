"""One TLS connection of the emulator: handshake, then one thread that reads, ticks and writes.

Contract: a :class:`Connection` is made by the server for each accepted socket. Its thread
(``imgfeed-bfemu-conn-N``) does the TLS handshake within ``handshake_timeout``, makes the
:class:`~imgfeed.feeds.betfair.emulator.session.ServerSession`, then loops: read what the client
sent, tick the session, write what it queued, until the session closes, the client leaves, a fault
cuts the connection or the server stops. The protocol is the session's; this module only moves
bytes and time. Every wait is a ``select`` with a timeout on the socket and a wake-up socketpair.

Why one thread and non-blocking IO, not a reader and a writer thread: an OpenSSL connection must
not be read and written from two threads at once (TLS 1.3 reads can write, e.g. session tickets),
and one thread that owns the socket also makes faults (drop, stall, split writes) exact.

Slow readers: when a write fails because the socket is full, the session is told its output is
blocked and holds changes back, merged, until everything queued is written ("if the socket buffer
is full we won't attempt to push; so the next push will be conflated").

Lock order: ``scenario.lock`` before a connection's ``lock`` (as the scenario's listeners).
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import struct
import threading
import time
from typing import TYPE_CHECKING, Dict, Optional

from imgfeed.feeds.betfair.emulator.faults import next_piece
from imgfeed.feeds.betfair.emulator.session import ServerSession

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.betfair.emulator.server import EmulatorServer

__all__ = ["Connection", "POLL_INTERVAL"]

log = logging.getLogger(__name__)

#: The longest a blocked thread waits before looking at the stop flag again.
POLL_INTERVAL = 0.5


class Connection:
    """One client: its socket, its session and its thread. See the module docstring."""

    def __init__(self, server: "EmulatorServer", sock: socket.socket, number: int) -> None:
        self.server = server
        self.number = number
        self.lock = threading.Lock()
        self.session: Optional[ServerSession] = None
        self.peer = sock.getpeername()
        self._sock: socket.socket = sock
        self._tls: Optional[ssl.SSLSocket] = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._drop: Optional[str] = None
        self._close_requested = False
        self._buffer = bytearray()
        self._chunk_index = 0
        self._blocked = False
        #: Counters, for tests and ``connection_stats``.
        self.writes = 0
        self.bytes_sent = 0
        self.lines_sent = 0
        #: Per subscription kind, the ``clk`` of the last message fully written to the socket.
        self.clk_written: Dict[str, Optional[str]] = {}
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"imgfeed-bfemu-conn-{number}")

    def __repr__(self) -> str:
        return f"<Connection {self.number} {self.peer} session={self.session!r}>"

    # --- control from other threads --------------------------------------------------------------

    def wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # full (a wake-up is already pending) or closed: either way nothing to do
            pass

    def drop(self, mode: str) -> None:
        """Cut the connection: ``"fin"`` or ``"rst"`` (done by the connection's own thread)."""
        self._drop = mode
        self.wake()

    def close(self) -> None:
        """Close cleanly: the session ends, queued bytes are flushed, TLS close_notify is sent."""
        self._close_requested = True
        self.wake()

    @property
    def is_idle(self) -> bool:
        """Nothing queued here or in the session (everything so far is on the socket)."""
        with self.lock:
            return not self._buffer and (self.session is None or self.session.pending == 0)

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._handshake():
                self._serve()
        except Exception as exc:  # one connection's failure must never take the server down
            if not self.server._stopping.is_set():
                log.info("emulator connection %d ended: %r", self.number, exc)
        finally:
            self._teardown()

    def _wait(self, read: list, write: list, timeout: float) -> list:
        try:
            readable, _, _ = select.select(
                read + [self._wake_r], write, [], max(0.0, min(timeout, POLL_INTERVAL))
            )
        except (OSError, ValueError):
            return []
        if self._wake_r in readable:
            try:
                while self._wake_r.recv(4096):
                    pass
            except OSError:
                pass
        return readable

    def _handshake(self) -> bool:
        server = self.server
        self._sock.setblocking(False)
        tls = server._ssl_context.wrap_socket(self._sock, server_side=True, do_handshake_on_connect=False)
        self._tls = tls
        deadline = time.monotonic() + server.config.handshake_timeout
        while True:
            if server._stopping.is_set() or self._drop is not None:
                return False
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                read, write = [tls], []
            except ssl.SSLWantWriteError:
                read, write = [], [tls]
            except (ssl.SSLError, OSError) as exc:
                log.info("emulator connection %d: TLS handshake failed: %s", self.number, exc)
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.info("emulator connection %d: no TLS handshake within the timeout", self.number)
                return False
            self._wait(read, write, remaining)
        session = server._new_session(self)
        with self.lock:
            self.session = session
        server._changed()
        return True

    def _serve(self) -> None:
        server, tls, session = self.server, self._tls, self.session
        assert tls is not None and session is not None
        faults = server.faults
        flush_deadline: Optional[float] = None
        while True:
            now = time.time()
            if self._drop is not None:
                self._cut(self._drop)
                return
            with self.lock:
                if server._stopping.is_set() or self._close_requested:
                    session.close()
                if not faults.stalled:
                    session.tick(now)
                data = session.data_to_send()
                closed = session.closed
                deadline = session.next_deadline()
            if data:
                self._buffer += data
            if self._buffer and not faults.stalled and not self._blocked:
                self._write(tls)
            if closed:
                if flush_deadline is None:
                    flush_deadline = now + server.config.close_flush_timeout
                if not self._buffer or now >= flush_deadline:
                    self._close_tls(tls)
                    return
            server._changed()
            timeout = POLL_INTERVAL if deadline is None else deadline - time.time()
            want_write = [tls] if self._buffer and self._blocked and not faults.stalled else []
            readable = self._wait([tls], want_write, timeout)
            if self._blocked and want_write:
                self._write(tls)
            if tls in readable or tls.pending():
                self._read(tls)

    def _read(self, tls: ssl.SSLSocket) -> None:
        session = self.session
        assert session is not None
        while True:
            try:
                data = tls.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except (ssl.SSLError, OSError):
                data = b""
            with self.server.scenario.lock, self.lock:
                session.receive_data(data, time.time())
            if not data or not tls.pending():
                return

    def _write(self, tls: ssl.SSLSocket) -> None:
        faults = self.server.faults
        buffer = self._buffer
        while buffer and not faults.stalled:
            size, index = next_piece(buffer, faults.chunk_sizes, self._chunk_index, faults.split)
            try:
                sent = tls.send(bytes(buffer[:size]))
            except (ssl.SSLWantWriteError, BlockingIOError):
                self._set_blocked(True)
                return
            except ssl.SSLWantReadError:
                return
            except OSError:  # the client is gone: nothing more can be written
                buffer.clear()
                with self.lock:
                    if self.session is not None:
                        self.session.close()
                return
            if sent <= 0:
                return
            self._chunk_index = index
            self.lines_sent += buffer.count(b"\n", 0, sent)
            self.writes += 1
            self.bytes_sent += sent
            del buffer[:sent]
        if not buffer:
            self._set_blocked(False)
            with self.lock:
                session = self.session
                if session is not None and session.pending == 0:
                    for kind in ("mcm", "ocm"):
                        clk = session.last_clk(kind)
                        if clk is not None:
                            self.clk_written[kind] = clk

    def _set_blocked(self, blocked: bool) -> None:
        if blocked == self._blocked:
            return
        self._blocked = blocked
        with self.lock:
            if self.session is not None:
                self.session.set_output_blocked(blocked, time.time())

    def _cut(self, mode: str) -> None:
        tls = self._tls
        if tls is None:
            return
        try:
            if mode == "rst":
                tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                tls.shutdown(socket.SHUT_RDWR)  # no close_notify: SSLSocket.shutdown drops TLS first
        except OSError:
            pass
        log.info("emulator connection %d dropped (%s)", self.number, mode)

    def _close_tls(self, tls: ssl.SSLSocket) -> None:
        try:
            tls.unwrap()  # sends close_notify; a non-blocking peer need not answer
        except (ssl.SSLError, OSError, ValueError):
            pass

    def _teardown(self) -> None:
        with self.lock:
            if self.session is not None:
                self.session.close()
        for sock in (self._tls, self._sock, self._wake_r, self._wake_w):
            if sock is not None:
                try:
                    sock.close()
                except OSError:
                    pass
        self.ended.set()
        self.server._connection_ended(self)

"""The listening socket, accept thread and orderly stop that every loopback test server shares.

Contract:

- :class:`LoopbackServer` owns the listening socket, the list of open connections, the one lock
  (reentrant: a ``wait_until`` predicate may take it again) with the condition that is notified
  whenever a connection is accepted, did something or ended, the stop flag, and the server's own
  threads.
- A subclass says what a connection is (:meth:`LoopbackServer._accepted`, called with the lock
  held for each accepted socket) and how one is closed at stop; a connection has a ``thread``
  the server starts after registering it, and calls ``_connection_ended`` when it is over.
- ``_shutdown(timeout, close)`` sets the stop flag, joins the server's threads, closes the
  listener, closes every connection with ``close`` and joins their threads, all within
  ``timeout``; threads still alive at the deadline are logged by name, never left silently.
- It must not know a feed: the protocol, the scenario and the faults are the subclass's.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import select
import socket
import threading
import time
from typing import Any, Callable, ClassVar, Generic, List, Optional, Protocol, TypeVar

__all__ = ["LoopbackServer", "ServedConnection", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServedConnection(Protocol):
    """What the server needs of a connection: the thread that serves it."""

    @property
    def thread(self) -> threading.Thread: ...


C = TypeVar("C", bound=ServedConnection)
S = TypeVar("S", bound="LoopbackServer[Any]")


class LoopbackServer(Generic[C]):
    """A TCP server on loopback (by default) with one thread per connection, stopped in order.

    Subclasses set the class attributes below and implement :meth:`_accepted`.

    Args:
        host: address to listen on.
        port: port to listen on; 0 picks a free one (see :attr:`port` after listening).
    """

    #: The word the stop warning names the server by ("simulator", "emulator").
    _label: ClassVar[str]
    #: The subclass module's logger, so that its log lines keep their logger name.
    _log: ClassVar[logging.Logger]
    #: Prefix of the server's thread names (``<prefix>-accept``, ``<prefix>-ticker``).
    _thread_prefix: ClassVar[str]
    #: How long the accept thread waits for a connection before it looks at the stop flag.
    _accept_poll: ClassVar[float]

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._condition = threading.Condition(self._lock)
        self._connections: List[C] = []
        self._numbers = itertools.count(1)
        self._stopping = threading.Event()
        self._listener: Optional[socket.socket] = None
        self._threads: List[threading.Thread] = []
        self._started = False
        self.connections_accepted = 0

    def __repr__(self) -> str:
        state = "listening" if self._started and not self._stopping.is_set() else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} connections={len(self._connections)}>"

    def __enter__(self: "S") -> "S":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def start(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def stop(self, timeout: float = 5.0) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    # --- for subclasses --------------------------------------------------------------------------

    def _listen(self) -> None:
        """Bind and listen (a refused bind closes the socket and raises); sets :attr:`port`."""
        if self._started:
            raise RuntimeError(f"{type(self).__name__}.start() called twice")
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

    def _start_thread(self, target: Callable[[], None], role: str) -> None:
        """Start one of the server's own threads, named ``<prefix>-<role>``; stop joins it."""
        thread = threading.Thread(target=target, name=f"{self._thread_prefix}-{role}")
        self._threads.append(thread)
        thread.start()

    def _shutdown(self, timeout: float, close: Callable[[C], None]) -> None:
        """Stop accepting, close every connection with ``close``, join everything by the deadline."""
        deadline = time.monotonic() + timeout
        self._stopping.set()
        self._stopped_accepting()
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._listener is not None:
            self._listener.close()
        conns = self._connections_snapshot()
        for conn in conns:
            close(conn)
        for conn in conns:
            if conn.thread.ident is not None:  # registered, but its thread not started yet
                conn.thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        alive += [c.thread.name for c in conns if c.thread.is_alive()]
        if alive:
            self._log.warning("%s threads still running after stop(): %s", self._label, ", ".join(alive))

    def _stopped_accepting(self) -> None:
        """Called by ``_shutdown`` once the stop flag is set, before any thread is joined."""

    def _accepted(self, sock: socket.socket) -> C:
        """Make the connection of a newly accepted socket (called with the lock held)."""
        raise NotImplementedError  # pragma: no cover

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], self._accept_poll)
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
                conn = self._accepted(sock)
                self._connections.append(conn)
                self.connections_accepted += 1
                self._condition.notify_all()  # a wait_for_connection_count(n) may hold now
            conn.thread.start()

    # --- connections -----------------------------------------------------------------------------

    def _connections_snapshot(self) -> List[C]:
        with self._lock:
            return list(self._connections)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds; it is re-checked whenever a connection acted."""
        with self._condition:
            return self._condition.wait_for(predicate, timeout)

    def wait_for_connection_count(self, n: int, timeout: float) -> bool:
        """Wait until exactly ``n`` connections are open (e.g. 0: every client has gone)."""
        return self.wait_until(lambda: len(self._connections) == n, timeout)

    def _changed(self) -> None:
        """A connection did something: wake every ``wait_until``."""
        with self._condition:
            self._condition.notify_all()

    def _connection_ended(self, conn: C) -> None:
        with self._condition:
            if conn in self._connections:
                self._connections.remove(conn)
            self._condition.notify_all()


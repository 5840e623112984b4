"""Small hostile servers for the fault matrix: they write exactly the bytes a test wants.

The simulator is a well-behaved ODS server with knobs. Some faults are, by design, things no
well-behaved server does -- a TCP reset in the middle of a line, a 100 MB line, a nesting bomb, a
response to a request that was never sent. These servers produce them on purpose:

- :class:`HostileSSHServer`: a paramiko server-mode ``Transport`` on loopback (as paramiko's own
  tests do). It authenticates one client key, accepts one ``session`` channel with ``shell``, and
  hands the channel to the test's *script*, one script call per connection, on a named thread.
- :class:`ResetServer`: a plain TCP listener that accepts and immediately resets (``SO_LINGER``
  0), for faults below SSH.
- :class:`FaultyProxy`: a TCP proxy in front of a real server that can freeze the path with the
  sockets open (a hung server or network) or reset it.
- :func:`refused_port`: a loopback port on which nothing listens.

Everything binds to 127.0.0.1, every blocking call has a timeout, and ``stop()`` joins every
thread it started, so the leak checks of the suite can count threads and descriptors.
"""

from __future__ import annotations

import selectors
import socket
import struct
import threading
import time
from typing import Callable, Iterable, List, Optional, Set

import paramiko

from imgfeed.feeds.img.protocol.requests import Request, decode_request
from imgfeed.framing import LineBuffer
from tests.reliability import wire

__all__ = ["HostileSession", "HostileSSHServer", "ResetServer", "FaultyProxy", "refused_port", "Script"]

#: Every wait in a script is bounded by this (seconds); generous, as CI machines can be slow.
SCRIPT_TIMEOUT = 10.0

#: How often the accept loops look at their stop flag (seconds).
_ACCEPT_POLL = 0.1


def _reset_on_close(sock: socket.socket) -> None:
    """Make the next ``close()`` of ``sock`` send a TCP RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Interface(paramiko.ServerInterface):
    """Accept one client key (or none, for the auth-failure fault) and one shell channel."""

    def __init__(self, authorized: Optional[paramiko.PKey], on_auth: Callable[[], bool]) -> None:
        self._authorized = authorized
        self._on_auth = on_auth
        self.shell_requested = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if not self._on_auth():
            return int(paramiko.AUTH_FAILED)  # the connection was cut meanwhile
        if self._authorized is not None and key.asbytes() == self._authorized.asbytes():
            return int(paramiko.AUTH_SUCCESSFUL)
        return int(paramiko.AUTH_FAILED)

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return int(paramiko.OPEN_SUCCEEDED)
        return int(paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED)

    def check_channel_pty_request(self, *args: object) -> bool:
        return False  # docs/protocol.md section 1: the service is used without a pty

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell_requested.set()
        return True


class HostileSession:
    """One client connection, as a script sees it: send bytes, read requests, break things."""

    def __init__(self, index: int, transport: paramiko.Transport, channel: paramiko.Channel) -> None:
        self.index = index  #: 0 for the first connection, 1 for the first reconnect, ...
        self.transport = transport
        self.channel = channel
        self.requests: List[Request] = []  #: every request read so far, in order
        self._lines = LineBuffer()
        self._pending: List[bytes] = []
        self._send_lock = threading.Lock()  # whole writes: a heartbeat never lands inside a line
        self._quiet = threading.Event()  # set: no heartbeats from keep_alive
        self._beater: Optional[threading.Thread] = None
        channel.settimeout(SCRIPT_TIMEOUT)

    def send(self, data: bytes) -> None:
        """Write ``data`` as-is on the channel (all of it, or raise)."""
        with self._send_lock:
            self.channel.sendall(data)

    def keep_alive(self, interval: float = 0.05) -> None:
        """Send a heartbeat every ``interval`` seconds from now on, between the script's writes.

        The client's deadlines in this suite are fractions of a second; a test that is slow on a
        loaded machine must not turn into a heartbeat or silence fault it did not ask for.
        """
        if self._beater is not None:
            return
        self._quiet.clear()
        self._beater = threading.Thread(
            target=self._beat, args=(interval,), name=f"imgfeed-test-hostile-beat-{self.index}"
        )
        self._beater.start()

    def stop_keep_alive(self) -> None:
        """Stop the heartbeats of :meth:`keep_alive` (idempotent); returns once none can follow."""
        self._quiet.set()
        if self._beater is not None:
            self._beater.join(SCRIPT_TIMEOUT)
            self._beater = None

    def _beat(self, interval: float) -> None:
        beat = wire.heartbeat()
        while not self._quiet.wait(interval):
            try:
                self.send(beat)
            except (OSError, EOFError, paramiko.SSHException):
                return  # the connection is gone: the script will notice on its own

    def send_lines(self, lines: Iterable[bytes]) -> None:
        self.send(b"".join(lines))

    def next_request(self, timeout: float = SCRIPT_TIMEOUT) -> Optional[Request]:
        """The next request the client sends, or ``None`` if it closed or was silent for ``timeout``."""
        self.channel.settimeout(timeout)
        while not self._pending:
            try:
                data = self.channel.recv(65536)
            except socket.timeout:
                return None
            if not data:
                return None
            self._pending.extend(line for line in self._lines.feed(data) if isinstance(line, bytes) and line)
        request = decode_request(self._pending.pop(0))
        self.requests.append(request)
        return request

    def expect(self, name: str, timeout: float = SCRIPT_TIMEOUT) -> Request:
        """Read the next request and check it is ``name``."""
        request = self.next_request(timeout)
        if request is None or request.name != name:
            raise AssertionError(f"expected a {name!r} request, got {request!r}")
        return request

    def serve_init(self, market_ids: Iterable[str] = (), heartbeat: bool = True) -> Request:
        """Answer ``init`` as the real server does: response, snapshot, first heartbeat."""
        request = self.expect("init")
        lines = [wire.init_response(f"00000000-0000-4000-8000-{self.index:012d}", request.request_id)]
        lines.extend(wire.snapshot(market_ids))
        if heartbeat:
            lines.append(wire.heartbeat())
        self.send_lines(lines)
        return request

    def serve_subscribe(self, market_ids: Iterable[str] = (), status: str = "open") -> Request:
        """Answer the next ``subscribe`` with ``ok`` and one image per market."""
        request = self.expect("subscribe")
        lines = [wire.ok_response(request.request_id)]
        lines.extend(wire.market_update(m, status) for m in market_ids)
        self.send_lines(lines)
        return request

    def wait_closed(self, timeout: float = SCRIPT_TIMEOUT) -> bool:
        """Drain what the client sends until it closes the channel; True if it did within ``timeout``."""
        self.channel.settimeout(timeout)
        try:
            while self.channel.recv(65536):
                pass
        except socket.timeout:
            return False
        return True

    def beat_until_closed(self, interval: float = 0.05, timeout: float = SCRIPT_TIMEOUT * 3) -> bool:
        """Send a heartbeat every ``interval`` until the client closes (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.wait_closed(interval):
                return True
            self.send(wire.heartbeat())
        return False

    def close(self) -> None:
        """Close cleanly (SSH channel close, then TCP FIN)."""
        self.channel.close()
        self.transport.close()

    def reset(self) -> None:
        """Abort the TCP connection with a RST, with no SSH goodbye.

        paramiko's ``Transport.close`` stops its thread and closes the socket without sending an SSH
        disconnect message; with ``SO_LINGER`` 0 that close is a reset.
        """
        _reset_on_close(self.transport.sock)
        self.transport.close()


#: What a test runs for each connection; it returns when it is done with that connection.
Script = Callable[[HostileSession], None]


class HostileSSHServer:
    """An SSH server on 127.0.0.1 that runs ``script(session)`` for each connection.

    The connection is closed when the script returns; a script that wants to keep it open until
    the client leaves ends with ``session.wait_closed()``.

    Args:
        script: run on its own thread for every authenticated connection with a shell.
        authorized_key: the one client key accepted; ``None`` rejects every key.
        host_key: the server's host key; a fresh ECDSA key when ``None``.
    """

    def __init__(
        self,
        script: Script,
        authorized_key: Optional[paramiko.PKey],
        host_key: Optional[paramiko.PKey] = None,
    ) -> None:
        self.script = script
        self.authorized_key = authorized_key
        self.host_key = host_key if host_key is not None else paramiko.ECDSAKey.generate()
        self.sessions: List[HostileSession] = []
        self.errors: List[BaseException] = []  #: exceptions raised by scripts (tests assert it is empty)
        self.connection_errors: List[BaseException] = []  #: scripts cut short by a lost connection
        self.connections = 0  #: TCP connections accepted
        self.auth_attempts = 0  #: public keys offered by clients
        #: Connections (by index) cut while the client waits for the answer to its key.
        self.cut_during_auth: Set[int] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._transports: List[paramiko.Transport] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(_ACCEPT_POLL)
        self.host, self.port = self._listener.getsockname()

    def __enter__(self) -> "HostileSSHServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def known_hosts_line(self, key: Optional[paramiko.PKey] = None) -> str:
        """A known_hosts line for this server (with ``key`` instead of the real one, if given)."""
        key = key if key is not None else self.host_key
        return f"[{self.host}]:{self.port} {key.get_name()} {key.get_base64()}\n"

    def start(self) -> None:
        self._spawn(self._accept_loop, "imgfeed-test-hostile-accept")

    def wait_sessions(self, n: int, timeout: float = SCRIPT_TIMEOUT) -> bool:
        """Wait until ``n`` connections have reached their script."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.sessions) >= n, timeout)

    def stop(self, timeout: float = SCRIPT_TIMEOUT) -> None:
        """Close every connection and the listener, and join every thread."""
        self._stop.set()
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            transport.close()
        for thread in list(self._threads):
            thread.join(timeout)
            if thread.is_alive():
                raise AssertionError(f"{thread.name} did not stop within {timeout} s")
        self._listener.close()

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name)
        self._threads.append(thread)
        thread.start()

    def _count_auth(self, index: int, sock: socket.socket) -> bool:
        """Count an offered key; cut the connection instead of answering if the test asked to."""
        with self._lock:
            self.auth_attempts += 1
        if index in self.cut_during_auth:
            sock.shutdown(socket.SHUT_RDWR)  # the client sees EOF while it waits for the answer
            return False
        return True

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                index = self.connections
                self.connections += 1
            self._spawn(self._serve, f"imgfeed-test-hostile-{index}", sock, index)

    def _serve(self, sock: socket.socket, index: int) -> None:
        transport = paramiko.Transport(sock)
        with self._lock:
            if self._stop.is_set():
                sock.close()
                return
            self._transports.append(transport)
        transport.add_server_key(self.host_key)
        interface = _Interface(self.authorized_key, lambda: self._count_auth(index, sock))
        session: Optional[HostileSession] = None
        try:
            transport.start_server(server=interface)
            channel = self._accept_channel(transport)
            if channel is None or not interface.shell_requested.wait(SCRIPT_TIMEOUT):
                return  # auth failed, or the client gave up: nothing for the script to do
            session = HostileSession(index, transport, channel)
            with self._changed:
                self.sessions.append(session)
                self._changed.notify_all()
            self.script(session)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # The connection going away mid-script is what most faults are about, and paramiko
            # reports it in several ways (its thread may not have noticed yet): not a script error.
            self.connection_errors.append(exc)
        except BaseException as exc:  # the test thread reads .errors and fails loudly
            self.errors.append(exc)
        finally:
            # A script that returns is done with its connection.
            if session is not None:
                session.stop_keep_alive()
            transport.close()

    def _accept_channel(self, transport: paramiko.Transport) -> Optional[paramiko.Channel]:
        """The client's session channel, or ``None`` once the connection is gone.

        ``Transport.accept(timeout)`` is not woken when the connection dies (an auth failure, a
        client that gives up), so wait in short steps and look at the transport in between.
        """
        deadline = time.monotonic() + SCRIPT_TIMEOUT
        while transport.is_active() and not self._stop.is_set() and time.monotonic() < deadline:
            channel = transport.accept(_ACCEPT_POLL)
            if channel is not None:
                return channel
        return None


class ResetServer:
    """A TCP listener on 127.0.0.1 that resets every connection as soon as it is accepted."""

    def __init__(self) -> None:
        self.connections = 0
        self._accepted = threading.Condition()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(_ACCEPT_POLL)
        self.host, self.port = self._listener.getsockname()
        self._thread = threading.Thread(target=self._loop, name="imgfeed-test-reset-accept")

    def __enter__(self) -> "ResetServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(SCRIPT_TIMEOUT)
        self._listener.close()

    def wait_connections(self, n: int, timeout: float = SCRIPT_TIMEOUT) -> bool:
        with self._accepted:
            return self._accepted.wait_for(lambda: self.connections >= n, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            _reset_on_close(sock)
            sock.close()
            with self._accepted:
                self.connections += 1
                self._accepted.notify_all()


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server, able to freeze or cut the network.

    Below SSH, so that a fault looks to the client exactly as a broken network would:

    - :meth:`blackhole`: stop forwarding in both directions but keep both sockets open -- a
      server (or a path) that hangs with the connection up. Not even SSH keepalive replies pass.
    - :meth:`reset`: abort every proxied connection with a TCP RST on the client side.

    Args:
        upstream_port: the loopback port of the real server.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._stop = threading.Event()
        self._lock = threading.Condition()
        self._gates: List[threading.Lock] = []
        self._resets = 0  # generation counter: each reset() ends the connections alive at the time
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(_ACCEPT_POLL)
        self.host, self.port = self._listener.getsockname()

    def __enter__(self) -> "FaultyProxy":
        self._spawn(self._accept_loop, "imgfeed-test-proxy-accept")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in list(self._threads):
            thread.join(SCRIPT_TIMEOUT)
            if thread.is_alive():
                raise AssertionError(f"{thread.name} did not stop within {SCRIPT_TIMEOUT} s")
        self._listener.close()

    def wait_connections(self, n: int, timeout: float = SCRIPT_TIMEOUT) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self.connections >= n, timeout)

    def blackhole(self) -> None:
        """Stop forwarding bytes; every socket stays open. Once this returns, no byte passes."""
        self._forwarding.clear()
        with self._lock:
            gates = list(self._gates)
        for gate in gates:
            with gate:  # wait for a forwarding step in progress to finish
                pass

    def restore(self) -> None:
        """Forward again (new connections are always forwarded)."""
        self._forwarding.set()

    def reset(self) -> None:
        """Reset every live connection: a RST to the client, the upstream side closed.

        The pump threads do the closing themselves (within one poll interval), so that no socket
        is closed under a thread that is still using it.
        """
        with self._lock:
            self._resets += 1

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            client.settimeout(SCRIPT_TIMEOUT)  # bounds sendall() to a client that stopped reading
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=SCRIPT_TIMEOUT)
            with self._lock:
                index = self.connections
                self.connections += 1
                self._lock.notify_all()
            self._spawn(self._pump, f"imgfeed-test-proxy-{index}", client, upstream)

    def _reset_since(self, generation: int) -> bool:
        with self._lock:
            return self._resets != generation

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        """Copy bytes both ways until either side closes, the proxy stops, or :meth:`reset`."""
        with self._lock:
            generation = self._resets
        peer = {client: upstream, upstream: client}
        reset = False
        gate = threading.Lock()  # held during each forwarding step; see blackhole()
        with self._lock:
            self._gates.append(gate)
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            try:
                while not self._stop.is_set():
                    if self._reset_since(generation):
                        reset = True
                        return
                    if not self._forwarding.wait(_ACCEPT_POLL):
                        continue  # blackholed: leave the bytes in the kernel buffers
                    with gate:
                        if not self._forwarding.is_set():
                            continue
                        for key, _ in selector.select(_ACCEPT_POLL):
                            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                            if not data:
                                return
                            peer[key.fileobj].sendall(data)  # type: ignore[index]
            except OSError:
                return  # a peer reset
            finally:
                with self._lock:
                    self._gates.remove(gate)
                if reset:
                    _reset_on_close(client)
                client.close()
                upstream.close()


def refused_port() -> int:
    """A loopback port with no listener: connecting to it is refused at once.

    The port is bound (so the kernel picked a free one) and closed without listening; another
    process could take it in between, which on a test machine is rare enough to accept.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

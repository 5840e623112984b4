"""The TLS transport: Python's ``ssl``, certificate and host-name verification always on.

Contract (docs/betfair.md, "Transport"):

- The server's certificate is verified against ``cafile`` (default: the system's CAs) and its
  host name against ``host`` (sent as SNI). There is no switch to turn this off: a client that
  trades real money must know whom it talks to (betfairlightweight opens TLS with ``CERT_NONE``).
  A verification failure is a :class:`~imgfeed.errors.CertificateError`, a ``HostKeyError``,
  which the runtime treats as fatal.
- Every blocking step has a deadline and can be cut short by :meth:`TLSTransport.close` from
  another thread (``stop()``): the name lookup runs on :func:`~imgfeed.transport.resolve.resolve`,
  and the TCP connect, the TLS handshake, reads and writes are non-blocking calls with ``select``
  in short slices. ``close`` shuts the socket down, which wakes a ``select`` at once.
- :meth:`~TLSTransport.recv` returns what one read gave (several TLS records if they are already
  buffered), ``None`` after ``read_timeout`` without data, ``b""`` at the end of the stream (a
  TLS close, or a TCP FIN without one: Betfair's servers are not known to send close_notify).
  Framing is the decoder's: a CRLF or a UTF-8 character split across reads is its business.
- Foreign exceptions (``ssl``, ``socket``) are translated here, once, into :mod:`imgfeed.errors`,
  chained with ``from``.

Why one lock around every ``SSL_read``/``SSL_write`` and non-blocking IO, rather than a blocking
socket read on one thread and written on another: OpenSSL does not allow the two on one
connection at once (a TLS 1.3 read can write: key updates, session tickets). The reader holds
the lock only for a non-blocking read, never while it waits, so a send is never held up for
longer than one read's copy.

This module never sees a token: it moves the bytes it is given.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import ssl
import threading
import time
from typing import Optional

from imgfeed.errors import CertificateError, ConnectError, TransportError
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport
from imgfeed.transport.resolve import resolve

__all__ = ["TLSTransport", "make_context"]

#: How often a blocked step looks at the close flag (seconds).
_SLICE = 0.05
#: How many more buffered TLS records one recv() gathers after the first (each is <= 16 KiB).
_MORE_RECORDS = 16


def make_context(cafile: Optional[str] = None) -> ssl.SSLContext:
    """A client context that verifies the certificate and the host name, TLS 1.2 or later.

    Args:
        cafile: a PEM file of the CA certificates to trust; ``None``: the system's.

    Raises:
        ConnectError: ``cafile`` cannot be read or holds no certificate.
    """
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConnectError(f"cannot load the CA certificates from {cafile!r}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    return context


class TLSTransport(Transport):
    """One TLS connection (module docstring).

    Args:
        host: the server's host name: what is resolved, sent as SNI and checked against the
            certificate.
        port: the TCP port.
        cafile: the CA certificates to verify the server with (default: the system's).
        read_timeout: how long one :meth:`recv` waits before returning ``None``.
        server_hostname: the name sent as SNI and checked against the certificate, when it is not
            ``host`` (connecting to an address while verifying a name).
    """

    def __init__(
        self,
        host: str,
        port: int,
        cafile: Optional[str] = None,
        read_timeout: float = 0.5,
        server_hostname: Optional[str] = None,
    ) -> None:
        self.host = host
        self.server_hostname = server_hostname or host
        self.port = port
        self.cafile = cafile
        self.read_timeout = read_timeout
        self._lock = threading.Lock()  # serialises SSL_read / SSL_write (module docstring)
        self._sock: Optional[socket.socket] = None
        self._tls: Optional[ssl.SSLSocket] = None
        self._closed = False
        self._failure: Optional[BaseException] = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._tls is not None else "new")
        return f"<TLSTransport {self.describe()} {state}>"

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    def failure_cause(self) -> Optional[BaseException]:
        return self._failure

    # --- connect ---------------------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        context = make_context(self.cafile)
        try:
            self._connect(context, deadline, timeout)
        except Exception:
            self.close()
            raise

    def _remaining(self, deadline: float, timeout: float, step: str) -> float:
        if self._closed:
            raise ConnectError("closed while connecting")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ConnectError(f"{step} {self.describe()} timed out after {timeout:g} s")
        return remaining

    def _connect(self, context: ssl.SSLContext, deadline: float, timeout: float) -> None:
        family, socktype, proto, addr = resolve(
            self.host, self.port, self._remaining(deadline, timeout, "resolving"), lambda: self._closed
        )
        sock = socket.socket(family, socktype, proto)
        with self._lock:
            if self._closed:
                sock.close()
                raise ConnectError("closed while connecting")
            self._sock = sock
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        code = sock.connect_ex(addr)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            raise ConnectError(f"cannot connect to {self.describe()}: {errno.errorcode.get(code, code)}")
        while code != 0:
            wait = min(_SLICE, self._remaining(deadline, timeout, "connecting to"))
            try:
                _, writable, _ = select.select([], [sock], [], wait)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if writable else code
            except (OSError, ValueError) as exc:
                # close() from another thread shuts and closes the socket under our feet.
                if self._closed:
                    raise ConnectError("closed while connecting") from exc
                raise ConnectError(f"cannot connect to {self.describe()}: {exc}") from exc
            if writable:
                if code:
                    raise ConnectError(f"cannot connect to {self.describe()}: {_strerror(code)}")
                break
        with self._lock:
            if self._closed:
                raise ConnectError("closed while connecting")
            tls = context.wrap_socket(sock, server_hostname=self.server_hostname, do_handshake_on_connect=False)
            self._tls = tls
        self._handshake(tls, deadline, timeout)

    def _handshake(self, tls: ssl.SSLSocket, deadline: float, timeout: float) -> None:
        while True:
            wait = min(_SLICE, self._remaining(deadline, timeout, "the TLS handshake with"))
            try:
                with self._lock:
                    tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                self._wait_for(tls, False, wait)
            except ssl.SSLWantWriteError:
                self._wait_for(tls, True, wait)
            except ssl.SSLCertVerificationError as exc:
                reason = exc.verify_message or str(exc)
                raise CertificateError(
                    f"the certificate of {self.describe()} cannot be verified as {self.server_hostname!r}:"
                    f" {reason} (CA file: {self.cafile or 'the system CAs'})",
                    self.server_hostname,
                    verify_message=exc.verify_message or "",
                ) from exc
            except (ssl.SSLError, OSError) as exc:
                if self._closed:
                    raise ConnectError("closed while connecting") from exc
                raise ConnectError(
                    f"the TLS handshake with {self.describe()} failed: {exc}; is this a TLS server?"
                ) from exc

    def _wait_for(self, tls: ssl.SSLSocket, writable: bool, wait: float) -> None:
        """``select`` on the handshaking socket; a close() from another thread closes it under us."""
        try:
            select.select([], [tls], [], wait) if writable else select.select([tls], [], [], wait)
        except (OSError, ValueError) as exc:
            if self._closed:
                raise ConnectError("closed while connecting") from exc
            raise ConnectError(f"the TLS handshake with {self.describe()} failed: {exc}") from exc

    # --- data --------------------------------------------------------------------------------------

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        tls = self._tls
        if tls is None or self._closed:
            return b""
        deadline = time.monotonic() + self.read_timeout
        while True:
            want_write = False
            try:
                with self._lock:
                    if self._closed:
                        return b""
                    data = tls.recv(max_bytes)
                    # Records already decrypted or received: take them in the same call.
                    more = _MORE_RECORDS
                    while data and more and len(data) < max_bytes and tls.pending():
                        data += tls.recv(max_bytes - len(data))
                        more -= 1
                return data
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLWantWriteError:
                want_write = True
            except ssl.SSLZeroReturnError:
                return b""  # the server's close_notify
            except (ssl.SSLError, OSError) as exc:
                if self._closed:
                    return b""
                self._failure = exc
                raise TransportError(f"reading from {self.describe()} failed: {exc}") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                if want_write:
                    select.select([], [tls], [], min(remaining, self.read_timeout))
                else:
                    select.select([tls], [], [], min(remaining, self.read_timeout))
            except (OSError, ValueError):  # closed under us
                return b""

    def send(self, data: bytes, timeout: float) -> None:
        tls = self._tls
        if tls is None or self._closed:
            raise TransportError("the connection is closed")
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while view:
            try:
                with self._lock:
                    if self._closed:
                        raise TransportError("the connection is closed")
                    sent = tls.send(view)
                view = view[sent:]
                continue
            except ssl.SSLWantWriteError:
                wait_read = False
            except ssl.SSLWantReadError:
                wait_read = True
            except (ssl.SSLError, OSError) as exc:
                self._failure = exc
                raise TransportError(f"writing to {self.describe()} failed: {exc}") from exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportError(f"writing to {self.describe()} timed out after {timeout:g} s")
            try:
                select.select([tls] if wait_read else [], [] if wait_read else [tls], [], min(remaining, _SLICE))
            except (OSError, ValueError) as exc:
                raise TransportError("the connection is closed") from exc

    def close(self) -> None:
        """Shut the socket down (waking any ``select``), then close it. Never raises."""
        self._closed = True
        sock = self._sock
        if sock is None:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # Close under the lock, so that no SSL call is in the middle of using the socket.
        if self._lock.acquire(timeout=1.0):
            try:
                for s in (self._tls, sock):
                    if s is not None:
                        try:
                            s.close()
                        except OSError:
                            pass
            finally:
                self._lock.release()


def _strerror(code: int) -> str:
    try:
        return os.strerror(code)
    except ValueError:
        return str(code)

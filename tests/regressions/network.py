"""Network faults below SSH that the reliability helpers do not make: a stalled path, a full backlog.

- :class:`StallProxy`: a TCP proxy on 127.0.0.1 in front of a real server that, once
  :meth:`StallProxy.stall` is called, stops reading what the client sends (what comes back from the
  server still passes). Its sockets take a small receive buffer and a small MSS, so that a client
  writing a few hundred kilobytes fills every buffer on the way and blocks inside its send, as it
  would against a server that stopped reading.
- :class:`FullBacklog`: a listener whose accept queue is full and never drained: the kernel
  drops the next SYNs, so a client's TCP connect hangs until its own timeout -- a blackholed
  address, on loopback.

Every thread is named ``imgfeed-test-...`` and joined on exit; every socket is closed.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import List

__all__ = ["StallProxy", "FullBacklog"]

#: How often the proxy's loops look at their stop flag (seconds).
_POLL = 0.05
#: Receive buffer and MSS of the proxy's client-side sockets: small, so a stalled path fills fast
#: (loopback's 64 KiB MSS otherwise lets the client's send buffer grow past a megabyte).
_RCVBUF = 4096
_MSS = 536


class StallProxy:
    """Forward 127.0.0.1:``port`` to ``upstream_port`` until :meth:`stall`; see the module docstring."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._stalled = threading.Event()
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)  # inherited on accept
        self._listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, _MSS)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self._listener.settimeout(_POLL)
        self.port = int(self._listener.getsockname()[1])

    def __enter__(self) -> "StallProxy":
        self._spawn(self._accept_loop, "imgfeed-test-stall-accept")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10.0)
            if thread.is_alive():
                raise AssertionError(f"{thread.name} did not stop")
        self._listener.close()

    def stall(self) -> None:
        """Stop reading from the client (from the next loop of each connection on)."""
        self._stalled.set()

    def _spawn(self, target: object, name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10.0)
            self._spawn(self._pump, "imgfeed-test-stall-pump", client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_READ)
            selector.register(upstream, selectors.EVENT_READ)
            reading_client = True
            try:
                while not self._stop.is_set():
                    if reading_client and self._stalled.is_set():
                        selector.unregister(client)  # leave its bytes in the kernel buffers
                        reading_client = False
                    for key, _ in selector.select(_POLL):
                        source = key.fileobj
                        data = source.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        (upstream if source is client else client).sendall(data)
            except OSError:
                return
            finally:
                client.close()
                upstream.close()


class FullBacklog:
    """A loopback port where a TCP connect hangs: its one-slot accept queue is full, never drained."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = int(self._listener.getsockname()[1])
        self._fillers: List[socket.socket] = []
        for _ in range(3):  # more than the queue holds: the later SYNs are dropped
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)

    def __enter__(self) -> "FullBacklog":
        return self

    def __exit__(self, *exc: object) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()

"""Fault injection: make a running simulator misbehave the way the real service (or the network) can.

A :class:`FaultController` is reached as ``server.faults``. Every method is thread-safe, acts at
once on the live connections, and where it makes sense also on connections made later (heartbeats
stay stopped, output stays stalled, chunking and Mustard mode stay on until switched back). Each
fault is described by what a client sees on the wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple

from imgfeed.feeds.img.protocol.messages import CloseReason
from imgfeed.loopback.faults import FaultSwitches, check_chunk_sizes

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.img.simulator.server import SimulatorServer

__all__ = ["FaultController", "chunked", "CLOSE_REASONS"]

#: The documented reasons of the error push (docs/protocol.md section 7).
CLOSE_REASONS: Tuple[str, ...] = tuple(r.value for r in CloseReason)


def chunked(data: bytes, sizes: Sequence[int], start: int = 0) -> Iterator[Tuple[bytes, int]]:
    """Split ``data`` into pieces of ``sizes[start]``, ``sizes[start+1]``, ... (cycled).

    Yields ``(piece, index of the next size)`` so that a writer can carry the cycle over to the
    next batch of output. Pieces ignore line and UTF-8 boundaries on purpose.
    """
    i = start % len(sizes)
    pos = 0
    while pos < len(data):
        size = sizes[i]
        i = (i + 1) % len(sizes)
        yield data[pos : pos + size], i
        pos += size


class FaultController(FaultSwitches):
    """The fault switches of one :class:`~imgfeed.feeds.img.simulator.server.SimulatorServer`.

    :meth:`stall` stops ALL output to every client: what a client sees is silence (no heartbeat,
    no update, no response), the connection still up. Requests are still read and answered into
    the queue. The slow-reader rule does not apply while the server itself stalls.
    """

    _server: "SimulatorServer"

    def __init__(self, server: "SimulatorServer") -> None:
        super().__init__(server)
        self.mustard: Optional[bool] = None
        self.crlf = False
        self._rejections: List[str] = []

    def __repr__(self) -> str:
        on = [
            name
            for name, active in (
                ("heartbeats_stopped", self.heartbeats_stopped),
                ("stalled", self.stalled),
                ("mustard", bool(self.mustard)),
                ("chunking", self.chunk_sizes is not None),
                ("crlf", self.crlf),
                ("rejecting", bool(self._rejections)),
            )
            if active
        ]
        return f"<FaultController {' '.join(on) or 'none'}>"

    # --- heartbeats and output ---------------------------------------------------------------------

    def set_chunking(self, sizes: Optional[Sequence[int]]) -> None:
        """Write output in pieces of these sizes (cycled), e.g. ``[1]`` or ``[3, 1, 7]``.

        Pieces ignore line and character boundaries, so a client sees lines, UTF-8 characters and
        ``\\r\\n`` split across reads. ``None`` goes back to normal, batched writes.
        """
        self.chunk_sizes = check_chunk_sizes(sizes)

    def set_crlf(self, enabled: bool) -> None:
        """End every line written from now on with ``\\r\\n`` instead of ``\\n``, as tolerant
        peers do (docs/protocol.md section 2). With :meth:`set_chunking` the two bytes get split too."""
        self.crlf = bool(enabled)

    # --- connections -------------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Cut every connection abruptly: no error push, no SSH close, the TCP socket just closes."""
        for conn in self._server._connections_snapshot():
            conn.drop()

    def close_all(self, reason: str = "internal disconnection requested") -> None:
        """Send every session the error push with ``reason`` (docs/protocol.md section 7), then close.

        ``reason`` may be any string; the documented ones are in :data:`CLOSE_REASONS`.
        """
        for conn in self._server._connections_snapshot():
            conn.close(reason)

    def reject_connections(self, reason: str = "max connections hit", n: int = 1) -> None:
        """The next ``n`` connections get the error push with ``reason`` at once, then are closed."""
        with self._lock:
            self._rejections.extend([reason] * n)

    def _next_rejection(self) -> Optional[str]:
        with self._lock:
            return self._rejections.pop(0) if self._rejections else None

    # --- requests and raw output -------------------------------------------------------------------

    def rate_limit_next(self, n: int = 1) -> None:
        """On every connected session, answer the next ``n`` requests with "API limit breached"."""
        self._server._for_each_session(lambda s: s.rate_limit_next(n))

    def send_malformed_line(self) -> None:
        """Send a line that is not valid JSON (a client reports it and reads on)."""
        self.send_raw(b'{"mode": "push", "type": "heartbeat", "msg": {"timestamp": \n')

    def send_long_line(self, length: int) -> None:
        """Send one JSON line of ``length`` bytes (plus ``\\n``), e.g. just over a client's maximum."""
        head = b'{"mode": "push", "type": "padding", "msg": "'
        tail = b'"}'
        pad = max(0, length - len(head) - len(tail))
        self.send_raw(head + b"x" * pad + tail + b"\n")

    def set_mustard(self, enabled: bool) -> None:
        """Mustard mode for NEW sessions: no init response, no ``publish_time`` (docs/protocol.md 9)."""
        self.mustard = bool(enabled)

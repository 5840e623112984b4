"""Fault injection: make a running emulator misbehave the way Betfair (or the network) can.

A :class:`FaultController` is reached as ``server.faults``. Every method is thread-safe and acts at
once on the live connections; switches (stalled output, stopped heartbeats, write splitting, 503
windows) also hold for connections made later, until switched back. Queued failures
(:meth:`~FaultController.fail_next`, :meth:`~FaultController.reject_connections`,
:meth:`~FaultController.invalid_clock_next`) are taken by the next matching requests, whichever
connection sends them. Each fault is described by what a client sees on the wire.

:func:`next_piece` is the pure part of write splitting: where the writer cuts its next write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple, Union

from imgfeed.feeds.betfair.emulator.wire import ERROR_CODES
from imgfeed.loopback.faults import FaultSwitches, check_chunk_sizes

if TYPE_CHECKING:  # pragma: no cover
    from imgfeed.feeds.betfair.emulator.server import EmulatorServer

__all__ = ["FaultController", "next_piece", "SPLIT_MODES", "DROP_MODES"]

#: Where :meth:`FaultController.set_split` cuts writes: between ``\r`` and ``\n`` of every line;
#: inside every multi-byte UTF-8 character; one byte after every CRLF (so no read ends at a line end).
SPLIT_MODES = ("crlf", "utf8", "straddle")
#: How :meth:`FaultController.drop` cuts a connection: TCP FIN without TLS close_notify, or RST.
DROP_MODES = ("fin", "rst")
#: The most a single write (one TLS record) carries.
MAX_WRITE = 16 * 1024


def next_piece(
    buffer: Union[bytes, bytearray], sizes: Optional[Sequence[int]], index: int, split: Optional[str]
) -> Tuple[int, int]:
    """How many bytes of ``buffer`` the next write takes, and the next index into ``sizes``.

    ``sizes`` (cycled from ``index``) caps each write; ``split`` cuts at the first point of its
    kind (see :data:`SPLIT_MODES`) after the first byte. Without either, up to :data:`MAX_WRITE`.
    """
    n = min(len(buffer), MAX_WRITE)
    if sizes:
        n = min(n, sizes[index % len(sizes)])
        index = (index + 1) % len(sizes)
    if split == "crlf":
        at = buffer.find(b"\r\n", 0, n + 1)
        if at >= 0:
            n = at + 1
    elif split == "utf8":
        for i in range(n):
            if buffer[i] >= 0xC0:  # a lead byte: cut right after it, inside the character
                n = i + 1
                break
    elif split == "straddle":
        at = buffer.find(b"\r\n", 0, n)
        if at >= 0 and at + 2 < len(buffer):
            n = at + 3
    return max(1, n), index


class FaultController(FaultSwitches):
    """The fault switches of one :class:`~imgfeed.feeds.betfair.emulator.server.EmulatorServer`.

    :meth:`stall` also stops heartbeats (nothing is written); :meth:`stop_heartbeats` stops the
    ``ct: HEARTBEAT`` messages while changes still flow.
    """

    _server: "EmulatorServer"

    def __init__(self, server: "EmulatorServer") -> None:
        super().__init__(server)
        self.split: Optional[str] = None
        self.stale_streams: frozenset = frozenset()
        self._forced: List[Tuple[str, str, Optional[str], bool]] = []

    def __repr__(self) -> str:
        on = [
            name
            for name, active in (
                ("stalled", self.stalled),
                ("heartbeats_stopped", self.heartbeats_stopped),
                ("chunking", self.chunk_sizes is not None),
                (f"split={self.split}", self.split is not None),
                ("503", bool(self.stale_streams)),
                (f"queued={len(self._forced)}", bool(self._forced)),
            )
            if active
        ]
        return f"<FaultController {' '.join(on) or 'none'}>"

    # --- output ----------------------------------------------------------------------------------

    def set_chunking(self, sizes: Optional[Sequence[int]]) -> None:
        """Write in pieces of these sizes (cycled), each its own TLS record, e.g. ``[1]``.

        Pieces ignore line and character boundaries. ``None`` goes back to whole writes.
        """
        self.chunk_sizes = check_chunk_sizes(sizes)
        self._server._wake_all()

    def set_split(self, mode: Optional[str]) -> None:
        """Cut writes at every point of ``mode`` (one of :data:`SPLIT_MODES`), or ``None``."""
        if mode is not None and mode not in SPLIT_MODES:
            raise ValueError(f"split mode must be one of {', '.join(SPLIT_MODES)} or None, got {mode!r}")
        self.split = mode
        self._server._wake_all()

    # --- stream status ---------------------------------------------------------------------------

    def start_503(self, streams: Sequence[str] = ("mcm", "ocm")) -> None:
        """Every change message (heartbeats too) of these streams carries ``status: 503``."""
        bad = set(streams) - {"mcm", "ocm"}
        if bad:
            raise ValueError(f"streams are 'mcm' and/or 'ocm', got {sorted(bad)}")
        self.stale_streams = frozenset(streams)
        self._server._for_each_session(lambda s: setattr(s, "stale_streams", set(self.stale_streams)))

    def end_503(self) -> None:
        """Change messages go back to having no ``status`` (the stream is up to date)."""
        self.start_503(())

    # --- errors ----------------------------------------------------------------------------------

    def send_error(self, code: str, message: Optional[str] = None) -> None:
        """Every live session gets ``status`` FAILURE ``code`` now (and is closed unless the code
        is SUBSCRIPTION_LIMIT_EXCEEDED), e.g. ``UNEXPECTED_ERROR`` or ``CONNECTION_FAILED``."""
        _check_code(code)
        self._server._for_each_session(lambda s: s.fail(code, message, None, self._server._now()))

    def fail_next(self, op: str, code: str, n: int = 1, message: Optional[str] = None) -> None:
        """The next ``n`` requests with this ``op`` (on any connection) are answered ``code``."""
        _check_code(code)
        with self._lock:
            self._forced.extend([(op, code, message, False)] * n)

    def reject_connections(self, n: int = 1, code: str = "MAX_CONNECTION_LIMIT_EXCEEDED") -> None:
        """The next ``n`` authentications fail with ``code`` (the connection limit by default)."""
        self.fail_next("authentication", code, n)

    def invalid_clock_next(self, n: int = 1) -> None:
        """The next ``n`` subscriptions that carry clocks get ``INVALID_CLOCK``, valid or not."""
        with self._lock:
            self._forced.extend([("*", "INVALID_CLOCK", "the clock has expired (injected)", True)] * n)

    def _take(self, op: str, has_clock: bool) -> Optional[Tuple[str, Optional[str]]]:
        """The session's hook: a queued failure for this request, or None."""
        with self._lock:
            for i, (want_op, code, message, needs_clock) in enumerate(self._forced):
                if needs_clock and not (has_clock and op.endswith("Subscription")):
                    continue
                if want_op in ("*", op):
                    del self._forced[i]
                    return code, message
        return None

    # --- connections and raw output --------------------------------------------------------------

    def drop(self, mode: str = "fin") -> None:
        """Cut every connection: ``"fin"`` (TCP close, no TLS close_notify) or ``"rst"`` (reset)."""
        if mode not in DROP_MODES:
            raise ValueError(f"drop mode must be one of {', '.join(DROP_MODES)}, got {mode!r}")
        for conn in self._server.connections():
            conn.drop(mode)

    def send_malformed_line(self) -> None:
        """A line that is not JSON (a client should report it and read on)."""
        self.send_raw(b'{"op":"mcm","id":1,"clk":\r\n')


def _check_code(code: str) -> None:
    if code not in ERROR_CODES:
        raise ValueError(f"unknown ESA error code {code!r} (known: {', '.join(ERROR_CODES)})")

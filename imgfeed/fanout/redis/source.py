"""The consumer's transport: a fan-out stream read with ``XREAD BLOCK``, as records for the runtime.

Contract: :class:`StreamTransport` is a :class:`~imgfeed.transport.base.Transport` whose ``recv``
reads a batch of entries and whose shim decoder (:class:`StreamDecoder`) hands the runtime the
records it made of them: the feed's own records, decoded from the lines by the feed's decoder, and
the records of :mod:`imgfeed.fanout.redis.records` for the markers, ending with a ``Position``.
Both run on the reader thread, one batch at a time, so no bytes framing is needed between them.

Where a connection starts (:meth:`StreamTransport.connect`, from the shared ``StreamState``):

1. **Resume**: whole as of its last applied entry, and that entry is still in the stream: read on
   after it; if an upstream session was in force there, a ``SessionResumed`` first (every market
   then waits for its next image, as after any reconnect).
2. **Checkpoint**: otherwise the latest checkpoint whose marker is still in the stream: its lines,
   the upstream's tradable markets and session, then read on after its marker.
3. **History**: no checkpoint, never read, and the stream still starts with a publisher's ``start``:
   all of it, from the first entry.
4. **Wait**: otherwise skip entries -- there is no whole state to start from -- until a
   ``checkpoint`` marker (its key loaded as in 2) or the end of an upstream connection (the next
   one starts whole), delivering only ticks and positions.

A connection ends after an entry that ends the downstream session (an upstream ``disconnected``
that had come up, a ``gap``, a publisher's ``start`` while a session was in force): the batch ends
there and the next ``recv`` is the end of the stream; the next connection goes on from there.
A malformed entry becomes a ``ProtocolError`` for ``on_protocol_error``, and the stream goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from imgfeed.errors import ImgFeedError, ProtocolError, TransportError
from imgfeed.fanout.redis.entries import (
    LINE,
    decode_checkpoint,
    pointer_key,
    read_marker,
    session_of,
)
from imgfeed.fanout.redis.records import (
    GateChanged,
    GateReset,
    Position,
    SessionResumed,
    StreamGap,
    Tick,
    UpstreamAttemptFailed,
    UpstreamConnected,
    UpstreamDisconnected,
    UpstreamLate,
    UpstreamResumed,
)
from imgfeed.fanout.redis.relay import StreamState
from imgfeed.fanout.redis.url import RedisTarget, redis_errors
from imgfeed.runtime.adapter import Decoder
from imgfeed.runtime.events import Disconnected, DisconnectReason
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["StreamTransport", "StreamDecoder", "Entry"]

log = logging.getLogger("imgfeed.fanout")

#: (entry id, fields) as redis-py returns them.
Entry = Tuple[bytes, Dict[bytes, bytes]]

NORMAL, SKIP = "normal", "skip"


class StreamTransport(Transport):
    """One downstream connection to the stream (module docstring).

    Args:
        target, stream: where to read.
        state: shared with the consumer's adapter and its other connections; read under ``lock``.
        lock: the consumer's (the feed's) lock.
        decoder: a fresh decoder of the feed, for this connection's lines.
        block: seconds one ``XREAD`` waits (``close`` may wait this long for it to return).
        count: the most entries per read.
    """

    def __init__(
        self,
        target: RedisTarget,
        stream: str,
        state: StreamState,
        lock: Any,
        decoder: Decoder,
        block: float = 0.2,
        count: int = 1000,
    ) -> None:
        self.target = target
        self.stream = stream
        self.state = state
        self.lock = lock
        self.block_ms = max(1, int(block * 1000))
        self.count = count
        self._decoder = decoder
        self._redis: Any = None
        self._closed = False
        self._ended = False
        self._mode = NORMAL
        self._cursor = b"0-0"
        self._upstream_up = False
        self._pending: Optional[List[Any]] = None
        #: What the last recv made, for the shim decoder.
        self.records: List[Any] = []

    def describe(self) -> str:
        return f"{self.target.describe()} stream {self.stream}"

    def __repr__(self) -> str:
        return f"<StreamTransport {self.describe()} cursor={self._cursor.decode()} mode={self._mode}>"

    # --- connect ---------------------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        self._redis = self.target.connect(timeout, read_timeout=timeout + self.block_ms / 1000)
        with self.lock:
            position, synced = self.state.position, self.state.synced
            upstream, late = self.state.upstream, self.state.late
        with redis_errors(self.target):
            self._plan(position, synced, upstream, late)

    def _plan(self, position: Optional[bytes], synced: bool, upstream: Any, late: bool) -> None:
        if position is not None and synced and self._exists(position):
            self._cursor = position
            self._upstream_up = upstream is not None
            self._pending = [SessionResumed(upstream, late, whole=True)] if upstream is not None else []
            return
        checkpoint = self._pointed_checkpoint()
        if checkpoint is not None:
            marker_id, records = checkpoint
            self._cursor = marker_id
            self._pending = records
            return
        first = self._redis.xrange(self.stream, "-", "+", count=1)
        if position is None and first and _is_start(first[0]):
            self._cursor = b"0-0"
            self._pending = []
            return
        self._mode = SKIP
        self._cursor = position if position is not None and self._exists(position) else b"0-0"
        self._pending = []
        log.info("fan-out: %s has no whole state to start from; waiting for a checkpoint", self.describe())

    def _exists(self, entry_id: bytes) -> bool:
        return entry_id == b"0-0" or bool(self._redis.xrange(self.stream, entry_id, entry_id, count=1))

    def _pointed_checkpoint(self) -> Optional[Tuple[bytes, List[Any]]]:
        pointer = self._redis.hgetall(pointer_key(self.stream))
        marker_id, key = pointer.get(b"id"), pointer.get(b"key")
        if not marker_id or not key or not self._exists(marker_id):
            return None
        return self._checkpoint_records(marker_id, key.decode())

    def _checkpoint_records(self, marker_id: bytes, key: str) -> Optional[Tuple[bytes, List[Any]]]:
        """The records that rebuild the state as of checkpoint ``marker_id`` (None: its key is gone)."""
        blob = self._redis.get(key)
        if blob is None:
            return None
        try:
            meta, lines = decode_checkpoint(blob)
        except ProtocolError as exc:
            log.error("fan-out: checkpoint %s is unreadable: %s", key, exc)
            return None
        session = session_of(meta.get("session"))
        records: List[Any] = [
            SessionResumed(session, meta.get("suspended") == "heartbeat late"),
            GateReset(tuple(meta.get("tradable") or ())),
        ]
        records.extend(self._decoder.feed(lines, time.time()) if lines else ())
        records.append(Position(marker_id))
        self._upstream_up = session is not None
        with self.lock:
            self.state.resyncs += 1
        log.info("fan-out: %s starts from checkpoint %s", self.describe(), marker_id.decode())
        return marker_id, records

    # --- recv ------------------------------------------------------------------------------------

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        if self._closed or self._ended:
            return b""
        if self._pending is not None:
            self.records, self._pending = self._pending, None
            if self.records:
                return b"\n"
        try:
            with redis_errors(self.target):
                entries = self._read()
        except TransportError:
            if self._closed:
                return b""
            raise
        if not entries:
            return None
        try:
            with redis_errors(self.target):
                data, self.records = self._translate(entries)
        except TransportError:
            if self._closed:
                return b""
            raise
        return data

    def _read(self) -> List[Entry]:
        response = self._redis.xread({self.stream: self._cursor}, count=self.count, block=self.block_ms)
        return response[0][1] if response else []

    def _translate(self, entries: List[Entry]) -> Tuple[bytes, List[Any]]:
        """The records of a batch, and its lines' bytes (for the runtime's byte count)."""
        out: List[Any] = []
        chunks: List[bytes] = []
        lines: List[bytes] = []
        closing: Optional[Any] = None
        last = self._cursor
        for entry_id, fields in entries:
            last = entry_id
            line = fields.get(LINE)
            if line is not None:
                if self._mode is NORMAL:
                    lines.append(line)
                continue
            if lines:
                chunks.append(self._flush(lines, out))
            closing = self._marker(entry_id, fields, out)
            if closing is not None:
                break
        if lines:
            chunks.append(self._flush(lines, out))
        self._cursor = last
        out.append(Position(last, self._mode is NORMAL))
        if closing is not None:
            out.append(closing)
            self._ended = True
        with self.lock:
            self.state.entries += len(entries)
        return (b"".join(chunks) or b"\n"), out

    def _flush(self, lines: List[bytes], out: List[Any]) -> bytes:
        data = b"\n".join(lines) + b"\n"
        out.extend(self._decoder.feed(data, time.time()))
        lines.clear()
        return data

    def _marker(self, entry_id: bytes, fields: Dict[bytes, bytes], out: List[Any]) -> Optional[Any]:
        """Append the records of one marker; return the record that ends the session, if it does."""
        try:
            kind, data = read_marker(entry_id, fields)
        except ProtocolError as exc:
            out.append(exc)
            return None
        if kind == "tick":
            out.append(Tick())
            return None
        if self._mode is SKIP:
            self._skipping(entry_id, kind, data, out)
            return None
        return self._follow(kind, data, out, entry_id)

    def _follow(self, kind: str, data: Dict[str, Any], out: List[Any], entry_id: bytes) -> Optional[Any]:
        if kind == "connected":
            self._upstream_up = True
            out.append(UpstreamConnected(session_of(data) or {}))
        elif kind == "disconnected":
            was_up, self._upstream_up = bool(data.get("was_up")), False
            if was_up:
                return UpstreamDisconnected(
                    str(data.get("reason")), str(data.get("detail") or ""), data.get("code"), data.get("retry_in")
                )
            out.append(UpstreamAttemptFailed(_attempt_note(data)))
        elif kind == "suspended":
            if data.get("reason") == "heartbeat late":
                out.append(UpstreamLate())
        elif kind == "resumed":
            out.append(UpstreamResumed())
        elif kind == "status":
            out.append(GateChanged(str(data.get("market_id")), bool(data.get("tradable"))))
        elif kind == "gap":
            lost = data.get("lost")
            what = "entries were" if lost is None else f"{lost} entries were"
            return StreamGap(f"a gap in the stream at {entry_id.decode()}: {what} lost ({data.get('detail')})")
        elif kind == "start" and self._upstream_up:
            self._upstream_up = False
            return UpstreamDisconnected(str(DisconnectReason.EOF), "the publisher restarted")
        return None  # a checkpoint in a whole stream is only a position

    def _skipping(self, entry_id: bytes, kind: str, data: Dict[str, Any], out: List[Any]) -> None:
        if kind == "checkpoint":
            loaded = self._checkpoint_records(entry_id, str(data.get("key")))
            if loaded is not None:
                out.extend(loaded[1])
                self._mode = NORMAL
        elif kind in ("disconnected", "start"):
            self._mode = NORMAL  # the next upstream connection starts whole
            self._upstream_up = False
            log.info("fan-out: %s starts at the next upstream session", self.describe())
        return None

    # --- the rest of the transport ---------------------------------------------------------------

    def send(self, data: bytes, timeout: float) -> None:
        """Nothing is ever sent upstream (the relay's handshake only awaits)."""

    def close(self) -> None:
        """Close the connection; a blocked ``XREAD`` returns within the block time."""
        self._closed = True
        redis, self._redis = self._redis, None
        if redis is not None:
            try:
                redis.close()
            except Exception:  # a broken connection: nothing to do
                pass


class StreamDecoder:
    """The shim decoder of a :class:`StreamTransport`: the records its last ``recv`` made."""

    def __init__(self, transport: Callable[[], Any]) -> None:
        self._transport = transport

    def feed(self, data: bytes, received_at: float) -> List[Any]:
        transport = self._transport()
        records: List[Any] = transport.records
        transport.records = []
        return records


def _is_start(entry: Entry) -> bool:
    try:
        return read_marker(*entry)[0] == "start"
    except ImgFeedError:
        return False


def _attempt_note(data: Dict[str, Any]) -> Disconnected:
    try:
        reason = DisconnectReason(str(data.get("reason")))
    except ValueError:
        reason = DisconnectReason.CONNECT_FAILED
    retry_in = data.get("retry_in")
    return Disconnected(
        reason, f"upstream: {data.get('detail') or ''}", None, bool(data.get("will_retry", True)), retry_in, data.get("code")
    )


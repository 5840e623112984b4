"""The stream's entry format and the checkpoint format: bytes and dicts, no IO (docs/fanout.md).

Every entry of a fan-out stream is one of:

- a **line** of the feed, exactly as received, without its line terminator: ``{l: <bytes>}``;
- a **marker**: ``{m: <kind>, d: <JSON object>}``, with ``kind`` one of :data:`MARKERS`.

A checkpoint's lines are not in the stream (they would be read by every consumer): the publisher
stores them under their own key, *before* it adds the ``checkpoint`` marker that names that key, so
a marker always names a whole checkpoint; the marker's entry id is the point of the stream the
checkpoint's state corresponds to. A small pointer hash (``<stream>:checkpoint``: ``id``, ``key``)
names the latest, for consumers that join late.

A checkpoint blob is its metadata as one JSON line, then the feed's lines, each ending in ``\\n``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import ujson

from imgfeed.errors import ProtocolError

__all__ = [
    "FORMAT",
    "LINE",
    "MARKER",
    "DATA",
    "MARKERS",
    "marker_fields",
    "read_marker",
    "encode_checkpoint",
    "decode_checkpoint",
    "meta_key",
    "pointer_key",
    "checkpoint_key",
    "entry_error",
    "session_of",
]

#: The format's version, in the ``start`` marker and the stream's meta hash.
FORMAT = 1

#: Field names (bytes: redis-py returns bytes).
LINE = b"l"
MARKER = b"m"
DATA = b"d"

#: The marker kinds and what their data holds (docs/fanout.md has the full table).
MARKERS = frozenset(
    {
        "start",  # a publisher started: {format, feed, publisher}; the upstream is down here
        "connected",  # an upstream session came up: {session_id, number, address, connected_at}
        "disconnected",  # an upstream connection ended: {reason, detail, code, will_retry, retry_in, was_up}
        "suspended",  # every market suspended: {reason} ("heartbeat late", "disconnected", "stale")
        "resumed",  # the global suspension lifted: {}; "status" markers follow for each tradable market
        "status",  # one market's tradability changed upstream: {market_id, tradable}
        "tick",  # the publisher is alive and the feed quiet: {at}
        "gap",  # entries were lost before this one: {lost, detail}
        "checkpoint",  # a whole state as of this entry is stored under {key}: {key, seq}
    }
)


def marker_fields(kind: str, data: Dict[str, Any]) -> Dict[bytes, bytes]:
    """The fields of a marker entry."""
    return {MARKER: kind.encode("ascii"), DATA: ujson.dumps(data, ensure_ascii=False).encode("utf-8")}


def entry_error(entry_id: bytes, fields: Any, why: str) -> ProtocolError:
    """The error for an entry that is not in the format: its id and its fields, as bytes."""
    raw = repr(fields).encode("utf-8", "backslashreplace")[:4096]
    return ProtocolError(f"stream entry {entry_id.decode('ascii', 'replace')} is malformed: {why}", raw)


def read_marker(entry_id: bytes, fields: Dict[bytes, bytes]) -> Tuple[str, Dict[str, Any]]:
    """(kind, data) of a marker entry.

    Raises:
        ProtocolError: not a known marker, or its data is not a JSON object (see :func:`entry_error`).
    """
    try:
        kind = fields[MARKER].decode("ascii")
        data = ujson.loads(fields.get(DATA, b"{}"))
    except (KeyError, UnicodeDecodeError, ValueError) as exc:
        raise entry_error(entry_id, fields, f"{type(exc).__name__}: {exc}") from exc
    if kind not in MARKERS:
        raise entry_error(entry_id, fields, f"unknown marker {kind!r}")
    if not isinstance(data, dict):
        raise entry_error(entry_id, fields, "its data is not a JSON object")
    return kind, data


def encode_checkpoint(meta: Dict[str, Any], lines: List[bytes]) -> bytes:
    """A checkpoint blob: ``meta`` as one JSON line, then ``lines`` (each ending in ``\\n``)."""
    return ujson.dumps(meta, ensure_ascii=False).encode("utf-8") + b"\n" + b"".join(lines)


def decode_checkpoint(blob: bytes) -> Tuple[Dict[str, Any], bytes]:
    """(meta, the lines as one block of bytes) of a checkpoint blob.

    Raises:
        ProtocolError: the blob is not a checkpoint.
    """
    head, _, lines = blob.partition(b"\n")
    try:
        meta = ujson.loads(head)
    except ValueError as exc:
        raise ProtocolError(f"not a checkpoint: {exc}", blob[:1024]) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ProtocolError(f"not a checkpoint of format {FORMAT}", blob[:1024])
    return meta, lines


def meta_key(stream: str) -> str:
    """The hash that says which feed and format a stream carries."""
    return f"{stream}:meta"


def pointer_key(stream: str) -> str:
    """The hash that names the latest checkpoint: ``id`` (its marker's entry id) and ``key``."""
    return f"{stream}:checkpoint"


def checkpoint_key(stream: str, run: str, seq: int) -> str:
    """Where checkpoint number ``seq`` of publisher run ``run`` is stored."""
    return f"{stream}:checkpoint:{run}:{seq}"


def session_of(data: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The session part of a ``connected`` marker or a checkpoint's meta, or ``None``."""
    if not data:
        return None
    return {k: data.get(k) for k in ("session_id", "number", "address", "connected_at")}

"""Recordings: the raw lines of a feed with their receive times, as JSON lines.

The format (agreed between the work streams; extend, never break):

- One JSON object per line, UTF-8, ``\\n``-terminated.
- The first line is a header: ``{"imgfeed_recording": 1, "created": "<ISO 8601 UTC>",
  "source": "<host:port or 'simulator'>", "feed": "img"}``. A rotated file's header also has
  ``"part": N``. ``feed`` names the protocol of the lines (``"img"``, ``"betfair"``), so that a
  replay picks the right decoder; a file without it (written before it existed) is IMG.
- Every other line is one line received from the server: ``{"t": <receive time, float seconds
  since the epoch>, "line": "<the raw line without its \\n, decoded as UTF-8>"}``, or, for a line
  that is not valid UTF-8, ``{"t": ..., "b64": "<base64 of the raw bytes>"}``. A reader skips
  objects that have neither key, so later versions can add markers without breaking old readers.
- Marker: ``{"t": ..., "event": "connected", "source": "<host:port>"}`` is written when a new
  connection starts, so that a replay can reproduce each reconnection (the lines after it are the
  new session's). A recording without markers is one connection.
- A file whose name ends in ``.gz`` is gzip-compressed. Readers recognise gzip by its magic bytes,
  whatever the name.

Contract of :class:`RecordingWriter`: every line is handed to the operating system as soon as it is
written (a gzip stream is sync-flushed), so a crash of the recording process loses at most the line
being written. Rotation by size starts a new, self-contained file (with its own header).

Contract of :func:`read_recording`: yields :class:`RecordedLine` in file order, and raises
:class:`~imgfeed.errors.ReplayError` naming the file and the 1-based line number for anything it
cannot read -- a missing file, a file that is not a recording, a corrupt line, a truncated end --
never a bare ``ValueError`` or ``EOFError``. A truncated end (what a crash leaves behind) can be
accepted with ``allow_truncated=True``: the complete lines before it are kept.

Why our own envelope rather than the raw stream: the receive time is what replay needs to
reproduce the pace, and base64 for non-UTF-8 keeps even a broken server's bytes exactly, which is
what a bug report needs.

The format's definitions are here; :mod:`imgfeed.recording.writer` writes it and
:mod:`imgfeed.recording.reader` reads it. No threading: the writer is not thread-safe (its caller
serialises writes).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any, Dict, Optional, Union

import attrs
import ujson

from imgfeed.errors import ReplayError

__all__ = [
    "FORMAT_VERSION",
    "CONNECTED_EVENT",
    "PathLike",
    "RecordedLine",
    "RecordingHeader",
    "rotated_path",
    "encode_entry",
    "parse_header",
    "parse_entry",
    "is_connected_marker",
]

#: The ``event`` of the marker written when a new connection starts (module docstring).
CONNECTED_EVENT = "connected"

#: The value of ``imgfeed_recording`` in the header of the files this module writes and reads.
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


@attrs.frozen(slots=True)
class RecordedLine:
    """One line as the server sent it, and when it arrived.

    Attributes:
        t: the receive time, in seconds since the epoch.
        data: the line's bytes, without the ``\\n``.
        line_number: where it is in its file (1-based; 0 when not read from a file).
        new_connection: the first line after a ``connected`` marker: the recorder's client had
            reconnected, and this line starts a new session.
    """

    t: float
    data: bytes
    line_number: int = attrs.field(default=0, eq=False)
    new_connection: bool = attrs.field(default=False, eq=False)


@attrs.frozen(slots=True)
class RecordingHeader:
    """The first line of a recording.

    Attributes:
        version: the format version (``imgfeed_recording``).
        created: when the file was started (ISO 8601, UTC), as written.
        source: where the lines came from (``host:port`` or ``"simulator"``).
        part: the file's number in a rotated series (0 for the first file).
        feed: the protocol of the lines (``"img"`` for a file that does not say).
        raw: the whole header object, other keys included.
    """

    version: int
    created: str
    source: str
    part: int = 0
    feed: str = "img"
    raw: Dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def encode_entry(data: bytes, t: float) -> bytes:
    """One recording line (with its ``\\n``) for the raw line ``data`` received at ``t``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        obj: Dict[str, Any] = {"t": t, "b64": base64.b64encode(data).decode("ascii")}
    else:
        obj = {"t": t, "line": text}
    # ensure_ascii=False keeps names readable in the file; escape_forward_slashes=False keeps the
    # stored text as close to the wire as JSON allows.
    return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8") + b"\n"


def rotated_path(path: PathLike, part: int) -> str:
    """The name of part ``part`` of a rotated recording: ``feed.jsonl.gz`` -> ``feed.1.jsonl.gz``.

    Part 0 is ``path`` itself. The number goes before the suffixes so that the file keeps its
    ``.gz`` (and is therefore still read as gzip) and sorts next to its siblings.
    """
    path = os.fspath(path)
    if part == 0:
        return path
    head, name = os.path.split(path)
    stem, dot, suffixes = name.partition(".")
    return os.path.join(head, f"{stem}.{part}{dot}{suffixes}" if dot else f"{stem}.{part}")


_HEADER_HINT = '(expected {"imgfeed_recording": 1, ...} as written by `imgfeed record`)'


def parse_header(line: bytes, path: str) -> RecordingHeader:
    try:
        obj = ujson.loads(line)
    except (ValueError, OverflowError):
        obj = None
    if type(obj) is not dict or "imgfeed_recording" not in obj:
        raise ReplayError(f"{path}: line 1 is not an imgfeed recording header {_HEADER_HINT}", path, 1)
    version = obj["imgfeed_recording"]
    if version != FORMAT_VERSION:
        raise ReplayError(
            f"{path}: recording format {version!r} is not supported by this imgfeed "
            f"(it reads format {FORMAT_VERSION}); upgrade imgfeed",
            path,
            1,
        )
    part = obj.get("part", 0)
    return RecordingHeader(
        version=version,
        created=str(obj.get("created", "")),
        source=str(obj.get("source", "")),
        part=part if type(part) is int else 0,
        feed=str(obj.get("feed", "img")),
        raw=obj,
    )


_PREVIEW = 80


def corrupt_line(path: str, number: int, what: str, raw: bytes) -> ReplayError:
    preview = raw[:_PREVIEW].decode("utf-8", "replace")
    more = "..." if len(raw) > _PREVIEW else ""
    return ReplayError(f"{path}: line {number}: {what}: {preview}{more}", path, number)


def is_connected_marker(raw: bytes) -> bool:
    """Whether ``raw`` (already known to be a JSON object without a line) is a connection marker."""
    obj = ujson.loads(raw)
    return bool(obj.get("event") == CONNECTED_EVENT)


def parse_entry(raw: bytes, path: str, number: int) -> Optional[RecordedLine]:
    try:
        obj = ujson.loads(raw)
    except (ValueError, OverflowError):
        raise corrupt_line(path, number, "corrupt recording line (not JSON)", raw) from None
    if type(obj) is not dict:
        raise corrupt_line(path, number, "corrupt recording line (not a JSON object)", raw)
    t = obj.get("t")
    if "line" in obj:
        text = obj["line"]
        if type(text) is not str:
            raise corrupt_line(path, number, '"line" must be a string', raw)
        data = text.encode("utf-8")
    elif "b64" in obj:
        try:
            data = base64.b64decode(obj["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise corrupt_line(path, number, '"b64" is not valid base64', raw) from None
    else:
        return None  # a marker of a later format version: not a line of the feed
    if not isinstance(t, (int, float)) or isinstance(t, bool) or t != t:
        raise corrupt_line(path, number, '"t" must be a number (seconds since the epoch)', raw)
    if b"\n" in data:
        raise corrupt_line(path, number, "a recorded line cannot contain a newline", raw)
    return RecordedLine(t=float(t), data=data, line_number=number)

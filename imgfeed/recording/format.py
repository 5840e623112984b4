"""Recordings: the raw lines of a feed with their receive times.

The format (extend, never break; readers read every version so far):

- The first line is a JSON header: ``{"imgfeed_recording": 2, "created": "<ISO 8601 UTC>",
  "source": "<host:port or 'simulator'>", "feed": "img"}``. A rotated file's header also has
  ``"part": N``. ``feed`` names the protocol of the lines (``"img"``, ``"betfair"``), so that a
  replay picks the right decoder; a file without it is IMG.
- Format 2 (written now). Every other line is ``<t> <tag><payload>``: ``t`` the receive time in
  seconds since the epoch (a decimal number), one space, then a one-byte tag:

  - ``=`` and the line exactly as received, without its ``\n`` -- any bytes, invalid UTF-8
    included, since a received line holds no ``\n``: ``1741942211.331473 ={"mode": "push", ...}``;
  - ``!`` and a JSON object, a marker: ``{"event": "connected", "source": "<host:port>"}`` is
    written when a new connection starts, so that a replay reproduces each reconnection (the lines
    after it are the new session's). A reader skips markers it does not know.

  Why: replaying a line then costs one split of the file and one parse of the line itself
  (issue 14; format 1 needed a JSON parse of the entry before the line's own).
- Format 1 (read only): ``{"t": ..., "line": "<the line as a JSON string>"}`` or, for a line that
  is not UTF-8, ``{"t": ..., "b64": "<base64>"}``; markers ``{"t": ..., "event": "connected", ...}``.
- A file whose name ends in ``.gz`` is gzip-compressed. Readers recognise gzip by its magic bytes,
  whatever the name.

Contract of :class:`~imgfeed.recording.writer.RecordingWriter`: every line is handed to the
operating system as soon as it is written (a gzip stream is sync-flushed), so a crash of the
recording process loses at most the line being written. Rotation by size starts a new,
self-contained file (with its own header).

Contract of :func:`~imgfeed.recording.reader.read_recording`: yields :class:`RecordedLine` in file
order, and raises :class:`~imgfeed.errors.ReplayError` naming the file and the 1-based line number
for anything it cannot read -- a missing file, a file that is not a recording, a corrupt line, a
truncated end -- never a bare ``ValueError`` or ``EOFError``. A truncated end (what a crash leaves
behind) can be accepted with ``allow_truncated=True``: the complete lines before it are kept.

Why our own envelope rather than the raw stream: the receive time is what replay needs to
reproduce the pace, and a broken server's bytes must survive exactly, which is what a bug report
needs.

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
    "new_recorded_line",
    "RecordingHeader",
    "rotated_path",
    "encode_entry",
    "parse_header",
    "parse_entry",
    "is_connected_marker",
    "encode_marker",
    "READABLE_VERSIONS",
]

#: The ``event`` of the marker written when a new connection starts (module docstring).
CONNECTED_EVENT = "connected"

#: The value of ``imgfeed_recording`` in the header of the files written now.
FORMAT_VERSION = 2
#: Every format a reader reads.
READABLE_VERSIONS = (1, 2)

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


# The reader makes one RecordedLine per line of a recording, where attrs' keyword __init__ (an
# object.__setattr__ per field of a frozen class) cost more than parsing the entry. The reader has
# checked every field, so new_recorded_line fills the slots through their descriptors. The record is
# the same frozen attrs instance either way; the check below makes a new field of RecordedLine fail
# at import rather than be left unset here.
_RECORDED_LINE_FIELDS = ("t", "data", "line_number", "new_connection")
if tuple(a.name for a in attrs.fields(RecordedLine)) != _RECORDED_LINE_FIELDS:  # pragma: no cover
    raise ImportError("format.new_recorded_line must be updated for the fields of RecordedLine")
_set_t, _set_data, _set_number, _set_new = (
    RecordedLine.__dict__[name].__set__ for name in _RECORDED_LINE_FIELDS
)
_new = object.__new__


def new_recorded_line(t: float, data: bytes, line_number: int, new_connection: bool) -> RecordedLine:
    """``RecordedLine(t, data, line_number, new_connection)`` from checked fields, without attrs'
    keyword ``__init__`` (the reader's hot path; see the note above)."""
    line = _new(RecordedLine)
    _set_t(line, t)
    _set_data(line, data)
    _set_number(line, line_number)
    _set_new(line, new_connection)
    return line


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
    """One format-2 recording line (with its ``\\n``) for the raw line ``data`` received at ``t``."""
    return b"%r =%s\n" % (t, data)


def encode_marker(t: float, marker: Dict[str, Any]) -> bytes:
    """One format-2 marker line (with its ``\\n``)."""
    return b"%r !%s\n" % (t, ujson.dumps(marker, ensure_ascii=False).encode("utf-8"))


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


_HEADER_HINT = '(expected {"imgfeed_recording": 2, ...} as written by `imgfeed record`)'


def parse_header(line: bytes, path: str) -> RecordingHeader:
    try:
        obj = ujson.loads(line)
    except (ValueError, OverflowError):
        obj = None
    if type(obj) is not dict or "imgfeed_recording" not in obj:
        raise ReplayError(f"{path}: line 1 is not an imgfeed recording header {_HEADER_HINT}", path, 1)
    version = obj["imgfeed_recording"]
    if version not in READABLE_VERSIONS:
        raise ReplayError(
            f"{path}: recording format {version!r} is not supported by this imgfeed "
            f"(it reads formats {', '.join(map(str, READABLE_VERSIONS))}); upgrade imgfeed",
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
    """Whether ``raw`` (an entry that is not a line) is a connection marker, in either format."""
    t, sep, rest = raw.partition(b" ")
    payload = rest[1:] if sep and rest[:1] == b"!" else raw
    try:
        obj = ujson.loads(payload)
    except (ValueError, OverflowError):
        return False
    return type(obj) is dict and obj.get("event") == CONNECTED_EVENT


def parse_entry(raw: bytes, path: str, number: int, version: int = FORMAT_VERSION) -> Optional[RecordedLine]:
    """The recorded line of entry ``raw`` (``None`` for a marker), for a file of ``version``.

    Raises:
        ReplayError: the entry is corrupt (the message names the file and the line).
    """
    if version == 1:
        return _parse_v1(raw, path, number)
    t, sep, rest = raw.partition(b" ")
    tag = rest[:1]
    if not sep or tag not in (b"=", b"!"):
        raise corrupt_line(path, number, "corrupt recording line (expected '<time> =<line>' or '<time> !{...}')", raw)
    try:
        when = float(t)
    except ValueError:
        raise corrupt_line(path, number, "the time must be a number (seconds since the epoch)", raw) from None
    if when != when:  # NaN
        raise corrupt_line(path, number, "the time must be a number (seconds since the epoch)", raw)
    if tag == b"!":
        return None  # a marker
    return RecordedLine(t=when, data=rest[1:], line_number=number)


def _parse_v1(raw: bytes, path: str, number: int) -> Optional[RecordedLine]:
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

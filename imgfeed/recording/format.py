"""Recordings: the raw lines of a feed with their receive times, as JSON lines.

The format (agreed between the work streams; extend, never break):

- One JSON object per line, UTF-8, ``\\n``-terminated.
- The first line is a header: ``{"imgfeed_recording": 1, "created": "<ISO 8601 UTC>",
  "source": "<host:port or 'simulator'>"}``. A rotated file's header also has ``"part": N``.
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

This module does no threading; :class:`RecordingWriter` is not thread-safe (the recording transport
calls it from the reader thread only).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import gzip
import logging
import os
import time
import zlib
from typing import IO, Any, Callable, Dict, Iterable, Iterator, List, Optional, Union

import attrs
import ujson

from imgfeed.errors import ConfigError, ReplayError

__all__ = [
    "FORMAT_VERSION",
    "CONNECTED_EVENT",
    "RecordedLine",
    "RecordingHeader",
    "RecordingWriter",
    "Recording",
    "open_recording",
    "read_recording",
    "rotated_path",
    "encode_entry",
]

#: The ``event`` of the marker written when a new connection starts (module docstring).
CONNECTED_EVENT = "connected"

#: The value of ``imgfeed_recording`` in the header of the files this module writes and reads.
FORMAT_VERSION = 1

_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 256 * 1024

_log = logging.getLogger(__name__)

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
        raw: the whole header object, other keys included.
    """

    version: int
    created: str
    source: str
    part: int = 0
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


class RecordingWriter:
    """Write received lines to a recording file, flushing each one.

    Args:
        path: the file to write. A name ending in ``.gz`` writes gzip. The file is created with
            mode 0600 (feed data is the customer's business) and replaced if it exists.
        source: what is being recorded, for the header (``"host:port"`` or ``"simulator"``).
        rotate_bytes: when set, start a new file (see :func:`rotated_path`) once the current one
            holds at least this many bytes on disk.
        fsync: also ``os.fsync`` after every line: survives a power cut, not only a process crash,
            at the cost of a disk round trip per line.
        clock: the time source for the header's ``created``.

    Raises:
        ConfigError: ``rotate_bytes`` is not a positive int.
        ReplayError: the file cannot be created (the message names it and the OS error).
    """

    def __init__(
        self,
        path: PathLike,
        source: str = "",
        rotate_bytes: Optional[int] = None,
        fsync: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rotate_bytes is not None and (type(rotate_bytes) is not int or rotate_bytes < 1):
            raise ConfigError("rotate_bytes", rotate_bytes, "a positive number of bytes, or None")
        self.path = os.fspath(path)
        self.source = source
        self.rotate_bytes = rotate_bytes
        self.fsync = fsync
        self._clock = clock
        self._compress = self.path.endswith(".gz")
        self._part = 0
        self._raw: Optional[IO[bytes]] = None
        self._out: Optional[IO[bytes]] = None
        self.lines_written = 0
        self.paths: List[str] = []
        self._open()

    def __repr__(self) -> str:
        return (
            f"RecordingWriter(path={self.current_path!r}, part={self._part}, "
            f"lines_written={self.lines_written}, closed={self.closed})"
        )

    @property
    def current_path(self) -> str:
        """The file being written now."""
        return rotated_path(self.path, self._part)

    @property
    def closed(self) -> bool:
        return self._out is None

    def _open(self) -> None:
        path = self.current_path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise ReplayError(f"cannot create recording {path}: {exc.strerror}", path) from exc
        raw = os.fdopen(fd, "wb")
        self._raw = raw
        if self._compress:
            # mtime=0: the same lines give the same bytes, which keeps tests and diffs stable.
            self._out = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
        else:
            self._out = raw
        self.paths.append(path)
        created = _dt.datetime.fromtimestamp(self._clock(), _dt.timezone.utc).isoformat()
        header: Dict[str, Any] = {
            "imgfeed_recording": FORMAT_VERSION,
            "created": created,
            "source": self.source,
        }
        if self._part:
            header["part"] = self._part
        self._write(ujson.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n")

    def _write(self, entry: bytes) -> None:
        assert self._out is not None and self._raw is not None
        self._out.write(entry)
        # GzipFile.flush() is a zlib Z_SYNC_FLUSH: everything so far becomes decodable bytes on
        # disk. That costs a few bytes per line of compression, which is the price of "a crash
        # loses at most the last line".
        self._out.flush()
        if self._out is not self._raw:
            self._raw.flush()
        if self.fsync:
            os.fsync(self._raw.fileno())

    def write(self, data: bytes, t: float) -> None:
        """Record one line (without its ``\\n``) received at ``t`` (seconds since the epoch).

        Raises:
            ValueError: the writer is closed.
        """
        if self._out is None:
            raise ValueError("write to a closed RecordingWriter")
        self._write(encode_entry(data, t))
        self.lines_written += 1
        if self.rotate_bytes is not None and self._raw is not None and self._raw.tell() >= self.rotate_bytes:
            self._close_file()
            self._part += 1
            self._open()

    def mark_connected(self, t: float, source: str = "") -> None:
        """Record that a new connection starts at ``t``: the lines after this belong to it."""
        if self._out is None:
            raise ValueError("write to a closed RecordingWriter")
        marker = {"t": t, "event": CONNECTED_EVENT, "source": source}
        self._write(ujson.dumps(marker, ensure_ascii=False).encode("utf-8") + b"\n")

    def _close_file(self) -> None:
        out, raw = self._out, self._raw
        self._out = self._raw = None
        if out is not None and out is not raw:
            out.close()  # writes the gzip trailer; does not close the file object it was given
        if raw is not None:
            raw.close()

    def close(self) -> None:
        """Finish the file (gzip trailer included). Idempotent."""
        self._close_file()

    def __enter__(self) -> "RecordingWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Recording:
    """An open recording: its header, then its lines, read lazily.

    Use :func:`open_recording` to make one; iterate it for :class:`RecordedLine`; close it (or use
    ``with``) when done.

    Why not :class:`gzip.GzipFile`: it reports a stream without its end marker as ``EOFError`` and
    drops the partial data, so it cannot tell "the recorder was killed between two lines" (no data
    lost: accepted with a warning) from "killed in the middle of a line" (a line lost: an error).
    Decompressing with :mod:`zlib` directly tells the two apart.
    """

    def __init__(self, path: PathLike, allow_truncated: bool = False) -> None:
        self.path = os.fspath(path)
        self.allow_truncated = allow_truncated
        #: True when the file ended without its gzip end marker, or (with ``allow_truncated``) in
        #: the middle of a line.
        self.truncated = False
        #: A "connected" marker was read and no line has followed it yet. Set it before iterating
        #: to carry a marker over from the previous part of a rotated recording.
        self.connection_pending = False
        self._file = _open_for_reading(self.path)
        self._lines = self._raw_lines()
        self._line_number = 0
        try:
            first = next(self._lines, None)
            if first is None:
                raise ReplayError(f"{self.path}: empty file, not an imgfeed recording", self.path, 1)
            self.header = _parse_header(first, self.path)
        except BaseException:
            self._file.close()
            raise

    def __repr__(self) -> str:
        return f"Recording(path={self.path!r}, header={self.header!r}, line={self._line_number})"

    def _chunks(self) -> Iterator[bytes]:
        """The file's bytes, decompressed if it is gzip; sets ``truncated`` at an unfinished end."""
        read = self._file.read
        first = read(_READ_SIZE)
        if not first.startswith(_GZIP_MAGIC):
            block = first
            while block:
                yield block
                block = read(_READ_SIZE)
            return
        inflater = zlib.decompressobj(wbits=31)  # 31: expect a gzip header and trailer
        block = first
        while block:
            try:
                out = inflater.decompress(block)
                # A file may hold several gzip members (e.g. `cat a.gz b.gz`): go on with the next.
                while inflater.eof and inflater.unused_data:
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    out += inflater.decompress(rest)
            except zlib.error as exc:
                number = self._line_number + 1
                raise ReplayError(
                    f"{self.path}: line {number}: cannot decompress ({exc}); the file is corrupt",
                    self.path,
                    number,
                ) from None
            if out:
                yield out
            block = read(_READ_SIZE)
        if not inflater.eof:
            self.truncated = True  # no gzip end marker: the recorder did not close the file

    def _raw_lines(self) -> Iterator[bytes]:
        partial = b""
        for chunk in self._chunks():
            lines = (partial + chunk).split(b"\n")
            partial = lines.pop()
            for line in lines:
                self._line_number += 1
                yield line
        if partial:
            number = self._line_number + 1
            if not self.allow_truncated:
                raise ReplayError(
                    f"{self.path}: truncated at line {number} (it has no newline: the recorder "
                    "stopped mid-write). Use --allow-truncated (allow_truncated=True) to replay "
                    "the complete lines before it",
                    self.path,
                    number,
                )
            self.truncated = True
        if self.truncated:
            _log.warning("%s ends without its end marker (the recorder did not finish it)", self.path)

    def __iter__(self) -> Iterator[RecordedLine]:
        for raw in self._lines:
            if not raw.strip():
                continue
            entry = _parse_entry(raw, self.path, self._line_number)
            if entry is None:
                self.connection_pending = self.connection_pending or _is_connected_marker(raw)
                continue
            if self.connection_pending:
                entry = attrs.evolve(entry, new_connection=True)
                self.connection_pending = False
            yield entry

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "Recording":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_recording(path: PathLike, allow_truncated: bool = False) -> Recording:
    """Open a recording and read its header.

    Raises:
        ReplayError: the file is missing, unreadable, or does not start with a recording header.
    """
    return Recording(path, allow_truncated=allow_truncated)


def read_recording(
    paths: Union[PathLike, Iterable[PathLike]], allow_truncated: bool = False
) -> Iterator[RecordedLine]:
    """Yield the lines of one recording, or of several files in the order given.

    Each file is opened only when the previous one is done, and closed when it is.

    Raises:
        ReplayError: see the module docstring.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    pending = False
    for path in paths:
        with open_recording(path, allow_truncated=allow_truncated) as recording:
            # A rotation may fall between a connection marker and the connection's first line.
            recording.connection_pending = pending
            yield from recording
            pending = recording.connection_pending


# --- parsing -------------------------------------------------------------------------------------


def _open_for_reading(path: str) -> IO[bytes]:
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise ReplayError(f"recording not found: {path}", path) from None
    except IsADirectoryError:
        raise ReplayError(f"{path} is a directory, not a recording file", path) from None
    except OSError as exc:
        raise ReplayError(f"cannot open recording {path}: {exc.strerror}", path) from None
    return raw


_HEADER_HINT = '(expected {"imgfeed_recording": 1, ...} as written by `imgfeed record`)'


def _parse_header(line: bytes, path: str) -> RecordingHeader:
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
        raw=obj,
    )


_PREVIEW = 80


def _corrupt(path: str, number: int, what: str, raw: bytes) -> ReplayError:
    preview = raw[:_PREVIEW].decode("utf-8", "replace")
    more = "..." if len(raw) > _PREVIEW else ""
    return ReplayError(f"{path}: line {number}: {what}: {preview}{more}", path, number)


def _is_connected_marker(raw: bytes) -> bool:
    """Whether ``raw`` (already known to be a JSON object without a line) is a connection marker."""
    obj = ujson.loads(raw)
    return bool(obj.get("event") == CONNECTED_EVENT)


def _parse_entry(raw: bytes, path: str, number: int) -> Optional[RecordedLine]:
    try:
        obj = ujson.loads(raw)
    except (ValueError, OverflowError):
        raise _corrupt(path, number, "corrupt recording line (not JSON)", raw) from None
    if type(obj) is not dict:
        raise _corrupt(path, number, "corrupt recording line (not a JSON object)", raw)
    t = obj.get("t")
    if "line" in obj:
        text = obj["line"]
        if type(text) is not str:
            raise _corrupt(path, number, '"line" must be a string', raw)
        data = text.encode("utf-8")
    elif "b64" in obj:
        try:
            data = base64.b64decode(obj["b64"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _corrupt(path, number, '"b64" is not valid base64', raw) from None
    else:
        return None  # a marker of a later format version: not a line of the feed
    if not isinstance(t, (int, float)) or isinstance(t, bool) or t != t:
        raise _corrupt(path, number, '"t" must be a number (seconds since the epoch)', raw)
    if b"\n" in data:
        raise _corrupt(path, number, "a recorded line cannot contain a newline", raw)
    return RecordedLine(t=float(t), data=data, line_number=number)

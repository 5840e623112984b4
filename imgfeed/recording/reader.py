"""Read a recording: its header, then its lines, lazily, with errors that name the file and line.

Contract of :func:`read_recording`: yields :class:`~imgfeed.recording.format.RecordedLine` in file
order, and raises :class:`~imgfeed.errors.ReplayError` naming the file and the 1-based line number
for anything it cannot read -- a missing file, a file that is not a recording, a corrupt line, a
truncated end -- never a bare ``ValueError`` or ``EOFError``. A truncated end (what a crash leaves
behind) can be accepted with ``allow_truncated=True``: the complete lines before it are kept.

:meth:`Recording.batches` gives the same lines a block of the file at a time, as lists (what a
replay takes); the entries are parsed in place in each block, and anything but a plain line entry
goes through :func:`~imgfeed.recording.format.parse_entry`, so the errors are the same either way.
"""

from __future__ import annotations

import logging
import os
import zlib
from typing import IO, Iterable, Iterator, List, Optional, Union

from imgfeed.errors import ReplayError
from imgfeed.recording.format import (
    PathLike,
    RecordedLine,
    is_connected_marker,
    new_recorded_line,
    parse_entry,
    parse_header,
)

__all__ = ["Recording", "open_recording", "read_recording"]

_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 256 * 1024
_NAN = float("nan")
_EQUALS = ord("=")  # the tag of an entry that is a line (format 2)

_log = logging.getLogger(__name__)


class LineBatch:
    """The lines of one block of a recording file, as parallel lists (the replay's hot path).

    Attributes:
        times: each line's receive time.
        lines: each line's bytes (without the ``\\n``; never containing one).
        numbers: each line's 1-based number in its file.
        reconnects: the indices (ascending) of the lines that start a new connection (a
            ``connected`` marker came before them); usually empty.

    Why lists and not :class:`RecordedLine` objects: a replay takes the lines of a block a chunk at
    a time, and an object (and a generator step) per line cost more than parsing the entry did
    (issue 14). :meth:`Recording.__iter__` makes the records from these lists.
    """

    __slots__ = ("times", "lines", "numbers", "reconnects")

    def __init__(self) -> None:
        self.times: List[float] = []
        self.lines: List[bytes] = []
        self.numbers: List[int] = []
        self.reconnects: List[int] = []

    def __repr__(self) -> str:
        first = self.numbers[0] if self.numbers else None
        return f"LineBatch(lines={len(self.lines)}, first_line={first}, reconnects={self.reconnects})"


class Recording:
    """An open recording: its header, then its lines, read lazily.

    Use :func:`open_recording` to make one; iterate it for :class:`RecordedLine` (or
    :meth:`batches` for the same lines a block at a time); close it (or use ``with``) when done.

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
        self._line_number = 0  # the lines of the file parsed so far
        try:
            self._chunk_iter = self._chunks()
            buf = b""
            newline = -1
            while newline < 0:
                chunk = next(self._chunk_iter, None)
                if chunk is None:
                    self._end(buf)
                    raise ReplayError(f"{self.path}: empty file, not an imgfeed recording", self.path, 1)
                buf += chunk
                newline = buf.find(b"\n")
            self._line_number = 1
            self.header = parse_header(buf[:newline], self.path)
            # The bytes read with the header, and where its lines start.
            self._head = buf
            self._head_pos = newline + 1
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

    def _end(self, partial: bytes) -> None:
        """The end of the file, with ``partial``, the bytes after its last newline."""
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

    def batches(self) -> Iterator[LineBatch]:
        """The recorded lines, a block of the file at a time (each batch has at least one line).

        Raises:
            ReplayError: as :func:`read_recording`, once the lines before the bad one are yielded.
        """
        chunk: Optional[bytes] = self._head
        pos = self._head_pos
        self._head = b""
        self._head_pos = 0
        partial = b""  # the start of a line that goes on in the next chunk
        while chunk is not None:
            batch = LineBatch()
            try:
                if partial:
                    newline = chunk.find(b"\n")
                    if newline < 0:
                        partial += chunk
                        chunk = b""
                    else:
                        self._parse(batch, partial + chunk[: newline + 1], 0)
                        partial = b""
                        pos = newline + 1
                if chunk:
                    pos = self._parse(batch, chunk, pos)
                    partial = chunk[pos:]
            except ReplayError:
                if batch.lines:
                    yield batch
                raise
            if batch.lines:
                yield batch
            chunk = next(self._chunk_iter, None)
            pos = 0
        self._end(partial)

    def _parse(self, batch: LineBatch, chunk: bytes, pos: int) -> int:
        """Add the complete lines of ``chunk`` from ``pos`` on to ``batch``; return where the
        incomplete rest starts.

        The common entry, ``<t> =<line>``, is parsed here, straight out of the chunk (one copy of
        the line, no split of the chunk into lines first); anything else (a marker, a blank or
        corrupt line, format 1) goes through :func:`parse_entry`, which has the errors' wording.

        Raises:
            ReplayError: a corrupt line (``batch`` holds the lines before it).
        """
        find = chunk.find
        times = batch.times
        lines = batch.lines
        numbers = batch.numbers
        version = self.header.version
        fast = version == 2
        number = self._line_number
        pending = self.connection_pending
        try:
            while True:
                newline = find(b"\n", pos)
                if newline < 0:
                    return pos
                number += 1
                if fast:
                    space = find(b" ", pos, newline)
                    if space >= 0 and chunk[space + 1] == _EQUALS:
                        try:
                            when = float(chunk[pos:space])
                        except ValueError:
                            when = _NAN  # parse_entry says why
                        if when == when:
                            if pending:
                                batch.reconnects.append(len(lines))
                                pending = False
                            times.append(when)
                            lines.append(chunk[space + 2 : newline])
                            numbers.append(number)
                            pos = newline + 1
                            continue
                raw = chunk[pos:newline]
                pos = newline + 1
                if not raw.strip():
                    continue
                entry = parse_entry(raw, self.path, number, version)
                if entry is None:
                    pending = pending or is_connected_marker(raw)
                    continue
                if pending:
                    batch.reconnects.append(len(lines))
                    pending = False
                times.append(entry.t)
                lines.append(entry.data)
                numbers.append(number)
        finally:
            self._line_number = number
            self.connection_pending = pending

    def __iter__(self) -> Iterator[RecordedLine]:
        for batch in self.batches():
            reconnects = batch.reconnects
            for index, (t, data, number) in enumerate(zip(batch.times, batch.lines, batch.numbers)):
                yield new_recorded_line(t, data, number, index in reconnects)

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

"""Read a recording: its header, then its lines, lazily, with errors that name the file and line.

Contract of :func:`read_recording`: yields :class:`~imgfeed.recording.format.RecordedLine` in file
order, and raises :class:`~imgfeed.errors.ReplayError` naming the file and the 1-based line number
for anything it cannot read -- a missing file, a file that is not a recording, a corrupt line, a
truncated end -- never a bare ``ValueError`` or ``EOFError``. A truncated end (what a crash leaves
behind) can be accepted with ``allow_truncated=True``: the complete lines before it are kept.
"""

from __future__ import annotations

import logging
import os
import zlib
from typing import IO, Iterable, Iterator, Union

import attrs

from imgfeed.errors import ReplayError
from imgfeed.recording.format import (
    PathLike,
    RecordedLine,
    is_connected_marker,
    parse_entry,
    parse_header,
)

__all__ = ["Recording", "open_recording", "read_recording"]

_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 256 * 1024

_log = logging.getLogger(__name__)


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
            self.header = parse_header(first, self.path)
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
        version = self.header.version
        for raw in self._lines:
            if not raw.strip():
                continue
            entry = parse_entry(raw, self.path, self._line_number, version)
            if entry is None:
                self.connection_pending = self.connection_pending or is_connected_marker(raw)
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

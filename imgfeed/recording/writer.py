"""Write a recording: each received line with its receive time, flushed as soon as it is written.

Contract: every line is handed to the operating system as soon as it is written (a gzip stream is
sync-flushed), so a crash of the recording process loses at most the line being written. Rotation
by size starts a new, self-contained file (with its own header). The format is
:mod:`imgfeed.recording.format`'s. Not thread-safe: the caller serialises writes.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import os
import time
from typing import IO, Any, Callable, Dict, List, Optional

import ujson

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording.format import (
    CONNECTED_EVENT,
    FORMAT_VERSION,
    PathLike,
    encode_entry,
    encode_marker,
    rotated_path,
)

__all__ = ["RecordingWriter"]


class RecordingWriter:
    """Write received lines to a recording file, flushing each one.

    Args:
        path: the file to write. A name ending in ``.gz`` writes gzip. The file is created with
            mode 0600 (feed data is the customer's business) and replaced if it exists.
        source: what is being recorded, for the header (``"host:port"`` or ``"simulator"``).
        feed: the protocol of the lines, for the header (``"img"``, ``"betfair"``).
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
        *,
        feed: str = "img",
        fsync: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rotate_bytes is not None and (type(rotate_bytes) is not int or rotate_bytes < 1):
            raise ConfigError("rotate_bytes", rotate_bytes, "a positive number of bytes, or None")
        self.path = os.fspath(path)
        self.source = source
        self.feed = feed
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
            "feed": self.feed,
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
        self._write(encode_marker(t, {"event": CONNECTED_EVENT, "source": source}))

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

"""Newline framing: bytes in, complete lines out.

Contract (docs/protocol.md section 2): every JSON object on the wire is terminated by exactly one
``\\n``. The transport may cut the stream anywhere -- inside a line, inside a multi-byte UTF-8
character, between ``\\r`` and ``\\n`` -- and may deliver many lines in one read. :class:`LineBuffer`
hides all of that: feed it chunks of any size and it returns the complete lines, as bytes.

Invariants:

- Linear in the size of the stream: a byte is copied at most twice (into the partial-line buffer and
  out of it) and never rescanned. Searching for ``\\n`` starts where the previous search stopped.
- Splitting is done on bytes. ``\\n`` (0x0A) never occurs inside a multi-byte UTF-8 sequence, so a
  split character is simply completed by the next chunk; UTF-8 is decoded per complete line by the
  codec (ujson decodes straight from bytes, which is faster than decoding here first).
- A trailing ``\\r`` is stripped from each line (tolerant peers send ``\\r\\n``).
- A line longer than ``max_line_length`` is reported once, as a :class:`LineTooLongError`, and
  skipped up to its ``\\n``; the buffer never holds more than ``max_line_length`` bytes of it.
- ``feed(b"")`` means end of stream (as ``socket.recv`` reports it): an unterminated last line is
  reported as a :class:`ProtocolError`, never silently dropped.

:func:`encode_line` is the other direction: one JSON object as one line (``\n`` for IMG,
``\r\n`` for Betfair).

This module does no IO, keeps no clocks and starts no threads.
"""

from __future__ import annotations

from typing import Any, Dict, List, Union

import ujson

from imgfeed.errors import LineTooLongError, ProtocolError

__all__ = ["LineBuffer", "DEFAULT_MAX_LINE_LENGTH", "LONG_LINE", "Line", "encode_line", "split_lines"]

#: Default maximum line length, in bytes, excluding the ``\n``. The largest real message is a
#: snapshot ``market`` or a ``market_update`` with a few hundred selections (tens of KiB); 16 MiB
#: leaves three orders of magnitude of headroom while bounding what a broken or hostile server can
#: make us buffer (docs/protocol.md section 2).
DEFAULT_MAX_LINE_LENGTH = 16 * 1024 * 1024

#: How much of an over-long line is kept for the error report.
_TOO_LONG_HEAD = 1024

#: The mean line length, in bytes, from which :func:`split_lines` beats ``bytes.split`` (about 600 on
#: CPython 3.11; benchmarks/README.md, issue 14 item 11).
LONG_LINE = 768

#: One item of :meth:`LineBuffer.feed`'s result: a complete line, or the error for a bad one.
Line = Union[bytes, ProtocolError]


def split_lines(data: bytes) -> List[bytes]:
    """``data.split(b"\\n")``, made of ``bytes.find`` calls: faster when lines are long.

    Why: CPython splits on one byte with a byte-by-byte loop (its ``split_char``), about 0.4 ns a
    byte here; ``find`` runs ``memchr``, many times faster, for a fixed cost per line in this loop.
    Lines of IMG's market updates (~3 KB) split in a third of the time; lines under ~600 bytes are
    quicker with ``split``, so :class:`LineBuffer` picks by the previous chunk's line length.
    """
    out: List[bytes] = []
    append = out.append
    find = data.find
    start = 0
    end = find(b"\n")
    while end >= 0:
        append(data[start:end])
        start = end + 1
        end = find(b"\n", start)
    append(data[start:])
    return out


class LineBuffer:
    """Reassemble ``\\n``-terminated lines from chunks of bytes.

    Args:
        max_line_length: the longest line accepted, in bytes, not counting the ``\\n``.

    Example:
        >>> buf = LineBuffer()
        >>> buf.feed(b'{"a": 1}\\n{"b"')
        [b'{"a": 1}']
        >>> buf.feed(b': 2}\\r\\n')
        [b'{"b": 2}']
    """

    __slots__ = ("max_line_length", "_partial", "_skipped", "_skip_head", "_closed", "_long_lines")

    def __init__(self, max_line_length: int = DEFAULT_MAX_LINE_LENGTH) -> None:
        if type(max_line_length) is not int or max_line_length < 1:
            from imgfeed.errors import ConfigError

            raise ConfigError("max_line_length", max_line_length, "a positive int (bytes)")
        self.max_line_length = max_line_length
        self._partial = bytearray()
        # While skipping an over-long line: how many of its bytes have been seen, and its head.
        self._skipped = 0
        self._skip_head = b""
        self._closed = False
        #: Were the previous chunk's lines long on average (``split_lines`` pays for them)?
        self._long_lines = False

    def __repr__(self) -> str:
        return (
            f"LineBuffer(max_line_length={self.max_line_length}, buffered={len(self._partial)}, "
            f"skipping={self._skipped})"
        )

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held until its ``\\n`` arrives."""
        return len(self._partial)

    def feed(self, data: bytes) -> List[Line]:
        """Add ``data`` and return the lines it completed, in order.

        Each item is the line's bytes (without ``\\n`` or a trailing ``\\r``; possibly empty), or a
        :class:`ProtocolError` for a line that was too long or cut off by the end of the stream.
        ``feed(b"")`` marks the end of the stream; feeding after that is an error.
        """
        if self._closed:
            raise RuntimeError("LineBuffer.feed() called after the end of the stream")
        if not data:
            return self._finish()
        if type(data) is not bytes:
            data = bytes(data)  # a bytearray or memoryview (e.g. from recv_into): lines are bytes
        # One pass over the whole chunk: every piece but the last is a complete line; the first one
        # completes the line held from earlier chunks, if any. How the pass is made follows the
        # line length of the previous chunk (split_lines).
        lines = split_lines(data) if self._long_lines else data.split(b"\n")
        self._long_lines = len(data) >= LONG_LINE * len(lines)
        tail = lines.pop()
        if not lines:
            self._absorb(tail)
            return []
        out: List[Line]
        if self._skipped or self._partial:
            first = lines[0]
            del lines[0]
            if self._skipped:
                self._absorb(first)
                out = [LineTooLongError(self.max_line_length, self._skipped, self._skip_head)]
                self._skipped = 0
                self._skip_head = b""
            else:
                self._partial += first
                out = [self._checked(bytes(self._partial))]
                self._partial.clear()
            out.extend(self.checked_lines(data, lines))
        else:
            out = self.checked_lines(data, lines)
        if tail:
            self._absorb(tail)
        return out

    def checked_lines(self, data: bytes, lines: List[bytes]) -> List[Line]:
        """The buffer's check of complete lines split from ``data``: a trailing ``\r`` stripped, a
        line over ``max_line_length`` reported as a :class:`LineTooLongError`.

        :meth:`feed` applies it to every chunk; a caller that has the lines already (a replay,
        whose transport returns whole lines) applies it instead of splitting the chunk again. It
        keeps no state: ``data`` must hold exactly ``lines``, each followed by ``\n``. The common
        case returns ``lines`` itself."""
        if len(data) > self.max_line_length:
            return [self._checked(line) for line in lines]
        if b"\r" in data:
            return [line[:-1] if line.endswith(b"\r") else line for line in lines]
        return lines  # type: ignore[return-value]

    def _absorb(self, data: bytes) -> None:
        """Keep ``data``, which has no ``\\n``, as (more of) the current incomplete line."""
        if self._skipped:
            self._skipped += len(data)
            if len(self._skip_head) < _TOO_LONG_HEAD:
                self._skip_head += data[: _TOO_LONG_HEAD - len(self._skip_head)]
            return
        self._partial += data
        # One byte of slack: the line may end in "\r", which is stripped and not counted.
        if len(self._partial) > self.max_line_length + 1:
            self._skipped = len(self._partial)
            self._skip_head = bytes(self._partial[:_TOO_LONG_HEAD])
            self._partial = bytearray()

    def _checked(self, line: bytes) -> Line:
        """Strip a trailing ``\r`` from a complete line, or report it as too long.

        The reported length counts every byte before the ``\n`` (a ``\r`` included), so that the
        error is the same however the line was chunked.
        """
        stripped = line[:-1] if line.endswith(b"\r") else line
        if len(stripped) <= self.max_line_length:
            return stripped
        return LineTooLongError(self.max_line_length, len(line), line[:_TOO_LONG_HEAD])

    def _finish(self) -> List[Line]:
        self._closed = True
        if self._skipped:
            return [LineTooLongError(self.max_line_length, self._skipped, self._skip_head)]
        if self._partial:
            raw = bytes(self._partial)
            self._partial.clear()
            return [ProtocolError(f"stream ended inside a line ({len(raw)} bytes without a newline)", raw)]
        return []


def encode_line(obj: Dict[str, Any], terminator: bytes = b"\n") -> bytes:
    """One JSON object as one line: UTF-8, no newline inside (JSON escapes them), then ``terminator``."""
    return ujson.dumps(obj, ensure_ascii=False, escape_forward_slashes=False).encode("utf-8") + terminator

"""Betfair historical data files: read their lines, and tell them from imgfeed's own files.

Betfair sells recorded streams (historicdata.betfair.com) as one file per market: one ``mcm`` JSON
object per line, exactly as the stream sent it but without subscription ids, plain or compressed
with bzip2 (the download's usual form) or gzip. :func:`iter_lines` yields the lines of such a file,
whatever its compression, which is recognised by its magic bytes and not by its name (a renamed
``.bz2`` still reads). The lines then go through the same codec and caches as a live stream.

:func:`sniff` tells a Betfair historical file from an imgfeed recording (whose first line is the
``{"imgfeed_recording": ...}`` header) or anything else, by content: the first non-empty line of a
Betfair file is a JSON object with an ``op``.

Errors are :class:`~imgfeed.errors.ReplayError` naming the file and, where it applies, the 1-based
line: a missing or unreadable file, corrupt or truncated compressed data. A line that is not valid
ESA JSON is not an error here: the codec reports it, with its bytes, and the replay goes on.

This module reads files and does nothing else: no sockets, threads or clocks.
"""

from __future__ import annotations

import bz2
import enum
import gzip
import os
import zlib
from typing import IO, Iterator, Tuple, Union

import ujson

from imgfeed.errors import ReplayError

__all__ = ["FileKind", "iter_lines", "open_historical", "sniff", "SNIFF_BYTES"]

PathLike = Union[str, "os.PathLike[str]"]

_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZh"

#: How far :func:`sniff` reads looking for the first non-empty line (a market definition line of a
#: large market runs to tens of kB; a first line longer than this is not recognised).
SNIFF_BYTES = 1 << 20


class FileKind(str, enum.Enum):
    """What :func:`sniff` found."""

    BETFAIR = "betfair"  # a Betfair historical file (or a raw ESA stream): JSON lines with "op"
    IMGFEED_RECORDING = "imgfeed-recording"  # starts with imgfeed's recording header
    UNKNOWN = "unknown"  # anything else: an IMG stream, empty, not JSON


def open_historical(path: PathLike) -> IO[bytes]:
    """Open a file for reading its decompressed bytes (plain, gzip or bzip2, by magic bytes).

    Raises:
        ReplayError: the file cannot be opened.
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as probe:
            magic = probe.read(3)
        if magic.startswith(_GZIP_MAGIC):
            return gzip.open(name, "rb")  # type: ignore[return-value]
        if magic.startswith(_BZIP2_MAGIC):
            return bz2.open(name, "rb")
        return open(name, "rb")
    except OSError as exc:
        raise ReplayError(f"cannot open {name}: {exc.strerror or exc}", name) from exc


def iter_lines(path: PathLike) -> Iterator[Tuple[bytes, int]]:
    """Yield ``(line, line_number)`` for each non-empty line, without its ``\\r\\n``.

    Line numbers are 1-based and count the empty lines skipped, so they match an editor's.

    Raises:
        ReplayError: the file cannot be opened, or its compressed data is corrupt or truncated
            (naming the line where reading stopped; the lines before it have been yielded).
    """
    name = os.fspath(path)
    number = 0
    with open_historical(name) as stream:
        while True:
            try:
                line = stream.readline()
            except (OSError, EOFError, zlib.error, ValueError) as exc:
                raise ReplayError(
                    f"{name}: compressed data is corrupt or truncated at line {number + 1}: {exc}",
                    name,
                    number + 1,
                ) from exc
            if not line:
                return
            number += 1
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line, number


def sniff(path: PathLike) -> FileKind:
    """Tell what a file holds from its first non-empty line (decompressing it if need be).

    Raises:
        ReplayError: the file cannot be opened or read.
    """
    name = os.fspath(path)
    with open_historical(name) as stream:
        try:
            head = stream.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            raise ReplayError(f"{name}: cannot read: {exc}", name, 1) from exc
    for line in head.split(b"\n"):
        if line.strip():
            break
    else:
        return FileKind.UNKNOWN
    try:
        first = ujson.loads(line)
    except (ValueError, OverflowError):
        # A first line cut off by SNIFF_BYTES: Betfair writes "op" first.
        return FileKind.BETFAIR if line.lstrip().startswith(b'{"op":"') else FileKind.UNKNOWN
    if type(first) is not dict:
        return FileKind.UNKNOWN
    if "imgfeed_recording" in first:
        return FileKind.IMGFEED_RECORDING
    if type(first.get("op")) is str:
        return FileKind.BETFAIR
    return FileKind.UNKNOWN

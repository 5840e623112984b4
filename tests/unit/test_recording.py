"""The recording format: writer, reader, gzip, rotation, and every way a file can be bad."""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path
from typing import List

import pytest
import ujson
from hypothesis import given, settings
from hypothesis import strategies as st

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording.format import FORMAT_VERSION, RecordedLine, encode_entry, rotated_path
from imgfeed.recording.reader import open_recording, read_recording
from imgfeed.recording.writer import RecordingWriter

LINES = [
    b'{"mode": "push", "type": "heartbeat", "msg": {"timestamp": "2025-01-01 10:00:00.000000"}}',
    '{"mode": "push", "type": "event", "msg": {"id": "ev.1", "name": "Åland Open ⛳"}}'.encode(),
    b"\xff\xfe not utf-8 \xc3",
    b"",
]


def _write(path: Path, lines: List[bytes], **kwargs: object) -> RecordingWriter:
    writer = RecordingWriter(path, source="simulator", **kwargs)  # type: ignore[arg-type]
    for i, line in enumerate(lines):
        writer.write(line, 1000.0 + i / 4)
    return writer


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz"])
def test_round_trip_keeps_bytes_times_and_order(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write(path, LINES).close()
    got = list(read_recording(path))
    assert got == [RecordedLine(1000.0 + i / 4, line) for i, line in enumerate(LINES)]
    assert [r.line_number for r in got] == [2, 3, 4, 5]


def test_file_format_is_the_agreed_one(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    writer = _write(path, LINES[:3])
    writer.mark_connected(1003.5, "server:2093")
    writer.close()
    first, *entries = path.read_bytes().splitlines()
    header = ujson.loads(first)
    assert header["imgfeed_recording"] == FORMAT_VERSION == 2 and header["feed"] == "img"
    assert header["source"] == "simulator"
    assert header["created"].endswith("+00:00")
    # Format 2: "<t> =<the line exactly as received>", whatever its bytes; "<t> !<marker>".
    assert entries[:3] == [b"1000.0 =" + LINES[0], b"1000.25 =" + LINES[1], b"1000.5 =" + LINES[2]]
    t, _, marker = entries[3].partition(b" !")
    assert float(t) == 1003.5 and ujson.loads(marker) == {"event": "connected", "source": "server:2093"}


def test_format_1_files_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_bytes(
        b'{"imgfeed_recording": 1, "created": "2025-03-14T08:50:11+00:00", "source": "x"}\n'
        b'{"t": 1000.0, "event": "connected", "source": "x"}\n'
        b'{"t": 1000.5, "line": "{\\"mode\\": \\"push\\"}"}\n'
        b'{"t": 1001.0, "b64": "/w=="}\n'
    )
    lines = list(read_recording(path))
    assert [(x.t, x.data, x.new_connection) for x in lines] == [(1000.5, b'{"mode": "push"}', True), (1001.0, b"\xff", False)]


def test_gzip_is_detected_by_content_and_name(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl.gz"
    _write(path, LINES).close()
    assert gzip.decompress(path.read_bytes()).startswith(b'{"imgfeed_recording"')
    renamed = tmp_path / "renamed.jsonl"
    os.rename(path, renamed)
    assert len(list(read_recording(renamed))) == len(LINES)


def test_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    _write(path, LINES).close()
    assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz"])
def test_every_line_is_on_disk_before_close(tmp_path: Path, name: str) -> None:
    """A crash (no close) loses nothing that was written: each line is flushed."""
    path = tmp_path / name
    writer = _write(path, LINES)
    crashed = tmp_path / ("crashed-" + name)
    crashed.write_bytes(path.read_bytes())
    writer.close()
    with open_recording(crashed) as recording:
        assert [r.data for r in recording] == LINES
        assert recording.truncated == name.endswith(".gz")  # no gzip end marker yet


def test_rotation_starts_self_contained_files(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl.gz"
    lines = [b'{"n": %d, "pad": "%s"}' % (i, os.urandom(300).hex().encode()) for i in range(40)]
    writer = _write(path, lines, rotate_bytes=4000)
    writer.close()
    assert len(writer.paths) > 2
    assert writer.paths[:2] == [str(path), str(tmp_path / "feed.1.jsonl.gz")]
    parts = [open_recording(p) for p in writer.paths]
    try:
        assert [r.header.part for r in parts] == list(range(len(parts)))
    finally:
        for r in parts:
            r.close()
    assert [r.data for r in read_recording(writer.paths)] == lines


def test_rotated_path_names() -> None:
    assert rotated_path("/d/feed.jsonl.gz", 0) == "/d/feed.jsonl.gz"
    assert rotated_path("/d/feed.jsonl.gz", 3) == "/d/feed.3.jsonl.gz"
    assert rotated_path("feed", 2) == "feed.2"


def test_write_after_close_and_bad_rotation_are_errors(tmp_path: Path) -> None:
    writer = _write(tmp_path / "f.jsonl", [])
    writer.close()
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"x", 1.0)
    with pytest.raises(ConfigError):
        RecordingWriter(tmp_path / "g.jsonl", rotate_bytes=0)


def test_cannot_create_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot create recording .*nodir"):
        RecordingWriter(tmp_path / "nodir" / "f.jsonl")


# --- bad input: one clear message with the file and the line -------------------------------------


def _bad(tmp_path: Path, content: bytes) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    return path


HEADER = b'{"imgfeed_recording": 1, "created": "2025-01-01T00:00:00+00:00", "source": "x"}\n'


@pytest.mark.parametrize(
    "content, line, message",
    [
        (b"", 1, "empty file"),
        (b'{"mode": "push"}\n', 1, "not an imgfeed recording header"),
        (b"\x00\x01garbage\n", 1, "not an imgfeed recording header"),
        (b'{"imgfeed_recording": 99}\n', 1, "format 99 is not supported"),
        (HEADER + b'{"t": 1, "line": "a"}\n{"t": 2, "li\n', 3, "corrupt recording line"),
        (HEADER + b"[1, 2]\n", 2, "not a JSON object"),
        (HEADER + b'{"t": "x", "line": "a"}\n', 2, '"t" must be a number'),
        (HEADER + b'{"t": 1, "line": 5}\n', 2, '"line" must be a string'),
        (HEADER + b'{"t": 1, "b64": "!!"}\n', 2, "not valid base64"),
        (HEADER + b'{"t": 1, "line": "a\\nb"}\n', 2, "cannot contain a newline"),
        (HEADER + b'{"t": 1, "line": "a"}\n{"t": 2, "li', 3, "truncated at line 3"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, content: bytes, line: int, message: str) -> None:
    path = _bad(tmp_path, content)
    with pytest.raises(ReplayError, match=message) as info:
        list(read_recording(path))
    assert info.value.line_number == line
    assert info.value.path == str(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="recording not found"):
        list(read_recording(tmp_path / "nope.jsonl"))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="is a directory"):
        list(read_recording(tmp_path))


def test_truncated_end_can_be_accepted(tmp_path: Path) -> None:
    path = _bad(tmp_path, HEADER + b'{"t": 1, "line": "a"}\n{"t": 2, "li')
    with open_recording(path, allow_truncated=True) as recording:
        assert [r.data for r in recording] == [b"a"]
        assert recording.truncated


def test_gzip_cut_inside_a_line_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl.gz"
    raw = gzip.compress(HEADER + b'{"t": 1, "line": "a"}\n{"t": 2, "line": "b"}\n')
    path.write_bytes(raw[:-30])
    with pytest.raises(ReplayError, match="truncated"):
        list(read_recording(path))


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl.gz"
    raw = bytearray(gzip.compress(HEADER + b'{"t": 1, "line": "a"}\n' * 50))
    raw[20:40] = b"\xff" * 20
    path.write_bytes(bytes(raw))
    with pytest.raises(ReplayError, match="cannot decompress|corrupt|not an imgfeed"):
        list(read_recording(path))


def test_unknown_markers_are_skipped(tmp_path: Path) -> None:
    path = _bad(tmp_path, HEADER + b'{"t": 1, "event": "connected"}\n\n{"t": 2, "line": "x"}\n')
    assert [r.data for r in read_recording(path)] == [b"x"]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2e9), st.binary().filter(lambda b: b"\n" not in b)), max_size=20))
def test_any_lines_round_trip(tmp_path_factory: pytest.TempPathFactory, entries: list) -> None:
    path = tmp_path_factory.mktemp("rt") / "f.jsonl"
    with RecordingWriter(path) as writer:
        for t, data in entries:
            writer.write(data, t)
    assert [(r.t, r.data) for r in read_recording(path)] == entries


def test_encode_entry_is_one_line() -> None:
    assert encode_entry('x"\u2028y'.encode(), 1.5).count(b"\n") == 1


def test_connection_markers_flag_the_next_line_even_across_files(tmp_path: Path) -> None:
    first, second = tmp_path / "f.jsonl", tmp_path / "f.1.jsonl"
    with RecordingWriter(first) as writer:
        writer.mark_connected(1.0, "h:1")
        writer.write(b"a", 2.0)
        writer.write(b"b", 3.0)
        writer.mark_connected(4.0, "h:1")  # the last thing in this file ...
    with RecordingWriter(second) as writer:
        writer.write(b"c", 5.0)  # ... so the next file's first line starts the new connection
        writer.write(b"d", 6.0)
    lines = list(read_recording([first, second]))
    assert [(r.data, r.new_connection) for r in lines] == [
        (b"a", True),
        (b"b", False),
        (b"c", True),
        (b"d", False),
    ]

"""Replay: the replay transport's pacing and ending, the recording tee, and ``imgfeed.replay``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Optional

import pytest

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording import RecordedLine, RecordingWriter, read_recording
from imgfeed.transport.base import Transport
from imgfeed.transport.recording import RecordingTransport
from imgfeed.transport.replay import ReplayTransport


class ManualClock:
    """A clock the test moves by hand, so pacing is checked without sleeping or timing."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lines(*pairs: tuple) -> List[RecordedLine]:
    return [RecordedLine(t, data) for t, data in pairs]


def _drain(transport: ReplayTransport) -> bytes:
    out = b""
    while True:
        chunk = transport.recv()
        assert chunk is not None
        if chunk == b"":
            return out
        out += chunk


def test_as_fast_as_possible_returns_every_line_then_eof() -> None:
    transport = ReplayTransport(_lines((1.0, b"a"), (50.0, b"bb"), (9999.0, b"c")), speed=None)
    transport.connect(1.0)
    assert _drain(transport) == b"a\nbb\nc\n"
    assert transport.finished and transport.lines_played == 3
    assert transport.recv() == b""


def test_max_bytes_splits_chunks_at_line_boundaries() -> None:
    transport = ReplayTransport(_lines(*[(float(i), b"x" * 10) for i in range(10)]), speed=None)
    transport.connect(1.0)
    chunks = []
    while True:
        chunk = transport.recv(25)
        if not chunk:
            break
        chunks.append(chunk)
    assert all(c.endswith(b"\n") for c in chunks) and len(chunks) > 1
    assert b"".join(chunks) == b"xxxxxxxxxx\n" * 10


@pytest.mark.parametrize("speed, gap", [(1.0, 5.0), (10.0, 0.5)])
def test_lines_are_paced_by_recorded_time_over_speed(speed: float, gap: float) -> None:
    clock = ManualClock()
    transport = ReplayTransport(
        _lines((10.0, b"first"), (15.0, b"second"), (15.0, b"same-time")),
        speed=speed,
        read_timeout=0.001,
        clock=clock,
    )
    transport.connect(1.0)
    assert transport.recv() == b"first\n"  # the first line plays at once
    clock.now += gap * 0.9
    assert transport.recv() is None  # not due yet: a read timeout, as on a quiet socket
    clock.now += gap * 0.1
    assert transport.recv() == b"second\nsame-time\n"  # due together: one chunk
    assert transport.recv() == b""


def test_close_from_another_thread_ends_a_waiting_recv() -> None:
    transport = ReplayTransport(_lines((0.0, b"a"), (3600.0, b"an hour later")), speed=1.0, read_timeout=60.0)
    transport.connect(1.0)
    assert transport.recv() == b"a\n"
    result: List[Optional[bytes]] = []
    reader = threading.Thread(target=lambda: result.append(transport.recv()), name="imgfeed-test-reader")
    reader.start()
    transport.close()
    reader.join(10.0)
    assert not reader.is_alive()
    assert result == [b""]
    assert not transport.finished


def test_send_is_accepted_and_kept() -> None:
    transport = ReplayTransport([], speed=None)
    transport.connect(1.0)
    transport.send(b'{"request": "init"}\n', 1.0)
    assert transport.sent == [b'{"request": "init"}\n']
    assert transport.recv() == b""


def test_recv_before_connect_is_a_bug() -> None:
    with pytest.raises(ReplayError):
        ReplayTransport([]).recv()


@pytest.mark.parametrize("speed", [0, -1.0, float("inf"), float("nan"), "fast"])
def test_bad_speed(speed: object) -> None:
    with pytest.raises(ConfigError, match="speed"):
        ReplayTransport([], speed=speed)  # type: ignore[arg-type]


def test_corrupt_file_ends_the_stream_and_keeps_the_error(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"imgfeed_recording": 1}\n{"t": 1, "line": "ok"}\n{"t": 2, "line": \n')
    transport = ReplayTransport(path, speed=None)
    transport.connect(1.0)
    assert _drain(transport) == b"ok\n"
    assert isinstance(transport.error, ReplayError) and transport.error.line_number == 3


def test_missing_file_fails_at_connect_or_first_read(tmp_path: Path) -> None:
    transport = ReplayTransport(tmp_path / "missing.jsonl", speed=None)
    transport.connect(1.0)
    assert transport.recv() == b""
    assert transport.error is not None and "not found" in str(transport.error)


# --- the recording tee ---------------------------------------------------------------------------


class ChunkSource(Transport):
    """A transport that returns given chunks: stands in for a server in a unit test."""

    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent: List[bytes] = []
        self.closed = False

    def connect(self, timeout: float) -> None:
        pass

    def send(self, data: bytes, timeout: float) -> None:
        self.sent.append(data)

    def recv(self, max_bytes: int = 1 << 16) -> Optional[bytes]:
        return self.chunks.pop(0) if self.chunks else b""

    def close(self) -> None:
        self.closed = True


def test_recording_transport_passes_bytes_through_and_records_lines(tmp_path: Path) -> None:
    chunks = [b'{"a":', b' 1}\r\n{"b": "\xc3', b'\xa9"}\n\xff\n', None, b"partial", b""]
    inner = ChunkSource(chunks)  # type: ignore[arg-type]
    path = tmp_path / "r.jsonl.gz"
    times = iter([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    with RecordingWriter(path, source="test") as writer:
        transport = RecordingTransport(inner, writer, clock=lambda: next(times))
        transport.connect(1.0)
        transport.send(b"req\n", 1.0)
        got = [transport.recv() for _ in chunks]
        transport.close()
    assert got == chunks
    assert inner.sent == [b"req\n"] and inner.closed
    assert [(r.t, r.data) for r in read_recording(path)] == [
        (2.0, b'{"a": 1}'),
        (3.0, '{"b": "é"}'.encode()),
        (3.0, b"\xff"),
    ]


def test_record_then_replay_gives_the_same_bytes(tmp_path: Path) -> None:
    stream = b"".join(b'{"n": %d}\n' % i for i in range(100))
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)] + [b""]
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path) as writer:
        transport = RecordingTransport(ChunkSource(chunks), writer)
        transport.connect(1.0)
        while transport.recv():
            pass
    replay = ReplayTransport(path, speed=None)
    replay.connect(1.0)
    assert _drain(replay) == stream

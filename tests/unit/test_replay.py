"""Replay: the replay transport's pacing and ending, the recording tee, and ``imgfeed.replay``."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import List, Optional

import pytest

from imgfeed.errors import ConfigError, ReplayError
from imgfeed.recording.format import RecordedLine
from imgfeed.recording.reader import read_recording
from imgfeed.recording.writer import RecordingWriter
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
    times = iter([0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # 0.5: the connection marker
    with RecordingWriter(path, source="test") as writer:
        transport = RecordingTransport(inner, writer, clock=lambda: next(times))
        transport.connect(1.0)
        transport.send(b"req\n", 1.0)
        got = [transport.recv() for _ in chunks]
        transport.close()
    assert got == chunks
    assert inner.sent == [b"req\n"] and inner.closed
    lines = list(read_recording(path))
    assert [(r.t, r.data) for r in lines] == [
        (2.0, b'{"a": 1}'),
        (3.0, '{"b": "é"}'.encode()),
        (3.0, b"\xff"),
    ]
    assert [r.new_connection for r in lines] == [True, False, False]  # the connection's first line


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


# --- imgfeed.replay: the whole client path ------------------------------------------------------

from imgfeed.feeds.img.handler import Handler  # noqa: E402
from imgfeed.feeds.img.protocol.codec import FeedDecoder  # noqa: E402
from imgfeed.recording.replay import replay  # noqa: E402
from imgfeed.runtime.events import Disconnected  # noqa: E402

FEED = [
    b'{"mode": "resp", "status": "session initialized", "session_id": "abc", "request_id": "1"}',
    b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}}',
    b'{"mode": "push", "type": "event", "msg": {"id": "ev.1", "name": "Open"}}',
    b'{"mode": "push", "type": "market", "msg": {"id": "m1", "name": "Win", "event_id": "ev.1"}}',
    b'{"mode": "push", "type": "heartbeat", "msg": {}}',
    b'{"mode": "resp", "status": "ok", "request_id": "2"}',
    b'{"mode": "push", "type": "mystery", "msg": {"x": 1}}',
    b"this is not json",
] + [
    b'{"mode": "push", "type": "market_update", "msg": {"id": "m1", "status": "open", '
    b'"selections": [{"id": "g:1", "price": %d}]}}' % (i + 2)
    for i in range(3000)
]


class Collector(Handler):
    def __init__(self) -> None:
        self.records: List[object] = []
        self.disconnects: List[Disconnected] = []

    def _keep(self, record: object) -> None:
        self.records.append(record)

    on_sport = on_event = on_market = on_heartbeat = on_unknown = on_market_update = _keep  # type: ignore[assignment]
    on_protocol_error = _keep  # type: ignore[assignment]

    def on_disconnect(self, reason: Disconnected) -> None:
        self.disconnects.append(reason)


def _imgfeed_threads() -> List[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("imgfeed-")]


def _record(path: Path, lines: List[bytes]) -> Path:
    with RecordingWriter(path, source="test") as writer:
        for i, line in enumerate(lines):
            writer.write(line, 1000.0 + i / 1000)
    return path


def _expected(lines: List[bytes]) -> List[object]:
    decoded = FeedDecoder().feed(b"".join(line + b"\n" for line in lines))
    return [r for r in decoded if type(r).__name__ not in ("InitResponse", "Response")]


def test_replay_delivers_every_record_in_order_without_conflation(tmp_path: Path) -> None:
    path = _record(tmp_path / "feed.jsonl.gz", FEED)
    collector = Collector()
    result = replay(path, handlers=[collector])
    assert collector.records == _expected(FEED)
    assert result.lines == len(FEED)
    assert result.stats.conflated == 0 and result.stats.protocol_errors == 1
    assert [d.reason.value for d in collector.disconnects] == ["user stop"]  # the end of the replay
    image = result.book.image("m1")
    assert image is not None and image.selections[0].price == 3001
    assert _imgfeed_threads() == []


def test_replay_of_rotated_parts_is_one_stream(tmp_path: Path) -> None:
    with RecordingWriter(tmp_path / "feed.jsonl", rotate_bytes=20_000) as writer:
        for i, line in enumerate(FEED):
            writer.write(line, 1000.0 + i)
    assert len(writer.paths) > 3
    collector = Collector()
    replay(writer.paths, handlers=[collector])
    assert collector.records == _expected(FEED)


def test_a_raising_handler_does_not_stop_the_replay(tmp_path: Path) -> None:
    class Boom(Handler):
        def on_market_update(self, record: object) -> None:
            raise ValueError("bug in user code")

    collector = Collector()
    result = replay(_record(tmp_path / "f.jsonl", FEED), handlers=[Boom(), collector])
    assert result.stats.handler_errors == 3000
    assert collector.records == _expected(FEED)


def test_error_policy_raise_stops_and_raises(tmp_path: Path) -> None:
    class Boom(Handler):
        def on_market(self, record: object) -> None:
            raise ValueError("bug in user code")

    with pytest.raises(ValueError, match="bug in user code"):
        replay(_record(tmp_path / "f.jsonl", FEED), handlers=[Boom()], error_policy="raise")
    assert _imgfeed_threads() == []


def test_corrupt_line_raises_after_the_lines_before_it(tmp_path: Path) -> None:
    path = _record(tmp_path / "f.jsonl", FEED[:5])
    with open(path, "ab") as f:
        f.write(b'{"t": 5, "line": \n')
    collector = Collector()
    with pytest.raises(ReplayError, match=r"f.jsonl: line 7: corrupt"):
        replay(path, handlers=[collector])
    assert collector.records == _expected(FEED[:5])


@pytest.mark.parametrize(
    "content, message", [(None, "recording not found"), (b"hello\n", "not an imgfeed recording header")]
)
def test_bad_file_fails_before_any_handler_runs(
    tmp_path: Path, content: Optional[bytes], message: str
) -> None:
    path = tmp_path / "f.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReplayError, match=message):
        replay(path, handlers=[Collector()])
    assert _imgfeed_threads() == []


def test_truncated_recording_needs_consent(tmp_path: Path) -> None:
    path = _record(tmp_path / "f.jsonl", FEED[:10])
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ReplayError, match="truncated at line 11"):
        replay(path)
    collector = Collector()
    result = replay(path, handlers=[collector], allow_truncated=True)
    assert result.truncated and result.lines == 9
    assert collector.records == _expected(FEED[:9])


def test_records_carry_their_recorded_receive_time(tmp_path: Path) -> None:
    collector = Collector()
    replay(_record(tmp_path / "f.jsonl", FEED), handlers=[collector])
    times = [getattr(r, "received_at", None) for r in collector.records]
    # FEED[i] was recorded at 1000 + i/1000; the InitResponse (0) and Response (5) are not
    # delivered to handlers, and the protocol error (7) carries no time.
    expected = (
        [1000.0 + i / 1000 for i in (1, 2, 3, 4, 6)] + [None] + [1000.0 + (8 + i) / 1000 for i in range(3000)]
    )
    assert times == pytest.approx(expected)


# --- reconnections, as recorded -----------------------------------------------------------------


class Lifecycle(Collector):
    """Also keeps the lifecycle notifications, in order, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.events: List[str] = []

    def on_connect(self, session: object) -> None:
        self.events.append(f"connect {session.session_id} #{session.number}")  # type: ignore[attr-defined]

    def on_disconnect(self, reason: Disconnected) -> None:
        super().on_disconnect(reason)
        self.events.append(f"disconnect {reason.reason.value}")

    def on_suspend_all(self, reason: object) -> None:
        self.events.append(f"suspend_all {reason}")

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        self.events.append(f"{market_id} tradable={tradable}")


SESSION_2 = [
    b'{"mode": "resp", "status": "session initialized", "session_id": "def"}',
    b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Golf"}}',
    b'{"mode": "push", "type": "market", "msg": {"id": "m1", "name": "Win", "event_id": "ev.1"}}',
    b'{"mode": "push", "type": "heartbeat", "msg": {}}',
    b'{"mode": "push", "type": "market_update", "msg": {"id": "m1", "status": "open", "selections": []}}',
]


def _two_sessions(path: Path, gap: float = 30.0) -> Path:
    with RecordingWriter(path, source="test") as writer:
        writer.mark_connected(999.0, "server:2093")
        for i, line in enumerate(FEED[:20]):
            writer.write(line, 1000.0 + i / 1000)
        writer.mark_connected(1000.0 + gap, "server:2093")
        for i, line in enumerate(SESSION_2):
            writer.write(line, 1000.0 + gap + i / 1000)
    return path


def test_a_recorded_reconnection_is_replayed_as_one(tmp_path: Path) -> None:
    from typing import Any  # noqa: F401

    handler = Lifecycle()
    result = replay(_two_sessions(tmp_path / "f.jsonl"), handlers=[handler])
    assert handler.records == _expected(FEED[:20]) + _expected(SESSION_2)
    assert handler.events == [
        "connect abc #1",
        "m1 tradable=True",
        "suspend_all disconnected",  # the recorded connection ended: every market suspended
        "disconnect eof",
        "connect def #2",
        "m1 tradable=True",  # only once its own update arrived on the new session (docs/protocol.md 8)
        "suspend_all disconnected",
        "disconnect user stop",  # the end of the replay
    ]
    assert result.stats.sessions == 2
    assert result.lines == 25


def test_the_recorded_gap_between_connections_is_paced(tmp_path: Path) -> None:
    # At speed 1000, a recorded 30 s gap between the connections is 30 ms: the transport waits for
    # the next connection's first line (checked through its pacing, not a wall clock).
    clock = ManualClock()
    source = list(read_recording(_two_sessions(tmp_path / "f.jsonl")))
    first = ReplayTransport(source, speed=1000.0, read_timeout=0.001, clock=clock, split_connections=True)
    first.connect(1.0)
    played = b""
    while True:
        chunk = first.recv()
        if chunk == b"":
            break
        if chunk is None:
            clock.now += 0.001
            continue
        played += chunk
    assert first.connection_ended and not first.finished
    assert played.count(b"\n") == 20
    second = first.successor()
    second.connect(1.0)
    assert second.recv() is None  # 30 s recorded = 30 ms at speed 1000: not due yet
    clock.now += 0.031
    assert second.recv() == b"".join(line + b"\n" for line in SESSION_2)
    assert second.recv() == b"" and second.finished and second.lines_played == 25

"""Record -> replay round trip: the same records, in the same order, as the live client saw."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, List

import pytest
import ujson

from imgfeed.feeds.img.client import FeedClient, ssh_transport_factory
from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.handler import Handler
from imgfeed.recording.reader import read_recording
from imgfeed.recording.replay import replay
from imgfeed.recording.writer import RecordingWriter
from imgfeed.transport.recording import recording_factory


class Collector(Handler):
    """Keeps every record delivered, and signals when ``want`` market updates have arrived."""

    def __init__(self, want: int = 0) -> None:
        self.records: List[Any] = []
        self.updates = 0
        self.want = want
        self.enough = threading.Event()

    def _keep(self, record: Any) -> None:
        self.records.append(record)

    on_sport = on_competition = on_event = on_market_type = on_market = _keep  # type: ignore[assignment]
    on_remove_markets = on_heartbeat = on_unknown = _keep  # type: ignore[assignment]

    def on_market_update(self, record: Any) -> None:
        self.records.append(record)
        self.updates += 1
        if self.updates >= self.want:
            self.enough.set()


@pytest.mark.parametrize("name", ["live.jsonl", "live.jsonl.gz"])
def test_replay_gives_the_records_the_live_client_saw(sim: Any, tmp_path: Path, name: str) -> None:
    import paramiko

    config = FeedConfig(
        host="127.0.0.1",
        port=sim.port,
        username="demo",
        pkey=paramiko.PKey.from_path(sim.key),
        known_hosts=sim.known_hosts,
        heartbeat_timeout=2.0,
        silence_timeout=3.0,
    )
    live = Collector(want=100)
    path = tmp_path / name
    with RecordingWriter(path, source=config.address) as writer:
        factory = recording_factory(ssh_transport_factory(config), writer)
        client = FeedClient(config, handlers=[live], transport_factory=factory)
        with client:
            client.subscribe(timeout=10.0)
            assert live.enough.wait(30.0)
        assert client.stats().conflated == 0
    replayed = Collector()
    result = replay(path, handlers=[replayed])
    # The live handler can only have seen what was recorded first; a chunk that arrived while the
    # client was stopping may be recorded but not delivered, so the live list is a prefix.
    assert len(live.records) >= 100
    assert replayed.records[: len(live.records)] == live.records
    assert len(replayed.records) - len(live.records) < 50
    # Stamped by the recorder and by the client from the same chunk: microseconds apart.
    live_times = [r.received_at for r in live.records]
    assert [r.received_at for r in replayed.records[: len(live.records)]] == pytest.approx(
        live_times, abs=0.05
    )
    assert result.lines == len(list(read_recording(path)))


def test_record_command_then_replay_command(run_cli: Any, sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl.gz"
    result = run_cli("record", *sim.connect_args("--subscribe-all", "--out", str(out), "--duration", "1.5"))
    assert result.code == 0, result
    assert f"to {out}" in result.err
    lines = list(read_recording(out))
    kinds = [ujson.loads(line.data).get("type") for line in lines]
    assert "market_update" in kinds and "heartbeat" in kinds
    assert all(a.t <= b.t for a, b in zip(lines, lines[1:]))
    replayed = run_cli("replay", str(out), "--as-fast-as-possible", "--format", "jsonl")
    assert replayed.code == 0, replayed
    objs = [ujson.loads(line) for line in replayed.out.splitlines()]
    updates = [o["msg"] for o in objs if o["kind"] == "market_update"]
    assert updates == [ujson.loads(line.data)["msg"] for line in lines if b'"market_update"' in line.data]
    summary = run_cli("replay", str(out), "--fast", "--format", "summary")
    assert f"replayed {len(lines)} lines" in summary.out


def test_record_rotates_by_size(run_cli: Any, sim: Any, tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    result = run_cli(
        "record",
        *sim.connect_args("--subscribe-all", "--out", str(out), "--duration", "1.5", "--rotate-mb", "0.01"),
    )
    assert result.code == 0, result
    parts = sorted(tmp_path.glob("feed*.jsonl"))
    assert len(parts) > 1 and (tmp_path / "feed.1.jsonl").exists()
    files = [str(out)] + [str(tmp_path / f"feed.{i}.jsonl") for i in range(1, len(parts))]
    summary = run_cli("replay", *files, "--fast", "--format", "summary")
    assert summary.code == 0


def test_sigterm_closes_the_recording_cleanly(sim: Any, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from imgfeed.recording.reader import open_recording

    out = tmp_path / "feed.jsonl.gz"
    args = [
        sys.executable,
        "-m",
        "imgfeed",
        "record",
        *sim.connect_args("--subscribe-all", "--out", str(out)),
    ]
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert sim.server.wait_for_sessions(1, 30.0)
        sim.server.scenario.step()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "recorded" in err
    with open_recording(out) as recording:
        lines = list(recording)
        assert not recording.truncated  # the gzip end marker was written
    assert lines


def test_failed_record_leaves_no_file(run_cli: Any, sim: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    out = tmp_path / "feed.jsonl"
    args = sim.connect_args("--subscribe-all", "--out", str(out))
    args[args.index("--known-hosts") + 1] = str(empty)
    result = run_cli("record", *args)
    assert result.code == 2
    assert "unknown host key" in result.err
    assert not out.exists()


class SessionCollector(Collector):
    """Records, plus the sessions and disconnections in the order they came."""

    def __init__(self, want: int = 0) -> None:
        super().__init__(want)
        self.lifecycle: List[str] = []

    def on_connect(self, session: Any) -> None:
        self.lifecycle.append("connect")
        self.records.append(("connect", session.number))

    def on_disconnect(self, reason: Any) -> None:
        self.lifecycle.append(f"disconnect {reason.reason.value}")


def test_a_reconnection_is_recorded_and_replayed(sim: Any, tmp_path: Path) -> None:
    import paramiko

    config = FeedConfig(
        host="127.0.0.1",
        port=sim.port,
        username="demo",
        pkey=paramiko.PKey.from_path(sim.key),
        known_hosts=sim.known_hosts,
        heartbeat_timeout=2.0,
        silence_timeout=3.0,
    )
    live = SessionCollector(want=30)
    path = tmp_path / "live.jsonl.gz"
    with RecordingWriter(path, source=config.address) as writer:
        factory = recording_factory(ssh_transport_factory(config), writer)
        with FeedClient(config, handlers=[live], transport_factory=factory) as client:
            client.subscribe(timeout=10.0)
            assert live.enough.wait(30.0)
            live.want, live.enough = live.updates + 30, threading.Event()
            sim.server.faults.drop_connections()
            assert live.enough.wait(30.0)  # 30 more updates: re-subscribed on the new session
    assert live.lifecycle[:3] == ["connect", "disconnect eof", "connect"]
    replayed = SessionCollector()
    result = replay(path, handlers=[replayed])
    assert result.stats.sessions == 2
    assert replayed.lifecycle[:3] == ["connect", "disconnect eof", "connect"]
    assert replayed.records[: len(live.records)] == live.records


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz"])
def test_a_killed_recorder_loses_at_most_the_last_line(sim: Any, tmp_path: Path, name: str) -> None:
    """kill -9 while recording: every line written before is readable, at most one is lost."""
    import signal

    from imgfeed.recording.reader import open_recording
    from tests.cli.conftest import Process

    out = tmp_path / name
    # -vv: the recorder logs each market_update it has handled, which is after it was recorded.
    proc = Process(
        ["-m", "imgfeed", "-vv", "record", *sim.connect_args("--subscribe-all", "--out", str(out))],
        merge_stderr=True,
    )
    try:
        assert proc.wait_for_line(lambda line: "imgfeed.record: market_update" in line), proc.lines[-20:]
        for _ in range(5):
            sim.server.scenario.step()  # more data in flight while it dies
    finally:
        proc.finish(signal.SIGKILL)
    with open_recording(out, allow_truncated=True) as recording:
        lines = list(recording)
    assert lines, "nothing recorded before the kill"
    assert all(line.data.startswith(b"{") and line.data.endswith(b"}") for line in lines)  # whole lines
    replayed = Collector()
    result = replay(out, handlers=[replayed], allow_truncated=True)
    assert result.lines == len(lines)
    assert replayed.records  # the replay ran through what survived

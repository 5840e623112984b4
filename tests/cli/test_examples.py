"""Every example runs as its docstring shows, against the simulator."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any, List

import paramiko
import pytest

from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    EmulatorServer,
)
from imgfeed.feeds.betfair.emulator import ScenarioConfig as BetfairScenario
from imgfeed.feeds.img.client import FeedClient, ssh_transport_factory
from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer
from imgfeed.recording.writer import RecordingWriter
from imgfeed.transport.recording import recording_factory
from tests.cli.conftest import Process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _connection(sim: Any) -> List[str]:
    return [
        "--host",
        "127.0.0.1",
        "--port",
        str(sim.port),
        "--user",
        "demo",
        "--key",
        sim.key,
        "--known-hosts",
        sim.known_hosts,
    ]


def test_price_table(sim: Any) -> None:
    proc = Process([str(EXAMPLES / "price_table.py"), *_connection(sim)])
    try:
        assert proc.wait_for_line(lambda line: line.startswith("== connected")), proc.lines
        assert proc.wait_for_line(lambda line: any(ch.isdigit() for ch in line) and "==" not in line)
    finally:
        code, err = proc.finish(signal.SIGINT)
    assert "Traceback" not in err, err
    assert code == 0, err


def test_health_service(sim: Any) -> None:
    proc = Process([str(EXAMPLES / "health_service.py"), *_connection(sim), "--http-port", "0"])
    try:
        line = proc.wait_for_line(lambda line: line.startswith("health endpoint: "))
        assert line, proc.lines
        url = line.split(": ", 1)[1]
        assert proc.wait_for_line(lambda line: line.startswith("subscribed")), proc.lines
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            body = json.loads(response.read())
        assert body["state"] == "running" and body["session_id"] and body["suspended"] is None
        assert body["markets"] > 0
        with urllib.request.urlopen(url.replace("/health", "/markets"), timeout=10) as response:
            assert isinstance(json.loads(response.read()), dict)
    finally:
        code, err = proc.finish(signal.SIGTERM)
    assert "Traceback" not in err, err
    assert code == 0, err


class _SettlementWatcher(Handler):
    def __init__(self) -> None:
        self.settled = threading.Event()

    def on_market_update(self, record: Any) -> None:
        if any(s.settlement is not None for s in record.selections):
            self.settled.set()


def _record_settlements(path: Path, tmp_path: Path) -> None:
    """Record a simulator session through a tournament's end and settlement."""
    from imgfeed.cli.keygen import generate_key_pair

    key = tmp_path / "k"
    generate_key_pair(str(key))
    scenario = ScenarioConfig.of_size("tiny", seed=5, pre_play_steps=0, in_play_steps=4, ended_steps=3)
    with SimulatorServer(
        authorized_keys=[str(key) + ".pub"],
        session_config=SessionConfig(heartbeat_interval=0.2),
        scenario_config=scenario,
    ) as server:
        known_hosts = tmp_path / "kh"
        server.write_known_hosts(str(known_hosts))
        config = FeedConfig(
            host="127.0.0.1",
            port=server.port,
            username="demo",
            pkey=paramiko.PKey.from_path(str(key)),
            known_hosts=str(known_hosts),
        )
        watcher = _SettlementWatcher()
        with RecordingWriter(path, source="simulator") as writer:
            client = FeedClient(
                config,
                handlers=[watcher],
                transport_factory=recording_factory(ssh_transport_factory(config), writer),
            )
            with client:
                client.subscribe(timeout=10.0)
                for _ in range(100):
                    if watcher.settled.is_set():
                        break
                    server.scenario.step()
                assert watcher.settled.wait(10.0), "the scenario produced no settlement"


def test_settlements_csv(tmp_path: Path) -> None:
    recording = tmp_path / "feed.jsonl.gz"
    _record_settlements(recording, tmp_path)
    out = tmp_path / "settlements.csv"
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "settlements_csv.py"), str(recording), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "settled selections written to" in result.stdout
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    assert all(r["market_id"] and r["selection_id"] for r in rows)
    assert any(r["result"] == "won" and float(r["payout_returned"]) > 0 for r in rows)


def test_settlements_csv_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nonsense\n")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "settlements_csv.py"), str(bad), str(tmp_path / "o.csv")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not an imgfeed recording" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_has_a_usage_docstring(name: str) -> None:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert text.startswith('"""') and f"examples/{name}" in text
    assert os.access(EXAMPLES / name, os.R_OK)


def test_betfair_best_prices(tmp_path: Path) -> None:
    server = EmulatorServer(
        EmulatorConfig(auth_timeout=5.0),
        BetfairScenario(seed=3, markets=3, updates_per_second=20.0, start_time=1.7e9),
        cert_dir=tmp_path / "certs",
    )
    server.start()
    try:
        args = [str(EXAMPLES / "betfair_best_prices.py"), "--host", "localhost", "--port", str(server.port),
                "--app-key", DEFAULT_APP_KEY, "--cafile", server.cafile]
        proc = Process(args, env={"IMGFEED_BETFAIR_SESSION": DEFAULT_SESSION_TOKEN})
        try:
            assert proc.wait_for_line(lambda line: line.startswith("== authenticated on localhost:")), proc.lines
            # A market book line: "1.xxx OPEN      <selection>: <back>/<lay> ..."
            book = proc.wait_for_line(lambda line: line.startswith("1.") and ": " in line and "/" in line)
            assert book is not None, proc.lines
        finally:
            code, err = proc.finish(signal.SIGINT)
    finally:
        server.stop()
    assert "Traceback" not in err and DEFAULT_SESSION_TOKEN not in err + "".join(proc.lines), err
    assert code == 0, err

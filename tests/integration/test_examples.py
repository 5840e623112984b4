"""The examples run as a user would run them: a separate process against a running simulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import Sim

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_price_table_example_prints_prices_and_stops(sim: Sim, tmp_path: Path) -> None:
    key = tmp_path / "client_key"
    sim.key.write_private_key_file(str(key))
    (tmp_path / "empty").write_text("")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "price_table.py"), "--host", sim.server.host, "--port", str(sim.server.port),
         "--user", "demo", "--key", str(key), "--known-hosts", str(sim.known_hosts), "--seconds", "1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("== connected to ")
    assert any(" open " in line and " @ " in line for line in lines)  # a price line
    assert "markets tradable" in lines[-1] or "disconnected" in lines[-1]


def test_price_table_example_explains_an_unknown_host_key(sim: Sim, tmp_path: Path) -> None:
    key = tmp_path / "client_key"
    sim.key.write_private_key_file(str(key))
    (tmp_path / "empty").write_text("")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "price_table.py"), "--host", sim.server.host, "--port", str(sim.server.port),
         "--user", "demo", "--key", str(key), "--known-hosts", str(tmp_path / "empty"), "--seconds", "5"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "error: " in result.stderr and "unknown host key" in result.stderr.split("error: ", 1)[1]

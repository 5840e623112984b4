"""The emulator's command line: options, the printed instructions, a clean stop; and its certificates."""

from __future__ import annotations

import argparse
import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imgfeed.errors import ImgFeedError
from imgfeed.feeds.betfair.emulator import ensure_certificates
from imgfeed.feeds.betfair.emulator.cli import add_arguments, run


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_run_prints_how_to_connect_and_stops(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run(parse("--port", "0", "--cert-dir", str(tmp_path / "emu"), "--duration", "0.1"), out) == 0
    text = out.getvalue()
    assert f"cafile:        {tmp_path / 'emu' / 'ca.pem'}" in text
    assert "openssl s_client" in text and "-CAfile" in text and "emulator-app-key" in text
    assert text.endswith("stopping the emulator\n")


def test_bad_settings_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ImgFeedError, match="connection_limit"):
        run(parse("--connection-limit", "0", "--cert-dir", str(tmp_path)), io.StringIO())
    with pytest.raises(SystemExit):
        parse("--chunk-sizes", "0,x")


def test_help_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "imgfeed.feeds.betfair.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--cert-dir" in result.stdout


def test_certificates_are_private_and_kept(tmp_path: Path) -> None:
    paths = ensure_certificates(tmp_path / "c")
    assert stat.S_IMODE(os.stat(paths.directory).st_mode) == 0o700
    for path in (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = paths.server_cert.read_bytes()
    assert ensure_certificates(tmp_path / "c").server_cert.read_bytes() == before  # kept across runs
    assert ensure_certificates(tmp_path / "c", hosts=["emu.example"]).server_cert.read_bytes() != before
    assert "ca_key" not in repr(paths) and "server_key" not in repr(paths)

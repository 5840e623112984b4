"""``imgfeed check``: exit 0 with the session id, or the reason and a non-zero exit."""

from __future__ import annotations

import re
import signal

import pytest

from imgfeed.cli._run import INTERRUPTED
from tests.cli.conftest import Process


def test_check_prints_the_session_id(run_cli: "object", sim: "object") -> None:
    result = run_cli("check", *sim.connect_args())  # type: ignore
    assert result.code == 0, result
    assert re.match(
        r"ok: session \S+ on 127\.0\.0\.1:\d+; first heartbeat after [\d.]+ s; \d+ markets", result.out
    )
    assert sim.server.wait_for_connection_count(0, 5.0)  # type: ignore  # check left no connection open


def test_check_fails_without_heartbeats(run_cli: "object", sim: "object") -> None:
    sim.server.faults.stop_heartbeats()  # type: ignore
    result = run_cli("check", *sim.connect_args("--timeout", "1"))  # type: ignore
    assert result.code == 1
    assert "no heartbeat arrived within 1.0 s" in result.err


def test_check_reports_the_server_reason(run_cli: "object", sim: "object") -> None:
    sim.server.faults.reject_connections("max connections hit", 1)  # type: ignore
    result = run_cli("check", *sim.connect_args())  # type: ignore
    assert result.code == 1
    assert "max connections hit" in result.err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_check_stopped_before_its_verdict_exits_130_and_closes_the_session(sim: "object", sig: int) -> None:
    sim.server.faults.stop_heartbeats()  # type: ignore  # so the check waits, for up to 60 s
    proc = Process(["-m", "imgfeed", "check", *sim.connect_args("--timeout", "60")])  # type: ignore
    try:
        assert sim.server.wait_for_sessions(1, 20.0)  # type: ignore  # connected, waiting for a heartbeat
    finally:
        code, err = proc.finish(sig)  # within finish()'s 20 s, not the check's 60
    assert (code, err, proc.lines) == (INTERRUPTED, "", [])  # no verdict, no traceback
    assert sim.server.wait_for_connection_count(0, 5.0)  # type: ignore  # and the connection closed

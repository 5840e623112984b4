"""The command line with ``--feed betfair``: simulate, tail, record, replay and demo, end to end.

tail and record run in this process against an emulator over real TLS on loopback; simulate runs
as a real subprocess and is stopped with SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path
from typing import Any, List

import pytest

from imgfeed.cli._run import INTERRUPTED
from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorServer,
)
from tests.cli.conftest import Process, betfair_connect_args, run_subprocess, single_error_line

BASIC = Path(__file__).resolve().parents[1] / "betfair" / "data" / "BASIC-1.132153978"


def test_tail_prints_books_as_json_lines_with_the_token_from_the_environment(
    run_cli: Any, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMGFEED_BETFAIR_SESSION", DEFAULT_SESSION_TOKEN)
    result = run_cli("tail", *betfair_connect_args(emulator, "--format", "jsonl", "--duration", "1.5", "--event-type-id", "7"))
    assert result.code == 0, result
    objects = [json.loads(line) for line in result.out.splitlines()]
    kinds = {o["kind"] for o in objects}
    assert {"connected", "market_book", "market_status"} <= kinds
    book = next(o for o in objects if o["kind"] == "market_book")
    assert book["market_id"].startswith("1.") and book["runners"][0]["batb"]
    assert DEFAULT_SESSION_TOKEN not in result.out + result.err


def test_tail_pretty(run_cli: Any, emulator: EmulatorServer) -> None:
    result = run_cli("tail", *betfair_connect_args(emulator, "--session-token", DEFAULT_SESSION_TOKEN, "--duration", "1", "--orders"))
    assert result.code == 0, result
    assert "connectionId 001-" in result.out and " OPEN " in result.out and "tradable" in result.out


def test_tail_without_a_token_says_where_to_put_it(run_cli: Any, emulator: EmulatorServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMGFEED_BETFAIR_SESSION", raising=False)
    result = run_cli("tail", *betfair_connect_args(emulator, "--duration", "1"))
    assert result.code == 2 and "IMGFEED_BETFAIR_SESSION" in single_error_line(result)


def test_a_refused_app_key_is_one_line_that_says_what_to_check(run_cli: Any, emulator: EmulatorServer) -> None:
    args = betfair_connect_args(emulator, "--session-token", DEFAULT_SESSION_TOKEN, "--duration", "5")
    args[args.index(DEFAULT_APP_KEY)] = "wrong-key"
    result = run_cli("tail", *args)
    assert result.code == 2
    line = single_error_line(result)
    assert "INVALID_APP_KEY" in line and "app key" in line and DEFAULT_SESSION_TOKEN not in result.err


def test_a_certificate_that_does_not_verify(run_cli: Any, emulator: EmulatorServer) -> None:
    args = betfair_connect_args(emulator, "--session-token", DEFAULT_SESSION_TOKEN, "--duration", "5")
    args[args.index("--cafile") : args.index("--cafile") + 2] = []  # the system CAs do not know it
    result = run_cli("tail", *args)
    assert result.code == 2 and "--cafile" in single_error_line(result)


def test_record_then_replay(run_cli: Any, emulator: EmulatorServer, tmp_path: Path) -> None:
    out = tmp_path / "betfair.jsonl.gz"
    result = run_cli("record", *betfair_connect_args(emulator, "--session-token", DEFAULT_SESSION_TOKEN, "--duration", "1.5",
                                       "--out", str(out), "--orders"))
    assert result.code == 0, result
    assert "recorded" in result.err and out.exists()
    replayed = run_cli("replay", "--fast", "--format", "summary", str(out))
    assert replayed.code == 0, replayed
    assert "of a Betfair stream" in replayed.out and "4 markets" in replayed.out
    jsonl = run_cli("replay", "--fast", "--format", "jsonl", str(out))
    assert any(json.loads(line)["kind"] == "market_book" for line in jsonl.out.splitlines())


def test_replay_tells_a_historical_file_by_its_content(run_cli: Any, tmp_path: Path) -> None:
    copy = tmp_path / "no-extension"
    copy.write_bytes(BASIC.read_bytes())
    result = run_cli("replay", "--fast", str(copy))
    assert result.code == 0, result
    assert "replayed 480 lines of a Betfair stream" in result.err
    assert "1.132153978 CLOSED" in result.out


def test_demo_with_the_betfair_feed(run_cli: Any) -> None:
    result = run_cli("demo", "--feed", "betfair", "--duration", "1.5", "--plain")
    assert result.code == 0, result
    assert "LIVE" in result.out and "markets tradable" in result.out and "1 session(s)" in result.out


def test_simulate_with_the_betfair_feed_prints_how_to_connect(tmp_path: Path) -> None:
    proc = Process(["-m", "imgfeed", "simulate", "--feed", "betfair", "--port", "0", "--cert-dir", str(tmp_path / "emu")])
    line = proc.wait_for_line(lambda text: text.startswith("  imgfeed tail --feed betfair"))
    assert line is not None and "--cafile" in line and "--app-key" in line
    code, _ = proc.finish(signal.SIGTERM)
    assert code == 0 and "stopping the emulator" in proc.lines


def check_args(server: EmulatorServer, *extra: str) -> List[str]:
    return ["--feed", "betfair", "--host", "localhost", "--port", str(server.port), "--app-key", DEFAULT_APP_KEY,
            "--cafile", server.cafile, "--session-token", DEFAULT_SESSION_TOKEN, "--timeout", "5", *extra]


def test_check_prints_the_connection_id_once_authenticated(run_cli: Any, emulator: EmulatorServer) -> None:
    result = run_cli("check", *check_args(emulator))
    assert result.code == 0, result
    assert re.match(r"ok: connectionId 001-\S+ on localhost:\d+; authenticated after [\d.]+ s\n$", result.out)
    assert DEFAULT_SESSION_TOKEN not in result.out + result.err


def test_check_with_a_refused_token_says_what_to_do(emulator: EmulatorServer) -> None:
    args = check_args(emulator)
    args[args.index(DEFAULT_SESSION_TOKEN)] = "expired-token"
    result = run_subprocess(["check", *args])  # a real process: its stderr holds the log lines too
    assert result.code == 2
    line = single_error_line(result)
    assert "IMGFEED_BETFAIR_SESSION" in line and "expired-token" not in result.out + result.err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_check_stopped_before_its_verdict_exits_130(emulator: EmulatorServer, sig: int) -> None:
    """A listener that accepts and never starts TLS: the check waits, until the signal."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        silent.settimeout(20.0)
        args = check_args(emulator)
        args[args.index(str(emulator.port))] = str(silent.getsockname()[1])
        args[args.index("--timeout") + 1] = "60"
        proc = Process(["-m", "imgfeed", "check", *args])
        accepted = None
        try:
            accepted, _ = silent.accept()  # the check is connecting: its signal handlers are in place
        finally:
            code, err = proc.finish(sig)  # within finish()'s 20 s, not the check's 60
            if accepted is not None:
                accepted.close()  # only now: closing it earlier would end the check by itself
    assert (code, err, proc.lines) == (INTERRUPTED, "", [])


def test_check_of_a_port_where_nothing_listens_fails_in_one_line(emulator: EmulatorServer) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        args = check_args(emulator)
        args[args.index(str(emulator.port))] = str(port)
        result = run_subprocess(["check", *args])
    assert result.code == 1, result
    assert result.out == "" and result.err.count("\n") == 1
    assert result.err.startswith("imgfeed: check failed: ") and f"localhost:{port}" in result.err

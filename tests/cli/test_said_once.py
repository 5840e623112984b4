"""Each event said once, at the right level, in one line that says what to do (issue 15, points 2-4).

Every command runs as a real subprocess, so what is checked is what a person sees: the exit code,
what goes to stdout and what to stderr, and the exact line.
"""

from __future__ import annotations

import http.server
import re
import signal
import threading
from pathlib import Path
from typing import Iterator, List

import pytest
import ujson

from imgfeed.cli.keygen import generate_key_pair
from tests.cli.conftest import Process, run_subprocess, single_error_line

NOT_SSH = "is this an SSH server? nothing answered with an SSH banner; check the host and port"


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the test's output is the CLI's, not the web server's


@pytest.fixture
def http_port() -> Iterator[int]:
    """A real HTTP server on loopback: a port that answers, but not with SSH."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http")
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)


@pytest.fixture
def key(tmp_path: Path) -> str:
    path = tmp_path / "id_ed25519"
    generate_key_pair(str(path))
    return str(path)


def _to(port: int, key: str, tmp_path: Path, *extra: str) -> List[str]:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    return ["--host", "127.0.0.1", "--port", str(port), "--user", "demo", "--key", key,
            "--known-hosts", str(known_hosts), "--connect-timeout", "5", *extra]  # fmt: skip


# --- a port that is not SSH ----------------------------------------------------------------------


def test_check_against_a_web_server_is_one_line(http_port: int, key: str, tmp_path: Path) -> None:
    result = run_subprocess(["check", *_to(http_port, key, tmp_path, "--timeout", "10")])
    assert result.code == 1 and result.out == ""
    assert single_error_line(result) == (
        f"imgfeed: check failed: connect failed: cannot connect to 127.0.0.1:{http_port}: {NOT_SSH} "
        "(see the README, Troubleshooting)"
    )


def test_v_shows_paramikos_own_records(http_port: int, key: str, tmp_path: Path) -> None:
    result = run_subprocess(["-v", "check", *_to(http_port, key, tmp_path, "--timeout", "10")])
    assert result.code == 1
    assert "ERROR paramiko.transport: Exception (client): Error reading SSH protocol banner" in result.err


def test_tail_against_a_web_server_says_each_attempt_once_and_when_the_next_is(
    http_port: int, key: str, tmp_path: Path
) -> None:
    args = _to(http_port, key, tmp_path, "--reconnect-interval", "30", "--duration", "2")
    result = run_subprocess(["tail", *args])
    assert result.code == 0, result
    assert result.err == "", result.err  # no paramiko traceback, no second copy of each line
    lines = result.out.splitlines()
    assert len(lines) == 2, lines  # the first retry is at once, the next one 30 s later
    cause = f"** disconnected: connect failed: cannot connect to 127.0.0.1:{http_port}: {NOT_SSH}"
    assert lines[0].endswith(f"{cause}; reconnecting now")
    assert re.search(
        re.escape(cause)
        + r"; reconnecting in 3[01] s, at \d\d:\d\d:\d\d UTC \(the wait is set by --reconnect-interval\)$",
        lines[1],
    ), lines[1]


def test_tail_jsonl_says_when_the_next_attempt_is_on_both_streams(
    http_port: int, key: str, tmp_path: Path
) -> None:
    args = _to(http_port, key, tmp_path, "--reconnect-interval", "30", "--duration", "2", "--format", "jsonl")
    result = run_subprocess(["tail", *args])
    assert result.code == 0, result
    events = [ujson.loads(line) for line in result.out.splitlines()]
    assert [e["kind"] for e in events] == ["disconnected", "disconnected"]
    assert events[0]["retry_in"] == 0 and 30 <= events[1]["retry_in"] <= 31.5
    assert all(e["reason"] == "connect failed" and NOT_SSH in e["detail"] for e in events)
    # stdout is for the program; the person watching stderr is told too, once per event
    said = result.err.splitlines()
    assert len(said) == 2 and all(
        "WARNING imgfeed.tail: disconnected: connect failed" in line for line in said
    )
    assert "(the wait is set by --reconnect-interval)" in said[1]


def test_a_silent_port_times_out_with_the_same_hint(key: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as silent:  # accepts the connection (backlog) but never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        args = _to(silent.getsockname()[1], key, tmp_path, "--timeout", "10")
        args[args.index("--connect-timeout") + 1] = "1"
        result = run_subprocess(["check", *args])
    assert result.code == 1
    assert single_error_line(result).endswith(
        f"timed out after 1.0 s: {NOT_SSH} (see the README, Troubleshooting)"
    )


# --- failures that need a person: said once, by the error line -----------------------------------


def test_a_changed_host_key_is_said_once_without_repeating_itself(sim: "object", tmp_path: Path) -> None:
    from imgfeed.cli.demo import memory_key

    other = memory_key()
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sim.port} {other.get_name()} {other.get_base64()}\n")  # type: ignore
    args = sim.connect_args("--duration", "10")  # type: ignore[attr-defined]
    args[args.index("--known-hosts") + 1] = str(wrong)
    for fmt in ("pretty", "jsonl"):
        result = run_subprocess(["tail", *args, "--format", fmt])
        assert result.code == 2
        line = single_error_line(result)
        assert re.fullmatch(
            rf"imgfeed: error: the host key of \[127\.0\.0\.1\]:{sim.port} CHANGED: the server presented "  # type: ignore
            rf"SHA256:\S+, not the key recorded in {re.escape(str(wrong))}\. This may be an attack: do not "
            rf"connect until IMG Arena confirms the new key, then remove the old line with "
            rf"`ssh-keygen -R '\[127\.0\.0\.1\]:{sim.port}' -f {re.escape(str(wrong))}`",  # type: ignore
            line,
        ), line
        assert line.count("CHANGED") == 1 and ".." not in line
        if fmt == "pretty":
            assert result.out == ""  # not a second time on stdout


def test_a_rejected_key_is_said_once(sim: "object", tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    generate_key_pair(str(stranger))
    args = sim.connect_args("--duration", "10")  # type: ignore[attr-defined]
    args[args.index("--key") + 1] = str(stranger)
    result = run_subprocess(["tail", *args])
    assert result.code == 2 and result.out == ""
    assert re.fullmatch(
        rf"imgfeed: error: 127\.0\.0\.1:{sim.port} rejected the key SHA256:\S+ for user 'demo'\. "  # type: ignore
        rf"Check --user demo and --key {re.escape(str(stranger))}, and that IMG Arena has your public key "
        rf"\({re.escape(str(stranger))}\.pub\)",
        single_error_line(result),
    )


def test_a_dropped_connection_is_said_once(sim: "object") -> None:
    proc = Process(["-m", "imgfeed", "tail", *sim.connect_args("--subscribe-all")])  # type: ignore
    try:
        assert proc.wait_for_line(lambda line: " market_update " in line), proc.lines
        sim.server.faults.drop_connections()  # type: ignore[attr-defined]
        assert proc.wait_for_line(lambda line: "(#2)" in line), proc.lines
    finally:
        code, err = proc.finish(signal.SIGINT)
    assert code == 0 and err == "", err
    drops = [line for line in proc.lines if "** disconnected" in line]
    assert len(drops) == 2, drops  # the drop, once, and the stop by Ctrl-C
    assert drops[0].endswith("; reconnecting now") and drops[1].endswith("** disconnected: user stop")


# --- record: where, what, and a quiet stop -------------------------------------------------------


def test_record_says_where_and_what_and_stops_quietly(sim: "object", tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl.gz"
    result = run_subprocess(
        ["record", *sim.connect_args("--subscribe-all", "--out", str(out), "--duration", "1.5")]  # type: ignore
    )
    assert result.code == 0, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert lines[0] == (
        f"imgfeed: recording 127.0.0.1:{sim.port} to {out}, subscribed to every market; Ctrl-C stops"  # type: ignore
    )
    assert re.fullmatch(rf"imgfeed: recorded \d+ lines to {re.escape(str(out))}", lines[1]), lines
    assert len(lines) == 2, lines  # no WARNING for a normal stop


def test_record_says_what_it_subscribed_to(sim: "object", tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    event = sim.server.scenario.event_ids(include_finished=False)[0]  # type: ignore[attr-defined]
    result = run_subprocess(
        ["record", *sim.connect_args("--event", event, "--out", str(out), "--duration", "1")]  # type: ignore
    )
    assert result.code == 0, result
    assert result.err.splitlines()[0].endswith(f", subscribed to --event {event}; Ctrl-C stops")


def test_record_without_a_subscription_says_it_records_no_prices(sim: "object", tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    result = run_subprocess(["record", *sim.connect_args("--out", str(out), "--duration", "1")])  # type: ignore
    assert result.code == 0, result
    assert result.err.splitlines()[0] == (
        f"imgfeed: recording 127.0.0.1:{sim.port} to {out} with no subscription: only the offering and "  # type: ignore
        "heartbeats will be recorded, no prices (add --subscribe-all, or --event/--market-type/--market); "
        "Ctrl-C stops"
    )


def test_record_stopped_by_sigterm_logs_no_warning(sim: "object", tmp_path: Path) -> None:
    out = tmp_path / "feed.jsonl"
    proc = Process(["-m", "imgfeed", "record", *sim.connect_args("--subscribe-all", "--out", str(out))])  # type: ignore
    try:
        assert sim.server.wait_for_sessions(1, timeout=20)  # type: ignore[attr-defined]
    finally:
        code, err = proc.finish(signal.SIGTERM)
    assert code == 0, err
    assert "WARNING" not in err and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("imgfeed: recorded ")


# --- replay: an error said once ------------------------------------------------------------------


def test_a_corrupt_recording_is_said_once(tmp_path: Path) -> None:
    from imgfeed.recording.writer import RecordingWriter

    path = tmp_path / "r.jsonl"
    with RecordingWriter(path) as writer:
        writer.write(b'{"mode": "push", "type": "heartbeat", "msg": {}}', 1.0)
    with open(path, "ab") as f:
        f.write(b"{garbage\n")
    result = run_subprocess(["replay", str(path), "--as-fast-as-possible"])
    assert result.code == 2
    assert (
        single_error_line(result)
        == f"imgfeed: error: {path}: line 3: corrupt recording line (expected '<time> =<line>' or "
        f"'<time> !{{...}}'): {{garbage"
    )

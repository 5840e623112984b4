"""The stdin/stdout mode: over plain pipes, and behind OpenSSH's sshd as a ForceCommand."""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from imgfeed.feeds.img.protocol import MarketUpdate, Response, ServerClosing, decode_line
from tests.simulator.conftest import WAIT
from tests.simulator.test_openssh import (
    SSH,
    SSH_KEYGEN,
    LineReader,
    check_session,
    session_records,
    stop_process,
)

STDIO_BASE = [sys.executable, "-m", "imgfeed.feeds.img.simulator.stdio"]
STDIO = [*STDIO_BASE, "--size", "tiny", "--updates-per-second", "0"]
SSHD = "/usr/sbin/sshd"


def start(*options: str) -> "subprocess.Popen[bytes]":
    return subprocess.Popen([*STDIO, *options], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_session_over_pipes_ends_when_stdin_closes() -> None:
    proc = start("--heartbeat-interval", "0.1")
    assert proc.stdin is not None and proc.stdout is not None
    reader = LineReader(proc.stdout, "test-stdio-stdout")
    try:
        proc.stdin.write(b'{"request": "init", "msg": {}}\n{"request": "subscribe", "request_id": "s", "msg": {}}\n')
        proc.stdin.flush()
        records = session_records(reader, heartbeats=2)
        check_session([r for r in records if not isinstance(r, (Response, MarketUpdate))])
        assert any(isinstance(r, Response) and r.request_id == "s" for r in records)
        assert any(isinstance(r, MarketUpdate) for r in records)
        proc.stdin.close()
        assert proc.wait(WAIT) == 0
    finally:
        stop_process(proc)
        reader.join()


def test_no_init_sent_over_pipes() -> None:
    proc = start("--init-timeout", "0.2")
    assert proc.stdin is not None and proc.stdout is not None
    reader = LineReader(proc.stdout, "test-stdio-stdout")
    try:
        record = decode_line(reader.next().rstrip(b"\n"))
        assert isinstance(record, ServerClosing) and str(record.reason) == "no init sent"
        assert proc.wait(WAIT) == 0  # the session closed: the process ends by itself
    finally:
        stop_process(proc)
        reader.join()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[dict]:
    if SSH is None or SSH_KEYGEN is None or not Path(SSHD).exists():
        pytest.skip("OpenSSH (sshd, ssh, ssh-keygen) not installed")
    try:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation directory
    except PermissionError:
        pass  # not root: sshd runs unprivileged, without privilege separation
    for name in ("host_key", "client_key"):
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True, timeout=WAIT)
    (tmp_path / "authorized_keys").write_text((tmp_path / "client_key.pub").read_text())
    port = _free_port()
    command = " ".join([*STDIO, "--heartbeat-interval", "0.1"])
    (tmp_path / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\n"
        f"ForceCommand {command}\n"
    )
    host_pub = (tmp_path / "host_key.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} {' '.join(host_pub)}\n")
    proc = subprocess.Popen(
        [SSHD, "-D", "-f", str(tmp_path / "sshd_config"), "-E", str(tmp_path / "sshd.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + WAIT
        while True:  # wait until sshd greets a connection; fail at once if it exits
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
                    if sock.recv(4) == b"SSH-":
                        break
            except ConnectionRefusedError:
                pass
            try:
                proc.wait(0.05)
                pytest.fail(f"sshd exited: {(tmp_path / 'sshd.log').read_text()}")
            except subprocess.TimeoutExpired:
                assert time.monotonic() < deadline, "sshd did not start listening"
        yield {"port": port, "dir": tmp_path}
    finally:
        proc.terminate()
        proc.wait(WAIT)


@pytest.mark.openssh
def test_stdio_behind_sshd_force_command(sshd: dict) -> None:
    d = sshd["dir"]
    ssh: List[str] = [
        SSH, "-F", "/dev/null", "-T", "-p", str(sshd["port"]), "-i", str(d / "client_key"),
        "-o", f"UserKnownHostsFile={d / 'known_hosts'}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", f"{getpass.getuser()}@127.0.0.1",
    ]  # fmt: skip
    proc = subprocess.Popen(ssh, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    reader = LineReader(proc.stdout, "test-ssh-stdout")
    try:
        proc.stdin.write(b'{"request": "init", "msg": {}}\n')
        proc.stdin.flush()
        check_session(session_records(reader, heartbeats=2))
        proc.stdin.close()
        assert proc.wait(WAIT) == 0  # stdin closed -> the forced command exits -> ssh exits 0
    finally:
        stop_process(proc)
        reader.join()


def test_a_reader_that_stops_is_dropped_and_the_process_ends() -> None:
    proc = subprocess.Popen(
        [*STDIO_BASE, "--size", "small", "--updates-per-second", "2000", "--slow-reader-timeout", "0.3"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b'{"request": "init", "msg": {}}\n{"request": "subscribe", "msg": {}}\n')
        proc.stdin.flush()
        # Nobody reads stdout: the pipe fills, the session is closed as a slow reader, and the
        # process exits by itself instead of blocking for ever on a write.
        assert proc.wait(WAIT) == 0
    finally:
        stop_process(proc)


def test_mustard_mode_over_pipes() -> None:
    from imgfeed.feeds.img.protocol import Heartbeat, InitResponse

    proc = start("--heartbeat-interval", "0.1", "--mustard")
    assert proc.stdin is not None and proc.stdout is not None
    reader = LineReader(proc.stdout, "test-stdio-stdout")
    try:
        proc.stdin.write(b'{"request": "init", "msg": {}}\n')
        proc.stdin.flush()
        records = session_records(reader, heartbeats=1)
        assert not any(isinstance(r, InitResponse) for r in records)
        assert all("publish_time" not in r.raw for r in records)
        assert isinstance(records[-1], Heartbeat) and records[-1].timestamp is not None
    finally:
        stop_process(proc)
        reader.join()

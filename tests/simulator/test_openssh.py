"""OpenSSH's own client against the simulator: what a new user does by hand, as a test.

``imgfeed simulate`` prints an ``ssh -T`` command; this runs that command (plus ``-F /dev/null``
and ``BatchMode=yes`` so that the machine's ssh config and prompts stay out of it), sends ``init``
and checks the response, the snapshot order and heartbeats. Skipped only when ``ssh`` is not
installed; the project's set-up installs it, so CI runs it.
"""

from __future__ import annotations

import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, List

import pytest

from imgfeed.feeds.img.protocol import (
    Competition,
    Event,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    Sport,
    decode_line,
)
from imgfeed.feeds.img.simulator import SessionConfig, SimulatorServer
from tests.simulator.conftest import TINY, WAIT

SSH = shutil.which("ssh")
SSH_KEYGEN = shutil.which("ssh-keygen")

pytestmark = [
    pytest.mark.openssh,
    pytest.mark.skipif(SSH is None or SSH_KEYGEN is None, reason="OpenSSH client (ssh, ssh-keygen) not installed"),
]

_DONE = object()


class LineReader:
    """Read a pipe's lines on a thread into a queue, so the test can wait with a timeout."""

    def __init__(self, pipe: IO[bytes], name: str) -> None:
        self.lines: "queue.Queue[Any]" = queue.Queue()
        self._pipe = pipe
        self._thread = threading.Thread(target=self._run, name=name)
        self._thread.start()

    def _run(self) -> None:
        for line in iter(self._pipe.readline, b""):
            self.lines.put(line)
        self.lines.put(_DONE)

    def next(self, timeout: float = WAIT) -> bytes:
        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no line within {timeout} s")
        if item is _DONE:
            pytest.fail("the stream ended")
        return item

    def join(self) -> None:
        self._thread.join(WAIT)


def run_ssh(argv: List[str]) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop_process(proc: "subprocess.Popen[bytes]") -> None:
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    try:
        proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(WAIT)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def session_records(reader: LineReader, heartbeats: int) -> List[Any]:
    """Decode lines until ``heartbeats`` heartbeats have arrived."""
    records: List[Any] = []
    while sum(isinstance(r, Heartbeat) for r in records) < heartbeats:
        records.append(decode_line(reader.next().rstrip(b"\n")))
    return records


def check_session(records: List[Any]) -> None:
    assert isinstance(records[0], InitResponse) and records[0].status == "session initialized"
    kinds = [type(r) for r in records[1:] if not isinstance(r, Heartbeat)]
    order = [Sport, Competition, Event, MarketType, Market]
    assert kinds == sorted(kinds, key=order.index) and set(kinds) == set(order)
    assert sum(isinstance(r, Heartbeat) for r in records) >= 2


@pytest.fixture
def openssh_key(tmp_path: Path) -> Path:
    key = tmp_path / "id_ed25519"
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=WAIT)
    return key


def test_ssh_T_against_the_simulator_server(tmp_path: Path, openssh_key: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    with SimulatorServer(
        authorized_keys=[f"{openssh_key}.pub"],
        session_config=SessionConfig(heartbeat_interval=0.1),
        scenario_config=TINY,
    ) as server:
        server.write_known_hosts(known_hosts)
        proc = run_ssh(
            [
                SSH, "-F", "/dev/null", "-T", "-p", str(server.port), "-i", str(openssh_key),
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "tester@127.0.0.1",
            ]  # fmt: skip
        )
        assert proc.stdin is not None and proc.stdout is not None
        reader = LineReader(proc.stdout, "test-ssh-stdout")
        try:
            proc.stdin.write(b'{"request": "init", "msg": {}}\n')
            proc.stdin.flush()
            check_session(session_records(reader, heartbeats=2))
            assert server.wait_for_sessions(1, timeout=WAIT)
        finally:
            stop_process(proc)
            reader.join()


def test_ssh_T_rejects_a_wrong_host_key(tmp_path: Path, openssh_key: Path) -> None:
    """StrictHostKeyChecking really checks: a known_hosts line for another key fails the login."""
    with SimulatorServer(authorized_keys=[f"{openssh_key}.pub"], scenario_config=TINY) as server:
        other = SimulatorServer(scenario_config=TINY)  # never started: only its key is used
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{server.port} {other.known_hosts_line().split(' ', 1)[1]}\n")
        result = subprocess.run(
            [
                SSH, "-F", "/dev/null", "-T", "-p", str(server.port), "-i", str(openssh_key),
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes", "tester@127.0.0.1",
            ],  # fmt: skip
            input=b"", capture_output=True, timeout=WAIT,
        )
        assert result.returncode != 0
        assert b"HOST IDENTIFICATION HAS CHANGED" in result.stderr or b"verification failed" in result.stderr


def test_imgfeed_simulate_prints_a_working_ssh_command(tmp_path: Path) -> None:
    """A new user's path: run `imgfeed simulate`, copy the printed ssh command, send init."""
    state = tmp_path / "state"
    sim = subprocess.Popen(
        [
            sys.executable, "-m", "imgfeed", "simulate", "--port", "0", "--state-dir", str(state),
            "--size", "tiny", "--heartbeat-interval", "0.1", "--duration", "60",
        ],  # fmt: skip
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert sim.stdout is not None
    out = LineReader(sim.stdout, "test-simulate-stdout")
    try:
        printed = []
        while not printed or not printed[-1].startswith(b"  ssh -T"):
            printed.append(out.next())
        command = shlex.split(printed[-1].decode())
        text = b"".join(printed).decode()
        port = int(re.search(r"port:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        assert f"-p {port}" in printed[-1].decode()
        for name in ("client_ed25519", "known_hosts", "authorized_keys", "host_ed25519"):
            assert (state / name).stat().st_mode & 0o077 == 0, f"{name} is readable by others"
        proc = run_ssh([command[0], "-F", "/dev/null", "-o", "BatchMode=yes", *command[1:]])
        assert proc.stdin is not None and proc.stdout is not None
        reader = LineReader(proc.stdout, "test-ssh-stdout")
        try:
            proc.stdin.write(b'{"request": "init", "msg": {}}\n')
            proc.stdin.flush()
            check_session(session_records(reader, heartbeats=2))
        finally:
            stop_process(proc)
            reader.join()
    finally:
        sim.terminate()  # SIGTERM: the simulator stops cleanly
        assert sim.wait(WAIT) == 0
        out.join()
        sim.stdout.close()
        assert sim.stderr is not None
        sim.stderr.close()

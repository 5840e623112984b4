"""Fixtures of the interop suite: OpenSSH's sshd, started by the test, serving the simulator.

``sshd -D`` runs as a child process the fixture owns, on a free loopback port, with a throwaway
config whose ``ForceCommand`` runs the simulator's stdio mode (docs/testing.md). The
fixture waits for sshd's own "Server listening" line (no sleeping), and stops and reaps it after
the test.
"""

from __future__ import annotations

import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import paramiko
import pytest

SSHD = "/usr/sbin/sshd"
#: The forced command: the simulator on stdin/stdout, with test-sized heartbeats.
SIMULATOR_ARGS = ["-m", "imgfeed.feeds.img.simulator.stdio", "--heartbeat-interval", "0.2"]
#: How long sshd may take to start listening (generous: CI machines can be slow).
START_TIMEOUT = 20.0


class OpenSSHServer(NamedTuple):
    host: str
    port: int
    username: str
    client_key: paramiko.PKey
    client_key_path: Path
    known_hosts: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "imgfeed-interop", "-f", str(path)],
                   check=True, timeout=30)


def _wait_listening(proc: "subprocess.Popen[bytes]", log: Path) -> None:
    """Read sshd's stderr until it says it listens; keep what it said in ``log``."""
    assert proc.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while b"Server listening" not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise AssertionError(f"sshd did not start listening: {seen.decode(errors='replace')}")
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"sshd exited: {seen.decode(errors='replace')}")
            seen += chunk
    log.write_bytes(seen)


def _drain(stream: "object", log: Path) -> None:
    with open(log, "ab") as out:
        for line in stream:  # type: ignore[attr-defined]
            out.write(line)


@pytest.fixture()
def openssh_server(tmp_path: Path) -> Iterator[OpenSSHServer]:
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH's sshd is not installed (apt-get install openssh-server)")
    d = tmp_path
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    (d / "authorized_keys").write_bytes((d / "client_key.pub").read_bytes())
    port = _free_port()
    # The interpreter as started, not its realpath: a virtualenv's python is a link to the base
    # interpreter, and resolving it would run the simulator outside the venv, without imgfeed.
    python = os.path.abspath(sys.executable)
    config = d / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PermitRootLogin prohibit-password\n"
        f"ForceCommand {python} {' '.join(SIMULATOR_ARGS)}\n"
        f"PidFile {d / 'sshd.pid'}\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege-separation directory
    log = d / "sshd.log"
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drain = None
    try:
        _wait_listening(proc, log)
        drain = threading.Thread(target=_drain, args=(proc.stderr, log), name="test-sshd-log")
        drain.start()
        host_key = (d / "host_key.pub").read_text().split()
        known_hosts = d / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        client_key = paramiko.Ed25519Key.from_private_key_file(str(d / "client_key"))
        import getpass

        yield OpenSSHServer("127.0.0.1", port, getpass.getuser(), client_key, d / "client_key", known_hosts, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if drain is not None:
            drain.join(10)
        if proc.stderr is not None:
            proc.stderr.close()

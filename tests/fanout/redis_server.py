"""A real ``redis-server`` for the fan-out tests: a free loopback port, a temporary directory, no persistence.

It is started by the tests and stopped by them (``kill`` is the crash: no shutdown, no save).
``restart`` brings it back on the same port, empty, as a crashed Redis without persistence comes
back. Readiness is the server's own "Ready to accept connections" line, read by a named thread
that drains its output -- nothing waits by sleeping.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import List, Optional, Sequence

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
#: How long a start may take before the test fails (seconds); a healthy start takes milliseconds.
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process (module docstring).

    Args:
        directory: its working directory (a test's tmp_path).
        password: ``requirepass`` for the default user.
        users: ACL lines, e.g. ``"alice on >secret ~* &* +@all"``.
        tls: (cert, key, ca) files: serve TLS only, on the port.
        config: more settings, e.g. ``"stream-node-max-entries 4"`` (so that ``MAXLEN ~`` trims soon).
    """

    def __init__(
        self,
        directory: Path,
        password: Optional[str] = None,
        users: Sequence[str] = (),
        tls: Optional[Sequence[Path]] = None,
        config: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = password
        self.users = list(users)
        self.tls = tls
        self.config = list(config)
        self.process: Optional[subprocess.Popen] = None
        self._reader: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self.output: List[str] = []

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def _args(self) -> List[str]:
        args = [REDIS_SERVER, "--bind", "127.0.0.1", "--dir", str(self.directory), "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--logfile", "", "--protected-mode", "no"]
        if self.tls:
            cert, key, ca = self.tls
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert)]
            args += ["--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        if self.password:
            args += ["--requirepass", self.password]
        for option in self.config:
            args += [f"--{option.split()[0]}", *option.split()[1:]]
        for user in self.users:
            args += ["--user", *user.split()]
        return args

    def start(self) -> "RedisServer":
        self._ready.clear()
        self.process = subprocess.Popen(
            self._args(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self._reader = threading.Thread(target=self._drain, args=(self.process,), name="test-redis-output")
        self._reader.start()
        if not self._ready.wait(START_TIMEOUT):
            self.stop()
            raise RuntimeError("redis-server did not start:\n" + "".join(self.output[-20:]))
        return self

    def _drain(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.decode("utf-8", "replace")
            self.output.append(line)
            if "Ready to accept connections" in line:
                self._ready.set()
        process.stdout.close()
        self._ready.set()  # it ended: whoever waits finds out from the process

    def kill(self) -> None:
        """A crash: SIGKILL, nothing saved."""
        self._end(kill=True)

    def stop(self) -> None:
        self._end(kill=False)

    def _end(self, kill: bool) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        (process.kill if kill else process.terminate)()
        try:
            process.wait(START_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(START_TIMEOUT)
        if self._reader is not None:
            self._reader.join(START_TIMEOUT)

    def restart(self) -> None:
        """Come back on the same port, empty."""
        self.start()

"""Fixtures for the command-line tests: run ``imgfeed`` in-process or as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Callable, List, Optional, Sequence, Tuple

import pytest

from imgfeed.cli import main
from tests.leaks import join_new_threads


class CliResult:
    """What one run of the command line produced."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


#: How long the leak check lets a test's threads finish (paramiko's transport thread polls its
#: socket every 0.1 s); a clean test pays nothing, since the check joins rather than sleeps.
LEAK_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def no_thread_leaks() -> "object":
    """Fail a test that leaves a thread running (client, simulator, or a test's own)."""
    before = set(threading.enumerate())
    yield
    alive = sorted(t.name for t in join_new_threads(before, LEAK_TIMEOUT))
    assert not alive, f"threads still running after the test: {alive}"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture) -> "object":
    """Run ``imgfeed ARGS`` in this process; returns a :class:`CliResult`."""

    def run(*args: str) -> CliResult:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(args: Sequence[str], timeout: float = 60.0, env: Optional[dict] = None) -> CliResult:
    """Run ``python -m imgfeed ARGS`` as a child process, bounded by ``timeout``."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "imgfeed", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


class Process:
    """A child process whose stdout lines are collected by a thread, waited on with a Condition.

    With ``merge_stderr`` its log lines (stderr) are collected too, in order with stdout.
    """

    def __init__(
        self,
        args: List[str],
        merge_stderr: bool = False,
        env: Optional[dict] = None,
        cwd: Optional[str] = None,
        program: str = sys.executable,
    ) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [program, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=cwd,
        )
        self.lines: List[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="test-stdout-reader")
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 30.0) -> Optional[str]:
        def found() -> Optional[str]:
            return next((line for line in self.lines if predicate(line)), None)

        with self._cond:
            self._cond.wait_for(lambda: found() is not None or self.proc.poll() is not None, timeout)
            return found()

    def finish(self, sig: int, timeout: float = 20.0) -> "tuple[int, str]":
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5.0)
            self._reader.join(5.0)
        err = ""
        if self.proc.stderr is not None:
            err = self.proc.stderr.read()
            self.proc.stderr.close()
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code, err


def single_error_line(result: CliResult) -> str:
    """The one line a bad input must produce on stderr (no traceback)."""
    lines: List[str] = [line for line in result.err.splitlines() if line.strip()]
    assert "Traceback" not in result.err, result
    assert len(lines) == 1, result
    return lines[0]


def split_pub(line: str) -> Tuple[str, str]:
    kind, blob = line.split()[:2]
    return kind, blob


# --- a simulator with a key pair and a known_hosts file, as a user would set it up --------------


class SimSetup:
    """A running simulator plus the files a user points the CLI at."""

    def __init__(self, server: "object", key: str, known_hosts: str) -> None:
        self.server = server
        self.key = key
        self.known_hosts = known_hosts

    @property
    def port(self) -> int:
        return self.server.port  # type: ignore[attr-defined,no-any-return]

    def connect_args(self, *extra: str) -> List[str]:
        """``--host --port --user --key --known-hosts`` plus fast test timeouts."""
        return [
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--user",
            "demo",
            "--key",
            self.key,
            "--known-hosts",
            self.known_hosts,
            "--heartbeat-timeout",
            "2",
            "--silence-timeout",
            "3",
            "--reconnect-interval",
            "0.2",
            "--connect-timeout",
            "10",
            *extra,
        ]


@pytest.fixture
def sim(tmp_path: "object") -> "object":
    """A simulator on loopback with fast heartbeats, an authorized key file and a known_hosts file."""
    from pathlib import Path

    from imgfeed.cli.keygen import generate_key_pair
    from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer

    tmp = Path(str(tmp_path))
    key = tmp / "demo_key"
    generate_key_pair(str(key))
    server = SimulatorServer(
        authorized_keys=[str(key) + ".pub"],
        session_config=SessionConfig(heartbeat_interval=0.2),
        scenario_config=ScenarioConfig.of_size("tiny", seed=1, updates_per_second=50.0),
    )
    server.start()
    try:
        known_hosts = tmp / "known_hosts"
        server.write_known_hosts(str(known_hosts))
        yield SimSetup(server, str(key), str(known_hosts))
    finally:
        server.stop(timeout=5.0)


@pytest.fixture
def redis(tmp_path: "object") -> "object":
    """A real redis-server of the test's own on a free loopback port (skipped when not installed)."""
    from pathlib import Path

    from tests.fanout.redis_server import REDIS_SERVER, RedisServer

    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is not installed (the README's test command installs redis-server)")
    server = RedisServer(Path(str(tmp_path)) / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def emulator(tmp_path: "object") -> "object":
    """The Betfair emulator over TLS on loopback: four markets, 20 changes a second."""
    from pathlib import Path

    from imgfeed.feeds.betfair.emulator import EmulatorConfig, EmulatorServer, ScenarioConfig

    server = EmulatorServer(
        EmulatorConfig(auth_timeout=5.0),
        ScenarioConfig(seed=2, markets=4, updates_per_second=20.0, start_time=1.7e9),
        cert_dir=Path(str(tmp_path)) / "certs",
    )
    server.start()
    yield server
    server.stop()


def betfair_connect_args(server: "object", *extra: str) -> List[str]:
    """The command-line options that connect to ``emulator`` (a fast heartbeat)."""
    from imgfeed.feeds.betfair.emulator import DEFAULT_APP_KEY

    return ["--feed", "betfair", "--host", "localhost", "--port", str(server.port),  # type: ignore[attr-defined]
            "--app-key", DEFAULT_APP_KEY, "--cafile", server.cafile, "--heartbeat-ms", "500", *extra]  # type: ignore[attr-defined]

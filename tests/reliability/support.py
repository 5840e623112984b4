"""What every fault-matrix test needs: a recording handler and a client with short deadlines.

:class:`Recorder` keeps every handler call, in order, and lets the test thread wait (with a
timeout, on a condition) until the calls it expects have happened. :func:`fast_config` is the
production configuration with every deadline cut to a fraction of a second, so that a fault that
takes 10-30 s to detect in production takes well under a second here.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Tuple

import paramiko

from imgfeed import FeedClient, FeedConfig, Handler, ReconnectPolicy
from imgfeed.runtime.events import Disconnected, DisconnectReason
from tests.reliability.hostile import HostileSSHServer, refused_port

__all__ = [
    "Call",
    "LogWatch",
    "SSHD",
    "Sshd",
    "KeyPair",
    "keygen",
    "Recorder",
    "fast_config",
    "hostile_config",
    "running",
    "WAIT",
    "HEARTBEAT_TIMEOUT",
    "SILENCE_TIMEOUT",
]

#: The longest any test waits for something it expects (seconds). Only reached when it fails.
WAIT = 10.0
#: The client's deadlines in this suite (production: 10 s each, docs/protocol.md section 8). The
#: servers here beat every 50 ms; a full second of silence is a fault the test made, not a loaded
#: machine that was slow to answer init (silence counts from the connection's first moment).
HEARTBEAT_TIMEOUT = 0.4
SILENCE_TIMEOUT = 1.0

#: One handler call: the method name and its arguments.
Call = Tuple[str, Tuple[Any, ...]]

_METHODS = [name for name in dir(Handler) if name.startswith("on_")]


class Recorder(Handler):
    """A handler that records every call and lets another thread wait for what it expects.

    Args:
        before: called as ``before(name, args)`` on the dispatcher thread before the call is
            recorded; a test uses it to make the handler slow, raise, or block.
    """

    def __init__(self, before: Optional[Callable[[str, Tuple[Any, ...]], None]] = None) -> None:
        self.calls: List[Call] = []
        self.before = before
        self._cond = threading.Condition()

    def __repr__(self) -> str:
        return f"<Recorder calls={len(self.calls)}>"

    def _record(self, name: str, *args: Any) -> None:
        if self.before is not None:
            self.before(name, args)
        with self._cond:
            self.calls.append((name, args))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[["Recorder"], bool], timeout: float = WAIT) -> bool:
        """Wait until ``predicate(self)`` is true; False if it is still false after ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def names(self) -> List[str]:
        with self._cond:
            return [name for name, _ in self.calls]

    def args(self, name: str) -> List[Any]:
        """The first argument of every call of ``name``, in order."""
        with self._cond:
            return [args[0] if args else None for n, args in self.calls if n == name]

    def count(self, name: str) -> int:
        return len(self.args(name))

    def since(self, name: str, n: int) -> List[Call]:
        """The calls from the ``n``-th call of ``name`` on (1-based); empty until there is one."""
        with self._cond:
            at = [i for i, (called, _) in enumerate(self.calls) if called == name]
            return list(self.calls[at[n - 1] :]) if len(at) >= n else []

    def statuses_since_connect(self, n: int) -> List[Tuple[Any, ...]]:
        """The ``on_market_status`` arguments ``(market_id, tradable)`` after the ``n``-th connect."""
        return [args for name, args in self.since("on_connect", n) if name == "on_market_status"]

    def disconnects(self) -> List[Disconnected]:
        return self.args("on_disconnect")

    def disconnect_reasons(self) -> List[DisconnectReason]:
        return [d.reason for d in self.disconnects()]


def _recording_method(name: str) -> Callable[..., None]:
    def method(self: Recorder, *args: Any) -> None:
        self._record(name, *args)

    method.__name__ = name
    return method


for _name in _METHODS:
    setattr(Recorder, _name, _recording_method(_name))


def fast_config(port: int, known_hosts: Optional[str], key_filename: str, **overrides: Any) -> FeedConfig:
    """A config for 127.0.0.1:``port`` with every deadline short and reconnects immediate.

    ``ReconnectPolicy(interval=0.2)`` replaces the service's 30 s; ``min_delay`` stays above zero so
    that even a server that asks us to wait is not hammered in a tight loop.
    """
    settings: dict = dict(
        host="127.0.0.1",
        port=port,
        username="trader",
        key_filename=key_filename,
        known_hosts=known_hosts,
        connect_timeout=5.0,
        init_timeout=2.0,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        silence_timeout=SILENCE_TIMEOUT,
        request_timeout=5.0,
        send_timeout=2.0,
        read_timeout=0.05,
        keepalive_interval=0,
        handler_stall_warning=0.5,
        reconnect=ReconnectPolicy(interval=0.2, first_delay=0.0, jitter=0.0, min_delay=0.2),
    )
    settings.update(overrides)
    return FeedConfig(**settings)


class KeyPair(NamedTuple):
    """A client key on disk (OpenSSH format, as ``ssh-keygen`` writes it) and loaded."""

    path: Path
    key: paramiko.PKey
    passphrase: str


def keygen(path: Path, passphrase: str = "") -> KeyPair:
    """Make an Ed25519 key pair with OpenSSH's ssh-keygen, as a user would."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "imgfeed-test", "-f", str(path)],
        check=True,
        timeout=30,
    )
    key = paramiko.Ed25519Key.from_private_key_file(str(path), password=passphrase or None)
    return KeyPair(path, key, passphrase)


@contextlib.contextmanager
def running(config: FeedConfig, *handlers: Handler, stop_timeout: float = WAIT) -> Iterator[FeedClient]:
    """A started :class:`FeedClient` that is always stopped (and its threads joined) afterwards."""
    client = FeedClient(config, handlers=list(handlers))
    client.start()
    try:
        yield client
    finally:
        client.stop(stop_timeout)


def hostile_config(
    server: HostileSSHServer, key: KeyPair, directory: Path, port: Optional[int] = None, **overrides: Any
) -> FeedConfig:
    """A :func:`fast_config` for ``server``, with its host key written to a fresh known_hosts.

    Args:
        port: connect here instead (a proxy in front of the server); known_hosts names this port.
    """
    port = server.port if port is None else port
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(
        f"[{server.host}]:{port} {server.host_key.get_name()} {server.host_key.get_base64()}\n"
    )
    return fast_config(port, str(known_hosts), str(key.path), **overrides)


#: OpenSSH's server; its absolute path is required (docs/testing.md).
SSHD = "/usr/sbin/sshd"


class Sshd:
    """A throwaway OpenSSH sshd on 127.0.0.1, in the foreground, as docs/testing.md shows.

    Its only program is ``force_command`` (the faults tested with it happen before any program
    runs: authentication and host-key verification are OpenSSH's own).
    """

    def __init__(self, directory: Path, client_key: KeyPair, force_command: str = "/bin/cat") -> None:
        self.directory = directory
        self.client_key = client_key
        self.force_command = force_command
        self.port = 0
        self.process: Optional[subprocess.Popen] = None
        self.host_key: Optional[paramiko.PKey] = None

    @property
    def authorized_keys(self) -> Path:
        return self.directory / "authorized_keys"

    def known_hosts_line(self, key: Optional[paramiko.PKey] = None) -> str:
        key = key if key is not None else self.host_key
        assert key is not None
        return f"[127.0.0.1]:{self.port} {key.get_name()} {key.get_base64()}\n"

    def start(self) -> None:
        d = self.directory
        d.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # privilege separation directory
        host = keygen(d / "host_key")
        self.host_key = host.key
        self.authorized_keys.write_text((self.client_key.path.with_suffix(".pub")).read_text())
        self.port = refused_port()
        (d / "sshd_config").write_text(
            f"Port {self.port}\n"
            "ListenAddress 127.0.0.1\n"
            f"HostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "PermitRootLogin prohibit-password\n"
            f"ForceCommand {self.force_command}\n"
        )
        self.process = subprocess.Popen(
            [SSHD, "-D", "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_listening()

    def _wait_listening(self) -> None:
        """Wait until sshd greets a connection with its banner; fail at once if it exits."""
        assert self.process is not None
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=WAIT) as sock:
                    sock.settimeout(WAIT)
                    if sock.recv(4).startswith(b"SSH-"):
                        return
            except ConnectionRefusedError:
                pass
            try:  # wait a little for sshd to bind -- on the one event that would make waiting moot
                self.process.wait(0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"sshd exited: {(self.directory / 'sshd.log').read_text()}")
        raise AssertionError("sshd did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(WAIT)


class LogWatch(logging.Handler):
    """Wait for a log message: attach to a logger, then ``wait(substring)`` with a timeout."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []
        self._cond = threading.Condition()
        self._logger = logging.getLogger(logger)

    def __enter__(self) -> "LogWatch":
        self._saved_level = self._logger.level
        self._logger.setLevel(logging.DEBUG)  # see INFO and DEBUG messages too
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._saved_level)

    def emit(self, record: logging.LogRecord) -> None:
        with self._cond:
            self.records.append(record)
            self._cond.notify_all()

    def messages(self) -> List[str]:
        with self._cond:
            return [r.getMessage() for r in self.records]

    def wait(self, substring: str, timeout: float = WAIT) -> Optional[str]:
        """The first message containing ``substring``, waiting for it up to ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: any(substring in r.getMessage() for r in self.records), timeout)
            return next((r.getMessage() for r in self.records if substring in r.getMessage()), None)

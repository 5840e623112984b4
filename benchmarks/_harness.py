"""The benchmark harness: the feed server as a child process, a client key, and bare SSH clients.

:class:`ServerProcess` starts ``_server.py`` in its own process (so that the server's CPU is not
this process's CPU), with a fresh client key pair and a known_hosts file for its fresh host key,
and stops it -- by closing its stdin, then by its pid -- when the benchmark is done.

:func:`open_bare_channel` is the baseline client: paramiko used directly, as anyone would, with
the same cipher preference and host-key check as imgfeed's SSH transport, and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, List, Optional, Tuple

import _common
import paramiko

from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.protocol import init_request, subscribe_request

__all__ = ["ServerProcess", "open_bare_channel", "PREFERRED_CIPHER"]

#: The fastest safe cipher paramiko offers (docs/ssh.md: ~35 % faster reads than its default
#: aes128-ctr + hmac-sha2-256 on loopback); imgfeed's SSH transport prefers it too.
PREFERRED_CIPHER = "aes128-gcm@openssh.com"

_HERE = os.path.dirname(os.path.abspath(__file__))


class ServerProcess:
    """``_server.py`` in a child process. Use as a context manager."""

    def __init__(
        self,
        rate: float = 0.0,
        stamp: bool = False,
        seconds: float = 600.0,
        stream_seconds: float = 0.0,
        source: str = "stream",
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="imgfeed-bench-")
        d = self._tmp.name
        self.key_path = os.path.join(d, "client_key")
        self.pkey = paramiko.ECDSAKey.generate()
        self.pkey.write_private_key_file(self.key_path)
        with open(self.key_path + ".pub", "w", encoding="ascii") as f:
            f.write(f"{self.pkey.get_name()} {self.pkey.get_base64()}\n")
        self.known_hosts = os.path.join(d, "known_hosts")
        self.status_path = os.path.join(d, "status.jsonl")
        # The server process gives up after ``seconds``: leave room for a long stream and its end.
        seconds = max(seconds, stream_seconds + 120.0)
        self._args = [
            "--authorized-key",
            self.key_path + ".pub",
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--status",
            self.status_path,
            "--source",
            source,
        ]
        if stamp:
            self._args.append("--stamp")
        self.last_images_path = os.path.join(d, "last_images.json")
        if stream_seconds:
            self._args += ["--stream-seconds", str(stream_seconds), "--last-images", self.last_images_path]
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def __enter__(self) -> "ServerProcess":
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [_HERE, env.get("PYTHONPATH", "")] if p)
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(_HERE, "_server.py"), *self._args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first:
            self.stop()
            raise RuntimeError("the benchmark server did not start")
        info = json.loads(first)
        self.port = info["port"]
        with open(self.known_hosts, "w", encoding="ascii") as f:
            f.write(info["known_hosts"] + "\n")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client_config(self, **overrides: Any) -> FeedConfig:
        """A ``FeedConfig`` for this server: its key, its known_hosts, no stall warnings."""
        settings: dict = dict(
            host="127.0.0.1",
            port=self.port,
            username="bench",
            pkey=self.pkey,
            known_hosts=self.known_hosts,
            handler_stall_warning=None,
        )
        settings.update(overrides)
        return FeedConfig(**settings)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu_seconds(self) -> float:
        return _common.cpu_seconds(self.pid)

    def sessions(self) -> List[dict]:
        """What the server reported about each finished session (cipher, updates sent)."""
        try:
            with open(self.status_path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def last_images(self) -> Optional[dict]:
        """{market id: last line sent} once the server has stopped streaming, else ``None``."""
        try:
            with open(self.last_images_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.close()
                proc.wait(5)
            except (subprocess.TimeoutExpired, OSError):
                proc.kill()
                proc.wait(5)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._tmp.cleanup()


def open_bare_channel(
    server: ServerProcess, timeout: float = 10.0, cipher: str = PREFERRED_CIPHER
) -> Tuple[paramiko.Transport, paramiko.Channel]:
    """Connect with paramiko alone, verify the host key, open the shell, send init and subscribe."""
    t = paramiko.Transport(("127.0.0.1", server.port))
    options = t.get_security_options()
    ciphers = list(options.ciphers)
    if cipher in ciphers:
        options.ciphers = [cipher] + [c for c in ciphers if c != cipher]
    options.key_types = ["ecdsa-sha2-nistp256"] + [k for k in options.key_types if k != "ecdsa-sha2-nistp256"]
    t.start_client(timeout=timeout)
    known = paramiko.HostKeys(server.known_hosts).lookup(f"[127.0.0.1]:{server.port}")
    key = t.get_remote_server_key()
    if not known or known.get(key.get_name()) is None or known[key.get_name()].asbytes() != key.asbytes():
        t.close()
        raise RuntimeError("host key mismatch")
    t.auth_publickey("bench", server.pkey)
    chan = t.open_session(timeout=timeout)
    chan.invoke_shell()
    chan.settimeout(timeout)
    chan.sendall(init_request().to_bytes())
    chan.sendall(subscribe_request(request_id="1").to_bytes())
    return t, chan

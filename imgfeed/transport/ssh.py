"""The SSH transport: paramiko, used directly, with a timeout on every blocking step.

Contract (docs/protocol.md 1): public-key authentication; one ``session`` channel with a ``shell``
request and **no pty**; the server's host key verified against known_hosts by default.

Why ``paramiko.Transport`` and not ``SSHClient``: ``SSHClient.invoke_shell`` asks for a pty, and
its connect path hides the individual timeouts. Here each step has one: the TCP connect, the
handshake (``start_client(timeout)``), authentication (``auth_timeout``), ``open_session(timeout)``.
paramiko's ``Channel.invoke_shell`` waits for the server's reply without a timeout, so the whole
connect runs under a guard timer that closes the socket at the deadline, which unblocks any step.
The same close, from :meth:`SSHTransport.close` on another thread, is how ``stop()`` aborts a
connect in progress.

Foreign exceptions are translated here, once, into :mod:`imgfeed.errors`, chained with ``from``.
Known weakness: an unknown host key is only added to known_hosts under ``accept-new`` by this
process; two processes adding the same host at once may both append it (harmless duplicate line).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import socket
import threading
import time
from typing import Optional

import paramiko

from imgfeed.errors import (
    AuthenticationError,
    ConnectError,
    HostKeyMismatchError,
    TransportError,
    UnknownHostKeyError,
)
from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport
from imgfeed.transport.hostkeys import HostKeyPolicy
from imgfeed.transport.resolve import resolve

__all__ = ["SSHTransport", "load_private_key", "fingerprint", "NOT_SSH_HINT"]

log = logging.getLogger("imgfeed.transport.ssh")

#: Preferred first when the server offers it: ~35 % faster reads than paramiko's default
#: aes128-ctr + hmac-sha2-256 on loopback (docs/ssh.md); the defaults follow as fallbacks.
_FAST_CIPHER = "aes128-gcm@openssh.com"


#: What a connection to a port where no SSH server listens (a web server, a database) comes to.
NOT_SSH_HINT = "is this an SSH server? nothing answered with an SSH banner; check the host and port"


def _not_ssh(exc: BaseException) -> bool:
    """Whether paramiko failed reading the server's first line, ``SSH-2.0-...`` (RFC 4253 4.2).

    paramiko says so only in words: "Error reading SSH protocol banner" (EOF or timeout before an
    ``SSH-`` line) or "Indecipherable protocol version" (lines, but none of them ``SSH-``).
    """
    text = str(exc)
    return isinstance(exc, paramiko.SSHException) and (
        text.startswith(("Error reading SSH protocol banner", "Indecipherable protocol version"))
    )


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as OpenSSH prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def load_private_key(path: str, passphrase: Optional[str] = None) -> paramiko.PKey:
    """Load a private key of any type paramiko knows (OpenSSH or PEM format).

    Raises:
        AuthenticationError: the file is missing, unreadable, encrypted without a passphrase, or
            not a key. The message never contains the passphrase.
    """
    try:
        return paramiko.PKey.from_path(path, password=passphrase.encode("utf-8") if passphrase else None)
    except FileNotFoundError as exc:
        raise AuthenticationError(f"private key file not found: {path}") from exc
    except (paramiko.PasswordRequiredException, TypeError) as exc:
        # cryptography reports a missing passphrase as a TypeError ("Password was not given ...")
        if passphrase is None:
            raise AuthenticationError(f"private key {path} is encrypted: give its passphrase") from exc
        raise AuthenticationError(f"cannot load private key {path}: {type(exc).__name__}") from exc
    except (paramiko.SSHException, ValueError, OSError) as exc:
        raise AuthenticationError(f"cannot load private key {path}: {type(exc).__name__}: {exc}") from exc


class SSHTransport(Transport):
    """One SSH connection to the feed.

    Args:
        host, port, username: where and as whom.
        pkey: the client's private key (see :func:`load_private_key`).
        known_hosts: path of the known_hosts file (``None`` only with ``insecure-accept-any``).
        host_key_policy: see :class:`~imgfeed.transport.hostkeys.HostKeyPolicy`.
        read_timeout: how long one ``recv`` waits before returning ``None``.
        keepalive_interval: SSH keepalive period in seconds (0: off). Keeps NAT entries open; it is
            not a liveness check (paramiko never checks the reply).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        pkey: paramiko.PKey,
        known_hosts: Optional[str],
        host_key_policy: HostKeyPolicy = HostKeyPolicy.REJECT,
        read_timeout: float = 0.5,
        keepalive_interval: float = 15.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._pkey = pkey
        self.known_hosts = known_hosts
        self.host_key_policy = HostKeyPolicy(host_key_policy)
        self.read_timeout = read_timeout
        self.keepalive_interval = keepalive_interval
        self._lock = threading.Lock()
        self._closed = False
        self._sock: Optional[socket.socket] = None
        self._transport: Optional[paramiko.Transport] = None
        self._channel: Optional[paramiko.Channel] = None
        self._timed_out = False

    def __repr__(self) -> str:
        return f"<SSHTransport {self.username}@{self.host}:{self.port} closed={self._closed}>"

    def describe(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def saved_exception(self) -> Optional[BaseException]:
        """The exception that killed paramiko's transport thread, if any.

        paramiko's ``Transport.run`` catches everything, logs it, stores it here and ends its
        thread; a blocked ``recv`` then just returns ``b""``.
        """
        t = self._transport
        return None if t is None else t.saved_exception

    def failure_cause(self) -> Optional[BaseException]:
        return self.saved_exception

    @property
    def _known_hosts_name(self) -> str:
        # OpenSSH's known_hosts names a non-standard port as "[host]:port".
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    # --- connect ---------------------------------------------------------------------------------

    def connect(self, timeout: float) -> None:
        guard = threading.Timer(timeout, self._connect_timed_out)
        guard.name = "imgfeed-connect-guard"
        guard.start()
        deadline = time.monotonic() + timeout
        try:
            self._connect(deadline)
        except (AuthenticationError, UnknownHostKeyError, HostKeyMismatchError):
            self.close()
            raise
        except Exception as exc:
            self.close()
            # A timeout with the TCP connection up and no banner read is a silent non-SSH port too.
            no_banner = self._transport is not None and not getattr(self._transport, "remote_version", "")
            not_ssh = _not_ssh(exc) or (self._timed_out and no_banner)
            if self._timed_out:
                hint = f": {NOT_SSH_HINT}" if not_ssh else ""
                raise ConnectError(
                    f"connecting to {self.describe()} timed out after {timeout} s{hint}"
                ) from exc
            if isinstance(exc, ConnectError):
                raise
            if not_ssh:
                raise ConnectError(f"cannot connect to {self.describe()}: {NOT_SSH_HINT}") from exc
            raise ConnectError(f"cannot connect to {self.describe()}: {type(exc).__name__}: {exc}") from exc
        finally:
            guard.cancel()
            guard.join(1.0)

    def _connect_timed_out(self) -> None:
        self._timed_out = True
        self.close()

    def _remaining(self, deadline: float) -> float:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self._closed:
            raise ConnectError("timed out" if self._timed_out else "closed while connecting")
        return remaining

    def _connect(self, deadline: float) -> None:
        # On its own thread, so that close() (stop()) and the deadline cut a slow resolver short.
        family, socktype, proto, addr = resolve(self.host, self.port, self._remaining(deadline), lambda: self._closed)
        sock = socket.socket(family, socktype, proto)
        with self._lock:
            if self._closed:
                sock.close()
                raise ConnectError("closed while connecting")
            self._sock = sock
        sock.settimeout(self._remaining(deadline))
        sock.connect(addr)
        sock.settimeout(None)

        t = paramiko.Transport(sock)
        with self._lock:
            self._transport = t
            if self._closed:
                t.close()
                raise ConnectError("closed while connecting")
        remaining = self._remaining(deadline)
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = remaining
        self._prefer_fast_cipher(t)
        self._prefer_known_key_types(t)
        t.start_client(timeout=remaining)

        self._verify_host_key(t.get_remote_server_key())

        t.auth_timeout = self._remaining(deadline)
        try:
            t.auth_publickey(self.username, self._pkey)
        except paramiko.AuthenticationException as exc:
            # paramiko also reports a connection that died, or timed out, during authentication as
            # an AuthenticationException; that is a network failure to retry, not a rejected key.
            if not t.is_active() or "timeout" in str(exc).lower():
                raise ConnectError(
                    f"the connection to {self.describe()} failed during authentication: {exc}"
                ) from exc
            raise AuthenticationError(
                f"{self.describe()} rejected the key {fingerprint(self._pkey)} for user {self.username!r}"
            ) from exc
        if not t.is_authenticated():
            raise AuthenticationError(f"{self.describe()} did not accept the key for user {self.username!r}")

        channel = t.open_session(timeout=self._remaining(deadline))
        with self._lock:
            self._channel = channel
        # A shell without a pty: a pty would echo and rewrite line endings (docs/protocol.md 1).
        channel.invoke_shell()
        channel.settimeout(self.read_timeout)
        if self.keepalive_interval:
            t.set_keepalive(max(1, int(self.keepalive_interval)))

    def _prefer_fast_cipher(self, t: paramiko.Transport) -> None:
        options = t.get_security_options()
        ciphers = list(options.ciphers)
        if _FAST_CIPHER in ciphers:
            ciphers.remove(_FAST_CIPHER)
            options.ciphers = [_FAST_CIPHER, *ciphers]

    def _prefer_known_key_types(self, t: paramiko.Transport) -> None:
        """Ask first for the host key types known_hosts has, so verification can succeed."""
        known = self._load_known_hosts().lookup(self._known_hosts_name)
        if not known:
            return
        options = t.get_security_options()
        types = list(options.key_types)
        preferred = [k for k in types if k in known.keys()]
        if preferred:
            options.key_types = preferred + [k for k in types if k not in preferred]

    def _load_known_hosts(self) -> paramiko.HostKeys:
        keys = paramiko.HostKeys()
        if self.known_hosts and os.path.exists(self.known_hosts):
            keys.load(self.known_hosts)
        return keys

    def _verify_host_key(self, key: paramiko.PKey) -> None:
        name = self._known_hosts_name
        fp = fingerprint(key)
        if self.host_key_policy is HostKeyPolicy.INSECURE_ACCEPT_ANY:
            log.warning(
                "host_key_policy='insecure-accept-any': NOT verifying %s's host key %s %s",
                name,
                key.get_name(),
                fp,
            )
            return
        known = self._load_known_hosts().lookup(name)
        if known:
            on_record = known.get(key.get_name())
            if on_record is not None and on_record.asbytes() == key.asbytes():
                return
            raise HostKeyMismatchError(
                f"HOST KEY MISMATCH for {name}: the server presented {key.get_name()} {fp}, which is not "
                f"the key recorded in {self.known_hosts}. This may be an attack; if the server's key really "
                f"changed, remove the old line from known_hosts and verify the new fingerprint.",
                name,
                fp,
            )
        if self.host_key_policy is HostKeyPolicy.ACCEPT_NEW:
            self._add_known_host(name, key)
            log.warning(
                "added %s's host key %s %s to %s (accept-new)", name, key.get_name(), fp, self.known_hosts
            )
            return
        raise UnknownHostKeyError(
            f"unknown host key for {name}: {key.get_name()} {fp} is not in {self.known_hosts}. Verify the "
            f"fingerprint with the provider and add it, or use host_key_policy='accept-new' to trust it "
            f"on first use.",
            name,
            fp,
        )

    def _add_known_host(self, name: str, key: paramiko.PKey) -> None:
        assert self.known_hosts is not None
        directory = os.path.dirname(self.known_hosts)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(self.known_hosts, "a", encoding="ascii") as f:
            f.write(f"{name} {key.get_name()} {key.get_base64()}\n")

    # --- data ------------------------------------------------------------------------------------

    def send(self, data: bytes, timeout: float) -> None:
        channel = self._channel
        if channel is None or self._closed:
            raise TransportError("not connected")
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        try:
            while view:
                try:
                    n = channel.send(view)
                except socket.timeout:
                    n = 0
                if n == 0 and channel.closed:
                    raise TransportError("the channel is closed")
                view = view[n:]
                if view and time.monotonic() > deadline:
                    raise TransportError(f"send timed out after {timeout} s (the server is not reading)")
        except TransportError:
            raise
        except Exception as exc:
            cause = self.saved_exception or exc
            raise TransportError(f"send failed: {type(exc).__name__}: {exc}") from cause

    def recv(self, max_bytes: int = DEFAULT_RECV_SIZE) -> Optional[bytes]:
        channel = self._channel
        if channel is None or self._closed:
            return b""
        try:
            data: bytes = channel.recv(max_bytes)
            return data
        except socket.timeout:
            return None
        except Exception as exc:
            if self._closed:
                return b""
            cause = self.saved_exception or exc
            raise TransportError(f"receive failed: {type(exc).__name__}: {exc}") from cause

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channel, transport, sock = self._channel, self._transport, self._sock
        for closer in (channel, transport):
            if closer is not None:
                try:
                    closer.close()
                except Exception:  # closing must never raise (Transport contract)
                    log.debug("error while closing", exc_info=True)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        # paramiko's transport thread (a daemon) notices the closed socket within its 0.1 s poll
        # and ends; it is not joined here, because close() must return promptly (stop(timeout)
        # keeps its word).

"""The security claims of SECURITY.md, each shown by a test.

- Private keys and passphrases never reach a log, an error message, a repr or the stats.
- The simulator (class and CLI) listens on loopback unless told otherwise.
- A malicious server cannot make the client execute anything: hostile strings stay data, a
  ``type`` that names a handler method or a dunder is just an unknown kind, and channels the server
  tries to open towards the client (agent, X11, a session) are refused.
(Bounded allocation is shown by the protocol rows of the fault matrix: the 100 MB line, the
nesting bomb, the floods.)
"""

from __future__ import annotations

import base64
import logging
import socket
import traceback
from pathlib import Path
from typing import Iterator, List

import paramiko
import pytest

from imgfeed import AuthenticationError, FeedClient
from imgfeed.cli import build_parser
from imgfeed.feeds.img.simulator import SimulatorServer
from tests.reliability import wire
from tests.reliability.hostile import HostileSession, HostileSSHServer
from tests.reliability.support import WAIT, KeyPair, Recorder, hostile_config, running

# --- secrets never logged --------------------------------------------------------------------------


class _Capture(logging.Handler):
    """Every log record of every logger, formatted with its traceback, as one text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[_Capture]:
    """Capture everything at DEBUG, paramiko's own transport logs included."""
    capture = _Capture()
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in ("imgfeed", "paramiko")}
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def _secrets(key: KeyPair) -> List[str]:
    """The forms in which key material or the passphrase could show up in text."""
    pem_body = [line for line in key.path.read_text().splitlines() if line and not line.startswith("-----")]
    seed = key.key._signing_key.encode()  # the 32-byte Ed25519 private seed
    forms = [
        key.passphrase,
        repr(key.passphrase.encode()),
        seed.hex(),
        base64.b64encode(seed).decode(),
        repr(seed),
    ]
    forms += [line for line in pem_body if len(line) >= 16]
    return [f for f in forms if f]


def _texts_of(exc: BaseException) -> List[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]


def test_logs_never_contain_key_material_or_passphrase(
    encrypted_client_key: KeyPair, tmp_path: Path, all_logs: _Capture
) -> None:
    key = encrypted_client_key
    texts: List[str] = []

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        session.keep_alive()
        session.wait_closed()

    rec = Recorder()
    # 1. A whole session with the encrypted key: connect, authenticate, subscribe, stop.
    with HostileSSHServer(script, key.key) as server:
        config = hostile_config(server, key, tmp_path, passphrase=key.passphrase)
        texts += [repr(config), str(config)]
        with running(config, rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(lambda r: r.count("on_market_status") == 1)
            texts += [repr(client), repr(client.stats()), repr(client.book)]
        texts += [repr(client.stats())]
    # 2. The same key refused by the server.
    with HostileSSHServer(script, authorized_key=None) as server:
        client = FeedClient(
            hostile_config(server, key, tmp_path, passphrase=key.passphrase), handlers=[rec]
        ).start()
        try:
            with pytest.raises(AuthenticationError) as refused:
                client.join(WAIT)
        finally:
            client.stop(WAIT)
        texts += _texts_of(refused.value) + [repr(client.stats())]
    # 3. A wrong passphrase, and none at all, for the encrypted key.
    for passphrase in ("not the passphrase", None):
        config = hostile_config(server, key, tmp_path, passphrase=passphrase)
        client = FeedClient(config, handlers=[rec]).start()
        try:
            with pytest.raises(AuthenticationError) as unreadable:
                client.join(WAIT)
        finally:
            client.stop(WAIT)
        texts += _texts_of(unreadable.value)
    texts += [str(d) + repr(d) for d in rec.disconnects()]

    haystack = "\n".join(all_logs.lines + texts)
    assert "paramiko" in haystack and "rejected the key" in haystack  # the capture did capture
    # Name the leaked forms by a short prefix only: the failure report must not leak them either.
    leaked = [f"{secret[:4]}..." for secret in _secrets(key) if secret in haystack]
    assert leaked == [], "key material or the passphrase appears in logs or messages"


# --- the simulator listens on loopback -------------------------------------------------------------


def _listening_address(port: int) -> str:
    """The local address of the TCP listener on ``port``, from /proc/net/tcp (IPv4)."""
    with open("/proc/net/tcp", encoding="ascii") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                return socket.inet_ntoa(bytes.fromhex(address)[::-1])
    raise AssertionError(f"nothing listens on port {port}")


def test_simulator_binds_loopback_by_default() -> None:
    with SimulatorServer(authorized_keys=[paramiko.ECDSAKey.generate()]) as server:
        assert _listening_address(server.port) == "127.0.0.1"
    args = build_parser().parse_args(["simulate"])
    assert args.host == "127.0.0.1"


# --- a hostile server cannot make the client run anything ----------------------------------------

HOSTILE_STRINGS = [
    "$(touch {canary})",
    "`touch {canary}`",
    "__import__('os').system('touch {canary}')",
    "{{{{ ''.__class__.__mro__ }}}}",
    "%s%s%s%n",
    "\x1b]0;owned\x07\x1b[2J",
]


def test_hostile_payloads_are_inert_data(client_key: KeyPair, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    strings = [s.format(canary=canary) for s in HOSTILE_STRINGS]
    types = ["on_connect", "__init__", "__class__", "on_handler_error", "../../etc/passwd"]
    refused: List[str] = []

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.serve_subscribe(["m1"])
        for kind in types:
            session.send(wire.push(kind, {"id": kind, "cmd": strings}))
        for s in strings:
            session.send(wire.market_update("m1", name=s))
        # Channels towards the client: agent forwarding, X11, a session. All must be refused.
        for kind, origin in (
            ("auth-agent@openssh.com", None),
            ("x11", ("127.0.0.1", 6000)),
            ("session", None),
        ):
            try:
                session.transport.open_channel(kind, src_addr=origin, timeout=WAIT).close()
            except paramiko.ChannelException:
                refused.append(kind)
        session.keep_alive()
        session.send(wire.market_update("m1", price=7.0))
        session.wait_closed()

    rec = Recorder()
    with HostileSSHServer(script, client_key.key) as server:
        with running(hostile_config(server, client_key, tmp_path), rec) as client:
            assert client.subscribe().is_ok
            assert rec.wait_for(
                lambda r: any(u.selections[0].price == 7.0 for u in r.args("on_market_update"))
            )
        assert server.errors == []
    assert not canary.exists()
    assert refused == ["auth-agent@openssh.com", "x11", "session"]
    assert [u.type for u in rec.args("on_unknown")] == types  # each an unknown kind, nothing more
    assert rec.count("on_connect") == 1 and rec.count("on_handler_error") == 0
    names = [u.selections[0].name for u in rec.args("on_market_update")][1:-1]
    assert names == strings  # delivered as the exact text, never interpreted


def test_pretty_output_never_passes_terminal_escapes_through() -> None:
    """A server can name a market or golfer anything (docs/protocol.md 3), including escape sequences
    that retitle, clear or rewrite a terminal; ``imgfeed tail --format pretty`` must show them
    escaped. (``--format jsonl`` is safe: JSON escapes control characters.)"""
    from imgfeed.cli._pretty import pretty_record
    from imgfeed.feeds.img.protocol.codec import decode_line

    escape = "\x1b]0;owned\x07\x1b[2J"
    lines = [
        wire.market_update("m1", name=escape),
        wire.market("golf_1~1b~5d0~3bowned~07"),  # an id whose display form decodes to an escape
        wire.push("event", {"id": "ev.1", "name": escape}),
    ]
    shown = [pretty_record(decode_line(line.rstrip(b"\n"))) for line in lines]
    assert not [text for text in shown if any(ord(c) < 0x20 or c == "\x7f" for c in text)]

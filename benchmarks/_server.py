"""The benchmark feed server: a separate process that streams market updates over SSH on loopback.

    python benchmarks/_server.py --authorized-key KEY.pub [--rate N] [--stamp] [--seconds S]

It prints one JSON line on stdout once it listens -- ``{"port": ..., "known_hosts": "..."}`` --
and serves until its stdin is closed (the benchmark that started it exits) or ``--seconds`` pass.

Why a dedicated streamer next to the project's simulator: a throughput benchmark must measure the
*client*, so the server has to outrun it. This one does no per-update work beyond the wire: the
realistic stream (``_stream.py``) is encoded once and replayed in a loop, in writes of about
64 KiB, by a paramiko server. It speaks the protocol as far as the clients under test use it
(docs/protocol.md 4 and 6): ``init`` gets the "session initialized" response and the snapshot,
``subscribe`` gets ``ok`` and then the updates, and heartbeats go out every 3 s.

- ``--rate N``: N updates per second, each written on its own at its due time (latency runs);
  0 (the default) means as fast as the channel takes them, in batches (throughput runs).
- ``--stamp``: each update's ``publish_time`` is the ``time.time()`` at which the server wrote it
  (to the microsecond) -- the same clock the client's handler reads, since both run on this
  machine. In ``publish_time`` rather than in a field of its own: a field the protocol does not
  have would send every update down imgfeed[speed]'s fallback path (imgfeed/feeds/img/protocol/fast.py).
- ``--status FILE``: one JSON line per session (negotiated cipher, updates sent) is appended.
- ``--stream-seconds S --last-images FILE``: stream for S seconds only, then write each market's
  last image (the line sent) to FILE and keep the session alive with heartbeats (slow_handler).
- ``--source simulator``: serve with ``imgfeed.feeds.img.simulator.SimulatorServer`` instead, which generates
  every update live (``--rate`` and ``--stamp`` map to its ``ScenarioConfig``; the other options
  do not apply).

Security: binds 127.0.0.1 only, accepts only the given public key, host key fresh per run.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import _stream
import paramiko

from imgfeed.feeds.img.protocol import encode_message, format_timestamp

#: Write size in throughput mode: a few SSH packets' worth (32 KiB payload each).
_BATCH_BYTES = 64 * 1024
_HEARTBEAT_INTERVAL = 3.0  # docs/protocol.md 4: heartbeats every 3 s


def _now() -> str:
    return format_timestamp(datetime.now(timezone.utc))


def _heartbeat() -> bytes:
    now = _now()
    return encode_message(
        {"mode": "push", "type": "heartbeat", "publish_time": now, "msg": {"timestamp": now}}
    )



_PUBLISH_TIME = b'"publish_time":"'


def _stamped(line: bytes, t: float) -> bytes:
    """``line`` with its ``publish_time`` set to ``t`` (epoch seconds, UTC, to the microsecond)."""
    start = line.index(_PUBLISH_TIME) + len(_PUBLISH_TIME)
    end = line.index(b'"', start)
    return line[:start] + format_timestamp(datetime.fromtimestamp(t, timezone.utc)).encode() + line[end:]

class _Interface(paramiko.ServerInterface):
    def __init__(self, authorized: paramiko.PKey) -> None:
        self.authorized = authorized
        self.shell = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if key.asbytes() == self.authorized.asbytes():
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.shell.set()
        return True

    def check_channel_pty_request(self, *args: Any) -> bool:
        return False  # the service has no pty (docs/protocol.md 1)


class _Session:
    """One client: answer init and subscribe, then stream updates until the channel closes."""

    report_lock = threading.Lock()

    def __init__(
        self,
        args: argparse.Namespace,
        snapshot: bytes,
        updates: List[bytes],
        sock: socket.socket,
        host_key: paramiko.PKey,
        authorized: paramiko.PKey,
    ) -> None:
        self.args = args
        self.snapshot = snapshot
        self.updates = updates
        self.sock = sock
        self.host_key = host_key
        self.authorized = authorized
        self.market_ids = [json.loads(line)["msg"]["id"] for line in updates]
        self.subscribed = threading.Event()
        self.closed = threading.Event()
        self.sent = 0

    def run(self) -> None:
        t = paramiko.Transport(self.sock)
        try:
            t.add_server_key(self.host_key)
            iface = _Interface(self.authorized)
            t.start_server(server=iface)
            chan = t.accept(timeout=10)
            if chan is None or not iface.shell.wait(10):
                return
            reader = threading.Thread(target=self._read_requests, args=(chan,), name="bench-server-requests")
            reader.start()
            try:
                if self.subscribed.wait(30):
                    self._stream(chan)
            finally:
                self.closed.set()
                chan.close()
                reader.join(5)
        except (EOFError, OSError, paramiko.SSHException):
            pass  # the client went away: the normal end of a benchmark session
        finally:
            self._report(t)
            t.close()

    def _write_last_images(self, last: Dict[str, bytes]) -> None:
        if self.args.last_images:
            with open(self.args.last_images + ".tmp", "w", encoding="utf-8") as f:
                json.dump({k: v.decode("utf-8") for k, v in last.items()}, f)
            os.replace(self.args.last_images + ".tmp", self.args.last_images)

    def _report(self, t: paramiko.Transport) -> None:
        if self.args.status:
            with self.report_lock, open(self.args.status, "a", encoding="utf-8") as f:
                f.write(json.dumps({"cipher": t.local_cipher, "mac": t.local_mac, "sent": self.sent}) + "\n")

    def _read_requests(self, chan: paramiko.Channel) -> None:
        chan.settimeout(0.2)
        buf = b""
        while not self.closed.is_set():
            try:
                data = chan.recv(65536)
            except socket.timeout:
                continue
            except (OSError, EOFError):
                break
            if not data:
                break
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.strip():
                    self._answer(chan, json.loads(line))
        self.closed.set()

    def _answer(self, chan: paramiko.Channel, request: Dict[str, Any]) -> None:
        now = _now()
        name = request.get("request")
        if name == "init":
            chan.sendall(
                encode_message(
                    {
                        "mode": "resp",
                        "status": "session initialized",
                        "session_id": "bench-session",
                        "publish_time": now,
                        "reason": None,
                    }
                )
            )
            chan.sendall(self.snapshot)
            return
        response: Dict[str, Any] = {"mode": "resp", "status": "ok", "publish_time": now}
        if "request_id" in request:
            response["request_id"] = request["request_id"]
        chan.sendall(encode_message(response))
        if name == "subscribe":
            self.subscribed.set()

    def _stream(self, chan: paramiko.Channel) -> None:
        rate = self.args.rate
        updates = self.updates
        n = len(updates)
        stamp = self.args.stamp
        next_heartbeat = time.monotonic() + _HEARTBEAT_INTERVAL
        start = time.monotonic()
        end = start + self.args.stream_seconds if self.args.stream_seconds else float("inf")
        last: Dict[str, bytes] = {}  # market id -> the last line sent for it
        i = 0
        while not self.closed.is_set():
            now = time.monotonic()
            if now >= next_heartbeat:
                chan.sendall(_heartbeat())
                next_heartbeat = now + _HEARTBEAT_INTERVAL
            if now >= end:
                # Streaming is over: tell the benchmark what each market's last image was, then
                # keep the session alive with heartbeats only.
                self._write_last_images(last)
                while not self.closed.wait(_HEARTBEAT_INTERVAL):
                    chan.sendall(_heartbeat())
                break
            if rate:
                due = start + i / rate
                wait = due - time.monotonic()
                if wait > 0:
                    if self.closed.wait(wait):
                        break
                line = updates[i % n]
                if stamp:
                    line = _stamped(line, time.time())
                chan.sendall(line)
                last[self.market_ids[i % n]] = line
                i += 1
            else:
                parts = []
                size = 0
                t = time.time()
                while size < _BATCH_BYTES:
                    line = updates[i % n]
                    if stamp:
                        line = _stamped(line, t)
                    parts.append(line)
                    size += len(line)
                    last[self.market_ids[i % n]] = line
                    i += 1
                chan.sendall(b"".join(parts))
            self.sent = i


def _run_simulator(args: argparse.Namespace, authorized: paramiko.PKey) -> int:
    """Serve with the project's simulator instead: its scenario generates every update live."""
    from imgfeed.feeds.img.simulator import ScenarioConfig, SimulatorServer

    scenario = ScenarioConfig(
        seed=0,
        tours=2,
        events_per_tour=2,
        golfers=60,  # win and top-N markets of 60 golfers; head-to-heads and three-balls are small
        updates_per_second=args.rate or 20_000.0,  # more than it can make here (~15k/s): as fast as it can
        stamp_send_time=args.stamp,
    )
    server = SimulatorServer(authorized_keys=[authorized], scenario_config=scenario)
    server.start()
    try:
        print(json.dumps({"port": server.port, "known_hosts": server.known_hosts_line()}), flush=True)
        done = threading.Event()
        threading.Thread(
            target=lambda: (sys.stdin.read(), done.set()), name="bench-server-stdin", daemon=True
        ).start()
        done.wait(args.seconds)
    finally:
        server.stop(timeout=5.0)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--authorized-key", required=True, help="OpenSSH public key file of the client")
    parser.add_argument("--rate", type=float, default=0.0, help="updates per second (0: as fast as possible)")
    parser.add_argument("--stamp", action="store_true", help="put the write time in each update's publish_time")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long in any case")
    parser.add_argument("--status", help="append one JSON line per finished session to this file")
    parser.add_argument(
        "--source",
        choices=["stream", "simulator"],
        default="stream",
        help="stream: replay the pre-encoded realistic stream (default); "
        "simulator: imgfeed.feeds.img.simulator.SimulatorServer generating updates live",
    )
    parser.add_argument("--updates", type=int, default=2000, help="distinct updates in the loop")
    parser.add_argument(
        "--stream-seconds",
        type=float,
        default=0.0,
        help="stop streaming updates this long after subscribe (0: never), then "
        "write every market's last image to --last-images and send heartbeats only",
    )
    parser.add_argument("--last-images", help="where to write {market id: last line sent} (JSON)")
    args = parser.parse_args(argv)
    # A client hanging up mid-write is how every benchmark session ends: not worth a traceback.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)

    with open(args.authorized_key, encoding="ascii") as f:
        kind, b64 = f.read().split()[:2]
    authorized = paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
    host_key = paramiko.ECDSAKey.generate()  # fresh per run; paramiko cannot generate Ed25519 keys

    messages = _stream.build_messages(args.updates)
    snapshot = b"".join(
        encode_message(m)
        for m in messages
        if m.get("type") not in ("market_update", "heartbeat") and m.get("mode") == "push"
    )
    updates = [encode_message(m) for m in messages if m.get("type") == "market_update"]

    if args.source == "simulator":
        return _run_simulator(args, authorized)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    known = f"[127.0.0.1]:{port} {host_key.get_name()} {host_key.get_base64()}"
    print(json.dumps({"port": port, "known_hosts": known}), flush=True)

    stop = threading.Event()
    threading.Thread(
        target=lambda: (sys.stdin.read(), stop.set()), name="bench-server-stdin", daemon=True
    ).start()
    deadline = time.monotonic() + args.seconds
    sessions: List[threading.Thread] = []
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            sock, _ = listener.accept()
        except socket.timeout:
            continue
        # Small writes must leave at once, not wait for an ACK (Nagle): latency is measured.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = _Session(args, snapshot, updates, sock, host_key, authorized)
        th = threading.Thread(target=session.run, name="bench-server-session", daemon=True)
        th.start()
        sessions.append(th)
    listener.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

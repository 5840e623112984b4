"""Issue 11, defect 10: ``stop(timeout)`` overruns its timeout, and the interpreter cannot exit.

- 10b DNS resolution cannot be interrupted: a ``stop()`` during a lookup that hangs leaves the
  (non-daemon) watchdog thread inside ``getaddrinfo``, and the interpreter cannot exit until the
  resolver gives up. Reproduced with a real resolver: the client runs in a child process, in its own
  network and mount namespaces (``unshare``), whose ``/etc/resolv.conf`` names a local DNS server
  that never answers.
- 10c The abandoned non-daemon dispatcher keeps the interpreter from exiting: a handler that never
  returns, ``stop(0.2)``, the end of the main thread -- and the process lives on.

Two guards pass on today's runtime and must keep passing (not xfail): ``stop()`` returns within
its timeout while a send is stalled inside SSH against a server that stopped reading (10a), and
during a TCP connect that hangs (10b, the phase after DNS). With paramiko 5 neither reproduces the
overrun the issue describes: paramiko's transport thread ends within its 0.1 s poll once the socket
is closed, and the watchdog's own close of the connection unblocks a stalled sender.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from imgfeed import FeedClient
from tests.regressions.network import FullBacklog, StallProxy
from tests.reliability.hostile import HostileSession, HostileSSHServer
from tests.reliability.support import KeyPair, Recorder, hostile_config
from tests.unit.memory_feed import fast_config

#: The worktree root: children import ``imgfeed`` and the test helpers from here.
ROOT = Path(__file__).resolve().parents[2]
#: The longest a test waits for something it expects (seconds); only reached when it fails.
WAIT = 10.0
#: How long a child process gets to exit once its main thread has ended (seconds).
EXIT_WITHIN = 3.0
#: How far past its timeout ``stop()`` may return: generous, this is a bound, not a benchmark.
SLACK = 1.5


def run_child(
    argv: List[str], tmp_path: Path, env: Optional[Dict[str, str]] = None
) -> Tuple[Dict[str, Any], bool, str]:
    """Run a child that prints one JSON line when its main thread is about to end.

    Returns:
        the JSON object, whether the process exited within :data:`EXIT_WITHIN` seconds of
        printing it, and its stderr (for the failure message).
    """
    errors = tmp_path / "child.stderr"
    with open(errors, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env)
        try:
            assert proc.stdout is not None
            line = b""
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                deadline = time.monotonic() + WAIT * 2
                while not line.endswith(b"\n") and time.monotonic() < deadline:
                    if selector.select(max(0.0, deadline - time.monotonic())):
                        chunk = os.read(proc.stdout.fileno(), 4096)
                        if not chunk:
                            break
                        line += chunk
            assert line.endswith(b"\n"), f"the child never got to its end: {errors.read_text()[-3000:]}"
            try:
                proc.wait(EXIT_WITHIN)
                exited = True
            except subprocess.TimeoutExpired:
                exited = False
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)
            if proc.stdout is not None:
                proc.stdout.close()
    return json.loads(line), exited, errors.read_text()[-3000:]


_STUCK_HANDLER_CHILD = """
import json, threading, time
from imgfeed import FeedClient, Handler
from tests.unit.memory_feed import FakeFeed, fast_config

entered = threading.Event()

class NeverReturns(Handler):
    def on_connect(self, session):
        entered.set()
        threading.Event().wait(120)  # a handler stuck for good (the parent kills the child)

client = FeedClient(fast_config(), handlers=[NeverReturns()], transport_factory=FakeFeed()).start()
assert entered.wait(10), "the handler was never called"
started = time.monotonic()
client.stop(0.2)
print(json.dumps({"stop": time.monotonic() - started}), flush=True)
# The main thread ends here: the interpreter must be able to exit.
"""


def test_the_interpreter_exits_after_stop_leaves_a_stuck_handler_behind(tmp_path: Path) -> None:
    # Observed before the runtime rewrite (commit 09e6303): stop(0.2) returns after ~0.4 s (it abandons the dispatcher), but the
    # imgfeed-dispatcher thread is not a daemon and the handler never returns, so the process
    # does not end: "AssertionError: the interpreter did not exit within 3.0 s after stop()
    # returned".
    result, exited, stderr = run_child([sys.executable, "-c", _STUCK_HANDLER_CHILD], tmp_path)
    assert result["stop"] <= 0.2 + SLACK, result
    assert exited, f"the interpreter did not exit within {EXIT_WITHIN} s after stop() returned\n{stderr}"


_HUNG_DNS_CHILD = """
import json, socket, time
from imgfeed import FeedClient
from tests.unit.memory_feed import fast_config

# The namespace's only DNS server: it reads queries and never answers.
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dns.bind(("127.0.0.1", 53))
dns.settimeout(10)
client = FeedClient(fast_config(host="feed.regression.test", connect_timeout=30.0)).start()
dns.recvfrom(512)  # the client is inside getaddrinfo now
started = time.monotonic()
client.stop(0.5)
print(json.dumps({"stop": time.monotonic() - started}), flush=True)
# The main thread ends here: the interpreter must be able to exit.
"""


def _namespaces_available() -> bool:
    if not all(shutil.which(tool) for tool in ("unshare", "ip", "mount")):
        return False
    probe = subprocess.run(["unshare", "-rmn", "true"], capture_output=True, timeout=WAIT)
    return probe.returncode == 0


def test_the_interpreter_exits_after_stop_during_a_hung_dns_lookup(tmp_path: Path) -> None:
    # Observed before the runtime rewrite (commit 09e6303): stop(0.5) returns after ~0.5 s, leaving the imgfeed-watchdog thread (not
    # a daemon) inside getaddrinfo; the process then waits for the resolver's 30 s timeout:
    # "AssertionError: the interpreter did not exit within 3.0 s after stop() returned".
    if not _namespaces_available():
        pytest.skip("needs unshare with user, mount and network namespaces (util-linux, iproute2)")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
    script = tmp_path / "child.py"
    script.write_text(_HUNG_DNS_CHILD)
    shell = f"ip link set lo up && mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} {script}"
    env = dict(os.environ, RES_OPTIONS="timeout:30 attempts:1", PYTHONPATH=str(ROOT))
    result, exited, stderr = run_child(["unshare", "-rmn", "sh", "-c", shell], tmp_path, env=env)
    assert result["stop"] <= 0.5 + SLACK, result
    assert exited, f"the interpreter did not exit within {EXIT_WITHIN} s after stop() returned\n{stderr}"


def stop_within(client: FeedClient, timeout: float) -> Optional[float]:
    """Call ``client.stop(timeout)`` on another thread; its duration, or None if it overran."""
    took: Dict[str, float] = {}
    done = threading.Event()

    def stopper() -> None:
        started = time.monotonic()
        try:
            client.stop(timeout)
        finally:
            took["stop"] = time.monotonic() - started
            done.set()

    thread = threading.Thread(target=stopper, name="imgfeed-test-stopper")
    thread.start()
    returned = done.wait(timeout + SLACK)
    if not returned:
        return None
    thread.join(WAIT)
    return took["stop"]


def test_guard_stop_returns_during_a_tcp_connect_that_hangs() -> None:
    # Passes on main (the close of a connecting socket aborts the connect): kept as a bound.
    with FullBacklog() as blackhole:
        config = fast_config(port=blackhole.port, connect_timeout=30.0)
        watch = _ConnectWatch()
        threading.setprofile(watch)  # the client's threads, started next, report their connect()
        try:
            client = FeedClient(config).start()
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]
        try:
            assert watch.connecting.wait(WAIT), "the client never called connect()"
            took = stop_within(client, 0.5)
        finally:
            client.stop()
    assert took is not None, "stop(0.5) did not return during a TCP connect"


class _ConnectWatch:
    """Tells when a thread calls ``socket.connect`` (a profile function)."""

    def __init__(self) -> None:
        self.connecting = threading.Event()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") == "connect":
            if isinstance(getattr(arg, "__self__", None), socket.socket):
                self.connecting.set()


class _SendWatch:
    """Tells when a thread's ``socket.send`` timed out: its send buffer is full, it is stalled."""

    def __init__(self) -> None:
        self.stalled = threading.Event()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_exception" and getattr(arg, "__name__", "") == "send":
            if isinstance(getattr(arg, "__self__", None), socket.socket):
                self.stalled.set()


@pytest.fixture
def stalled_server(client_key: KeyPair) -> Iterator[Tuple[HostileSSHServer, threading.Event]]:
    release = threading.Event()

    def script(session: HostileSession) -> None:
        session.serve_init(["m1"])
        session.keep_alive()
        release.wait(WAIT * 3)

    with HostileSSHServer(script, client_key.key) as server:
        try:
            yield server, release
        finally:
            release.set()


def test_guard_stop_returns_while_a_send_is_stalled_inside_ssh(
    stalled_server: Tuple[HostileSSHServer, threading.Event], client_key: KeyPair, tmp_path: Path
) -> None:
    # Passes on main (~0.1 s): kept as a bound. The server stops reading after the shell while the
    # client is sending a large subscribe; the sender blocks in paramiko's write, holding the lock
    # that the channel close in stop() needs.
    server, release = stalled_server
    with StallProxy(server.port) as proxy:
        config = hostile_config(
            server, client_key, tmp_path, port=proxy.port, heartbeat_timeout=WAIT, silence_timeout=WAIT * 2
        )
        rec = Recorder()
        client = FeedClient(config, handlers=[rec]).start()
        watch = _SendWatch()
        outcome: Dict[str, Any] = {}

        def subscribe_many() -> None:
            sys.setprofile(watch)
            try:
                ids = [f"golf_{i:06d}_threeball_hole~7cgolfer_ids~3d24~2c1544" for i in range(30_000)]
                outcome["response"] = client.subscribe(market_ids=ids, timeout=WAIT)
            except Exception as exc:  # the stop ends it one way or another
                outcome["error"] = exc
            finally:
                sys.setprofile(None)

        sender = threading.Thread(target=subscribe_many, name="imgfeed-test-sender")
        try:
            assert rec.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
            proxy.stall()
            sender.start()
            watch.stalled.wait(WAIT)  # seen on today's runtime; a new send path may stall elsewhere
            took = stop_within(client, 0.5)
        finally:
            release.set()
            client.stop()
            if sender.ident is not None:
                sender.join(WAIT)
    assert took is not None, "stop(0.5) did not return while a send was stalled"

"""``imgfeed simulate``'s state directory: made once, private, and stable across runs."""

from __future__ import annotations

import io
import stat
import threading
from pathlib import Path

from imgfeed.cli import build_parser
from imgfeed.cli.simulate import prepare_state_dir, run
from imgfeed.feeds.img.simulator.keys import load_authorized_keys


def test_state_dir_is_made_once_and_private(tmp_path: Path) -> None:
    state = tmp_path / "sim"
    paths = prepare_state_dir(str(state))
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("client_key", "client_pub", "authorized_keys"):
        assert stat.S_IMODE(paths[name].stat().st_mode) == 0o600, name
    assert paths["client_key"].read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    allowed = load_authorized_keys([paths["authorized_keys"]])
    assert allowed == load_authorized_keys([paths["client_pub"]])
    before = {name: p.read_bytes() for name, p in paths.items() if name != "dir" and p.exists()}
    again = prepare_state_dir(str(state))
    assert {name: p.read_bytes() for name, p in again.items() if name != "dir" and p.exists()} == before


def test_run_prints_commands_and_keeps_the_host_key(tmp_path: Path) -> None:
    state = tmp_path / "sim"
    parser = build_parser()
    outputs = []
    for _ in range(2):
        args = parser.parse_args(
            ["simulate", "--port", "0", "--state-dir", str(state), "--size", "tiny", "--duration", "0.01"]
        )
        out = io.StringIO()
        assert run(args, out=out) == 0
        outputs.append(out.getvalue())
    for text in outputs:
        assert "ssh -T -p " in text and "imgfeed tail --host 127.0.0.1" in text
        assert str(state / "client_ed25519") in text and str(state / "known_hosts") in text
    host_key = lambda text: text.split("host key:")[1].split()[1:3]  # noqa: E731
    assert host_key(outputs[0]) == host_key(outputs[1])
    assert stat.S_IMODE((state / "known_hosts").stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "host_ed25519").stat().st_mode) == 0o600
    assert not [t for t in threading.enumerate() if t.name.startswith("imgfeed-sim")]


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    import pytest

    from imgfeed.errors import ImgFeedError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        args = build_parser().parse_args(
            ["simulate", "--port", str(port), "--state-dir", str(tmp_path), "--duration", "0.01"]
        )
        with pytest.raises(ImgFeedError, match="--port 0"):
            run(args, out=io.StringIO())


def test_loopback_check_behind_the_non_loopback_warning() -> None:
    # The warning itself is not exercised: that would expose a test server on the machine's network.
    from imgfeed.loopback.server import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "::1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.10", "example.com"]))


def test_a_key_added_while_simulate_runs_is_accepted_on_the_next_connection(tmp_path: Path) -> None:
    """The banner says "add your own keys there": as with sshd, no restart is needed."""
    import re
    import shlex
    import signal

    from imgfeed.cli.keygen import generate_key_pair
    from tests.cli.conftest import Process, run_subprocess

    state = tmp_path / "sim"
    sim = Process(["-m", "imgfeed", "simulate", "--port", "0", "--state-dir", str(state), "--size", "tiny"])
    try:
        line = sim.wait_for_line(lambda line: line.strip().startswith("imgfeed tail "))
        assert line, sim.lines
        args = shlex.split(line.strip())[2:-1]  # the connection options, without --subscribe-all
        mine = tmp_path / "my_key"
        generate_key_pair(str(mine), comment="mine")
        args[args.index("--key") + 1] = str(mine)
        refused = run_subprocess(["check", *args, "--timeout", "20"])
        assert refused.code == 2 and "rejected the key" in refused.err, refused
        with open(state / "authorized_keys", "a", encoding="ascii") as f:
            f.write((tmp_path / "my_key.pub").read_text(encoding="ascii"))
        accepted = run_subprocess(["check", *args, "--timeout", "20"])
    finally:
        code, err = sim.finish(signal.SIGTERM)
    assert accepted.code == 0, accepted
    assert re.match(r"ok: session [0-9a-f-]{36} on 127\.0\.0\.1:\d+", accepted.out)
    assert code == 0, err

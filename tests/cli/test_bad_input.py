"""Bad input: one clear line on stderr saying what is wrong and what to do, a non-zero exit, no traceback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

import pytest

from imgfeed.cli.keygen import generate_key_pair
from imgfeed.recording.writer import RecordingWriter
from tests.cli.conftest import single_error_line


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "id_ed25519"
    generate_key_pair(str(path))
    return path


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("")
    return path


def _connect_args(key: Path, known_hosts: Path, *extra: str) -> List[str]:
    return [
        "--host",
        "127.0.0.1",
        "--port",
        "2093",
        "--user",
        "demo",
        "--key",
        str(key),
        "--known-hosts",
        str(known_hosts),
        *extra,
    ]


@pytest.mark.parametrize("command", ["tail", "record", "check"])
def test_missing_key_file(run_cli: "object", tmp_path: Path, known_hosts: Path, command: str) -> None:
    extra = ["--out", str(tmp_path / "r.jsonl")] if command == "record" else []
    result = run_cli(command, *_connect_args(tmp_path / "nope", known_hosts, *extra))  # type: ignore[operator]
    assert result.code == 2
    line = single_error_line(result)
    assert "does not exist" in line and "imgfeed keygen" in line
    assert not (tmp_path / "r.jsonl").exists()  # nothing is created before the checks pass


def test_key_readable_by_others(run_cli: "object", key: Path, known_hosts: Path) -> None:
    os.chmod(key, 0o644)
    result = run_cli("tail", *_connect_args(key, known_hosts))  # type: ignore[operator]
    assert result.code == 2
    line = single_error_line(result)
    assert "readable by others (mode 0644)" in line and f"chmod 600 {key}" in line


def test_public_key_given_instead_of_private(run_cli: "object", key: Path, known_hosts: Path) -> None:
    pub = Path(str(key) + ".pub")
    os.chmod(pub, 0o600)
    result = run_cli("tail", *_connect_args(pub, known_hosts))  # type: ignore[operator]
    assert result.code == 2
    assert "not a private key" in single_error_line(result)


def test_encrypted_key_needs_the_passphrase(
    run_cli: "object", tmp_path: Path, known_hosts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "enc"
    generate_key_pair(str(path), passphrase=b"correct horse")
    monkeypatch.delenv("IMGFEED_KEY_PASSPHRASE", raising=False)
    result = run_cli("tail", *_connect_args(path, known_hosts))  # type: ignore[operator]
    assert "IMGFEED_KEY_PASSPHRASE" in single_error_line(result) and result.code == 2
    monkeypatch.setenv("IMGFEED_KEY_PASSPHRASE", "wrong")
    result = run_cli("tail", *_connect_args(path, known_hosts))  # type: ignore[operator]
    line = single_error_line(result)
    assert "wrong passphrase" in line and "correct horse" not in result.err


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_port_out_of_range(run_cli: "object", key: Path, known_hosts: Path, port: str) -> None:
    args = _connect_args(key, known_hosts)
    args[args.index("--port") + 1] = port
    result = run_cli("tail", *args)  # type: ignore[operator]
    assert result.code == 2
    assert f"bad port {port}" in single_error_line(result)


def test_missing_known_hosts_says_how_to_add_the_key(run_cli: "object", key: Path, tmp_path: Path) -> None:
    result = run_cli("check", *_connect_args(key, tmp_path / "no_known_hosts"))  # type: ignore[operator]
    assert result.code == 2
    line = single_error_line(result)
    assert "ssh-keyscan -p 2093 127.0.0.1" in line and "--accept-new-host-key" in line


def test_bad_timeout(run_cli: "object", key: Path, known_hosts: Path) -> None:
    result = run_cli("tail", *_connect_args(key, known_hosts, "--silence-timeout", "0"))  # type: ignore[operator]
    assert result.code == 2
    assert "--silence-timeout" in single_error_line(result)


def test_subscribe_all_with_a_filter(run_cli: "object", key: Path, known_hosts: Path) -> None:
    result = run_cli("tail", *_connect_args(key, known_hosts, "--subscribe-all", "--event", "ev.1"))  # type: ignore[operator]
    assert result.code == 2
    assert "--subscribe-all cannot be combined" in single_error_line(result)


# --- recordings ----------------------------------------------------------------------------------


def _recording(path: Path) -> Path:
    with RecordingWriter(path) as writer:
        writer.write(b'{"mode": "push", "type": "heartbeat", "msg": {}}', 1.0)
        writer.write(b'{"mode": "push", "type": "heartbeat", "msg": {}}', 2.0)
    return path


def test_missing_recording(run_cli: "object", tmp_path: Path) -> None:
    result = run_cli("replay", str(tmp_path / "nope.jsonl"))  # type: ignore[operator]
    assert result.code == 2
    assert "recording not found" in single_error_line(result)


def test_not_a_recording(run_cli: "object", tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    result = run_cli("replay", str(path))  # type: ignore[operator]
    assert result.code == 2
    assert "line 1 is not an imgfeed recording header" in single_error_line(result)


def test_corrupt_recording_names_file_and_line(run_cli: "object", tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.jsonl")
    with open(path, "ab") as f:
        f.write(b"{garbage\n")
    result = run_cli("replay", str(path), "--as-fast-as-possible", "--format", "summary")  # type: ignore[operator]
    assert result.code == 2
    line = single_error_line(result)
    assert f"{path}: line 4: corrupt recording line" in line


def test_truncated_recording(run_cli: "object", tmp_path: Path) -> None:
    path = _recording(tmp_path / "r.jsonl")
    path.write_bytes(path.read_bytes()[:-10])
    result = run_cli("replay", str(path), "--fast", "--format", "summary")  # type: ignore[operator]
    assert result.code == 2
    assert "truncated at line 3" in single_error_line(result) and "--allow-truncated" in result.err
    result = run_cli("replay", str(path), "--fast", "--format", "summary", "--allow-truncated")  # type: ignore[operator]
    assert result.code == 0
    assert "replayed 1 lines" in result.out


def test_bad_speed(run_cli: "object", tmp_path: Path) -> None:
    result = run_cli("replay", str(_recording(tmp_path / "r.jsonl")), "--speed", "0")  # type: ignore[operator]
    assert result.code == 2
    assert single_error_line(result) == (
        "imgfeed replay: error: argument --speed: expected a number greater than 0, got '0' "
        "(--as-fast-as-possible replays without pacing) (see `imgfeed replay --help`)"
    )
    assert "None" not in result.err


@pytest.mark.parametrize(
    "args, message",
    [
        (["tail", "--host", "h", "--user", "u", "--port", "ab"], "argument --port: not a whole number: 'ab'"),
        (["replay"], "the following arguments are required: FILE"),
        (["demo", "--duration", "soon"], "argument --duration: not a number: 'soon'"),
        (["demo", "--duration", "-5"], "--duration: expected a number of seconds greater than 0, got '-5'"),
        (["tail", "--host", "h", "--user", "u", "--duration", "0"], "argument --duration: expected a number"),
        (["record", "--host", "h", "--user", "u", "--out", "f", "--duration", "-5"], "than 0, got '-5'"),
        (["simulate", "--duration", "-1"], "--duration: expected a number of seconds greater than 0"),
        (["keygen", "--type", "dsa"], "argument --type: invalid choice: 'dsa'"),
    ],
)
def test_usage_errors_are_one_line(run_cli: "object", args: List[str], message: str) -> None:
    result = run_cli(*args)  # type: ignore[operator]
    assert result.code == 2
    line = single_error_line(result)
    assert message in line and f"imgfeed {args[0]} --help" in line


def test_commands_restore_the_logging_levels_they_change(run_cli: "object", tmp_path: Path) -> None:
    import logging

    path = _recording(tmp_path / "r.jsonl")
    before = {name: logging.getLogger(name).level for name in ("imgfeed", "imgfeed.runtime")}
    result = run_cli("replay", str(path), "--fast", "--format", "summary")  # type: ignore[operator]
    assert result.code == 0
    assert {name: logging.getLogger(name).level for name in before} == before


@pytest.mark.parametrize(
    "args, line",
    [
        (
            ["tail", "--host", "h", "--user", "u", "--duration", "-5"],
            "imgfeed tail: error: argument --duration: expected a number of seconds greater than 0, got '-5' "
            "(see `imgfeed tail --help`)",
        ),
        (
            ["replay", "r.jsonl", "--speed", "0"],
            "imgfeed replay: error: argument --speed: expected a number greater than 0, got '0' "
            "(--as-fast-as-possible replays without pacing) (see `imgfeed replay --help`)",
        ),
        (
            ["check", "--host", "h", "--user", "u", "--reconnect-interval", "nan"],
            "imgfeed check: error: argument --reconnect-interval: not a finite number: 'nan' "
            "(see `imgfeed check --help`)",
        ),
    ],
)
def test_numbers_out_of_range_as_a_subprocess(args: List[str], line: str) -> None:
    from tests.cli.conftest import run_subprocess

    result = run_subprocess(args)
    assert result.code == 2 and result.out == ""
    assert single_error_line(result) == line


def test_accept_new_needs_the_known_hosts_directory(run_cli: "object", key: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no_such_dir" / "known_hosts"
    result = run_cli("check", *_connect_args(key, missing, "--accept-new-host-key"))  # type: ignore[operator]
    assert result.code == 2
    assert single_error_line(result) == (
        f"imgfeed: error: bad --known-hosts '{missing}': expected a path in an existing directory "
        f"({missing.parent} does not exist)"
    )
    assert not missing.parent.exists()

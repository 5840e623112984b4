"""``imgfeed keygen``: a key pair paramiko and OpenSSH both accept, private by default."""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from tests.cli.conftest import run_subprocess, single_error_line, split_pub


@pytest.mark.parametrize(
    "key_type, name, cls",
    [("ed25519", "ssh-ed25519", paramiko.Ed25519Key), ("rsa", "ssh-rsa", paramiko.RSAKey)],
)
def test_keygen_writes_a_private_key_and_prints_the_public_one(
    run_cli: "object", tmp_path: Path, key_type: str, name: str, cls: type
) -> None:
    out = tmp_path / "keys" / "feed_key"
    out.parent.mkdir()
    result = run_cli("keygen", "--out", str(out), "--type", key_type, "--comment", "acme")  # type: ignore[operator]
    assert result.code == 0, result
    line = result.out.strip()
    assert line.startswith(name + " ") and line.endswith(" acme")
    assert (tmp_path / "keys" / "feed_key.pub").read_text().strip() == line
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = cls.from_private_key_file(str(out))
    assert split_pub(line) == (name, key.get_base64())
    assert "PRIVATE" not in result.out + result.err


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH ssh-keygen is not installed")
def test_openssh_reads_the_key(run_cli: "object", tmp_path: Path) -> None:
    out = tmp_path / "k"
    result = run_cli("keygen", "--out", str(out))  # type: ignore[operator]
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(out)], capture_output=True, text=True, timeout=30)
    assert derived.returncode == 0, derived.stderr
    assert split_pub(derived.stdout) == split_pub(result.out)


def test_keygen_refuses_to_overwrite(run_cli: "object", tmp_path: Path) -> None:
    out = tmp_path / "k"
    first = run_cli("keygen", "--out", str(out))  # type: ignore[operator]
    again = run_cli("keygen", "--out", str(out))  # type: ignore[operator]
    assert again.code != 0
    assert "already exists" in single_error_line(again)
    assert (tmp_path / "k.pub").read_text().strip() == first.out.strip()
    forced = run_cli("keygen", "--out", str(out), "--force")  # type: ignore[operator]
    assert forced.code == 0 and forced.out != first.out


def test_keygen_refuses_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    result = run_subprocess(["keygen", "--out", str(tmp_path / "nonexistent" / "dir" / "k")])
    assert result.code == 2 and result.out == ""
    assert single_error_line(result) == (
        f"imgfeed: error: directory {tmp_path}/nonexistent/dir does not exist: create it first "
        f"(`mkdir -m 700 {tmp_path}/nonexistent/dir`), or choose another --out"
    )
    assert not (tmp_path / "nonexistent").exists()  # nothing was created


def test_keygen_makes_the_default_directory_as_ssh_keygen_does(tmp_path: Path) -> None:
    result = run_subprocess(["keygen"], env={"HOME": str(tmp_path)})
    assert result.code == 0, result
    assert stat.S_IMODE((tmp_path / ".ssh").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ".ssh" / "imgfeed_ed25519").stat().st_mode) == 0o600


def test_keygen_passphrase_with_stdin_not_a_terminal_and_empty(tmp_path: Path) -> None:
    result = run_subprocess(["keygen", "--passphrase", "--out", str(tmp_path / "k")])  # stdin: /dev/null
    assert result.code == 2 and result.out == ""
    assert single_error_line(result) == (
        "imgfeed: error: --passphrase: stdin is not a terminal and holds no passphrase: pipe it in as one "
        "line, run the command in a terminal to be asked, or leave out --passphrase; nothing was written"
    )
    assert not (tmp_path / "k").exists()


def test_keygen_passphrase_read_from_a_pipe(tmp_path: Path) -> None:
    out = tmp_path / "k"
    proc = subprocess.run(
        [sys.executable, "-m", "imgfeed", "keygen", "--passphrase", "--out", str(out)],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "correct horse" not in proc.stdout + proc.stderr
    with pytest.raises(paramiko.PasswordRequiredException):
        paramiko.Ed25519Key.from_private_key_file(str(out))
    key = paramiko.Ed25519Key.from_private_key_file(str(out), password="correct horse battery")
    assert split_pub(proc.stdout) == ("ssh-ed25519", key.get_base64())

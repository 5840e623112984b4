"""``imgfeed keygen``: a key pair paramiko and OpenSSH both accept, private by default."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from tests.cli.conftest import single_error_line, split_pub


@pytest.mark.parametrize(
    "key_type, name, cls",
    [("ed25519", "ssh-ed25519", paramiko.Ed25519Key), ("rsa", "ssh-rsa", paramiko.RSAKey)],
)
def test_keygen_writes_a_private_key_and_prints_the_public_one(
    run_cli: "object", tmp_path: Path, key_type: str, name: str, cls: type
) -> None:
    out = tmp_path / "keys" / "feed_key"
    result = run_cli("keygen", "--out", str(out), "--type", key_type, "--comment", "acme")  # type: ignore[operator]
    assert result.code == 0, result
    line = result.out.strip()
    assert line.startswith(name + " ") and line.endswith(" acme")
    assert (tmp_path / "keys" / "feed_key.pub").read_text().strip() == line
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.parent.stat().st_mode) == 0o700
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

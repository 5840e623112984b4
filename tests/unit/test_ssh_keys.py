"""The SSH transport's key handling that needs no network: loading keys, fingerprints."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from imgfeed import AuthenticationError
from imgfeed.transport.ssh import fingerprint, load_private_key

PASSPHRASE = "correct horse 42"


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    for name, passphrase in (("plain", ""), ("encrypted", PASSPHRASE)):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(d / name)], check=True, timeout=30)
    (d / "garbage").write_text("not a key\n")
    return d


def test_fingerprint_is_the_one_openssh_prints(key_files: Path) -> None:
    key = load_private_key(str(key_files / "plain"))
    printed = subprocess.run(["ssh-keygen", "-l", "-f", str(key_files / "plain.pub")], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()[1]
    assert fingerprint(key) == printed


def test_an_encrypted_key_loads_with_its_passphrase(key_files: Path) -> None:
    key = load_private_key(str(key_files / "encrypted"), PASSPHRASE)
    assert isinstance(key, paramiko.Ed25519Key)


@pytest.mark.parametrize(
    "name, passphrase, message",
    [
        ("missing", None, "not found"),
        ("encrypted", None, "is encrypted: give its passphrase"),
        ("encrypted", "wrong passphrase", "cannot load private key"),
        ("garbage", None, "cannot load private key"),
    ],
)
def test_key_problems_are_authentication_errors_that_never_show_the_passphrase(
    key_files: Path, name: str, passphrase: str, message: str
) -> None:
    with pytest.raises(AuthenticationError, match=message) as info:
        load_private_key(str(key_files / name), passphrase)
    assert "wrong passphrase" not in str(info.value)

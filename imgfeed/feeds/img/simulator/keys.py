"""SSH keys for the simulator: authorized client keys, the host key, and the known_hosts line.

- Authorized keys are given as paramiko ``PKey`` objects or as paths of OpenSSH
  ``authorized_keys`` files; they are compared by key type and public blob, never by comment.
- The host key is an Ed25519 key: given, loaded from a path (created there, mode 0600, when the
  file does not exist, so that known_hosts stays valid across runs), or fresh in memory.
- Private keys are never logged; only fingerprints and public lines are shown.
"""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path
from typing import FrozenSet, Iterable, Optional, Tuple, Union

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from imgfeed.errors import ConfigError

__all__ = [
    "KeySource",
    "PublicKeyId",
    "load_authorized_keys",
    "generate_ed25519",
    "load_or_create_host_key",
    "known_hosts_line",
    "public_line",
    "write_private_key",
]

#: A client key the server accepts: a paramiko key, or the path of an authorized_keys file.
KeySource = Union[paramiko.PKey, str, "os.PathLike[str]"]

#: How a public key is compared: (key type, public blob).
PublicKeyId = Tuple[str, bytes]


def _key_id(key: paramiko.PKey) -> PublicKeyId:
    return (key.get_name(), key.asbytes())


def _parse_authorized_keys(path: Path) -> Iterable[PublicKeyId]:
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        # An entry is "[options] keytype base64 [comment]": find the key type field.
        for i, field in enumerate(fields[:-1]):
            if field.startswith(("ssh-", "ecdsa-", "sk-")):
                try:
                    blob = base64.b64decode(fields[i + 1], validate=True)
                except ValueError:
                    break
                yield (field, blob)
                break
        else:
            raise ConfigError("authorized_keys", f"{path}:{number}", "lines of the form 'ssh-ed25519 AAAA... [comment]'")


def load_authorized_keys(sources: Iterable[KeySource]) -> FrozenSet[PublicKeyId]:
    """The set of public keys allowed to log in, from keys and authorized_keys files."""
    allowed = set()
    for source in sources:
        if isinstance(source, paramiko.PKey):
            allowed.add(_key_id(source))
        else:
            allowed.update(_parse_authorized_keys(Path(source).expanduser()))
    return frozenset(allowed)


def generate_ed25519() -> paramiko.Ed25519Key:
    """A fresh Ed25519 key (paramiko cannot generate these itself; cryptography can)."""
    pem = _openssh_pem(Ed25519PrivateKey.generate())
    return paramiko.Ed25519Key(file_obj=io.StringIO(pem))


def _openssh_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")


def write_private_key(path: Union[str, "os.PathLike[str]"], comment: str = "imgfeed-simulator") -> paramiko.Ed25519Key:
    """Generate an Ed25519 key pair, write it in OpenSSH format (``path`` 0600, ``path.pub``).

    The private file is created with ``O_EXCL`` and mode 0600, so it is never readable by others,
    not even for a moment, and an existing key is never overwritten.
    """
    path = Path(path)
    raw = Ed25519PrivateKey.generate()
    pem = _openssh_pem(raw)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(pem)
    key = paramiko.Ed25519Key(file_obj=io.StringIO(pem))
    pub = path.with_name(path.name + ".pub")
    pub.write_text(f"{public_line(key)} {comment}\n", encoding="ascii")
    return key


def load_or_create_host_key(path: Union[str, "os.PathLike[str]"]) -> paramiko.PKey:
    """Load the host key at ``path``, creating an Ed25519 one there (0600) if it does not exist."""
    path = Path(path).expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_private_key(path, comment="imgfeed-simulator-host")
    return paramiko.PKey.from_path(path)


def public_line(key: paramiko.PKey) -> str:
    """``"ssh-ed25519 AAAA..."``: the key as authorized_keys and known_hosts write it."""
    return f"{key.get_name()} {key.get_base64()}"


def known_hosts_line(key: paramiko.PKey, host: str, port: int) -> str:
    """The known_hosts entry for a server at ``host:port`` (``[host]:port`` unless port 22)."""
    where = host if port == 22 else f"[{host}]:{port}"
    return f"{where} {public_line(key)}"


def host_key_from(source: Optional[Union[paramiko.PKey, str, "os.PathLike[str]"]]) -> paramiko.PKey:
    """A host key from the ``host_key`` argument of the server (see the module docstring)."""
    if source is None:
        return generate_ed25519()
    if isinstance(source, paramiko.PKey):
        return source
    return load_or_create_host_key(source)

"""``imgfeed keygen``: make the SSH key pair you send the provider the public half of.

The service authenticates by public key only (protocol.md section 1). This writes an OpenSSH-format
private key (Ed25519 by default, RSA 4096 if the provider asks for RSA) with mode 0600, its ``.pub``
beside it, and prints the public key line on stdout -- the only thing to send to IMG Arena. The
private key never leaves the file and is never printed or logged.

Why not shell out to ``ssh-keygen``: a fresh machine may not have it, and the demo and tests must not
depend on it. ``cryptography`` (already installed with paramiko) writes the same format.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Optional

from imgfeed.cli._parsing import one_line_errors
from imgfeed.errors import ConfigError, ImgFeedError

__all__ = ["register", "generate_key_pair", "DEFAULT_KEY_PATH"]

#: Where ``keygen`` writes when not told otherwise; tail/record/check use it as their default key.
DEFAULT_KEY_PATH = os.path.join("~", ".ssh", "imgfeed_ed25519")

_RSA_BITS = 4096  # what providers that still take RSA ask for today


def generate_key_pair(
    path: str,
    key_type: str = "ed25519",
    comment: str = "imgfeed",
    passphrase: Optional[bytes] = None,
    overwrite: bool = False,
) -> str:
    """Write a private key to ``path`` (mode 0600) and its public key to ``path + ".pub"``.

    Args:
        path: the private key file; its directory is created (mode 0700) if missing.
        key_type: ``"ed25519"`` or ``"rsa"``.
        comment: the comment at the end of the public key line (e.g. your username).
        passphrase: encrypt the private key with it, or ``None`` for an unencrypted key.
        overwrite: replace existing files instead of refusing.

    Returns:
        The public key line (``"ssh-ed25519 AAAA... comment"``).

    Raises:
        ConfigError: unknown ``key_type``.
        ImgFeedError: the file exists (and ``overwrite`` is false) or cannot be written.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)  # type: ignore[assignment]
    else:
        raise ConfigError("key type", key_type, "'ed25519' or 'rsa'")
    path = os.path.expanduser(path)
    pub_path = path + ".pub"
    for p in (path, pub_path):
        if os.path.exists(p) and not overwrite:
            raise ImgFeedError(f"{p} already exists; choose another --out, or pass --force to replace it")
    encryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode("ascii") + (f" {comment}" if comment else "")
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        _write_private(path, private)
        with open(pub_path, "w", encoding="ascii") as f:
            f.write(line + "\n")
    except OSError as exc:
        raise ImgFeedError(f"cannot write {exc.filename or path}: {exc.strerror}") from None
    return line


def _write_private(path: str, data: bytes) -> None:
    # Created 0600 from the start (never briefly world-readable), and replaced atomically.
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "keygen",
        help="create an SSH key pair and print the public key to send to IMG Arena",
        description=(
            "Create an SSH key pair for the feed. The private key stays in --out (mode 0600); "
            "send the printed public key line to IMG Arena with your onboarding request. "
            "They tell you your username; then run `imgfeed check --host ... --user ... --key ...`."
        ),
    )
    parser.add_argument(
        "--out", default=DEFAULT_KEY_PATH, metavar="PATH", help="private key file (default: %(default)s)"
    )
    parser.add_argument(
        "--type",
        dest="key_type",
        choices=("ed25519", "rsa"),
        default="ed25519",
        help="key algorithm (default: %(default)s; rsa makes a 4096-bit key)",
    )
    parser.add_argument(
        "--comment", default="imgfeed", help="comment in the public key line (default: %(default)s)"
    )
    parser.add_argument(
        "--passphrase",
        action="store_true",
        help="ask for a passphrase to encrypt the private key (default: unencrypted, "
        "as a service that starts unattended needs)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing key files")
    one_line_errors(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    passphrase: Optional[bytes] = None
    if args.passphrase:
        first = getpass.getpass("passphrase for the new key: ")
        if first != getpass.getpass("same passphrase again: "):
            raise ImgFeedError("the passphrases differ; nothing was written")
        passphrase = first.encode("utf-8") or None
    line = generate_key_pair(args.out, args.key_type, args.comment, passphrase, overwrite=args.force)
    path = os.path.expanduser(args.out)
    print(line)
    print(
        f"imgfeed: wrote {path} (private, mode 0600: keep it secret) and {path}.pub.\n"
        "imgfeed: send the public key line above to IMG Arena; they give you your username.",
        file=sys.stderr,
    )
    return 0

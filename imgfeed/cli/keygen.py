"""``imgfeed keygen``: make the SSH key pair you send the provider the public half of.

The service authenticates by public key only (docs/protocol.md section 1). This writes an OpenSSH-format
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
from typing import Optional, TextIO

from imgfeed.cli._parsing import one_line_errors
from imgfeed.errors import ConfigError, ImgFeedError

__all__ = ["register", "generate_key_pair", "read_passphrase", "DEFAULT_KEY_PATH"]

#: Where ``keygen`` writes when not told otherwise; tail/record/check use it as their default key.
DEFAULT_KEY_PATH = os.path.join("~", ".ssh", "imgfeed_ed25519")

_RSA_BITS = 4096  # what providers that still take RSA ask for today


def generate_key_pair(
    path: str,
    key_type: str = "ed25519",
    comment: str = "imgfeed",
    passphrase: Optional[bytes] = None,
    overwrite: bool = False,
    create_directory: bool = False,
) -> str:
    """Write a private key to ``path`` (mode 0600) and its public key to ``path + ".pub"``.

    Args:
        path: the private key file.
        key_type: ``"ed25519"`` or ``"rsa"``.
        comment: the comment at the end of the public key line (e.g. your username).
        passphrase: encrypt the private key with it, or ``None`` for an unencrypted key.
        overwrite: replace existing files instead of refusing.
        create_directory: create the file's directory (mode 0700) if it is missing; otherwise a
            missing directory is an error, so that a typo in the path creates nothing.

    Returns:
        The public key line (``"ssh-ed25519 AAAA... comment"``).

    Raises:
        ConfigError: unknown ``key_type``.
        ImgFeedError: the file exists (and ``overwrite`` is false), its directory does not (and
            ``create_directory`` is false), or it cannot be written.
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
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory) and not create_directory:
        raise ImgFeedError(
            f"directory {directory} does not exist: create it first (`mkdir -m 700 {directory}`), "
            "or choose another --out"
        )
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
        if directory and create_directory:
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
        help="encrypt the private key with a passphrase: asked twice on a terminal, or read as the "
        "first line of stdin when it is not one (default: unencrypted, as a service that starts "
        "unattended needs)",
    )
    parser.add_argument("--force", action="store_true", help="replace existing key files")
    one_line_errors(parser)
    parser.set_defaults(func=run)


def read_passphrase(stdin: Optional[TextIO] = None) -> bytes:
    """The passphrase for ``--passphrase``: asked twice on a terminal, else the first line of stdin.

    Why read a pipe rather than refuse: a provisioning script has the passphrase in a secret
    store, and ``printf '%s\\n' "$PASS" | imgfeed keygen --passphrase`` keeps it out of ``ps``
    (an option would not). Nothing is echoed either way.

    Raises:
        ImgFeedError: the two answers differ, or the passphrase is empty (stdin closed or blank).
    """
    stdin = stdin if stdin is not None else sys.stdin
    if stdin is not None and stdin.isatty():
        try:
            first = getpass.getpass("passphrase for the new key: ")
            again = getpass.getpass("same passphrase again: ")
        except EOFError:
            first = again = ""
        if first != again:
            raise ImgFeedError("the passphrases differ; nothing was written")
    else:
        first = (stdin.readline() if stdin is not None else "").rstrip("\r\n")
        if not first:
            raise ImgFeedError(
                "--passphrase: stdin is not a terminal and holds no passphrase: pipe it in as one line, "
                "run the command in a terminal to be asked, or leave out --passphrase; nothing was written"
            )
    if not first:
        raise ImgFeedError(
            "--passphrase: the passphrase is empty (leave out --passphrase for none); nothing was written"
        )
    return first.encode("utf-8")


def run(args: argparse.Namespace) -> int:
    passphrase = read_passphrase() if args.passphrase else None
    # The default place, ~/.ssh, is made if missing (as ssh-keygen does); any other directory must
    # exist, so that a typo in --out creates nothing.
    default_dir = os.path.dirname(os.path.expanduser(DEFAULT_KEY_PATH))
    create = os.path.dirname(os.path.expanduser(args.out)) == default_dir
    line = generate_key_pair(
        args.out, args.key_type, args.comment, passphrase, overwrite=args.force, create_directory=create
    )
    path = os.path.expanduser(args.out)
    print(line)
    print(
        f"imgfeed: wrote {path} (private, mode 0600: keep it secret) and {path}.pub.\n"
        "imgfeed: send the public key line above to IMG Arena; they give you your username.",
        file=sys.stderr,
    )
    return 0

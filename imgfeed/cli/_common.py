"""Options and checks shared by the commands that connect to a feed (tail, record, check).

Contract: :func:`add_connection_options` adds the same options, with the same defaults, to every
connecting command; :func:`config_from_args` turns them into a :class:`~imgfeed.feeds.img.config.FeedConfig`
after checking what a user most often gets wrong -- a missing key file, a key others can read, a
port out of range, a missing known_hosts file -- and raises :class:`~imgfeed.errors.ImgFeedError`
with one line that says what is wrong and what to do. ``imgfeed.cli.main`` prints that line and
exits non-zero, never a traceback.

Why check here when the client checks too: the client's errors are right for a program; a person at
a terminal needs the command that fixes it (``chmod 600 ...``, ``ssh-keyscan ...``).
"""

from __future__ import annotations

import argparse
import os
import stat
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from imgfeed.cli._parsing import one_line_errors, seconds
from imgfeed.cli.keygen import DEFAULT_KEY_PATH
from imgfeed.errors import ConfigError, HostKeyError, ImgFeedError, UnknownHostKeyError
from imgfeed.feeds.img.config import (
    DEFAULT_PORT,
    FeedConfig,
    HostKeyPolicy,
    ReconnectPolicy,
)
from imgfeed.feeds.img.protocol.messages import raw_market_id

if TYPE_CHECKING:
    import paramiko

__all__ = [
    "load_key",
    "add_connection_options",
    "add_subscription_options",
    "config_from_args",
    "check_port",
    "check_key_file",
    "check_known_hosts",
    "subscription_filters",
    "host_key_hint",
]

DEFAULT_KNOWN_HOSTS = os.path.join("~", ".ssh", "known_hosts")


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--host --port --user --key --known-hosts`` and the timeouts to ``parser``."""
    one_line_errors(parser)
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--host",
        required=True,
        help="server host, e.g. golf-odds-distribution.services.imgarena.com, or 127.0.0.1 "
        "for `imgfeed simulate`",
    )
    group.add_argument(
        "--port",
        type=_int,
        help=f"port (default: {DEFAULT_PORT} for IMG, where the service also listens on 22; 443 for Betfair)",
    )
    group.add_argument("--user", help="the username IMG Arena assigned to you (the IMG feed needs it)")
    group.add_argument(
        "--key",
        default=DEFAULT_KEY_PATH,
        metavar="FILE",
        help="private key file (default: %(default)s, as `imgfeed keygen` writes it)",
    )
    group.add_argument(
        "--known-hosts",
        default=DEFAULT_KNOWN_HOSTS,
        metavar="FILE",
        help="known_hosts file holding the server's host key (default: %(default)s)",
    )
    group.add_argument(
        "--accept-new-host-key",
        action="store_true",
        help="trust an unknown host key on first use and add it to --known-hosts "
        "(a changed key is still refused)",
    )
    group.add_argument(
        "--include-finished",
        action="store_true",
        help="also receive recently finished tournaments (for late settlements)",
    )
    timing = parser.add_argument_group("timeouts (seconds)")
    timing.add_argument(
        "--heartbeat-timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="no heartbeat for this long suspends every market (default: %(default)s)",
    )
    timing.add_argument(
        "--silence-timeout",
        type=seconds,
        default=10.0,
        metavar="S",
        help="no message at all for this long reconnects (default: %(default)s)",
    )
    timing.add_argument(
        "--reconnect-interval",
        type=seconds,
        default=30.0,
        metavar="S",
        help="seconds between reconnection attempts after the first, which is "
        "immediate (default: %(default)s, as the service asks)",
    )
    timing.add_argument(
        "--connect-timeout",
        type=seconds,
        default=15.0,
        metavar="S",
        help="seconds to connect, authenticate and start the session (default: %(default)s)",
    )


def add_subscription_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--subscribe-all | --event ID ... | --market-type ID ... | --market ID ...``."""
    group = parser.add_argument_group(
        "subscription",
        "Prices (market_update) flow only for subscribed markets. --event, --market-type and "
        "--market can be combined (a market must match every one given). Without any of them "
        "you see the offering and heartbeats only.",
    )
    group.add_argument("--subscribe-all", action="store_true", help="subscribe to every market")
    group.add_argument(
        "--event",
        dest="event_ids",
        nargs="+",
        action="extend",
        metavar="ID",
        help="subscribe to the markets of these events (e.g. ev.golf_1100)",
    )
    group.add_argument(
        "--market-type",
        dest="market_type_ids",
        nargs="+",
        action="extend",
        metavar="ID",
        help="subscribe to markets of these types (e.g. mt.winonly)",
    )
    group.add_argument(
        "--market",
        dest="market_ids",
        nargs="+",
        action="extend",
        metavar="ID",
        help="subscribe to these markets: an id as the server sends it "
        "(golf_6005_matchbet~7cgolfer_ids~3d9548) or decoded (golf_6005_matchbet|golfer_ids=9548, "
        "quoted for the shell)",
    )


def subscription_filters(args: argparse.Namespace) -> Optional[Dict[str, List[str]]]:
    """The subscribe filters the options ask for: ``{}`` for everything, ``None`` for nothing.

    Raises:
        ImgFeedError: ``--subscribe-all`` was combined with a filter.
    """
    filters = {
        key: list(getattr(args, key))
        for key in ("event_ids", "market_type_ids", "market_ids")
        if getattr(args, key, None)
    }
    if "market_ids" in filters:
        # Either form a person may have copied (tail's pretty lines show both): the server's is raw.
        filters["market_ids"] = [raw_market_id(m) for m in filters["market_ids"]]
    if getattr(args, "subscribe_all", False):
        if filters:
            raise ImgFeedError("--subscribe-all cannot be combined with --event/--market-type/--market")
        return {}
    return filters or None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def check_port(port: int) -> int:
    """Raises ImgFeedError unless ``port`` is a TCP port number."""
    if not 0 < port < 65536:
        raise ImgFeedError(f"bad port {port}: a TCP port is between 1 and 65535 (the feed uses 2093 or 22)")
    return port


def check_key_file(path: str) -> str:
    """Check that the private key exists, is a file, and is private. Returns the expanded path.

    Why refuse a group- or world-readable key: OpenSSH refuses it too ("UNPROTECTED PRIVATE KEY
    FILE"), and a feed key that others can read must be treated as leaked.
    """
    full = os.path.expanduser(path)
    try:
        st = os.stat(full)
    except FileNotFoundError:
        raise ImgFeedError(
            f"key file {full} does not exist: pass --key FILE, or create one with "
            f"`imgfeed keygen --out {path}` and send the public key to IMG Arena"
        ) from None
    except OSError as exc:
        raise ImgFeedError(f"cannot read key file {full}: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ImgFeedError(f"key file {full} is not a regular file")
    if st.st_mode & 0o077:
        raise ImgFeedError(
            f"key file {full} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}): "
            f"run `chmod 600 {full}`; if others could read it, treat the key as leaked and replace it"
        )
    if not os.access(full, os.R_OK):
        raise ImgFeedError(f"cannot read key file {full}: permission denied")
    return full


#: The environment variable that holds the passphrase of an encrypted key (never a command-line
#: option: those are visible to every user in ``ps``).
PASSPHRASE_ENV = "IMGFEED_KEY_PASSPHRASE"


def load_key(path: str) -> "paramiko.PKey":
    """Load the private key now, so that a wrong file is one clear line before any connection.

    An encrypted key is decrypted with the passphrase in ``$IMGFEED_KEY_PASSPHRASE``.
    """
    import paramiko

    passphrase = os.environ.get(PASSPHRASE_ENV) or None
    try:
        return paramiko.PKey.from_path(path, password=passphrase.encode("utf-8") if passphrase else None)
    except (TypeError, paramiko.PasswordRequiredException):
        # cryptography says "Key is password-protected, but password was not provided" this way.
        raise ImgFeedError(
            f"key file {path} is encrypted: put its passphrase in the {PASSPHRASE_ENV} environment variable"
        ) from None
    except (ValueError, paramiko.SSHException) as exc:
        if passphrase is not None:
            raise ImgFeedError(
                f"cannot decrypt key file {path}: wrong passphrase in {PASSPHRASE_ENV}, or not a private key"
            ) from None
        raise ImgFeedError(
            f"key file {path} is not a private key ({type(exc).__name__}); give the private key "
            "(not the .pub) in OpenSSH or PEM format, as `imgfeed keygen` writes it"
        ) from None
    except OSError as exc:
        raise ImgFeedError(f"cannot read key file {path}: {exc.strerror}") from None


def check_known_hosts(path: str, host: str, port: int, accept_new: bool) -> str:
    """Check the known_hosts file exists (or will be created). Returns the expanded path."""
    full = os.path.expanduser(path)
    if not os.path.exists(full) and not accept_new:
        raise ImgFeedError(f"known_hosts file {full} does not exist: {host_key_hint(host, port, full)}")
    return full


def host_key_hint(host: str, port: int, known_hosts: str) -> str:
    """What to do about an unknown host key: the command that adds it."""
    port_opt = f"-p {port} " if port != 22 else ""
    return (
        f"add the server's host key with `ssh-keyscan {port_opt}{host} >> {known_hosts}` and check its "
        "fingerprint with IMG Arena (or with `imgfeed simulate`'s output), or pass --accept-new-host-key "
        "to trust it on first use"
    )


def explain_host_key_error(exc: HostKeyError, args: argparse.Namespace) -> ImgFeedError:
    """Turn a host key failure into one line with the fix."""
    known_hosts = os.path.expanduser(args.known_hosts)
    if isinstance(exc, UnknownHostKeyError):
        return ImgFeedError(
            f"unknown host key for {exc.host} ({exc.fingerprint}): "
            + host_key_hint(args.host, args.port, known_hosts)
        )
    # Said in our own words rather than after the exception's text, which gives advice of its own.
    name = args.host if args.port == 22 else f"[{args.host}]:{args.port}"
    return ImgFeedError(
        f"the host key of {exc.host} CHANGED: the server presented {exc.fingerprint}, not the key recorded "
        f"in {known_hosts}. This may be an attack: do not connect until IMG Arena confirms the new key, then "
        f"remove the old line with `ssh-keygen -R '{name}' -f {known_hosts}`"
    )


#: Config fields whose option is not simply ``--field-name``.
_OPTION_OF_FIELD = {"interval": "--reconnect-interval", "username": "--user", "key_filename": "--key"}


def config_from_args(args: argparse.Namespace, **overrides: Any) -> FeedConfig:
    """Build the client configuration from the connection options, after the checks above.

    Raises:
        ImgFeedError: one line saying what is wrong and what to do.
    """
    if args.port is None:
        args.port = DEFAULT_PORT
    if not args.user:
        raise ImgFeedError("the IMG feed needs --user (the username IMG Arena assigned to you)")
    check_port(args.port)
    pkey = load_key(check_key_file(args.key))
    known_hosts = check_known_hosts(args.known_hosts, args.host, args.port, args.accept_new_host_key)
    try:
        fields: Dict[str, Any] = {"reconnect": ReconnectPolicy(interval=args.reconnect_interval)}
        fields.update(overrides)
        return FeedConfig(
            host=args.host,
            port=args.port,
            username=args.user,
            pkey=pkey,
            known_hosts=known_hosts,
            host_key_policy=HostKeyPolicy.ACCEPT_NEW if args.accept_new_host_key else HostKeyPolicy.REJECT,
            include_finished=args.include_finished,
            heartbeat_timeout=args.heartbeat_timeout,
            silence_timeout=args.silence_timeout,
            connect_timeout=args.connect_timeout,
            **fields,
        )
    except ConfigError as exc:
        option = _OPTION_OF_FIELD.get(exc.field, "--" + exc.field.replace("_", "-"))
        raise ImgFeedError(f"bad {option} {exc.value!r}: expected {exc.allowed}") from None

"""Configuration: :class:`FeedConfig` and :class:`ReconnectPolicy`, frozen attrs value objects.

Contract: every value is checked when the object is built, and a bad value raises
:class:`~imgfeed.errors.ConfigError` naming the field, so a typo fails at start-up rather than an
hour later during a reconnect. Policies are values (compare urllib3's ``Retry``): the reconnect
arithmetic lives here and is tested without threads; only the client sleeps.

Defaults follow the service's documentation (protocol.md sections 4 and 8): heartbeats every 3 s,
"no heartbeat for more than 10 s" suspends every market, "no message at all for 10 s" reconnects,
and reconnection is retried "at a 30 s interval", the first attempt at once.
"""

from __future__ import annotations

import enum
import math
import os
import random
from typing import Any, Callable, Optional

import attrs

from imgfeed.errors import ConfigError, allowed_values

__all__ = [
    "FeedConfig",
    "ReconnectPolicy",
    "HostKeyPolicy",
    "OverflowPolicy",
    "ErrorPolicy",
    "DEFAULT_PORT",
]

#: Default backlog above which a newer market update replaces its queued one. A queued update of a
#: large market is a parsed tree of ~20 KB, so half of the 100,000-item bound let RSS grow by ~1 GB
#: behind a slow handler before conflation began (benchmarks/slow_handler.py); 1,000 is about one
#: second of a busy feed and keeps memory flat from the start (benchmarks/README.md).
DEFAULT_CONFLATE_THRESHOLD = 1000

#: The service's SSH port (protocol.md preamble; IMG also listens on 22).
DEFAULT_PORT = 2093


class HostKeyPolicy(str, enum.Enum):
    """What to do with a server host key that is not in known_hosts."""

    #: The key must already be in known_hosts (the default, as OpenSSH's StrictHostKeyChecking=yes).
    REJECT = "reject"
    #: Trust on first use: add an unknown key to known_hosts, still reject a *changed* key.
    ACCEPT_NEW = "accept-new"
    #: Accept any key, even a changed one. Loudly named, and logged as a warning on every connect.
    INSECURE_ACCEPT_ANY = "insecure-accept-any"

    def __str__(self) -> str:
        return self.value


class OverflowPolicy(str, enum.Enum):
    """What the reader does when the handlers fall behind and the dispatch queue fills."""

    #: Default: above the threshold a newer ``market_update`` replaces the queued one for the same
    #: market (each update is the full image, so nothing is lost but stale prices). Structural
    #: messages are never dropped; if they alone fill the queue the reader waits.
    CONFLATE = "conflate"
    #: The reader waits for room (the server will drop a reader that stalls for 10 s).
    BLOCK = "block"
    #: Close the connection (reason ``QUEUE_OVERFLOW``) and reconnect once handlers caught up.
    DISCONNECT = "disconnect"

    def __str__(self) -> str:
        return self.value


class ErrorPolicy(str, enum.Enum):
    """What the dispatcher does when a handler raises."""

    #: Default: log the traceback with the record, count it, call ``on_handler_error``, go on.
    LOG = "log"
    #: As ``log``, then stop the client; ``join()`` / ``stop()`` re-raise the exception (for tests).
    RAISE = "raise"
    #: As ``log``, then drop the connection and reconnect (fresh snapshot, fresh images).
    DISCONNECT = "disconnect"

    def __str__(self) -> str:
        return self.value


def _to_host_key_policy(value: Any) -> Any:
    """Accept the enum or its string value; anything else is left for the validator to name."""
    try:
        return HostKeyPolicy(value)
    except ValueError:
        return value


def _to_overflow_policy(value: Any) -> Any:
    try:
        return OverflowPolicy(value)
    except ValueError:
        return value


def _to_error_policy(value: Any) -> Any:
    try:
        return ErrorPolicy(value)
    except ValueError:
        return value


def _is_enum(enum_cls: type) -> Callable[[Any, "attrs.Attribute[Any]", Any], None]:
    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not isinstance(value, enum_cls):
            raise ConfigError(attribute.name, value, allowed_values(m.value for m in enum_cls))  # type: ignore[attr-defined]

    return check


def _positive(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(attribute.name, value, "a finite number of seconds > 0")


def _non_negative(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigError(attribute.name, value, "a finite number >= 0")


def _optional_positive(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None:
        _positive(inst, attribute, value)


def _positive_int(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(attribute.name, value, "an integer >= 1")


def _bool(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(attribute.name, value, "True or False")


def _non_empty_str(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(attribute.name, value, "a non-empty string")


def _optional_path(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ConfigError(attribute.name, value, "a path (str or os.PathLike) or None")


def _expand(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, str):
        return os.path.expanduser(value)
    return value


@attrs.frozen
class ReconnectPolicy:
    """When to retry after a connection is lost or could not be made.

    The service asks clients to reconnect "as soon as possible, retrying at a 30 s interval" and
    rate-limits connections (protocol.md sections 7 and 8). So: attempt 1 waits ``first_delay``
    (0: at once), every later attempt waits ``interval`` plus up to ``jitter`` (a fraction) of it,
    so that many clients restarted together do not reconnect in step.

    Attributes:
        interval: seconds between attempts after the first.
        first_delay: seconds before the first attempt after a loss.
        max_attempts: give up (and stop the client) when this many connections in a row have
            failed or ended, a connection that established a session counting as the first of
            its run (so ``1`` never reconnects); ``None`` retries forever.
        jitter: a fraction of ``interval`` (0.05 = up to 5 % more) chosen at random per attempt.
        min_delay: the floor of every wait after a connection that the server refused for a
            reason that asks us to wait ("max connections hit", "connection rate limit hit"),
            even the first one. Never a tight loop.
    """

    interval: float = attrs.field(default=30.0, validator=_positive)
    first_delay: float = attrs.field(default=0.0, validator=_non_negative)
    max_attempts: Optional[int] = attrs.field(default=None)
    jitter: float = attrs.field(default=0.05, validator=_non_negative)
    min_delay: float = attrs.field(default=1.0, validator=_non_negative)

    @max_attempts.validator
    def _check_max_attempts(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None:
            _positive_int(self, attribute, value)

    @jitter.validator
    def _check_jitter(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value > 1:
            raise ConfigError(attribute.name, value, "a fraction of the interval between 0 and 1")

    def delay(self, attempt: int, rng: Optional[random.Random] = None, must_wait: bool = False) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 is the first after a loss).

        Args:
            attempt: 1-based number of the attempt about to be made.
            rng: the random source for the jitter (tests pass a seeded one).
            must_wait: the server refused us for a reason that asks us to wait; the delay is then
                at least ``interval`` (protocol.md section 7: "the client must not reconnect in a
                tight loop").
        """
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        if attempt == 1 and not must_wait:
            return self.first_delay
        base = self.interval
        spread = base * self.jitter * (rng or random).random() if self.jitter else 0.0
        return max(base + spread, self.min_delay if must_wait else 0.0)

    def is_exhausted(self, failed_attempts: int) -> bool:
        """True when ``failed_attempts`` consecutive failures mean: give up."""
        return self.max_attempts is not None and failed_attempts >= self.max_attempts


def _reconnect_policy(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, ReconnectPolicy):
        raise ConfigError(attribute.name, value, "a ReconnectPolicy")


@attrs.frozen
class FeedConfig:
    """Everything the client needs to connect to one feed, checked when built.

    Only ``host`` and ``username`` are required, with either ``key_filename`` or ``pkey``.

    Attributes:
        host, port, username: where to connect and as whom (the username assigned at onboarding).
        key_filename: path of the private key (OpenSSH or PEM format); ``~`` is expanded.
        pkey: an already loaded ``paramiko.PKey``, instead of ``key_filename``.
        passphrase: the private key's passphrase; never logged, never shown in ``repr``.
        known_hosts: the known_hosts file to verify the server's host key with
            (default ``~/.ssh/known_hosts``).
        host_key_policy: see :class:`HostKeyPolicy`; ``"reject"`` by default.
        include_finished: ask ``init`` for recently finished tournaments too (protocol.md 4).
        connect_timeout: seconds for TCP connect, SSH handshake, authentication and the shell.
        init_timeout: seconds to wait for the ``init`` response (or, in Mustard mode, the first
            push) before the connection is counted as failed.
        heartbeat_timeout: no heartbeat for this long suspends every market (protocol.md 8: 10 s).
        silence_timeout: no message at all for this long drops and reconnects (protocol.md 8: 10 s).
        request_timeout: default seconds a request waits for its response (and for the session).
        send_timeout: seconds one write to the connection may take.
        keepalive_interval: SSH keepalive period (keeps NAT entries open; not liveness).
        read_timeout: how long one read waits before the reader checks whether to stop.
        queue_size: the dispatch queue's bound, in queued items.
        conflate_threshold: backlog above which updates are conflated (default
            ``DEFAULT_CONFLATE_THRESHOLD``, or half the bound if that is smaller).
        overflow_policy: see :class:`OverflowPolicy`.
        error_policy: see :class:`ErrorPolicy`.
        handler_stall_warning: warn when one handler call runs longer than this many seconds.
        send_request_ids: put a ``request_id`` on every request (protocol.md 6).
        retry_auth_failures: keep retrying (at the reconnect interval) after an authentication or
            host-key failure instead of stopping the client. Off by default: a wrong key or a
            changed host key needs a person.
        reconnect: see :class:`ReconnectPolicy`.
        max_line_length: the longest line accepted from the server, in bytes.
    """

    host: str = attrs.field(validator=_non_empty_str)
    username: str = attrs.field(validator=_non_empty_str)
    port: int = attrs.field(default=DEFAULT_PORT)
    key_filename: Optional[str] = attrs.field(default=None, converter=_expand, validator=_optional_path)
    pkey: Optional[Any] = attrs.field(default=None, repr=False)
    passphrase: Optional[str] = attrs.field(default=None, repr=False)
    known_hosts: Optional[str] = attrs.field(
        default="~/.ssh/known_hosts", converter=_expand, validator=_optional_path
    )
    host_key_policy: HostKeyPolicy = attrs.field(
        default=HostKeyPolicy.REJECT,
        converter=_to_host_key_policy,
        validator=_is_enum(HostKeyPolicy),
    )
    include_finished: bool = attrs.field(default=False, validator=_bool)
    connect_timeout: float = attrs.field(default=15.0, validator=_positive)
    init_timeout: float = attrs.field(default=15.0, validator=_positive)
    heartbeat_timeout: float = attrs.field(default=10.0, validator=_positive)
    silence_timeout: float = attrs.field(default=10.0, validator=_positive)
    request_timeout: float = attrs.field(default=30.0, validator=_positive)
    send_timeout: float = attrs.field(default=10.0, validator=_positive)
    keepalive_interval: float = attrs.field(default=15.0, validator=_non_negative)
    read_timeout: float = attrs.field(default=0.5, validator=_positive)
    queue_size: int = attrs.field(default=100_000, validator=_positive_int)
    conflate_threshold: Optional[int] = attrs.field(default=None)
    overflow_policy: OverflowPolicy = attrs.field(
        default=OverflowPolicy.CONFLATE,
        converter=_to_overflow_policy,
        validator=_is_enum(OverflowPolicy),
    )
    error_policy: ErrorPolicy = attrs.field(
        default=ErrorPolicy.LOG, converter=_to_error_policy, validator=_is_enum(ErrorPolicy)
    )
    handler_stall_warning: Optional[float] = attrs.field(default=5.0, validator=_optional_positive)
    send_request_ids: bool = attrs.field(default=True, validator=_bool)
    retry_auth_failures: bool = attrs.field(default=False, validator=_bool)
    reconnect: ReconnectPolicy = attrs.field(factory=ReconnectPolicy, validator=_reconnect_policy)
    max_line_length: int = attrs.field(default=16 * 1024 * 1024, validator=_positive_int)

    @port.validator
    def _check_port(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if isinstance(value, str):
            example = f"port={value.strip()}, not port={value!r}"
            raise ConfigError(attribute.name, value, f"an int, not a string ({example})")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise ConfigError(attribute.name, value, "a TCP port number between 1 and 65535")

    @conflate_threshold.validator
    def _check_threshold(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is None:
            return
        _positive_int(self, attribute, value)
        if value > self.queue_size:
            raise ConfigError(attribute.name, value, f"an integer <= queue_size ({self.queue_size})")

    @pkey.validator
    def _check_pkey(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is None:
            return
        import paramiko  # imported here so that config stays cheap to import

        if not isinstance(value, paramiko.PKey):
            raise ConfigError(attribute.name, type(value).__name__, "a paramiko.PKey (a loaded private key) or None")

    @passphrase.validator
    def _check_passphrase(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None and not isinstance(value, str):
            # Never echo a secret in an error message.
            raise ConfigError(attribute.name, "<hidden>", "a string or None")

    def __attrs_post_init__(self) -> None:
        if self.pkey is None and self.key_filename is None:
            raise ConfigError("key_filename", None, "a private key: give key_filename or pkey")
        if self.pkey is not None and self.key_filename is not None:
            raise ConfigError("pkey", "<a key>", "either pkey or key_filename, not both")
        if self.host_key_policy is not HostKeyPolicy.INSECURE_ACCEPT_ANY and self.known_hosts is None:
            raise ConfigError(
                "known_hosts", None, f"a known_hosts path (host_key_policy={self.host_key_policy.value!r} needs one)"
            )
        self._check_paths_exist()

    def _check_paths_exist(self) -> None:
        """A path that names nothing fails here, at construction, not at the first connection.

        Under ``accept-new`` the known_hosts file may be missing (the first host key creates it),
        but its directory must exist: a typo in it would otherwise create a stray directory.
        ``insecure-accept-any`` reads no known_hosts, so its path is not checked.
        """
        if self.key_filename is not None and not os.path.exists(self.key_filename):
            raise ConfigError("key_filename", self.key_filename, "the path of an existing private key file")
        known_hosts = self.known_hosts
        if known_hosts is None or os.path.exists(known_hosts):
            return
        if self.host_key_policy is HostKeyPolicy.REJECT:
            raise ConfigError(
                "known_hosts",
                known_hosts,
                "an existing known_hosts file (or host_key_policy='accept-new' to create it on first use)",
            )
        directory = os.path.dirname(known_hosts) or "."
        if self.host_key_policy is HostKeyPolicy.ACCEPT_NEW and not os.path.isdir(directory):
            raise ConfigError(
                "known_hosts", known_hosts, f"a path in an existing directory ({directory} does not exist)"
            )

    @property
    def effective_conflate_threshold(self) -> int:
        """The backlog above which updates are conflated.

        ``conflate_threshold`` if set; else ``DEFAULT_CONFLATE_THRESHOLD``, or half the bound if
        that is smaller.
        """
        if self.conflate_threshold is not None:
            return self.conflate_threshold
        return max(1, min(DEFAULT_CONFLATE_THRESHOLD, self.queue_size // 2))

    @property
    def address(self) -> str:
        """``host:port``, for logs and stats."""
        return f"{self.host}:{self.port}"


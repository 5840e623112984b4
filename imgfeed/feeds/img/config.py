"""The IMG feed's configuration: :class:`FeedConfig`, a frozen attrs value checked when built.

Contract: every value is checked when the object is built, and a bad value raises
:class:`~imgfeed.errors.ConfigError` naming the field, so a typo fails at start-up rather than an
hour later during a reconnect. The runtime's part of it is handed over as one
:class:`~imgfeed.runtime.config.RuntimeSettings` (:meth:`FeedConfig.runtime_settings`).

Defaults follow the service's documentation (docs/protocol.md sections 4 and 8): heartbeats every
3 s, "no heartbeat for more than 10 s" suspends every market, "no message at all for 10 s"
reconnects, and reconnection is retried "at a 30 s interval", the first attempt at once.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import attrs

from imgfeed.errors import ConfigError
from imgfeed.runtime.checks import (
    boolean,
    check_parser,
    expand_path,
    is_enum,
    non_empty_str,
    non_negative,
    optional_path,
    optional_positive,
    positive,
    positive_int,
    tcp_port,
    to_enum,
)
from imgfeed.runtime.config import (
    DEFAULT_CONFLATE_THRESHOLD,
    ErrorPolicy,
    OverflowPolicy,
    ReconnectPolicy,
    RuntimeSettings,
    effective_conflate_threshold,
    reconnect_policy,
    settings_from,
    to_error_policy,
    to_overflow_policy,
    valid_conflate_threshold,
)
from imgfeed.transport.hostkeys import HostKeyPolicy

__all__ = [
    "FeedConfig",
    "ReconnectPolicy",
    "HostKeyPolicy",
    "OverflowPolicy",
    "ErrorPolicy",
    "DEFAULT_PORT",
    "DEFAULT_CONFLATE_THRESHOLD",
]

#: The service's SSH port (docs/protocol.md, before section 1; IMG also listens on 22).
DEFAULT_PORT = 2093


def _to_host_key_policy(value: Any) -> Any:
    return to_enum(HostKeyPolicy)(value)


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
        include_finished: ask ``init`` for recently finished tournaments too (docs/protocol.md 4).
        connect_timeout: seconds for TCP connect, SSH handshake, authentication and the shell.
        init_timeout: seconds to wait for the ``init`` response (or, in Mustard mode, the first
            push) before the connection is counted as failed.
        heartbeat_timeout: no heartbeat for this long suspends every market (docs/protocol.md 8: 10 s).
        silence_timeout: no message at all for this long drops and reconnects (docs/protocol.md 8: 10 s).
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
        send_request_ids: put a ``request_id`` on every request (docs/protocol.md 6).
        retry_auth_failures: keep retrying (at the reconnect interval) after an authentication or
            host-key failure instead of stopping the client. Off by default: a wrong key or a
            changed host key needs a person.
        reconnect: see :class:`ReconnectPolicy`.
        max_line_length: the longest line accepted from the server, in bytes.
        parser: how ``market_update`` lines are checked: ``"auto"`` (msgspec, in C, when
            ``imgfeed[speed]`` is installed; else the default path), ``"ujson"`` (the default
            path: one regular expression for a line in the documented form, ujson and Python
            checks for any other) or ``"msgspec"``. The records and errors are the same either way
            (tests/unit/test_fast.py).
    """

    host: str = attrs.field(validator=non_empty_str)
    username: str = attrs.field(validator=non_empty_str)
    port: int = attrs.field(default=DEFAULT_PORT)
    key_filename: Optional[str] = attrs.field(default=None, converter=expand_path, validator=optional_path)
    pkey: Optional[Any] = attrs.field(default=None, repr=False)
    passphrase: Optional[str] = attrs.field(default=None, repr=False)
    known_hosts: Optional[str] = attrs.field(
        default="~/.ssh/known_hosts", converter=expand_path, validator=optional_path
    )
    host_key_policy: HostKeyPolicy = attrs.field(
        default=HostKeyPolicy.REJECT,
        converter=_to_host_key_policy,
        validator=is_enum(HostKeyPolicy),
    )
    include_finished: bool = attrs.field(default=False, validator=boolean)
    connect_timeout: float = attrs.field(default=15.0, validator=positive)
    init_timeout: float = attrs.field(default=15.0, validator=positive)
    heartbeat_timeout: float = attrs.field(default=10.0, validator=positive)
    silence_timeout: float = attrs.field(default=10.0, validator=positive)
    request_timeout: float = attrs.field(default=30.0, validator=positive)
    send_timeout: float = attrs.field(default=10.0, validator=positive)
    keepalive_interval: float = attrs.field(default=15.0, validator=non_negative)
    read_timeout: float = attrs.field(default=0.5, validator=positive)
    queue_size: int = attrs.field(default=100_000, validator=positive_int)
    conflate_threshold: Optional[int] = attrs.field(default=None, validator=valid_conflate_threshold)
    overflow_policy: OverflowPolicy = attrs.field(
        default=OverflowPolicy.CONFLATE,
        converter=to_overflow_policy,
        validator=is_enum(OverflowPolicy),
    )
    error_policy: ErrorPolicy = attrs.field(
        default=ErrorPolicy.LOG, converter=to_error_policy, validator=is_enum(ErrorPolicy)
    )
    handler_stall_warning: Optional[float] = attrs.field(default=5.0, validator=optional_positive)
    send_request_ids: bool = attrs.field(default=True, validator=boolean)
    retry_auth_failures: bool = attrs.field(default=False, validator=boolean)
    reconnect: ReconnectPolicy = attrs.field(factory=ReconnectPolicy, validator=reconnect_policy)
    max_line_length: int = attrs.field(default=16 * 1024 * 1024, validator=positive_int)
    parser: str = attrs.field(default="auto")

    @parser.validator
    def _check_parser(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        from imgfeed.feeds.img.protocol.fast import AVAILABLE

        check_parser(attribute.name, value, AVAILABLE)

    @port.validator
    def _check_port(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if isinstance(value, str):
            example = f"port={value.strip()}, not port={value!r}"
            raise ConfigError(attribute.name, value, f"an int, not a string ({example})")
        tcp_port(self, attribute, value)

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
        return effective_conflate_threshold(self.conflate_threshold, self.queue_size)

    def runtime_settings(self) -> RuntimeSettings:
        """The runtime's part of this configuration."""
        return settings_from(self, retry_fatal=self.retry_auth_failures)

    @property
    def address(self) -> str:
        """``host:port``, for logs and stats."""
        return f"{self.host}:{self.port}"


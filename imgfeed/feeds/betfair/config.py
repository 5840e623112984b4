"""The Betfair client's configuration: :class:`BetfairConfig`, a frozen attrs value checked when built.

Contract: every value is checked when the object is built; a bad one raises
:class:`~imgfeed.errors.ConfigError` naming the field and the allowed values or range, so a typo
fails at start-up, not during a reconnect an hour later. Secrets never show: ``session_token``
and ``session_provider`` are left out of ``repr``, and of the app key only its first characters
show. The runtime's part is handed over as one :class:`~imgfeed.runtime.config.RuntimeSettings`.

Defaults are Betfair's (docs/betfair.md): ``stream-api.betfair.com:443``, the first message within
15 s, heartbeats every 5000 ms (the server's default; 500-5000 allowed), no conflation,
segmentation on. Reconnects back off exponentially, as Betfair's own clients do: at once, then 2 s
doubling up to 60 s; a refusal that asks us to wait (``MAX_CONNECTION_LIMIT_EXCEEDED``,
``TOO_MANY_REQUESTS``) waits at least 15 s, the Java sample client's interval.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

import attrs

from imgfeed.errors import ConfigError
from imgfeed.feeds.betfair.cache.markets import DEFAULT_CLOSED_RETENTION
from imgfeed.feeds.betfair.cache.orders import DEFAULT_COMPLETE_RETENTION, DEFAULT_ORDER_CLOSED_RETENTION
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
)
from imgfeed.runtime.config import (
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

__all__ = [
    "BetfairConfig",
    "DEFAULT_HOST",
    "INTEGRATION_HOST",
    "DEFAULT_PORT",
    "DEFAULT_RECONNECT",
    "HEARTBEAT_MS_RANGE",
    "CONFLATE_MS_RANGE",
]

#: Betfair's production stream host, and its integration (beta) host (no backup behind it).
DEFAULT_HOST = "stream-api.betfair.com"
INTEGRATION_HOST = "stream-api-integration.betfair.com"
DEFAULT_PORT = 443
#: heartbeatMs: "bounds are 500 to 5000" (ESA schema); conflateMs: 0 to 120000.
HEARTBEAT_MS_RANGE = (500, 5000)
CONFLATE_MS_RANGE = (0, 120_000)
#: At once, then 2 s doubling to 60 s (flumine's 2-60 s); a refusal waits 15 s (the Java sample).
DEFAULT_RECONNECT = ReconnectPolicy(interval=2.0, backoff=2.0, max_interval=60.0, jitter=0.1, min_delay=15.0)
_APP_KEY_SHOWN = 4


def _show_app_key(value: Any) -> str:
    return f"'{value[:_APP_KEY_SHOWN]}...'" if isinstance(value, str) else "<hidden>"


def _int_in(low: int, high: int) -> Any:
    def check(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(attribute.name, value, f"an integer between {low} and {high} (milliseconds)")

    return check


def _optional_int_in(low: int, high: int) -> Any:
    inner = _int_in(low, high)

    def check(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None:
            inner(inst, attribute, value)

    return check


@attrs.frozen(kw_only=True)
class BetfairConfig:
    """Everything the Betfair client needs, checked when built.

    Required: ``app_key`` and one of ``session_token`` / ``session_provider``.

    Attributes:
        app_key: the application key (shown only by its first characters).
        session_token: the session token from Betfair's login; never logged or shown.
        session_provider: a callable returning a fresh session token; called at start when no
            ``session_token`` is given, and again after ``NO_SESSION`` /
            ``INVALID_SESSION_INFORMATION``. Without one, those errors stop the client.
        host, port: the stream server (``stream-api.betfair.com:443``).
        cafile: CA certificates to verify the server with (default: the system's). Verification
            is always on.
        heartbeat_ms: the heartbeat interval asked for (500-5000 ms). No message for twice the
            interval the server grants suspends every market; three times drops the connection.
        conflate_ms: the conflation asked for (0-120000 ms), or ``None`` for none.
        segmentation: let the server split large images (faster; the client joins them).
        auth_timeout: seconds from the TLS connection to the authentication's answer (Betfair
            closes a connection that sends nothing within 15 s).
        connect_timeout: seconds for the TCP connect and the TLS handshake.
        request_timeout: default seconds a subscription waits for its ``status``.
        send_timeout: seconds one write may take.
        read_timeout: how long one read waits before the reader checks whether to stop.
        queue_size, conflate_threshold, overflow_policy, error_policy, handler_stall_warning:
            the runtime's dispatch queue and handler policies (see ``imgfeed.runtime.config``);
            books are full images, so the queue may conflate them per market; deltas never
            reach it.
        reconnect: the reconnect policy (exponential backoff by default).
        retry_fatal: keep retrying after ``INVALID_APP_KEY`` and the like, or a certificate
            that fails verification, instead of stopping. Off: those need a person.
        max_line_length: the longest line accepted, in bytes (an unsegmented image can be MBs).
        closed_retention: seconds a CLOSED market stays in the cache.
        order_closed_retention: seconds a closed market's orders stay in the order cache.
        order_complete_retention: seconds an execution-complete order stays in the order cache.
        parser: how each line's JSON is parsed: ``"auto"`` (msgspec, in C, when ``imgfeed[speed]``
            is installed; else ujson), ``"ujson"`` or ``"msgspec"``. The records and errors are
            the same either way (tests/betfair/test_fast.py).
    """

    app_key: str = attrs.field(validator=non_empty_str, repr=_show_app_key)
    session_token: Optional[str] = attrs.field(default=None, repr=False)
    session_provider: Optional[Callable[[], str]] = attrs.field(default=None, repr=False)
    host: str = attrs.field(default=DEFAULT_HOST, validator=non_empty_str)
    port: int = attrs.field(default=DEFAULT_PORT, validator=tcp_port)
    cafile: Optional[str] = attrs.field(default=None, converter=expand_path, validator=optional_path)
    heartbeat_ms: int = attrs.field(default=5000, validator=_int_in(*HEARTBEAT_MS_RANGE))
    conflate_ms: Optional[int] = attrs.field(default=None, validator=_optional_int_in(*CONFLATE_MS_RANGE))
    segmentation: bool = attrs.field(default=True, validator=boolean)
    auth_timeout: float = attrs.field(default=15.0, validator=positive)
    connect_timeout: float = attrs.field(default=15.0, validator=positive)
    request_timeout: float = attrs.field(default=30.0, validator=positive)
    send_timeout: float = attrs.field(default=10.0, validator=positive)
    read_timeout: float = attrs.field(default=0.5, validator=positive)
    queue_size: int = attrs.field(default=100_000, validator=positive_int)
    conflate_threshold: Optional[int] = attrs.field(default=None, validator=valid_conflate_threshold)
    overflow_policy: OverflowPolicy = attrs.field(
        default=OverflowPolicy.CONFLATE, converter=to_overflow_policy, validator=is_enum(OverflowPolicy)
    )
    error_policy: ErrorPolicy = attrs.field(
        default=ErrorPolicy.LOG, converter=to_error_policy, validator=is_enum(ErrorPolicy)
    )
    handler_stall_warning: Optional[float] = attrs.field(default=5.0, validator=optional_positive)
    reconnect: ReconnectPolicy = attrs.field(default=DEFAULT_RECONNECT, validator=reconnect_policy)
    retry_fatal: bool = attrs.field(default=False, validator=boolean)
    max_line_length: int = attrs.field(default=64 * 1024 * 1024, validator=positive_int)
    closed_retention: float = attrs.field(default=DEFAULT_CLOSED_RETENTION, validator=non_negative)
    order_closed_retention: float = attrs.field(default=DEFAULT_ORDER_CLOSED_RETENTION, validator=non_negative)
    order_complete_retention: float = attrs.field(default=DEFAULT_COMPLETE_RETENTION, validator=non_negative)
    parser: str = attrs.field(default="auto")

    @session_token.validator
    def _check_token(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(attribute.name, "<hidden>", "a non-empty string, or None with a session_provider")

    @session_provider.validator
    def _check_provider(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None and not callable(value):
            raise ConfigError(attribute.name, type(value).__name__, "a callable returning a session token")

    @parser.validator
    def _check_parser(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        from imgfeed.feeds.betfair.protocol.fast import AVAILABLE

        check_parser(attribute.name, value, AVAILABLE)

    def __attrs_post_init__(self) -> None:
        if self.session_token is None and self.session_provider is None:
            raise ConfigError("session_token", None, "a session token, or a session_provider that returns one")
        if self.cafile is not None and not os.path.isfile(self.cafile):
            raise ConfigError("cafile", self.cafile, "the path of an existing PEM file of CA certificates")

    @property
    def address(self) -> str:
        """``host:port``, for logs and stats."""
        return f"{self.host}:{self.port}"

    @property
    def effective_conflate_threshold(self) -> int:
        return effective_conflate_threshold(self.conflate_threshold, self.queue_size)

    def runtime_settings(self) -> RuntimeSettings:
        """The runtime's part of this configuration."""
        return settings_from(self, retry_fatal=self.retry_fatal)

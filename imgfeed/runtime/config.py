"""The runtime's settings and policies, as frozen attrs values checked when they are built.

Contract: every feed's config (``FeedConfig`` for IMG, ``BetfairConfig`` ...) holds the fields its
users set and builds one :class:`RuntimeSettings` from them; the runtime reads nothing else. The
policies are values (compare urllib3's ``Retry``): the reconnect arithmetic lives here and is
tested without threads; only the watchdog sleeps.

A feed's config declares the runtime's fields itself (its users set them there, with its own
defaults and docs), checks them with the converters and validators of this module
(:func:`to_overflow_policy`, :func:`to_error_policy`, :func:`reconnect_policy`,
:func:`valid_conflate_threshold`) and hands them over with :func:`settings_from`, so every feed checks
and passes them the same way.

This module knows no feed. Defaults that come from a feed's documentation (IMG's "retrying at a
30 s interval") are set by that feed's config, which passes them in.
"""

from __future__ import annotations

import enum
import random
from typing import Any, Optional, Protocol

import attrs

from imgfeed.errors import ConfigError
from imgfeed.runtime.checks import (
    boolean,
    is_enum,
    non_negative,
    optional_positive,
    positive,
    positive_int,
    to_enum,
)

__all__ = [
    "ReconnectPolicy",
    "OverflowPolicy",
    "ErrorPolicy",
    "RuntimeSettings",
    "RuntimeFields",
    "DEFAULT_CONFLATE_THRESHOLD",
    "to_overflow_policy",
    "to_error_policy",
    "reconnect_policy",
    "valid_conflate_threshold",
    "effective_conflate_threshold",
    "settings_from",
]

#: Default backlog above which a newer item replaces its queued one. A queued IMG update of a large
#: market is a parsed tree of ~20 KB, so half of the 100,000-item bound let RSS grow by ~1 GB behind
#: a slow handler before conflation began (benchmarks/slow_handler.py); 1,000 is about one second
#: of a busy feed and keeps memory flat from the start (benchmarks/README.md).
DEFAULT_CONFLATE_THRESHOLD = 1000


class OverflowPolicy(str, enum.Enum):
    """What happens when the handlers fall behind and the dispatch queue reaches its bound."""

    #: Default: above the conflation threshold a newer image replaces the queued one for the same
    #: market (each is a full image, so nothing is lost but stale prices), and a newer status
    #: notification replaces the older one for the same market. Items that cannot be conflated
    #: (snapshot records, removals, errors) are never dropped: if they alone fill the queue the
    #: connection is closed (``queue overflow``) and made afresh -- never a silent wait.
    CONFLATE = "conflate"
    #: The reader stops reading until there is room (the server drops a reader that stalls long
    #: enough; the silence rule still applies).
    BLOCK = "block"
    #: Close the connection (reason ``queue overflow``) and reconnect once the handlers caught up.
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


@attrs.frozen
class ReconnectPolicy:
    """When to retry after a connection is lost or could not be made.

    Attempt 1 after a loss waits ``first_delay`` (0: at once); attempt ``n >= 2`` waits
    ``interval * backoff ** (n - 2)``, capped at ``max_interval``, plus up to ``jitter`` (a
    fraction) of it, so that many clients restarted together do not reconnect in step. IMG asks
    for a constant 30 s (``backoff=1``, the default); Betfair's clients use an exponential backoff.
    A connection that established a session counts as the first of a new run: the backoff resets
    once the feed was healthy.

    Attributes:
        interval: seconds before the second attempt (and every later one when ``backoff`` is 1).
        first_delay: seconds before the first attempt after a loss.
        max_attempts: give up (and stop the client) when this many connections in a row have
            failed or ended, a connection that established a session counting as the first of
            its run (so ``1`` never reconnects); ``None`` retries forever.
        jitter: a fraction of the delay (0.05 = up to 5 % more) chosen at random per attempt.
        min_delay: the floor of every wait after a refusal that asks us to wait (IMG's "max
            connections hit", Betfair's MAX_CONNECTION_LIMIT_EXCEEDED), even the first one.
            Never a tight loop.
        backoff: the factor by which each further delay grows (1: constant).
        max_interval: the cap of a growing delay (``None``: no cap).
    """

    interval: float = attrs.field(default=30.0, validator=positive)
    first_delay: float = attrs.field(default=0.0, validator=non_negative)
    max_attempts: Optional[int] = attrs.field(default=None)
    jitter: float = attrs.field(default=0.05, validator=non_negative)
    min_delay: float = attrs.field(default=1.0, validator=non_negative)
    backoff: float = attrs.field(default=1.0, validator=positive)
    max_interval: Optional[float] = attrs.field(default=None, validator=optional_positive)

    @max_attempts.validator
    def _check_max_attempts(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value is not None:
            positive_int(self, attribute, value)

    @jitter.validator
    def _check_jitter(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value > 1:
            raise ConfigError(attribute.name, value, "a fraction of the interval between 0 and 1")

    @backoff.validator
    def _check_backoff(self, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if value < 1:
            raise ConfigError(attribute.name, value, "a factor >= 1 (1: a constant interval)")

    def delay(self, attempt: int, rng: Optional[random.Random] = None, must_wait: bool = False) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 is the first after a loss).

        Args:
            attempt: 1-based number of the attempt about to be made.
            rng: the random source for the jitter (tests pass a seeded one).
            must_wait: the server refused us for a reason that asks us to wait; the delay is then
                at least ``interval`` and ``min_delay``, even for the first attempt.
        """
        if attempt < 1:
            raise ValueError(f"attempt must be >= 1, got {attempt}")
        if attempt == 1 and not must_wait:
            return self.first_delay
        base = self.interval * self.backoff ** max(0, attempt - 2)
        if self.max_interval is not None:
            base = min(base, self.max_interval)
        spread = base * self.jitter * (rng or random).random() if self.jitter else 0.0
        return max(base + spread, self.min_delay if must_wait else 0.0)

    def is_exhausted(self, failed_attempts: int) -> bool:
        """True when ``failed_attempts`` consecutive failures mean: give up."""
        return self.max_attempts is not None and failed_attempts >= self.max_attempts


def to_overflow_policy(value: Any) -> Any:
    """A converter: the :class:`OverflowPolicy` for a member or its value (else left to the validator)."""
    return to_enum(OverflowPolicy)(value)


def to_error_policy(value: Any) -> Any:
    """A converter: the :class:`ErrorPolicy` for a member or its value (else left to the validator)."""
    return to_enum(ErrorPolicy)(value)


def reconnect_policy(_inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """A validator: the value must be a :class:`ReconnectPolicy`."""
    if not isinstance(value, ReconnectPolicy):
        raise ConfigError(attribute.name, value, "a ReconnectPolicy")


def valid_conflate_threshold(inst: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    """A validator of a feed config's optional ``conflate_threshold``: an int, at most ``queue_size``.

    Declare the field after ``queue_size``: attrs runs validators in field order.
    """
    if value is None:
        return
    positive_int(inst, attribute, value)
    if value > inst.queue_size:
        raise ConfigError(attribute.name, value, f"an integer <= queue_size ({inst.queue_size})")


def effective_conflate_threshold(threshold: Optional[int], queue_size: int) -> int:
    """``threshold`` if set; else :data:`DEFAULT_CONFLATE_THRESHOLD`, or half the bound if smaller."""
    if threshold is not None:
        return threshold
    return max(1, min(DEFAULT_CONFLATE_THRESHOLD, queue_size // 2))


@attrs.frozen
class RuntimeSettings:
    """What the runtime needs to know, whatever the feed. Built by each feed's config.

    Attributes:
        connect_timeout: seconds for opening a connection (TCP, TLS or SSH, authentication).
        send_timeout: seconds one write to the connection may take.
        request_timeout: default seconds a request waits for its response (and for a session).
        queue_size: the dispatch queue's bound, in queued items.
        conflate_threshold: the backlog above which conflatable items are conflated.
        overflow_policy, error_policy: see :class:`OverflowPolicy`, :class:`ErrorPolicy`.
        handler_stall_warning: warn when one handler call runs longer than this (``None``: never).
        reconnect: see :class:`ReconnectPolicy`.
        retry_fatal: keep retrying after a close the feed calls fatal (a rejected key, a changed
            host key, an invalid app key) instead of stopping. Off by default: those need a person.
        max_internal_errors: this many connections in a row ended by an internal error (a bug in
            imgfeed or in a feed adapter) stop the client, with the traceback, instead of a
            reconnect loop that would look like a network fault.
    """

    connect_timeout: float = attrs.field(default=15.0, validator=positive)
    send_timeout: float = attrs.field(default=10.0, validator=positive)
    request_timeout: float = attrs.field(default=30.0, validator=positive)
    queue_size: int = attrs.field(default=100_000, validator=positive_int)
    conflate_threshold: int = attrs.field(default=DEFAULT_CONFLATE_THRESHOLD, validator=positive_int)
    overflow_policy: OverflowPolicy = attrs.field(
        default=OverflowPolicy.CONFLATE, converter=to_overflow_policy, validator=is_enum(OverflowPolicy)
    )
    error_policy: ErrorPolicy = attrs.field(
        default=ErrorPolicy.LOG, converter=to_error_policy, validator=is_enum(ErrorPolicy)
    )
    handler_stall_warning: Optional[float] = attrs.field(default=5.0, validator=optional_positive)
    reconnect: ReconnectPolicy = attrs.field(factory=ReconnectPolicy, validator=reconnect_policy)
    retry_fatal: bool = attrs.field(default=False, validator=boolean)
    max_internal_errors: int = attrs.field(default=3, validator=positive_int)


class RuntimeFields(Protocol):
    """The runtime's fields as a feed's config holds them (checked with this module's validators)."""

    @property
    def connect_timeout(self) -> float: ...

    @property
    def send_timeout(self) -> float: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def queue_size(self) -> int: ...

    @property
    def conflate_threshold(self) -> Optional[int]: ...

    @property
    def overflow_policy(self) -> OverflowPolicy: ...

    @property
    def error_policy(self) -> ErrorPolicy: ...

    @property
    def handler_stall_warning(self) -> Optional[float]: ...

    @property
    def reconnect(self) -> ReconnectPolicy: ...


def settings_from(config: RuntimeFields, retry_fatal: bool) -> RuntimeSettings:
    """The :class:`RuntimeSettings` of a feed's config, its conflation threshold made effective.

    ``retry_fatal`` is passed apart because each feed names the field after what it retries.
    """
    return RuntimeSettings(
        connect_timeout=config.connect_timeout,
        send_timeout=config.send_timeout,
        request_timeout=config.request_timeout,
        queue_size=config.queue_size,
        conflate_threshold=effective_conflate_threshold(config.conflate_threshold, config.queue_size),
        overflow_policy=config.overflow_policy,
        error_policy=config.error_policy,
        handler_stall_warning=config.handler_stall_warning,
        reconnect=config.reconnect,
        retry_fatal=retry_fatal,
    )

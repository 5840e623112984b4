"""Emulator settings: :class:`EmulatorConfig` (every connection) and :class:`ScenarioConfig` (the exchange).

Both are frozen attrs value objects, checked when built: a bad value raises
:class:`~imgfeed.errors.ConfigError` naming the field and what is allowed. The defaults are what
Betfair documents (15 s to authenticate, 200 markets per subscription, heartbeats of 500-5000 ms),
so an emulator built with no arguments behaves like production; tests shorten the timers and shrink
the limits. Accepted credentials are never shown in a repr.
"""

from __future__ import annotations

from typing import Any, FrozenSet, Iterable, Optional

import attrs

from imgfeed.errors import ConfigError

__all__ = ["EmulatorConfig", "ScenarioConfig", "DEFAULT_APP_KEY", "DEFAULT_SESSION_TOKEN"]

#: The credentials an emulator accepts unless told otherwise (emulator-only, not secrets).
DEFAULT_APP_KEY = "emulator-app-key"
DEFAULT_SESSION_TOKEN = "emulator-session-token"


def _number(minimum: float, strict: bool = True) -> Any:
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (value <= minimum if strict else value < minimum):
            raise ConfigError(attribute.name, value, f"a number {'>' if strict else '>='} {minimum:g}")

    return check


def _count(minimum: int, maximum: Optional[int] = None) -> Any:
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            upper = f" and <= {maximum}" if maximum is not None else ""
            raise ConfigError(attribute.name, value, f"an integer >= {minimum}{upper}")

    return check


def _optional_count(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is not None:
        _count(1)(instance, attribute, value)


def _probability(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ConfigError(attribute.name, value, "a probability between 0 and 1")


def _strings(value: Iterable[str]) -> FrozenSet[str]:
    if isinstance(value, str):
        return frozenset({value})
    return frozenset(value)


def _non_empty_strings(instance: Any, attribute: "attrs.Attribute[Any]", value: FrozenSet[str]) -> None:
    if not all(isinstance(v, str) and v for v in value):
        raise ConfigError(attribute.name, "<hidden>", "a set of non-empty strings")


@attrs.frozen(kw_only=True)
class EmulatorConfig:
    """How the emulator treats each connection.

    Attributes:
        app_keys: application keys accepted by ``authentication`` (others: ``INVALID_APP_KEY``).
        session_tokens: session tokens accepted (others: ``INVALID_SESSION_INFORMATION``).
        unauthorized_app_keys: app keys that are known but not set up for streaming: their
            authentication is answered ``NOT_AUTHORIZED``.
        auth_timeout: seconds a client has to authenticate before ``TIMEOUT`` ("send a message
            within 15 seconds to avoid receiving a TIMEOUT error").
        connection_limit: open authenticated connections per app key; the next one is answered
            ``MAX_CONNECTION_LIMIT_EXCEEDED``. The auth status reports ``connectionsAvailable``.
        subscription_limit: markets one market subscription may match ("set to 200 markets by
            default"); more is ``SUBSCRIPTION_LIMIT_EXCEEDED``, which keeps the connection.
        request_rate_limit: requests per ``request_rate_window`` seconds on one connection before
            ``TOO_MANY_REQUESTS``; ``None``: no limit.
        request_rate_window: the window of ``request_rate_limit``, in seconds.
        segment_size: with ``segmentationEnabled``, a change message whose JSON exceeds this many
            bytes is split into ``SEG_START`` / ``SEG`` / ``SEG_END`` parts of about this size.
        default_heartbeat_ms: ``heartbeatMs`` when the subscription does not give one.
        max_request_length: longest request line read, in bytes; longer is ``INVALID_INPUT``.
        handshake_timeout: seconds for the TLS handshake.
        close_flush_timeout: seconds a closing connection may take to write what is queued.
        send_buffer_size: ``SO_SNDBUF`` of accepted sockets (small in slow-reader tests); ``None``
            leaves the system's.
    """

    app_keys: FrozenSet[str] = attrs.field(
        default=frozenset({DEFAULT_APP_KEY}), converter=_strings, validator=_non_empty_strings, repr=False
    )
    session_tokens: FrozenSet[str] = attrs.field(
        default=frozenset({DEFAULT_SESSION_TOKEN}),
        converter=_strings,
        validator=_non_empty_strings,
        repr=False,
    )
    unauthorized_app_keys: FrozenSet[str] = attrs.field(default=frozenset(), converter=_strings, repr=False)
    auth_timeout: float = attrs.field(default=15.0, validator=_number(0))
    connection_limit: int = attrs.field(default=10, validator=_count(1))
    subscription_limit: int = attrs.field(default=200, validator=_count(1))
    request_rate_limit: Optional[int] = attrs.field(default=None, validator=_optional_count)
    request_rate_window: float = attrs.field(default=1.0, validator=_number(0))
    segment_size: int = attrs.field(default=32 * 1024, validator=_count(256))
    default_heartbeat_ms: int = attrs.field(default=5000, validator=_count(500, 5000))
    max_request_length: int = attrs.field(default=64 * 1024, validator=_count(64))
    handshake_timeout: float = attrs.field(default=10.0, validator=_number(0))
    close_flush_timeout: float = attrs.field(default=2.0, validator=_number(0))
    send_buffer_size: Optional[int] = attrs.field(default=None, validator=_optional_count)


@attrs.frozen(kw_only=True)
class ScenarioConfig:
    """What the emulated exchange offers and how it moves; deterministic for a seed.

    The same seed, ``start_time`` and sequence of :meth:`Scenario.step` calls give the same
    messages (``pt`` follows the clock). Market kinds are dealt in turn: horse racing ``WIN``
    (BSP, removals with adjustment factors), football ``MATCH_ODDS``, horse racing again, tennis
    ``MATCH_ODDS``.

    Attributes:
        seed: seed of the scenario's ``random.Random`` (and of the clock epoch).
        markets: markets open at once; a market that closed is replaced by a new one.
        horse_runners: runners in each horse race.
        order_markets: markets (the first ones) on which the account places orders.
        updates_per_step: markets whose prices move in one :meth:`Scenario.step`.
        updates_per_second: steps the server's ticker runs per second; 0: none (tests step).
        pre_play_steps: steps a market stays pre-play.
        in_play_steps: steps an in-play market runs before it suspends and closes.
        closed_steps: steps a closed market stays before it is replaced.
        removal_probability: chance per step that a horse race loses a non-runner (pre-play).
        suspend_probability: chance per step that an in-play market suspends for a step.
        order_probability: chance per step and order market of an order event.
        history_per_market: deltas kept per market for RESUB_DELTA; older resumes get ``img``.
        clock_retention: batches a clock stays valid for; older is ``INVALID_CLOCK``.
        start_time: the scenario's clock origin (epoch seconds) for market times; ``None``: now.
    """

    seed: int = attrs.field(default=0, validator=_count(0))
    markets: int = attrs.field(default=12, validator=_count(1, 5000))
    horse_runners: int = attrs.field(default=8, validator=_count(2, 24))
    order_markets: int = attrs.field(default=3, validator=_count(0))
    updates_per_step: int = attrs.field(default=4, validator=_count(0))
    updates_per_second: float = attrs.field(default=0.0, validator=_number(0, strict=False))
    pre_play_steps: int = attrs.field(default=40, validator=_count(1))
    in_play_steps: int = attrs.field(default=60, validator=_count(1))
    closed_steps: int = attrs.field(default=5, validator=_count(1))
    removal_probability: float = attrs.field(default=0.02, validator=_probability)
    suspend_probability: float = attrs.field(default=0.03, validator=_probability)
    order_probability: float = attrs.field(default=0.5, validator=_probability)
    history_per_market: int = attrs.field(default=500, validator=_count(1))
    clock_retention: int = attrs.field(default=100_000, validator=_count(1))
    start_time: Optional[float] = attrs.field(default=None)

    @property
    def epoch(self) -> int:
        """The clock epoch: clocks of another seed are not this history's."""
        return (self.seed * 2654435761 + 0x5EED) & 0xFFFFFFFF

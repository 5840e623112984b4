"""Simulator settings: :class:`SessionConfig` (one connection) and :class:`ScenarioConfig` (the feed).

Both are frozen attrs value objects, checked when built: a bad value raises
:class:`~imgfeed.errors.ConfigError` naming the field. Defaults are the real service's documented
behaviour (docs/protocol.md sections 4, 7 and 8), so a simulator built with no arguments behaves like
production; tests shorten the timers (e.g. ``heartbeat_interval=0.1``).
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from imgfeed.errors import ConfigError

__all__ = ["SessionConfig", "ScenarioConfig"]


def _positive(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(attribute.name, value, "a number > 0")


def _non_negative(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
        raise ConfigError(attribute.name, value, "a number >= 0")


def _optional_count(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(attribute.name, value, "None (no limit) or an integer >= 0")


def _count(minimum: int) -> Any:
    def check(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ConfigError(attribute.name, value, f"an integer >= {minimum}")

    return check


def _probability(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ConfigError(attribute.name, value, "a probability between 0 and 1")


@attrs.frozen(kw_only=True)
class SessionConfig:
    """How the simulated server treats each connection.

    Attributes:
        heartbeat_interval: seconds between heartbeats after ``init`` ("every 3 s", docs/protocol.md 4).
        init_timeout: seconds a client has to send ``init`` before the "no init sent" close
            ("within 10 s", docs/protocol.md 4).
        slow_reader_timeout: seconds the server may be unable to write before it closes the
            connection with "slow reader" ("cannot send a heartbeat for 10 s", docs/protocol.md 1).
        mustard: reproduce the older Mustard service: no init response, no ``publish_time``, no
            ``arena_*`` fields, ``include_finished`` ignored (docs/protocol.md 9).
        request_rate_limit: at most this many requests per ``request_rate_window`` seconds per
            connection; the others get "API limit breached" (docs/protocol.md 7). ``None``: no limit.
        request_rate_window: the window of ``request_rate_limit``, in seconds.
        max_connections: at most this many open connections; the next gets "max connections hit".
        connection_rate_limit: at most this many new connections per ``connection_rate_window``
            seconds; the next gets "connection rate limit hit".
        connection_rate_window: the window of ``connection_rate_limit``, in seconds.
        max_request_length: longest request line the server reads, in bytes.
    """

    heartbeat_interval: float = attrs.field(default=3.0, validator=_positive)
    init_timeout: float = attrs.field(default=10.0, validator=_positive)
    slow_reader_timeout: float = attrs.field(default=10.0, validator=_positive)
    mustard: bool = attrs.field(default=False, converter=bool)
    request_rate_limit: Optional[int] = attrs.field(default=None, validator=_optional_count)
    request_rate_window: float = attrs.field(default=1.0, validator=_positive)
    max_connections: Optional[int] = attrs.field(default=None, validator=_optional_count)
    connection_rate_limit: Optional[int] = attrs.field(default=None, validator=_optional_count)
    connection_rate_window: float = attrs.field(default=1.0, validator=_positive)
    max_request_length: int = attrs.field(default=64 * 1024, validator=_count(1))


@attrs.frozen(kw_only=True)
class ScenarioConfig:
    """What the simulated feed offers and how fast it moves.

    The scenario is deterministic for a seed: the same seed and the same sequence of
    :meth:`Scenario.step` calls give the same messages (only ``publish_time`` follows the clock).

    Attributes:
        seed: seed of the scenario's own ``random.Random``.
        tours: number of competitions (tours).
        events_per_tour: tournaments live at once on each tour; an ended one is replaced.
        golfers: golfers in each tournament's field (win and top-N markets).
        top_n: the top-N finish markets offered for each tournament, e.g. ``(5, 10)``.
        head_to_heads: head-to-head (tournament match bet) markets per tournament.
        three_ball_groups: three-ball groups per tournament with a market on each hole.
        holes: holes per three-ball group with a market (1..18).
        updates_per_second: market updates the server's ticker emits per second; 0 means none
            (tests call ``scenario.step()`` themselves).
        updates_per_step: market updates in one manual :meth:`Scenario.step`.
        steps_per_second: how often the server's ticker moves the tournaments' clocks on (stage
            changes, holes settling, tournaments ending); the updates are spread in between.
        pre_play_steps: steps a new tournament stays ``pre_play``.
        in_play_steps: steps a tournament stays ``in_play`` before it ends and settles.
        ended_steps: steps an ended tournament stays on the feed before its markets are removed.
        suspend_probability: chance that a price update instead suspends an open in-play market.
        resettle_probability: chance that a settled market is re-settled after the event ended.
        stamp_send_time: add ``"sim_sent_at"`` (float seconds since the epoch) to each
            ``market_update`` msg: the time the server handed the line to the SSH channel (or to
            stdout), for latency benchmarks. Off by default: real messages have no such key.
    """

    seed: int = attrs.field(default=0, validator=_count(0))
    tours: int = attrs.field(default=1, validator=_count(1))
    events_per_tour: int = attrs.field(default=1, validator=_count(1))
    golfers: int = attrs.field(default=12, validator=_count(3))
    top_n: tuple = attrs.field(default=(5,), converter=tuple)
    head_to_heads: int = attrs.field(default=2, validator=_count(0))
    three_ball_groups: int = attrs.field(default=2, validator=_count(0))
    holes: int = attrs.field(default=3, validator=_count(1))
    updates_per_second: float = attrs.field(default=0.0, validator=_non_negative)
    updates_per_step: int = attrs.field(default=3, validator=_count(0))
    steps_per_second: float = attrs.field(default=1.0, validator=_positive)
    pre_play_steps: int = attrs.field(default=5, validator=_count(0))
    in_play_steps: int = attrs.field(default=60, validator=_count(1))
    ended_steps: int = attrs.field(default=10, validator=_count(0))
    suspend_probability: float = attrs.field(default=0.05, validator=_probability)
    resettle_probability: float = attrs.field(default=0.2, validator=_probability)
    stamp_send_time: bool = attrs.field(default=False, converter=bool)

    @top_n.validator
    def _check_top_n(self, attribute: "attrs.Attribute[Any]", value: tuple) -> None:
        for n in value:
            if not isinstance(n, int) or isinstance(n, bool) or not 1 < n < self.golfers:
                raise ConfigError("top_n", value, f"integers between 2 and golfers-1 ({self.golfers - 1})")

    @holes.validator
    def _check_holes(self, attribute: "attrs.Attribute[Any]", value: int) -> None:
        if value > 18:
            raise ConfigError("holes", value, "at most 18")

    @three_ball_groups.validator
    def _check_groups(self, attribute: "attrs.Attribute[Any]", value: int) -> None:
        if 3 * value > self.golfers:
            raise ConfigError("three_ball_groups", value, f"at most golfers/3 ({self.golfers // 3})")

    @head_to_heads.validator
    def _check_h2h(self, attribute: "attrs.Attribute[Any]", value: int) -> None:
        if 2 * value > self.golfers:
            raise ConfigError("head_to_heads", value, f"at most golfers/2 ({self.golfers // 2})")

    @classmethod
    def of_size(cls, size: str, **overrides: Any) -> "ScenarioConfig":
        """A preset: ``"tiny"`` (tests), ``"small"`` (the default demo), ``"large"`` (benchmarks).

        ``large`` offers thousands of markets (3 tours x 4 tournaments, 156 golfers, 40 three-ball
        groups x 18 holes each).
        """
        presets = {
            "tiny": dict(golfers=6, top_n=(3,), head_to_heads=1, three_ball_groups=1, holes=2),
            "small": dict(golfers=30, top_n=(5, 10), head_to_heads=5, three_ball_groups=4, holes=6),
            "large": dict(
                tours=3, events_per_tour=4, golfers=156, top_n=(5, 10, 20), head_to_heads=30,
                three_ball_groups=40, holes=18, updates_per_step=50, in_play_steps=2000,
            ),
        }
        if size not in presets:
            raise ConfigError("size", size, "one of " + ", ".join(presets))
        return cls(**{**presets[size], **overrides})

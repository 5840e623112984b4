"""Simulator settings are checked when built, and a bad value names its field."""

from __future__ import annotations

import pytest

from imgfeed.errors import ConfigError
from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig


def test_defaults_are_the_services() -> None:
    config = SessionConfig()
    assert (config.heartbeat_interval, config.init_timeout, config.slow_reader_timeout) == (3.0, 10.0, 10.0)
    assert config.request_rate_limit is None and config.max_connections is None and not config.mustard


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"init_timeout": -1}, "init_timeout"),
        ({"request_rate_limit": -1}, "request_rate_limit"),
        ({"max_connections": 1.5}, "max_connections"),
        ({"heartbeat_interval": True}, "heartbeat_interval"),
    ],
)
def test_bad_session_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        SessionConfig(**kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"golfers": 2}, "golfers"),
        ({"top_n": (12,)}, "top_n"),
        ({"holes": 19}, "holes"),
        ({"three_ball_groups": 5}, "three_ball_groups"),
        ({"head_to_heads": 7}, "head_to_heads"),
        ({"updates_per_second": -1}, "updates_per_second"),
        ({"suspend_probability": 1.5}, "suspend_probability"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_scenario_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        ScenarioConfig(**kwargs)
    assert info.value.field == field


def test_presets() -> None:
    assert ScenarioConfig.of_size("tiny").golfers == 6
    assert ScenarioConfig.of_size("large", seed=3).seed == 3
    with pytest.raises(ConfigError):
        ScenarioConfig.of_size("huge")

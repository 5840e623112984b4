"""imgfeed.runtime.config: the helpers every feed's config checks and hands over its runtime fields with."""

from __future__ import annotations

from typing import Any, Optional

import attrs
import pytest

from imgfeed.errors import ConfigError
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.runtime.checks import tcp_port
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


@attrs.frozen(kw_only=True)
class _Config:
    """The smallest feed config: the runtime's fields, checked with the shared helpers."""

    port: int = attrs.field(default=1, validator=tcp_port)
    connect_timeout: float = 1.0
    send_timeout: float = 2.0
    request_timeout: float = 3.0
    queue_size: int = 10
    conflate_threshold: Optional[int] = attrs.field(default=None, validator=valid_conflate_threshold)
    overflow_policy: OverflowPolicy = attrs.field(default=OverflowPolicy.CONFLATE, converter=to_overflow_policy)
    error_policy: ErrorPolicy = attrs.field(default=ErrorPolicy.LOG, converter=to_error_policy)
    handler_stall_warning: Optional[float] = None
    reconnect: ReconnectPolicy = attrs.field(factory=ReconnectPolicy, validator=reconnect_policy)


def test_settings_from_hands_every_field_over() -> None:
    policy = ReconnectPolicy(interval=2.0)
    config = _Config(overflow_policy="block", error_policy="raise", reconnect=policy, handler_stall_warning=0.5)
    assert settings_from(config, retry_fatal=True) == RuntimeSettings(
        connect_timeout=1.0,
        send_timeout=2.0,
        request_timeout=3.0,
        queue_size=10,
        conflate_threshold=5,
        overflow_policy=OverflowPolicy.BLOCK,
        error_policy=ErrorPolicy.RAISE,
        handler_stall_warning=0.5,
        reconnect=policy,
        retry_fatal=True,
    )


@pytest.mark.parametrize(
    "threshold, queue_size, effective",
    [(None, 100_000, DEFAULT_CONFLATE_THRESHOLD), (None, 100, 50), (None, 1, 1), (80, 100, 80)],
)
def test_effective_conflate_threshold(threshold: Optional[int], queue_size: int, effective: int) -> None:
    assert effective_conflate_threshold(threshold, queue_size) == effective


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("conflate_threshold", 11, "an integer <= queue_size (10)"),
        ("conflate_threshold", 0, "an integer >= 1"),
        ("reconnect", 30, "a ReconnectPolicy"),
        ("port", 0, "a TCP port number between 1 and 65535"),
        ("port", True, "a TCP port number between 1 and 65535"),
    ],
)
def test_a_bad_runtime_field_names_itself(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError, match=field) as info:
        _Config(**{field: value})
    assert allowed in str(info.value)


def test_both_feeds_use_the_shared_checks() -> None:
    with pytest.raises(ConfigError, match="queue_size"):
        BetfairConfig(app_key="k", session_token="t", queue_size=10, conflate_threshold=11)
    config = BetfairConfig(app_key="k", session_token="t", queue_size=100)
    assert config.runtime_settings().conflate_threshold == 50 == config.effective_conflate_threshold

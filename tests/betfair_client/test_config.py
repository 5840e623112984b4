"""BetfairConfig: every bad value names its field and the allowed values; secrets never show."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest

from imgfeed.betfair import BetfairConfig, ConfigError

TOKEN = "SECRET-TOKEN-8c1f0e"


def config(**overrides: Any) -> BetfairConfig:
    values: Dict[str, Any] = dict(app_key="abcdEFGHijkl", session_token=TOKEN)
    values.update(overrides)
    return BetfairConfig(**values)


def test_defaults_are_betfairs() -> None:
    c = config()
    assert (c.host, c.port, c.heartbeat_ms, c.conflate_ms, c.segmentation) == (
        "stream-api.betfair.com", 443, 5000, None, True)
    assert c.auth_timeout == 15.0 and c.cafile is None
    settings = c.runtime_settings()
    assert settings.reconnect.backoff == 2.0 and settings.reconnect.max_interval == 60.0
    assert settings.reconnect.delay(1) == 0.0 and settings.reconnect.delay(1, must_wait=True) >= 15.0


@pytest.mark.parametrize(
    "field, value, says",
    [
        ("heartbeat_ms", 499, "between 500 and 5000"),
        ("heartbeat_ms", 5001, "between 500 and 5000"),
        ("heartbeat_ms", "1000", "between 500 and 5000"),
        ("conflate_ms", -1, "between 0 and 120000"),
        ("conflate_ms", 120_001, "between 0 and 120000"),
        ("port", 0, "between 1 and 65535"),
        ("port", "443", "between 1 and 65535"),
        ("app_key", "", "non-empty string"),
        ("segmentation", "yes", "True or False"),
        ("auth_timeout", 0, "> 0"),
        ("overflow_policy", "drop", "conflate"),
        ("session_provider", "not callable", "callable"),
        ("cafile", "/no/such/ca.pem", "existing PEM file"),
        ("closed_retention", -5, ">= 0"),
    ],
)
def test_bad_values_name_the_field_and_the_range(field: str, value: Any, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config(**{field: value})
    assert raised.value.field == field and says in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_token_or_a_provider_is_required() -> None:
    with pytest.raises(ConfigError, match="session_provider"):
        BetfairConfig(app_key="k")
    assert BetfairConfig(app_key="k", session_provider=lambda: "t").session_token is None


def test_a_bad_token_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        config(session_token="   ")
    assert "<hidden>" in str(raised.value)


def test_repr_hides_the_secrets() -> None:
    c = config(session_provider=lambda: TOKEN)
    text = repr(c)
    assert TOKEN not in text and "session_token" not in text and "session_provider" not in text
    assert "abcdEFGHijkl" not in text and "'abcd...'" in text


def test_cafile_expands_the_home_directory(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ca.pem").write_text("x")
    assert config(cafile="~/ca.pem").cafile == os.path.join(str(tmp_path), "ca.pem")


def test_every_setting_is_in_the_readmes_betfair_table() -> None:
    import re
    from pathlib import Path

    import attrs

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Betfair configuration", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section))
    missing = [f.name for f in attrs.fields(BetfairConfig) if f.name not in documented]
    assert not missing, f"settings missing from the README's Betfair configuration table: {missing}"

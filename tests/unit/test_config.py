"""FeedConfig and ReconnectPolicy: defaults from docs/protocol.md, every bad value named at construction."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Dict

import paramiko
import pytest

from imgfeed import ConfigError, FeedConfig, HostKeyPolicy, OverflowPolicy, ReconnectPolicy

#: The required settings; the autouse fixture below points the paths at files that exist.
BASE: Dict[str, Any] = dict(host="127.0.0.1", username="trader")


@pytest.fixture(autouse=True)
def _existing_key_and_known_hosts(tmp_path: Path) -> None:
    """FeedConfig checks that its paths exist: give it a key file and a known_hosts file."""
    (tmp_path / "id_ed25519").write_text("")
    (tmp_path / "known_hosts").write_text("")
    BASE.update(key_filename=str(tmp_path / "id_ed25519"), known_hosts=str(tmp_path / "known_hosts"))


def test_defaults_follow_the_service_documentation() -> None:
    config = FeedConfig(**BASE)
    assert config.port == 2093
    assert config.heartbeat_timeout == 10.0  # "no heartbeat for more than 10 s"
    assert config.silence_timeout == 10.0  # "no message at all for 10 s"
    assert config.host_key_policy is HostKeyPolicy.REJECT
    assert config.overflow_policy is OverflowPolicy.CONFLATE
    assert config.reconnect == ReconnectPolicy(interval=30.0, first_delay=0.0, max_attempts=None)
    assert config.effective_conflate_threshold == 1000  # flat memory behind a slow handler


def test_conflation_starts_at_half_a_small_queue() -> None:
    assert FeedConfig(**BASE, queue_size=100).effective_conflate_threshold == 50
    assert FeedConfig(**BASE, queue_size=100, conflate_threshold=80).effective_conflate_threshold == 80


def test_strings_become_enums() -> None:
    config = FeedConfig(**BASE, host_key_policy="accept-new", overflow_policy="block", error_policy="raise")
    assert config.host_key_policy is HostKeyPolicy.ACCEPT_NEW
    assert config.overflow_policy is OverflowPolicy.BLOCK


def test_paths_are_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id").write_text("")
    (tmp_path / ".ssh" / "known_hosts").write_text("")
    config = FeedConfig(**{**BASE, "key_filename": "~/.ssh/id", "known_hosts": "~/.ssh/known_hosts"})
    assert config.key_filename == str(tmp_path / ".ssh" / "id")
    assert config.known_hosts == str(tmp_path / ".ssh" / "known_hosts")


def test_a_missing_key_file_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        FeedConfig(**{**BASE, "key_filename": str(tmp_path / "typo")})
    assert info.value.field == "key_filename" and "existing private key file" in str(info.value)


def test_a_missing_known_hosts_fails_at_construction_unless_accept_new_creates_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "known_hosts_typo")
    with pytest.raises(ConfigError) as info:
        FeedConfig(**{**BASE, "known_hosts": missing})
    assert info.value.field == "known_hosts" and "accept-new" in str(info.value)
    assert FeedConfig(**{**BASE, "known_hosts": missing}, host_key_policy="accept-new").known_hosts == missing
    # accept-new creates the file, not its directory: a typo in the directory is still caught
    with pytest.raises(ConfigError, match="does not exist"):
        FeedConfig(**{**BASE, "known_hosts": str(tmp_path / "nodir" / "kh")}, host_key_policy="accept-new")
    # insecure-accept-any reads no known_hosts at all
    FeedConfig(**{**BASE, "known_hosts": missing}, host_key_policy="insecure-accept-any")


def test_a_port_given_as_a_string_says_so() -> None:
    with pytest.raises(ConfigError) as info:
        FeedConfig(**BASE, port="2093")
    assert info.value.field == "port"
    assert "an int, not a string" in str(info.value) and "port=2093" in str(info.value)


@pytest.mark.parametrize(
    "field, value",
    [
        ("host", ""),
        ("username", None),
        ("port", 0),
        ("port", 70000),
        ("port", True),
        ("heartbeat_timeout", 0),
        ("silence_timeout", -1.0),
        ("init_timeout", float("nan")),
        ("connect_timeout", "10"),
        ("queue_size", 0),
        ("conflate_threshold", 10**9),
        ("overflow_policy", "drop"),
        ("error_policy", "ignore"),
        ("host_key_policy", "yes"),
        ("include_finished", "yes"),
        ("reconnect", 30),
        ("handler_stall_warning", 0),
        ("pkey", "not a key"),
    ],
)
def test_an_invalid_value_fails_at_construction_naming_the_field(field: str, value: object) -> None:
    kwargs = {**BASE, field: value}
    if field == "pkey":
        del kwargs["key_filename"]
    with pytest.raises(ConfigError) as info:
        FeedConfig(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_a_key_is_required_and_only_one() -> None:
    with pytest.raises(ConfigError, match="key_filename"):
        FeedConfig(host="h", username="u", known_hosts=BASE["known_hosts"])
    key = paramiko.RSAKey.generate(1024)
    with pytest.raises(ConfigError, match="pkey"):
        FeedConfig(**BASE, pkey=key)


def test_verifying_host_keys_needs_a_known_hosts_file() -> None:
    with pytest.raises(ConfigError, match="known_hosts"):
        FeedConfig(**{**BASE, "known_hosts": None})
    FeedConfig(**{**BASE, "known_hosts": None}, host_key_policy="insecure-accept-any")


def test_the_passphrase_never_shows() -> None:
    config = FeedConfig(**BASE, passphrase="hunter2-secret")
    assert "hunter2-secret" not in repr(config)
    with pytest.raises(ConfigError) as info:
        FeedConfig(**BASE, passphrase=b"hunter2-secret")  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value)


# --- ReconnectPolicy: the arithmetic, without threads -------------------------------------------


def test_first_retry_is_immediate_then_every_interval_with_a_little_jitter() -> None:
    policy = ReconnectPolicy(interval=30.0, jitter=0.05)
    rng = random.Random(7)
    assert policy.delay(1, rng) == 0.0
    delays = [policy.delay(n, rng) for n in range(2, 200)]
    assert all(30.0 <= d <= 31.5 for d in delays)
    assert len(set(delays)) > 1  # spread, so that many clients do not reconnect in step


def test_without_jitter_the_delay_is_exact() -> None:
    assert ReconnectPolicy(interval=2.0, jitter=0.0).delay(5) == 2.0


def test_a_refusal_that_asks_us_to_wait_always_waits() -> None:
    # "max connections hit" / "connection rate limit hit": never an immediate retry.
    policy = ReconnectPolicy(interval=30.0, first_delay=0.0, jitter=0.0)
    assert policy.delay(1, must_wait=True) == 30.0
    short = ReconnectPolicy(interval=0.01, jitter=0.0, min_delay=0.5)
    assert short.delay(1, must_wait=True) == 0.5


def test_max_attempts() -> None:
    assert not ReconnectPolicy().is_exhausted(10**6)
    policy = ReconnectPolicy(max_attempts=3)
    assert [policy.is_exhausted(n) for n in (1, 2, 3)] == [False, False, True]


@pytest.mark.parametrize(
    "field, value",
    [("interval", 0), ("first_delay", -1), ("max_attempts", 0), ("jitter", 2.0), ("jitter", -0.1)],
)
def test_invalid_reconnect_policy(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        ReconnectPolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        ReconnectPolicy().delay(0)

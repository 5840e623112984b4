"""The exception tree: one root, context as attributes, readable messages, safe to pickle."""

from __future__ import annotations

import copy
import pickle
from typing import Any, Callable, List

import pytest

import imgfeed.errors as errors
from imgfeed.errors import (
    AuthenticationError,
    CertificateError,
    ClientClosedError,
    ConfigError,
    ConnectError,
    HostKeyError,
    HostKeyMismatchError,
    ImgFeedError,
    LineTooLongError,
    ProtocolError,
    RateLimitedError,
    ReplayError,
    RequestError,
    RequestTimeoutError,
    TransportError,
    UnknownHostKeyError,
    allowed_values,
)


@pytest.mark.parametrize("name", errors.__all__)
def test_every_exported_exception_is_an_imgfeed_error(name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, ImgFeedError)
    assert cls.__doc__


@pytest.mark.parametrize(
    "child, parent",
    [
        (ConfigError, ValueError),  # configuration errors are also ValueErrors (docs/contributing.md)
        (LineTooLongError, ProtocolError),
        (ConnectError, TransportError),
        (AuthenticationError, ConnectError),
        (HostKeyError, ConnectError),
        (UnknownHostKeyError, HostKeyError),
        (HostKeyMismatchError, HostKeyError),
        (CertificateError, HostKeyError),  # a certificate that does not verify is fatal like a host key
        (RateLimitedError, RequestError),
        (RequestTimeoutError, RequestError),
        (RequestTimeoutError, TimeoutError),  # so "except TimeoutError" works as users expect
    ],
)
def test_hierarchy(child: type, parent: type) -> None:
    assert issubclass(child, parent)


def test_config_error_names_field_value_and_what_is_allowed() -> None:
    error = ConfigError("heartbeat_timeout", -1, "a positive number of seconds")
    assert (error.field, error.value, error.allowed) == (
        "heartbeat_timeout",
        -1,
        "a positive number of seconds",
    )
    assert str(error) == "invalid heartbeat_timeout=-1: expected a positive number of seconds"


def test_allowed_values() -> None:
    assert allowed_values(["conflate", "block"]) == "one of 'conflate', 'block'"
    assert str(ConfigError("policy", "x", allowed_values(["a"]))) == "invalid policy='x': expected one of 'a'"


def test_protocol_error_carries_reason_and_raw() -> None:
    error = ProtocolError("invalid JSON: Expected object or value", b"not json")
    assert (error.reason, error.raw) == ("invalid JSON: Expected object or value", b"not json")
    assert str(error) == "invalid JSON: Expected object or value: b'not json'"
    assert repr(error) == "ProtocolError(reason='invalid JSON: Expected object or value', raw=b'not json')"


def test_protocol_error_message_previews_a_long_line() -> None:
    error = ProtocolError("bad", b"x" * 10_000)
    assert len(str(error)) < 300
    assert "(10000 bytes)" in str(error) and "(10000 bytes)" in repr(error)
    assert error.raw == b"x" * 10_000  # the whole line is still there


def test_protocol_errors_are_values() -> None:
    assert ProtocolError("a", b"1") == ProtocolError("a", b"1")
    assert ProtocolError("a", b"1") != ProtocolError("a", b"2")
    assert ProtocolError("a", b"1") != ProtocolError("b", b"1")
    assert LineTooLongError(10, 11, b"x") != ProtocolError(LineTooLongError(10, 11, b"x").reason, b"x")
    assert len({ProtocolError("a", b"1"), ProtocolError("a", b"1")}) == 1


def test_line_too_long_error_names_the_limit() -> None:
    error = LineTooLongError(16 * 1024 * 1024, 16 * 1024 * 1024 + 1, b"{")
    assert (error.limit, error.length, error.raw) == (16777216, 16777217, b"{")
    assert "max_line_length=16777216" in error.reason and "16777217 bytes" in error.reason


def test_host_key_error_carries_host_and_fingerprint() -> None:
    error = HostKeyMismatchError("host key changed", "[127.0.0.1]:2093", "SHA256:abc")
    assert (error.host, error.fingerprint, str(error)) == (
        "[127.0.0.1]:2093",
        "SHA256:abc",
        "host key changed",
    )


def test_request_error_carries_the_response() -> None:
    response = object()
    error = RateLimitedError("API limit breached", response)
    assert error.response is response and str(error) == "API limit breached"
    assert RequestTimeoutError("no response in 5 s").response is None


def test_replay_error_carries_path_and_line() -> None:
    error = ReplayError("not JSON", "rec.jsonl", 3)
    assert (error.path, error.line_number, str(error)) == ("rec.jsonl", 3, "not JSON")


EXAMPLES: List[Callable[[], ImgFeedError]] = [
    lambda: ImgFeedError("x"),
    lambda: ConfigError("field", [1], "a list"),
    lambda: ProtocolError("invalid JSON", b"\xff"),
    lambda: LineTooLongError(10, 20, b"head"),
    lambda: TransportError("EOF"),
    lambda: ConnectError("refused"),
    lambda: AuthenticationError("denied"),
    lambda: UnknownHostKeyError("unknown", "[h]:22", "SHA256:x"),
    lambda: HostKeyMismatchError("changed", "[h]:22", "SHA256:y"),
    lambda: CertificateError("not verified", "stream-api.betfair.com", "", "certificate has expired"),
    lambda: RequestError("failed", {"status": "error"}),
    lambda: RateLimitedError("API limit breached", None),
    lambda: RequestTimeoutError("timeout"),
    lambda: ClientClosedError("stopped"),
    lambda: ReplayError("truncated", "/tmp/r.jsonl.gz", 7),
]


def _state(error: BaseException) -> Any:
    return (type(error), str(error), {k: v for k, v in vars(error).items() if not k.startswith("__")})


@pytest.mark.parametrize("make", EXAMPLES, ids=lambda make: type(make()).__name__)
def test_errors_survive_pickle_and_copy_with_their_attributes(make: Callable[[], ImgFeedError]) -> None:
    """Errors cross thread and process boundaries (logging queues, multiprocessing, pytest-xdist)."""
    error = make()
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert _state(clone) == _state(error)

"""One exception hierarchy for imgfeed, rooted at :class:`FeedError` (also named :data:`ImgFeedError`).

Every error a user can catch comes from here. Foreign exceptions (paramiko, socket, ujson) are
translated at the edge where they happen and chained with ``raise ... from exc``, so callers never
need to import paramiko to handle a failure.

Exceptions carry their context as attributes (``field``, ``raw``, ``reason`` ...) and their messages
say what was expected and what arrived. Those whose constructor takes more than the message define
``__reduce__``, so that they survive pickling and copying (logging queues, multiprocessing) with
their attributes: ``BaseException`` would otherwise rebuild them from ``args`` alone and fail.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Tuple

__all__ = [
    "FeedError",
    "ImgFeedError",
    "ConfigError",
    "ProtocolError",
    "LineTooLongError",
    "TransportError",
    "ConnectError",
    "AuthenticationError",
    "HostKeyError",
    "UnknownHostKeyError",
    "HostKeyMismatchError",
    "CertificateError",
    "RequestError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ClientClosedError",
    "ReplayError",
    "ServerRefusedError",
    "InternalError",
]


class FeedError(Exception):
    """Base class of every exception raised by imgfeed, whatever the feed."""


#: The same class under the package's name: ``except imgfeed.ImgFeedError`` catches everything.
ImgFeedError = FeedError


class ConfigError(ImgFeedError, ValueError):
    """A configuration value is invalid.

    Raised when a config object is built, never later, so a bad value fails at start-up.

    Attributes:
        field: the name of the offending field.
        value: the value that was given.
        allowed: a human-readable description of what is allowed.
    """

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"invalid {field}={value!r}: expected {allowed}")

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.field, self.value, self.allowed), self.__dict__


class ProtocolError(ImgFeedError):
    """One line from the peer could not be understood.

    The decoder does not raise this: it returns it as a value in the stream of records (like h11's
    events), so the bad line is reported and the lines after it are still decoded. It is an
    exception so that a strict caller can raise it as it is.

    Attributes:
        reason: what was wrong, in words.
        raw: the bytes of the offending line (without the ``\\n``); for an over-long line, only
            its first bytes.
    """

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        self.reason = reason
        self.raw = raw
        super().__init__(f"{reason}: {_preview(raw)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reason={self.reason!r}, raw={_preview(raw=self.raw)})"

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.reason, self.raw), self.__dict__

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return (self.reason, self.raw) == (other.reason, other.raw)

    def __hash__(self) -> int:
        return hash((type(self), self.reason, self.raw))


class LineTooLongError(ProtocolError):
    """A line exceeded the maximum line length; it was skipped up to its ``\\n``.

    Attributes:
        limit: the configured maximum, in bytes.
        length: how many bytes of the line were seen (at least ``limit + 1``; the exact length
            once the line's end has been seen).
    """

    def __init__(self, limit: int, length: int, raw: bytes = b"") -> None:
        self.limit = limit
        self.length = length
        super().__init__(
            f"line of {length} bytes or more exceeds max_line_length={limit}; skipped to the next newline",
            raw,
        )

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.limit, self.length, self.raw), self.__dict__


class TransportError(ImgFeedError):
    """The connection failed or broke (network, SSH, EOF)."""


class ConnectError(TransportError):
    """A connection could not be established."""


class AuthenticationError(ConnectError):
    """The server rejected our key. Retrying with the same key cannot help."""


class HostKeyError(ConnectError):
    """The server's host key could not be verified. Never retried silently.

    Attributes:
        host: the host (``[host]:port`` for a non-standard port) as looked up in known_hosts.
        fingerprint: the SHA256 fingerprint the server presented.
    """

    def __init__(self, message: str, host: str, fingerprint: str) -> None:
        self.host = host
        self.fingerprint = fingerprint
        super().__init__(message)

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.args[0], self.host, self.fingerprint), self.__dict__


class UnknownHostKeyError(HostKeyError):
    """The server's host key is not in known_hosts (and the policy rejects unknown keys)."""


class HostKeyMismatchError(HostKeyError):
    """The server presented a key different from the one on record: possibly an attack."""


class CertificateError(HostKeyError):
    """The TLS server's certificate could not be verified (unknown CA, expired, wrong host name).

    A :class:`HostKeyError` for TLS: the same "the peer is not who it claims to be", fatal and
    never retried silently. ``host`` is the name checked; ``fingerprint`` is empty, since a
    certificate that fails verification is not handed over by ``ssl``.

    Attributes:
        verify_message: OpenSSL's reason (``"certificate has expired"`` ...), when it gave one.
    """

    def __init__(self, message: str, host: str, fingerprint: str = "", verify_message: str = "") -> None:
        self.verify_message = verify_message
        super().__init__(message, host, fingerprint)

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.args[0], self.host, self.fingerprint, self.verify_message), self.__dict__


class RequestError(ImgFeedError):
    """The server answered a request with an error, or the request could not be sent.

    Attributes:
        response: the decoded response record, if there was one.
    """

    def __init__(self, message: str, response: Optional[object] = None) -> None:
        self.response = response
        super().__init__(message)


class RateLimitedError(RequestError):
    """The server refused a request with "API limit breached"; it was not carried out."""


class RequestTimeoutError(RequestError, TimeoutError):
    """No response arrived within the request's timeout."""


class ClientClosedError(ImgFeedError):
    """The client was stopped; no more requests can be made."""


class ServerRefusedError(ImgFeedError):
    """The server closed the connection for a reason that needs a person (e.g. an invalid app key).

    Attributes:
        code: the server's machine-readable reason (Betfair's ``errorCode``, IMG's close reason).
    """

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        self.code = code
        super().__init__(message)

    def __reduce__(self) -> Tuple[Any, ...]:
        return type(self), (self.args[0], self.code), self.__dict__


class InternalError(ImgFeedError):
    """A bug in imgfeed (or in a feed adapter) stopped the client; the cause is chained.

    Raised by ``join()`` when connections kept ending by an internal error, or when the
    dispatcher thread died: reconnecting would only hide the bug behind what looks like a
    network fault.
    """


class ReplayError(ImgFeedError):
    """A recording is missing, corrupt or truncated.

    Attributes:
        path: the file.
        line_number: the 1-based line where the problem is, if known.
    """

    def __init__(self, message: str, path: str = "", line_number: Optional[int] = None) -> None:
        self.path = path
        self.line_number = line_number
        super().__init__(message)


_PREVIEW_BYTES = 200  # enough to recognise a line in a log without flooding it


def _preview(raw: bytes) -> str:
    """Show the start of ``raw`` for an error message, saying how much was left out."""
    if len(raw) <= _PREVIEW_BYTES:
        return repr(raw)
    return f"{raw[:_PREVIEW_BYTES]!r}... ({len(raw)} bytes)"


def allowed_values(values: Iterable[Any]) -> str:
    """Render a set of allowed values for a :class:`ConfigError` message."""
    return "one of " + ", ".join(repr(v) for v in values)

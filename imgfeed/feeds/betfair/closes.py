"""Betfair's error codes, and what each asks of the reconnect loop (docs/betfair.md, "Errors").

Every ESA error comes as a ``status`` with ``statusCode: FAILURE`` and an ``errorCode``; every one
but ``SUBSCRIPTION_LIMIT_EXCEEDED`` closes the connection (``connectionClosed: true``). The
runtime decides from the typed :class:`~imgfeed.runtime.session.End` alone, so each code is mapped
here, once, to a :class:`~imgfeed.runtime.session.CloseKind`:

===============================================  ==========  =======================================
code                                             kind        why
===============================================  ==========  =======================================
NO_APP_KEY, INVALID_APP_KEY, NOT_AUTHORIZED      FATAL       a person must fix the key or its setup
NO_SESSION, INVALID_SESSION_INFORMATION          REFRESH     a new token from ``session_provider``
MAX_CONNECTION_LIMIT_EXCEEDED, TOO_MANY_REQUESTS WAIT        reconnecting at once is refused again
TIMEOUT, UNEXPECTED_ERROR, CONNECTION_FAILED     RETRY       transient
INVALID_CLOCK                                    RETRY       the clocks are dropped: a fresh image
INVALID_INPUT, INVALID_REQUEST                   RETRY       our bug: logged as one, with backoff
(any other code)                                 RETRY       Betfair added one; said in the log
===============================================  ==========  =======================================

Each detail says what to check, never a secret.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from imgfeed.feeds.betfair.protocol.messages import ErrorCode, StatusMessage
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.session import CloseKind, End

__all__ = ["close_of", "ADVICE", "BUG_CODES"]

_C = ErrorCode

#: code -> (kind, reason, what to check).
ADVICE: Dict[str, Tuple[CloseKind, DisconnectReason, str]] = {
    _C.NO_APP_KEY: (CloseKind.FATAL, DisconnectReason.AUTH_FAILED, "no app key was sent: set BetfairConfig.app_key"),
    _C.INVALID_APP_KEY: (
        CloseKind.FATAL,
        DisconnectReason.AUTH_FAILED,
        "the app key is not valid: check BetfairConfig.app_key (live or delayed key, no spaces)",
    ),
    _C.NOT_AUTHORIZED: (
        CloseKind.FATAL,
        DisconnectReason.AUTH_FAILED,
        "the app key or account is not set up for the Stream API: ask Betfair to enable streaming",
    ),
    _C.NO_SESSION: (
        CloseKind.REFRESH,
        DisconnectReason.AUTH_FAILED,
        "no session token was sent: log in and pass session_token, or give a session_provider",
    ),
    _C.INVALID_SESSION_INFORMATION: (
        CloseKind.REFRESH,
        DisconnectReason.AUTH_FAILED,
        "the session token is invalid or expired: log in again (a session_provider does this by itself)",
    ),
    _C.MAX_CONNECTION_LIMIT_EXCEEDED: (
        CloseKind.WAIT,
        DisconnectReason.SERVER_CLOSING,
        "too many connections for this app key: look for other processes (or leaked connections) using it",
    ),
    _C.TOO_MANY_REQUESTS: (
        CloseKind.WAIT,
        DisconnectReason.SERVER_CLOSING,
        "too many requests in a short time: subscribe less often",
    ),
    _C.TIMEOUT: (
        CloseKind.RETRY,
        DisconnectReason.SERVER_CLOSING,
        "the server timed us out (nothing sent in time): is the machine overloaded?",
    ),
    _C.UNEXPECTED_ERROR: (CloseKind.RETRY, DisconnectReason.SERVER_CLOSING, "an error on Betfair's side"),
    _C.CONNECTION_FAILED: (CloseKind.RETRY, DisconnectReason.SERVER_CLOSING, "Betfair's side lost a connection"),
    _C.INVALID_CLOCK: (
        CloseKind.RETRY,
        DisconnectReason.SERVER_CLOSING,
        "the server cannot resume from our clocks: resubscribing afresh, with a new image",
    ),
    _C.INVALID_INPUT: (
        CloseKind.RETRY,
        DisconnectReason.SERVER_CLOSING,
        "the server could not parse our request: a bug in imgfeed, please report it",
    ),
    _C.INVALID_REQUEST: (
        CloseKind.RETRY,
        DisconnectReason.SERVER_CLOSING,
        "the server refused our request as invalid: check the filters; if they are right, a bug in imgfeed",
    ),
}

#: Codes that mean imgfeed itself sent something wrong.
BUG_CODES = frozenset({_C.INVALID_INPUT, _C.INVALID_REQUEST})


def close_of(status: StatusMessage) -> Optional[End]:
    """The End a ``status`` stands for: ``None`` unless it says the connection is closed."""
    if not status.connection_closed:
        return None
    code = status.error_code or "UNKNOWN"
    kind, reason, advice = ADVICE.get(
        code, (CloseKind.RETRY, DisconnectReason.SERVER_CLOSING, "an error code this version does not know")
    )
    said = f": {status.error_message}" if status.error_message else ""
    return End(reason, f"{code}{said} -- {advice}", kind=kind, code=code)

"""The protocol-adapter seam: what the runtime must know about one particular feed.

The runtime (threads, queue, watchdog, reconnect policy, request correlation, transport) is
feed-agnostic. Everything IMG-specific -- the ``init`` handshake, what proves a session is up,
what a heartbeat is, how responses and errors look, which close reasons ask us to wait -- is
answered by a :class:`FeedAdapter`. A second feed (Betfair's stream API) would be a second
adapter on the same runtime.
"""

from __future__ import annotations

import abc
from typing import Any, Dict, Optional, Tuple

from imgfeed.errors import RateLimitedError, RequestError
from imgfeed.feeds.img.protocol.codec import FeedDecoder
from imgfeed.feeds.img.protocol.messages import (
    CloseReason,
    Heartbeat,
    InitResponse,
    RateLimited,
    Response,
    ServerClosing,
)
from imgfeed.feeds.img.protocol.requests import Request, init_request

__all__ = ["FeedAdapter", "ImgAdapter", "MUST_WAIT_REASONS"]

#: Close reasons after which reconnecting at once would only be refused again (protocol.md 7).
MUST_WAIT_REASONS = frozenset({CloseReason.MAX_CONNECTIONS_HIT, CloseReason.CONNECTION_RATE_LIMIT_HIT})


class FeedAdapter(abc.ABC):
    """The questions the runtime asks about a feed's protocol."""

    @abc.abstractmethod
    def new_decoder(self) -> Any:
        """A fresh decoder for a new connection: ``feed(data, received_at) -> list``."""

    @abc.abstractmethod
    def handshake(self) -> bytes:
        """The bytes to send first on every new connection."""

    @abc.abstractmethod
    def session_started(self, record: Any) -> Tuple[bool, Optional[str]]:
        """Does ``record``, arriving before the session is up, prove it is? And its session id."""

    @abc.abstractmethod
    def is_heartbeat(self, record: Any) -> bool:
        """Does ``record`` reset the heartbeat clock?"""

    @abc.abstractmethod
    def response_id(self, record: Any) -> Tuple[bool, Optional[str]]:
        """Is ``record`` a response to a request, and which request id does it carry?"""

    @abc.abstractmethod
    def response_error(self, record: Any) -> Optional[RequestError]:
        """The error a response stands for, or ``None`` when the request succeeded."""

    @abc.abstractmethod
    def closing_reason(self, record: Any) -> Optional[str]:
        """If ``record`` announces that the server is closing the connection: why."""

    @abc.abstractmethod
    def must_wait(self, reason: Optional[str]) -> bool:
        """Does this close reason forbid an immediate reconnect?"""

    @abc.abstractmethod
    def encode_request(self, name: str, msg: Dict[str, Any], request_id: Optional[str]) -> bytes:
        """One request as bytes for the wire."""


class ImgAdapter(FeedAdapter):
    """The IMG Arena / Mustard odds distribution service (protocol.md).

    Args:
        include_finished: send ``init`` with ``include_finished`` (protocol.md 4).
        max_line_length: the decoder's line limit.
    """

    def __init__(self, include_finished: bool = False, max_line_length: int = 16 * 1024 * 1024) -> None:
        self.include_finished = include_finished
        self.max_line_length = max_line_length

    def __repr__(self) -> str:
        return f"ImgAdapter(include_finished={self.include_finished})"

    def new_decoder(self) -> FeedDecoder:
        return FeedDecoder(self.max_line_length)

    def handshake(self) -> bytes:
        # "Within 10 s send {"request": "init", "msg": {}}" (protocol.md 4). No request_id: the
        # response is recognised by its shape, and Mustard servers may not answer at all.
        return init_request(self.include_finished).to_bytes()

    def session_started(self, record: Any) -> Tuple[bool, Optional[str]]:
        if type(record) is InitResponse:
            return True, record.session_id
        # Mustard mode: no init response, but "the first push also proves the session is up"
        # (protocol.md 9). Pushes are only sent after init was answered (protocol.md 3).
        raw = getattr(record, "raw", None)
        if type(record) is not ServerClosing and isinstance(raw, dict) and raw.get("mode") == "push":
            return True, None
        return False, None

    def is_heartbeat(self, record: Any) -> bool:
        return type(record) is Heartbeat

    def response_id(self, record: Any) -> Tuple[bool, Optional[str]]:
        kind = type(record)
        if kind is Response or kind is RateLimited:
            return True, record.request_id
        return False, None

    def response_error(self, record: Any) -> Optional[RequestError]:
        if type(record) is RateLimited:
            # "The request was not carried out; the caller decides whether to retry" (protocol.md 7)
            return RateLimitedError("the server refused the request: API limit breached", record)
        if type(record) is Response and not record.is_ok:
            return RequestError(f"the server answered with an error: {record.error_text}", record)
        return None

    def closing_reason(self, record: Any) -> Optional[str]:
        if type(record) is ServerClosing:
            return str(record.reason)
        return None

    def must_wait(self, reason: Optional[str]) -> bool:
        return reason in MUST_WAIT_REASONS

    def encode_request(self, name: str, msg: Dict[str, Any], request_id: Optional[str]) -> bytes:
        return Request(name, msg, request_id).to_bytes()

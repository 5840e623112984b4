"""The IMG feed's adapter: what the runtime must know about the odds distribution service.

Everything here is data and small functions the runtime calls (see
:mod:`imgfeed.runtime.adapter`): the ``init`` handshake (docs/protocol.md section 4), what each
record is (a heartbeat, a response, the error push), which close reasons ask us to wait
(section 7), the deadlines (section 8), the re-subscription after a reconnect built from the
subscriptions in force (sections 6 and 8), the market book it applies records to, its dispatch
table and its conflation keys (a ``market_update`` is a full image, so the newest replaces a queued
one; only the latest heartbeat matters).
"""

from __future__ import annotations

import logging
import operator
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple, Type

import ujson

from imgfeed.errors import RateLimitedError, RequestError
from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.config import FeedConfig
from imgfeed.feeds.img.handler import RECORD_METHODS, Handler
from imgfeed.feeds.img.protocol.codec import FeedDecoder, decode_line
from imgfeed.feeds.img.protocol.messages import (
    CloseReason,
    Heartbeat,
    InitResponse,
    MarketUpdate,
    RateLimited,
    Response,
    ServerClosing,
    raw_market_id,
)
from imgfeed.feeds.img.protocol.requests import Request, init_request
from imgfeed.feeds.img.subscriptions import Subscription, SubscriptionState
from imgfeed.framing import encode_line
from imgfeed.runtime.adapter import FeedAdapter, Role
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.requests import RequestId, RequestSpec
from imgfeed.runtime.session import (
    DONE,
    Await,
    CloseKind,
    End,
    Liveness,
    Send,
    Step,
    StepResult,
)

__all__ = ["ImgAdapter", "MUST_WAIT_REASONS", "init_answered"]

log = logging.getLogger("imgfeed.feeds.img")

#: Close reasons after which reconnecting at once would only be refused again (docs/protocol.md 7).
MUST_WAIT_REASONS = frozenset({CloseReason.MAX_CONNECTIONS_HIT, CloseReason.CONNECTION_RATE_LIMIT_HIT})

#: The one conflation key of heartbeats (market ids are strings, so it cannot collide).
_HEARTBEAT_KEY = ("heartbeat",)


#: A market update's conflation key: its market id (read in C: the queue calls it twice per update).
_market_key: Callable[[MarketUpdate], Hashable] = operator.attrgetter("market_id")


def _heartbeat_key(_heartbeat: Heartbeat) -> Hashable:
    return _HEARTBEAT_KEY


def _wire_id(request_id: Optional[RequestId]) -> Optional[str]:
    return None if request_id is None else str(request_id)


class ImgAdapter(FeedAdapter):
    """The IMG Arena / Mustard odds distribution service (docs/protocol.md).

    Args:
        config: the client's configuration (deadlines, ``include_finished``, line limit, ids).
        follow_subscriptions: make a market of the offering tradable only while the subscriptions
            in force want it. A replay turns it off: it sends no requests, so it has no
            subscriptions, and the recorded images are what the server sent for the subscribed
            markets.
    """

    name = "img"
    roles = {
        MarketUpdate: Role.DATA,
        Heartbeat: Role.HEARTBEAT,
        Response: Role.RESPONSE,
        RateLimited: Role.RESPONSE,
        ServerClosing: Role.CLOSING,
    }
    dispatch_table = RECORD_METHODS
    conflation_keys: Dict[Type[Any], Callable[[Any], Hashable]] = {
        MarketUpdate: _market_key,
        Heartbeat: _heartbeat_key,
    }
    handler_class = Handler

    def __init__(self, config: FeedConfig, follow_subscriptions: bool = True) -> None:
        self.config = config
        self.subscriptions = SubscriptionState()
        self.book = MarketBook(self.subscriptions if follow_subscriptions else None)
        self.lock = self.book.lock

    def __repr__(self) -> str:
        return f"ImgAdapter(include_finished={self.config.include_finished})"

    # --- per connection --------------------------------------------------------------------------

    def new_decoder(self) -> FeedDecoder:
        return FeedDecoder(self.config.max_line_length, self.decode_line)

    @property
    def decode_line(self) -> Callable[[bytes, Optional[float]], Any]:
        """The line decoder the config asks for (see ``FeedConfig.parser``)."""
        from imgfeed.feeds.img.protocol.fast import AVAILABLE, fast_decode_line

        if self.config.parser == "msgspec" or (self.config.parser == "auto" and AVAILABLE):
            return fast_decode_line
        return decode_line

    def handshake(self) -> Sequence[Step]:
        # "Within 10 s send {"request": "init", "msg": {}}" (docs/protocol.md 4). No request_id: the
        # response is recognised by its shape, and Mustard servers may not answer at all.
        init = init_request(self.config.include_finished).to_bytes()
        return (Send("init", lambda facts: init), Await("init response", init_answered))

    def liveness(self) -> Liveness:
        cfg = self.config
        return Liveness(cfg.silence_timeout, cfg.heartbeat_timeout, cfg.init_timeout)

    # --- responses and closes --------------------------------------------------------------------

    def response_of(self, record: Any) -> Tuple[Optional[RequestId], Optional[RequestError]]:
        if type(record) is RateLimited:
            # "The request was not carried out; the caller decides whether to retry" (docs/protocol.md 7)
            return record.request_id, RateLimitedError("the server refused the request: API limit breached", record)
        if not record.is_ok:
            return record.request_id, RequestError(f"the server answered with an error: {record.error_text}", record)
        return record.request_id, None

    def closing_of(self, record: Any) -> Optional[End]:
        if type(record) is not ServerClosing:
            return None
        reason = str(record.reason)
        # "Connections are rate-limited, so the client must not reconnect in a tight loop" (section 7)
        kind = CloseKind.WAIT if record.reason in MUST_WAIT_REASONS else CloseKind.RETRY
        return End(DisconnectReason.SERVER_CLOSING, reason, kind=kind, code=reason)

    # --- the book --------------------------------------------------------------------------------

    def apply(self, record: Any, out: List[Any]) -> None:
        self.book.apply_locked(record, out)

    def session_up(self, facts: Dict[str, Any], out: List[Any]) -> None:
        self.book.session_started_locked(out)

    def session_lost(self, out: List[Any]) -> None:
        self.book.session_lost_locked(out)

    def heartbeat_late(self, out: List[Any]) -> None:
        self.book.heartbeat_late_locked(out)

    def heartbeat_resumed(self, out: List[Any]) -> None:
        self.book.heartbeat_resumed_locked(out)

    def changed(self) -> None:
        self.book.changed_locked()

    def checkpoint(self) -> Optional[List[bytes]]:
        """The offering's records, then each market's latest image, as lines: a fresh book fed
        them after its session came up holds the same offering and images. ``None`` while a
        snapshot is arriving (docs/protocol.md section 4)."""
        records = self.book.state_records_locked()
        return None if records is None else [_line_of(record) for record in records]

    # --- subscriptions ---------------------------------------------------------------------------

    def request_spec(self, name: str, msg: Dict[str, Any]) -> RequestSpec:
        """A request as the runtime sends it; ``subscribe`` / ``unsubscribe`` change the state in
        force when the server confirms them (on the reader thread, under the lock)."""
        on_success = None
        if name in ("subscribe", "unsubscribe"):
            subscribe = name == "subscribe"
            if isinstance(msg.get("market_ids"), list):
                # Either form of an id is accepted; the service knows the raw one only.
                msg = {**msg, "market_ids": [raw_market_id(m) for m in msg["market_ids"]]}

            def on_success(response: Any, out: List[Any]) -> None:
                self.subscriptions.confirmed(subscribe, msg)
                self.book.subscriptions_changed_locked(out, removed=None if subscribe else msg)
                if subscribe and msg and len(self.book) and not self.book.matching(msg):
                    # Not an error (a market type with no open market yet can be subscribed to),
                    # but usually a typo: without a word, no prices would simply never flow.
                    log.warning(
                        "subscribe %s matches none of the %d markets in the offering; ids are compared "
                        "exactly (the raw ids the feed sends)",
                        msg,
                        len(self.book),
                    )

        return RequestSpec(
            name,
            lambda request_id: Request(name, msg, _wire_id(request_id)).to_bytes(),
            on_success,
            payload=msg,
            send_id=self.config.send_request_ids,
            label=f"{name} {ujson.dumps(msg, ensure_ascii=False)}",
        )

    def restore_plan(self) -> List[RequestSpec]:
        """The subscriptions in force, in order ("subscriptions are not carried over", section 8)."""
        with self.lock:
            in_force = self.subscriptions.in_force()
        return [self._restoring(s) for s in in_force]

    def _restoring(self, subscription: Subscription) -> RequestSpec:
        msg = subscription.msg()
        return RequestSpec(
            subscription.action,
            lambda request_id: Request(subscription.action, msg, _wire_id(request_id)).to_bytes(),
            payload=subscription,
            send_id=self.config.send_request_ids,
            label=f"{subscription.action} {ujson.dumps(msg, ensure_ascii=False)}",
        )

    def restore_failed(self, spec: RequestSpec, error: RequestError, out: List[Any]) -> bool:
        if isinstance(error, RateLimitedError):
            return True  # "the caller decides whether to retry later": we do, this one only
        log.error("the server refused to restore %s: %s; it is no longer in force", spec, error)
        self.subscriptions.drop(spec.payload)
        self.book.subscriptions_changed_locked(out, removed=spec.payload.msg())
        return False


def init_answered(record: Any, facts: Dict[str, Any]) -> StepResult:
    """The init response; or, in Mustard mode, the first push (docs/protocol.md 9)."""
    kind = type(record)
    if kind is InitResponse:
        facts["session_id"] = record.session_id
        return DONE
    if kind is RateLimited:
        # The service rate-limits init too: this session will never come up; try again later.
        return End(DisconnectReason.SERVER_CLOSING, "init refused: API limit breached", kind=CloseKind.WAIT)
    # "The first push also proves the session is up" (section 9): pushes are only sent after init
    # was answered (section 3) -- except the error push, which announces a close.
    raw = getattr(record, "raw", None)
    if kind is not ServerClosing and isinstance(raw, dict) and raw.get("mode") == "push":
        return DONE
    return None


def _line_of(record: Any) -> bytes:
    """The record as one line. An image keeps the line it came in (``MarketUpdate.line``): sent as
    it is, it is neither parsed again nor left cached as a tree on the book's own record, which
    reading ``raw`` would do for every market at every checkpoint (imgfeed/feeds/img/images.py)."""
    line = getattr(record, "line", b"")
    return line + b"\n" if line else encode_line(record.raw)

"""The Betfair feed's adapter: what the runtime must know about the Exchange Stream API.

Everything here is data and small functions the runtime calls (see :mod:`imgfeed.runtime.adapter`):

- the handshake: ``Await(connection)`` (its ``connectionId`` is the session id, logged: Betfair
  support asks for it) -> ``Send(authentication)`` -> ``Await(status)``; the session is up when
  that status says SUCCESS, and it ends, typed by :mod:`.closes`, when it does not;
- roles: change messages prove the link alive (``Role.HEARTBEAT``: any message does, Betfair says
  "no message of any kind for 2 x heartbeatMs"); a ``status`` is a response, matched to its
  request by ``id``, and a close when it says ``connectionClosed``;
- the deadlines: before the server has granted a heartbeat interval (no subscription yet) only the
  handshake's ``auth_timeout``; once it has, no message for 2 x heartbeatMs suspends every market
  and 3 x drops the connection (one more interval of grace: resuming with clocks is cheap, but not
  free) -- see :meth:`BetfairAdapter.take_liveness`;
- the two streams and their caches (:mod:`.sides`), the restore plan after a reconnect (the same
  subscriptions, with their clocks), and the checkpoint (:mod:`.checkpoint`);
- dispatch: books go to ``on_market_book`` / ``on_order_book``, statuses to ``on_status``, the
  connection message to ``on_connection``; conflation keys exist only for books (a book is a full
  image of its market, so the newest replacing a queued one loses nothing but a stale state);
  deltas are applied in order at ingest and never reach the queue.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, Hashable, Iterator, List, Optional, Sequence, Tuple, Type, Union

import attrs

from imgfeed.errors import AuthenticationError, RequestError
from imgfeed.feeds.betfair.books import MarketBook, OrderBook
from imgfeed.feeds.betfair.checkpoint import checkpoint_lines
from imgfeed.feeds.betfair.closes import BUG_CODES, close_of
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.handler import RECORD_METHODS, BetfairHandler
from imgfeed.feeds.betfair.protocol.codec import Decoded, authentication, decode_line
from imgfeed.feeds.betfair.protocol.fast import line_decoder
from imgfeed.feeds.betfair.protocol.messages import (
    ConnectionMessage,
    ErrorCode,
    MarketChangeMessage,
    OrderChangeMessage,
    StatusMessage,
)
from imgfeed.feeds.betfair.sides import MarketRequest, MarketSide, OrderRequest, OrderSide
from imgfeed.framing import LineBuffer
from imgfeed.runtime.adapter import FeedAdapter, Role
from imgfeed.runtime.requests import RequestId, RequestSpec
from imgfeed.runtime.session import DONE, Await, End, Liveness, Send, Step, StepResult
from imgfeed.runtime.tradability import Tradability

__all__ = ["BetfairAdapter", "BetfairDecoder", "DecodedLines", "AUTH_REQUEST_ID", "SubscriptionError"]

log = logging.getLogger("imgfeed.betfair")

#: The ``id`` of the authentication request (the tracker's ids start at 1, so it is never one of them).
AUTH_REQUEST_ID = 0
#: No message for this many granted heartbeat intervals suspends every market ...
SUSPEND_HEARTBEATS = 2
#: ... and for this many drops the connection (module docstring).
SILENCE_HEARTBEATS = 3
#: How many subscription ids are remembered, to tell which stream a failed status is about.
_REMEMBERED_REQUESTS = 16


class SubscriptionError(RequestError):
    """The server refused a subscription (``SUBSCRIPTION_LIMIT_EXCEEDED`` keeps the connection).

    Attributes:
        code: Betfair's ``errorCode``.
    """

    def __init__(self, message: str, response: Optional[object] = None, code: Optional[str] = None) -> None:
        self.code = code
        super().__init__(message, response)


def _book_key(book: MarketBook) -> Hashable:
    return ("market", book.market_id)


def _order_key(book: OrderBook) -> Hashable:
    return ("orders", book.market_id)


class DecodedLines:
    """A chunk's records, each line decoded only as the ingest reaches it (see
    :class:`~imgfeed.runtime.adapter.Decoder`): an image's parsed tree is garbage as soon as it
    has been applied. Sized from the start (the ingest counts the messages); iterated once."""

    __slots__ = ("_lines", "_times", "_decode")

    def __init__(
        self, lines: List[Any], times: Any, decode: Callable[[bytes, float], Decoded] = decode_line
    ) -> None:
        self._lines = lines
        self._times = times  # one receive time for all (a float), or one per line (a list)
        self._decode = decode  # decode_line, or the config's choice (.protocol.fast.line_decoder)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, item: object) -> bool:  # pragma: no cover -- Collection's contract
        return any(item is record for record in self)

    def __iter__(self) -> Iterator[Any]:
        times = self._times
        each = type(times) is list
        decode = self._decode
        for index, line in enumerate(self._lines):
            yield decode(line, times[index] if each else times) if type(line) is bytes else line


class BetfairDecoder:
    """CRLF lines (split anywhere, UTF-8 split-safe: the shared line buffer) -> ESA records."""

    def __init__(self, max_line_length: int, decode: Callable[[bytes, float], Decoded] = decode_line) -> None:
        self._lines = LineBuffer(max_line_length)
        self._decode = decode

    def feed(self, data: bytes, received_at: float) -> DecodedLines:
        return DecodedLines([line for line in self._lines.feed(data) if line], received_at, self._decode)


class BetfairAdapter(FeedAdapter):
    """Betfair's Exchange Stream API (module docstring).

    Args:
        config: the client's configuration.
        historical: the records come from a Betfair historical file (no ids, no ``ct``): each
            stream is whole from its first line.
    """

    name = "betfair"
    roles = {
        MarketChangeMessage: Role.HEARTBEAT,
        OrderChangeMessage: Role.HEARTBEAT,
        StatusMessage: Role.RESPONSE,
        ConnectionMessage: Role.DATA,
    }
    dispatch_table = RECORD_METHODS
    conflation_keys: Dict[Type[Any], Callable[[Any], Hashable]] = {MarketBook: _book_key, OrderBook: _order_key}
    handler_class = BetfairHandler

    def __init__(self, config: BetfairConfig, historical: bool = False) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self.tradability = Tradability()
        self.markets = MarketSide(config, self.lock, self.tradability, historical)
        self.orders = OrderSide(config, self.lock, historical)
        self._token = config.session_token
        self._requests: Dict[int, Union[MarketSide, OrderSide]] = {}  # subscription id -> side
        self._granted: Optional[int] = None
        self._liveness: Optional[Liveness] = None
        self._end: Optional[End] = None

    def __repr__(self) -> str:
        return f"<BetfairAdapter {self.config.address} {self.tradability!r}>"

    # --- per connection --------------------------------------------------------------------------

    def new_decoder(self) -> BetfairDecoder:
        return BetfairDecoder(self.config.max_line_length, self.decode_line)

    @property
    def decode_line(self) -> Callable[[bytes, float], Decoded]:
        """The line decoder the config asks for (``BetfairConfig.parser``)."""
        return line_decoder(self.config.parser)

    def handshake(self) -> Sequence[Step]:
        # "Send a message within 15 s" after the connection message: the authentication.
        return (
            Await("connection", _connection_seen),
            Send("authentication", self._authentication),
            Await("authentication status", self._authenticated),
        )

    def _authentication(self, facts: Dict[str, Any]) -> bytes:
        token = self._token
        if token is None:
            raise AuthenticationError("no session token: BetfairConfig needs session_token or session_provider")
        # A RedactedRequest: its repr, in any log, shows no secret.
        return authentication(AUTH_REQUEST_ID, self.config.app_key, token)

    def _authenticated(self, record: Any, facts: Dict[str, Any]) -> StepResult:
        if type(record) is not StatusMessage:
            return None
        if record.is_success:
            facts["connections_available"] = record.connections_available
            log.info(
                "authenticated on connection %s (%s more connections available)",
                facts.get("session_id"),
                record.connections_available,
            )
            return DONE
        return _refused(record)

    def liveness(self) -> Liveness:
        return self._deadlines(self._granted)

    def _deadlines(self, heartbeat_ms: Optional[int]) -> Liveness:
        if heartbeat_ms is None:
            return Liveness(silence_timeout=None, heartbeat_timeout=None, handshake_timeout=self.config.auth_timeout)
        return Liveness(
            silence_timeout=SILENCE_HEARTBEATS * heartbeat_ms / 1000.0,
            heartbeat_timeout=SUSPEND_HEARTBEATS * heartbeat_ms / 1000.0,
            handshake_timeout=self.config.auth_timeout,
        )

    # --- responses and closes --------------------------------------------------------------------

    def response_of(self, record: Any) -> Tuple[Optional[RequestId], Optional[RequestError]]:
        if record.is_success:
            return record.id, None
        code = record.error_code
        message = f"{code}: {record.error_message or 'no message'}"
        if code == ErrorCode.SUBSCRIPTION_LIMIT_EXCEEDED:
            message += " (the connection is kept: narrow the market filter)"
        return record.id, SubscriptionError(f"the server refused the request: {message}", record, code)

    def closing_of(self, record: Any) -> Optional[End]:
        return close_of(record) if type(record) is StatusMessage else None

    def refresh_credentials(self) -> None:
        provider = self.config.session_provider
        if provider is None:
            raise AuthenticationError(
                "the session token was refused and BetfairConfig has no session_provider to get a new one"
            )
        token = provider()
        if not isinstance(token, str) or not token.strip():
            raise AuthenticationError(f"session_provider returned {type(token).__name__}, not a session token")
        self._token = token
        log.info("got a new session token from the session_provider")

    def take_liveness(self) -> Optional[Liveness]:
        liveness, self._liveness = self._liveness, None
        return liveness

    def take_end(self) -> Optional[End]:
        end, self._end = self._end, None
        return end

    # --- the caches (under the lock) -------------------------------------------------------------

    def apply(self, record: Any, out: List[Any]) -> None:
        kind = type(record)
        if kind is MarketChangeMessage:
            side: Union[MarketSide, OrderSide] = self.markets
        elif kind is OrderChangeMessage:
            side = self.orders
        elif kind is StatusMessage:
            self._status(record, out)
            return
        else:  # ConnectionMessage, Unknown
            out.append(record)
            return
        end = side.apply(record, out)
        if end is not None and self._end is None:
            self._end = end
        if side.stream.heartbeat_ms != self._granted:  # granted with an image: new deadlines
            self._granted_changed()

    def _status(self, status: StatusMessage, out: List[Any]) -> None:
        out.append(status)
        if status.is_success:
            return
        code = status.error_code
        side = self._requests.get(status.id) if status.id is not None else None
        if code == ErrorCode.INVALID_CLOCK:
            for stale in (side,) if side is not None else (self.markets, self.orders):
                log.warning("%s: the server cannot resume from our clocks; the next image is fresh", stale.kind)
                stale.invalid_clock()
        elif code in BUG_CODES:
            log.error("Betfair could not use a request of ours (%s: %s): a bug in imgfeed", code, status.error_message)

    def _granted_changed(self) -> None:
        rates = [s.stream.heartbeat_ms for s in (self.markets, self.orders) if s.request is not None or s.historical]
        granted = min((r for r in rates if r is not None), default=None)
        if granted is not None and granted != self._granted:
            self._granted = granted
            self._liveness = self._deadlines(granted)
            log.debug("heartbeat interval granted: %d ms", granted)

    def session_up(self, facts: Dict[str, Any], out: List[Any]) -> None:
        self.tradability.session_started(out)
        self.markets.session_up(out)
        self.orders.session_up(out)

    def session_lost(self, out: List[Any]) -> None:
        self.tradability.session_lost(out)
        self.markets.session_lost()
        self.orders.session_lost()

    def heartbeat_late(self, out: List[Any]) -> None:
        self.tradability.heartbeat_late(out)

    def heartbeat_resumed(self, out: List[Any]) -> None:
        self.tradability.heartbeat_resumed(out)

    def changed(self) -> None:
        self._changed.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` (called under the lock) holds; re-checked after every chunk."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    def checkpoint(self) -> Optional[List[bytes]]:
        """The caches as lines (:mod:`.checkpoint`); ``None`` while a segmented change is in flight:
        its first segments are already in the stream a fan-out publishes, and a consumer starting
        from the cache without them would meet its last segments with no start."""
        with self.lock:
            if _assembling(self.markets.stream) or _assembling(self.orders.stream):
                return None
            return checkpoint_lines(self.markets, self.orders)

    # --- subscriptions ---------------------------------------------------------------------------

    def subscription_spec(self, side: Union[MarketSide, OrderSide], request: Any, resume: bool = False) -> RequestSpec:
        """A subscription as the runtime sends it; it is in force when the server confirms it."""
        clocks = side.resume_clocks() if resume else {}

        def encode(request_id: Optional[RequestId]) -> bytes:
            assert isinstance(request_id, int)
            with self.lock:
                self._requests[request_id] = side
                while len(self._requests) > _REMEMBERED_REQUESTS:
                    del self._requests[next(iter(self._requests))]
            return side.encode(request_id, request, clocks)

        def on_success(response: Any, out: List[Any]) -> None:
            side.confirmed(response.id, request, bool(clocks), out)
            self._granted_changed()

        name = "marketSubscription" if side is self.markets else "orderSubscription"
        return RequestSpec(name, encode, on_success, payload=request)

    def restore_plan(self) -> List[RequestSpec]:
        """The subscriptions in force, each with its clocks (a ``RESUB_DELTA`` on the kept cache).

        Orders first: flumine starts its order stream first so that no fill is missed while the
        market image loads."""
        with self.lock:
            sides = [s for s in (self.orders, self.markets) if s.request is not None]
            return [self.subscription_spec(s, s.request, resume=True) for s in sides]

    def restore_failed(self, spec: RequestSpec, error: RequestError, out: List[Any]) -> bool:
        """A restoring subscription was refused. Only a refusal that keeps the connection
        (``SUBSCRIPTION_LIMIT_EXCEEDED``: the filter now matches too many markets) gives it up;
        any other error closes the connection, and the next one restores it again."""
        if getattr(error, "code", None) != ErrorCode.SUBSCRIPTION_LIMIT_EXCEEDED:
            return False
        log.error("the server refused to restore %s %r: %s; it is no longer in force", spec.name, spec.payload, error)
        side = self.markets if isinstance(spec.payload, MarketRequest) else self.orders
        if isinstance(spec.payload, (MarketRequest, OrderRequest)) and side.request == spec.payload:
            side.request = None
        return False


def _assembling(stream: Any) -> bool:
    """Segments of a change are held back (read from the stream's assembler, so as not to widen
    the protocol package's API for one caller)."""
    return bool(stream._assembler.is_open)


def _connection_seen(record: Any, facts: Dict[str, Any]) -> StepResult:
    if type(record) is ConnectionMessage:
        facts["session_id"] = record.connection_id
        log.info("connected: connectionId %s", record.connection_id)
        return DONE
    if type(record) is StatusMessage and not record.is_success:
        return _refused(record)
    return None


def _refused(status: StatusMessage) -> End:
    """A failed status during the handshake ends it, whatever its ``connectionClosed`` says."""
    end = close_of(status if status.connection_closed else attrs.evolve(status, connection_closed=True))
    assert end is not None
    return end

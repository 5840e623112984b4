"""FeedClient: the runtime that keeps a feed connection alive and delivers it to handlers.

Three threads, each with one job (design.md):

- ``imgfeed-reader`` (one per connection) drains the transport without pause -- the server drops
  slow readers (protocol.md 1) -- decodes, stamps the liveness clocks, applies each chunk to the
  :class:`~imgfeed.feeds.img.book.MarketBook`, and queues the chunk's records for the dispatcher in one
  batch. It never runs user code and never logs per message.
- ``imgfeed-dispatcher`` takes batches from the queue and calls each handler, in registration
  order. A handler that raises is logged with the record and told through ``on_handler_error``;
  the others still run.
- ``imgfeed-watchdog`` is the only thread that connects, closes and reconnects: iteratively, in
  one loop, never from a callback (stomp.py #308 and websocket-client's recursion are the
  counter-examples). It enforces the init, heartbeat and silence deadlines, re-sends ``init`` and
  the subscriptions, and warns about handlers that stall.

Why a watchdog and not a socket timeout: a socket timeout says nothing about the feed being alive
(paramiko keepalives are never answered-checked, and a stuck server keeps TCP up); the service
defines liveness by heartbeats and messages, so the runtime measures exactly that.

Ordering: lifecycle notifications (``Connected``, ``Disconnected``, ``SuspendedAll`` ...) are put
in the same queue as the records, under one emit lock together with the book transition that
caused them, so handlers see the book's transitions in the order they happened, in line with the
data.

Everything specific to the IMG feed is asked of a :class:`~imgfeed.feeds.img.adapter.FeedAdapter`.

Known weaknesses:

- With ``overflow_policy="block"`` a reader waiting for room holds the emit lock, so the watchdog's
  heartbeat check waits too; silence is still detected (nothing is read meanwhile) and ``stop()``
  still ends the wait.
- A request whose connection is lost before its answer is sent again on the next session. The
  protocol makes every connection independent, so its effect (if any) died with the old session;
  a caller of a raw :meth:`FeedClient.request` with side effects outside the session should know.
- Reader CPU per message is dominated by decoding (the checked codec) and by freeing the previous
  image of each market; the runtime's own share (book, queue, correlation) is about 1 µs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from imgfeed.runtime.connection import Connection, End, bounded_error
from imgfeed.runtime.dispatcher import Dispatcher
from imgfeed.runtime.queue import DispatchQueue, QueueClosedError, QueueOverflowError
from imgfeed.runtime.requests import PendingRequest, RequestTracker, SubscriptionLog
from imgfeed.feeds.img.adapter import FeedAdapter, ImgAdapter
from imgfeed.feeds.img.config import ErrorPolicy, FeedConfig
from imgfeed.errors import (
    AuthenticationError,
    ClientClosedError,
    HostKeyError,
    ImgFeedError,
    ProtocolError,
    RequestTimeoutError,
    TransportError,
)
from imgfeed.runtime.events import Connected, Disconnected, DisconnectReason, Session
from imgfeed.feeds.img.handler import Handler
from imgfeed.feeds.img.protocol.requests import FILTER_KEYS, subscribe_request, unsubscribe_request
from imgfeed.feeds.img.book import MarketBook
from imgfeed.runtime.stats import TRANSITIONS, ClientState, ClientStats
from imgfeed.transport.base import Transport

__all__ = ["FeedClient"]

log = logging.getLogger("imgfeed.feeds.img.client")

#: How often the watchdog checks its deadlines when nothing wakes it. A tenth of the shortest
#: deadline keeps the detection error small; the floor and cap keep it cheap and responsive.
_MIN_TICK, _MAX_TICK = 0.01, 0.5
#: How long stop() gives a stuck handler before leaving the dispatcher behind.
_JOIN_SLICE = 0.05
#: How long after a failed re-subscription (e.g. rate-limited) the watchdog tries again.
_RESUBSCRIBE_RETRY = 1.0


class FeedClient:
    """A self-healing connection to the feed, delivering records to handlers in order.

    Args:
        config: where and how to connect.
        handlers: handlers to register, called in this order.
        transport_factory: builds a new :class:`~imgfeed.transport.base.Transport` per connection
            attempt (default: the paramiko SSH transport for ``config``).
        adapter: the feed protocol (default: :class:`~imgfeed.feeds.img.adapter.ImgAdapter`).
        rng: the random source of the reconnect jitter (tests pass a seeded one).

    Attributes:
        config: the configuration it was built with.
        book: the :class:`~imgfeed.feeds.img.book.MarketBook`, updated as the bytes arrive; ask it what is
            tradable now, from any thread.

    Example::

        with FeedClient(config, handlers=[MyHandler()]) as client:
            client.subscribe(event_ids=["ev.golf_1100"])
            client.run_forever()
    """

    def __init__(
        self,
        config: FeedConfig,
        handlers: Iterable[Handler] = (),
        transport_factory: Optional[Callable[[], Transport]] = None,
        adapter: Optional[FeedAdapter] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        if not isinstance(config, FeedConfig):
            raise TypeError(f"config must be a FeedConfig, got {type(config).__name__}")
        self.config = config
        self.book = MarketBook()
        self._lock = threading.Lock()  # guards the state and the current connection
        self._queue = DispatchQueue(config.queue_size, config.overflow_policy, config.effective_conflate_threshold)
        self._dispatcher = Dispatcher(self._queue, self._on_handler_error, self._on_dispatcher_exit)
        for h in handlers:
            self.add_handler(h)
        if transport_factory is None:
            from imgfeed.transport.ssh import SSHTransport

            def transport_factory() -> Transport:
                return SSHTransport.from_config(config)

        self._transport_factory = transport_factory
        self._adapter = adapter or ImgAdapter(config.include_finished, config.max_line_length)
        self._rng = rng or random.Random()
        self._tracker = RequestTracker()
        self._subscriptions = SubscriptionLog()

        self._session_cond = threading.Condition(self._lock)  # requests wait here for a session
        self._emit_lock = threading.Lock()  # book transition + enqueue, atomically
        self._send_lock = threading.Lock()
        self._state = ClientState.NEW
        self._conn: Optional[Connection] = None
        self._session_conn: Optional[Connection] = None  # set once re-subscription was sent
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._watchdog: Optional[threading.Thread] = None
        self._fatal: Optional[BaseException] = None
        self._handler_exc: Optional[BaseException] = None
        # (session number, why): set by the dispatcher, acted on by the watchdog for that session only.
        self._reconnect_request: Optional[Tuple[int, End]] = None
        self._resubscribe_due: Optional[float] = None

        # counters (each written by one thread only)
        self._messages = 0
        self._bytes = 0
        self._protocol_errors = 0
        self._attempts = 0
        self._sessions = 0
        self._last_disconnect: Optional[Disconnected] = None

    def __repr__(self) -> str:
        conn = self._conn
        session = conn.session_id if conn is not None and conn.up else None
        return f"<FeedClient {self.config.address} state={self._state.value} session={session}>"

    # --- handlers ----------------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register ``handler`` (after the others). Thread-safe; applies from the next batch."""
        self._dispatcher.add(handler)

    def remove_handler(self, handler: Handler) -> None:
        """Unregister ``handler``. Thread-safe; a call already under way finishes."""
        self._dispatcher.remove(handler)

    @property
    def handlers(self) -> Tuple[Handler, ...]:
        """The registered handlers, in call order."""
        return self._dispatcher.handlers

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """Where the client is in its life (see :data:`imgfeed.runtime.stats.TRANSITIONS`)."""
        return self._state

    def start(self) -> "FeedClient":
        """Start the threads and connect in the background. Returns at once.

        Raises:
            ClientClosedError: the client was already started.
        """
        with self._lock:
            if self._state is not ClientState.NEW:
                raise ClientClosedError(f"start() called on a client that is {self._state.value}")
            self._set_state_locked(ClientState.CONNECTING)
        self._watchdog = threading.Thread(target=self._watchdog_main, name="imgfeed-watchdog")
        self._dispatcher.start()
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect, deliver what is queued, and end every thread; returns within ``timeout``.

        Safe to call from any thread (a handler included) and more than once. Returns promptly
        while connecting, during a silent connection and during a reconnect wait.

        Raises:
            the handler's exception, with ``error_policy="raise"``.
        """
        deadline = time.monotonic() + timeout
        self._request_stop()
        with self._lock:
            if self._state is ClientState.NEW:
                self._set_state_locked(ClientState.STOPPED)
                return
        self._join_threads(deadline)
        self._raise_if_failed(include_fatal=False)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until the client has stopped (by ``stop()``, or a fatal error).

        Returns:
            True when every thread has ended, False on timeout.

        Raises:
            AuthenticationError, HostKeyError: the error that stopped the client.
            the handler's exception, with ``error_policy="raise"``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._watchdog, self._dispatcher.thread):
            if thread is None or thread is threading.current_thread():
                continue
            while thread.is_alive():
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                thread.join(remaining)
        self._raise_if_failed(include_fatal=True)
        return True

    def run_forever(self) -> None:
        """Start (if needed) and run until stopped; the first Ctrl-C stops cleanly, delivering
        what is queued; a second one abandons the backlog.

        Raises:
            what :meth:`join` raises.
        """
        if self._state is ClientState.NEW:
            self.start()
        try:
            self.join()
        except KeyboardInterrupt:
            log.info("interrupted: stopping (interrupt again to abandon the handlers' backlog)")
            try:
                self.stop()
            except KeyboardInterrupt:
                log.warning("interrupted again: abandoning the undelivered backlog")
                self._dispatcher.abandon()
                self._request_stop()
                raise

    def __enter__(self) -> "FeedClient":
        if self._state is ClientState.NEW:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _request_stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._lock:
            conn = self._conn
            self._session_cond.notify_all()
        if conn is not None:
            # Close from the stopping thread: this aborts a connect or a blocked read at once.
            conn.closing = True
            conn.transport.close()

    def _join_threads(self, deadline: float) -> None:
        me = threading.current_thread()
        for thread in (self._watchdog, self._dispatcher.thread):
            if thread is None or thread is me:
                continue
            while thread.is_alive():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                thread.join(min(remaining, _JOIN_SLICE))
            if thread is self._dispatcher.thread and thread.is_alive():
                # Time is up: leave the backlog undelivered, end after the current handler call.
                self._dispatcher.abandon()
                thread.join(min(0.5, max(0.0, deadline - time.monotonic()) + 0.2))
            if thread.is_alive():
                call = self._dispatcher.current_call
                log.warning(
                    "stop(): thread %s did not end in time%s",
                    thread.name,
                    f" (handler {call[0]!r} is still running)" if call else "",
                )

    def _raise_if_failed(self, include_fatal: bool) -> None:
        if self._handler_exc is not None and self.config.error_policy is ErrorPolicy.RAISE:
            raise self._handler_exc
        if include_fatal and self._fatal is not None:
            raise self._fatal

    # --- requests ----------------------------------------------------------------------------------

    def subscribe(
        self,
        event_ids: Optional[Sequence[str]] = None,
        market_type_ids: Optional[Sequence[str]] = None,
        market_ids: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Subscribe to the markets matching every filter given (none: every market).

        The subscription is remembered and re-sent after every reconnect. The server then pushes
        one ``market_update`` per matching market, then updates as they happen.

        Returns:
            the server's response record.

        Raises:
            RateLimitedError: "API limit breached"; nothing was subscribed.
            RequestError: the server answered with another error.
            RequestTimeoutError: no session, or no response, within ``timeout``
                (default ``config.request_timeout``).
            ClientClosedError: the client is stopped.
        """
        req = subscribe_request(event_ids, market_type_ids, market_ids)
        return self.request(req.name, req.msg, timeout=timeout)

    def unsubscribe(
        self,
        event_ids: Optional[Sequence[str]] = None,
        market_type_ids: Optional[Sequence[str]] = None,
        market_ids: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
    ) -> Any:
        """Unsubscribe (same filters as :meth:`subscribe`); markets it covers stop being tradable."""
        req = unsubscribe_request(event_ids, market_type_ids, market_ids)
        return self.request(req.name, req.msg, timeout=timeout)

    def request(self, name: str, msg: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None) -> Any:
        """Send a request and wait for its response. Thread-safe.

        A request made before the session is up waits for it; a request whose connection is lost
        before the answer is sent again on the next session, within ``timeout``.

        Returns:
            the response record (``Response``).

        Raises:
            see :meth:`subscribe`.
        """
        msg = dict(msg or {})
        timeout = self.config.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            conn = self._wait_for_session(name, deadline)
            request_id = self._tracker.next_id() if self.config.send_request_ids else None
            pending = PendingRequest(name, msg, request_id, conn.number)
            key = self._tracker.add(pending)
            try:
                self._send(conn, self._adapter.encode_request(name, msg, request_id))
            except TransportError:
                self._tracker.discard(key)
                continue  # the watchdog reconnects; wait for the next session
            remaining = deadline - time.monotonic()
            if not pending.done.wait(max(0.0, remaining)):
                self._tracker.discard(key)
                raise RequestTimeoutError(f"no response to {name!r} within {timeout} s")
            if pending.lost:
                continue
            if pending.error is not None:
                raise pending.error
            self._after_response(name, msg)
            return pending.response

    def _after_response(self, name: str, msg: Dict[str, Any]) -> None:
        if name in ("subscribe", "unsubscribe"):
            self._subscriptions.record(name, msg)
        if name == "unsubscribe":
            filters = {k: msg[k] for k in FILTER_KEYS if k in msg}
            with self._emit_lock:
                notes = self.book.forget_matching(filters)
                self._put(notes)

    @property
    def subscriptions(self) -> List[Dict[str, Any]]:
        """The filters of the subscriptions in force (re-sent after every reconnect)."""
        return self._subscriptions.active

    def _wait_for_session(self, name: str, deadline: float) -> Connection:
        with self._session_cond:
            while True:
                if self._stopping.is_set() or self._state in (ClientState.STOPPED, ClientState.STOPPING):
                    fatal = self._fatal
                    if fatal is not None:
                        raise ClientClosedError(f"cannot send {name!r}: the client stopped: {fatal}") from fatal
                    raise ClientClosedError(f"cannot send {name!r}: the client is stopped")
                if self._state is ClientState.NEW:
                    raise ClientClosedError(f"cannot send {name!r}: call start() first")
                conn = self._session_conn
                if conn is not None:
                    return conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestTimeoutError(f"no session to send {name!r} on before the timeout")
                self._session_cond.wait(remaining)

    def _send(self, conn: Connection, data: bytes) -> None:
        with self._send_lock:
            try:
                if conn.closing or conn.ended.is_set():
                    raise TransportError("the connection is closing")
                conn.transport.send(data, self.config.send_timeout)
            except TransportError as exc:
                conn.finish(DisconnectReason.TRANSPORT_ERROR, f"send failed: {exc}", exc)
                self._wake.set()
                # Requests must now wait for the next session, not retry on this one.
                with self._lock:
                    if self._session_conn is conn:
                        self._session_conn = None
                raise

    # --- stats -------------------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """A consistent-enough snapshot of the counters and gauges (see :class:`ClientStats`)."""
        now = time.monotonic()
        conn = self._conn
        up = conn is not None and conn.up and not conn.ended.is_set()
        return ClientStats(
            state=self._state,
            messages=self._messages,
            bytes=self._bytes,
            protocol_errors=self._protocol_errors,
            handler_errors=self._dispatcher.handler_errors,
            reconnects=max(0, self._attempts - 1),
            sessions=self._sessions,
            conflated=self._queue.conflated,
            dispatched=self._dispatcher.dispatched,
            queue_depth=len(self._queue),
            queue_high_water=self._queue.high_water,
            heartbeat_age=(now - conn.last_heartbeat) if up and conn is not None else None,
            silence=(now - conn.last_message) if up and conn is not None else None,
            session_id=conn.session_id if up and conn is not None else None,
            connected_since=conn.connected_at if up and conn is not None else None,
            last_disconnect=self._last_disconnect,
            address=self.config.address,
        )

    # --- the reader ------------------------------------------------------------------------------

    def _reader_main(self, conn: Connection) -> None:
        transport = conn.transport
        decoder = self._adapter.new_decoder()
        should_stop = lambda: conn.closing or self._stopping.is_set()  # noqa: E731
        try:
            while not conn.closing:
                data = transport.recv()
                if data is None:
                    continue  # read timeout: check whether to stop
                if not data:
                    if not conn.closing:
                        # The peer ended the stream: a cut-off last line is the peer's error. When
                        # we closed it ourselves, a half-received line is nobody's error.
                        self._process(conn, decoder.feed(b""), time.monotonic(), should_stop)
                    if conn.closing:
                        conn.finish(DisconnectReason.USER_STOP)
                    elif conn.closing_reason is not None:
                        conn.finish(DisconnectReason.SERVER_CLOSING, conn.closing_reason)
                    else:
                        exc = getattr(transport, "saved_exception", None)
                        if exc is not None:
                            conn.finish(DisconnectReason.TRANSPORT_ERROR, str(exc) or type(exc).__name__, exc)
                        else:
                            conn.finish(DisconnectReason.EOF, "the server closed the connection")
                    break
                mono = time.monotonic()
                records = decoder.feed(data, time.time())
                self._bytes += len(data)
                self._messages += len(records)
                conn.last_message = mono
                self._process(conn, records, mono, should_stop)
        except QueueOverflowError as exc:
            conn.finish(DisconnectReason.QUEUE_OVERFLOW, str(exc), exc)
        except QueueClosedError:
            conn.finish(DisconnectReason.USER_STOP)
        except TransportError as exc:
            if conn.closing:
                conn.finish(DisconnectReason.USER_STOP)
            else:
                cause = getattr(transport, "saved_exception", None) or exc
                conn.finish(DisconnectReason.TRANSPORT_ERROR, str(exc), cause)
        except BaseException as exc:  # a bug: report it as the end of the connection, never hang
            log.exception("reader failed")
            conn.finish(DisconnectReason.TRANSPORT_ERROR, f"reader failed: {exc!r}", exc)
        finally:
            conn.ended.set()
            self._wake.set()

    def _process(self, conn: Connection, records: List[Any], mono: float, should_stop: Callable[[], bool]) -> None:
        """Apply one chunk's records to the book and queue them, with any notifications."""
        if not records:
            return
        adapter = self._adapter
        book = self.book
        out: List[Any] = []
        append = out.append
        with self._emit_lock:
            with book.lock:
                for record in records:
                    if isinstance(record, ProtocolError):
                        self._protocol_errors += 1
                        append(bounded_error(record))
                        continue
                    if not conn.up:
                        up, session_id = adapter.session_started(record)
                        if up:
                            self._session_up(conn, session_id, mono, out)
                    is_response, request_id = adapter.response_id(record)
                    if is_response:
                        error = adapter.response_error(record)
                        if self._tracker.resolve(record, request_id, error) is None:
                            log.debug("response matched no outstanding request: %r", record)
                        if error is not None:
                            append(record)  # on_rate_limited
                        continue
                    if adapter.is_heartbeat(record):
                        conn.last_heartbeat = mono
                    reason = adapter.closing_reason(record)
                    if reason is not None:
                        conn.closing_reason = reason
                        self._wake.set()
                    append(record)
                    book.apply_locked(record, out)
                book.changed_locked()
            self._queue.put_many(out, should_stop)

    def _session_up(self, conn: Connection, session_id: Optional[str], mono: float, out: List[Any]) -> None:
        """Called by the reader, under the emit and book locks, where the session proved up."""
        conn.up = True
        conn.session_id = session_id
        conn.connected_at = time.time()
        conn.last_heartbeat = mono  # the heartbeat clock starts with the session
        self._sessions += 1
        conn.session_number = self._sessions
        session = Session(session_id, conn.transport.describe(), conn.connected_at, self._sessions)
        out.append(Connected(session))
        out.extend(self.book.session_started_locked())  # the reader notifies after the chunk
        self._wake.set()

    def _put(self, items: List[Any]) -> None:
        """Queue the runtime's own notifications: never dropped, never blocked by the bound."""
        if items:
            try:
                self._queue.put_many(items, force=True)
            except QueueClosedError:
                log.debug("queue closed: %d notification(s) not delivered", len(items))

    # --- the dispatcher's callbacks ----------------------------------------------------------------

    def _on_handler_error(self, exc: BaseException, session: int) -> None:
        """The error policy, applied on the dispatcher thread after a handler raised."""
        policy = self.config.error_policy
        if policy is ErrorPolicy.RAISE:
            if self._handler_exc is None:
                self._handler_exc = exc
            self._request_stop()
        elif policy is ErrorPolicy.DISCONNECT:
            # Tied to the session the record came from: the dispatcher runs behind the reader, and
            # an error on a record of a connection already replaced must not drop the new one.
            why = (DisconnectReason.HANDLER_ERROR, f"{type(exc).__name__}: {exc}", exc)
            self._reconnect_request = (session, why)
            self._wake.set()

    def _on_dispatcher_exit(self) -> None:
        """The dispatcher delivered everything (the watchdog closed the queue): the client is done."""
        watchdog = self._watchdog
        if watchdog is None or not watchdog.is_alive() or self._stopping.is_set():
            self._set_state(ClientState.STOPPED)

    # --- the watchdog ------------------------------------------------------------------------------

    def _watchdog_main(self) -> None:
        policy = self.config.reconnect
        attempt = 0  # number of the next attempt since the last session (0: the very first)
        delay = 0.0  # before the next attempt, decided when the last one ended
        try:
            while not self._stopping.is_set():
                if attempt > 0:
                    self._set_state(ClientState.RECONNECTING)
                    if delay > 0:
                        log.info("reconnecting in %.1f s", delay)
                        if self._wait_or_stop(delay):
                            break
                self._set_state(ClientState.CONNECTING)
                was_up, end, fatal = self._run_connection()
                stopping = self._stopping.is_set() or end[0] is DisconnectReason.USER_STOP
                retry = not stopping and not (fatal and not self.config.retry_auth_failures)
                # A connection that established a session counts as the first of a new run.
                attempt = 1 if was_up else attempt + 1
                if retry and policy.is_exhausted(attempt):
                    log.error("giving up after %d failed connection attempts", attempt)
                    retry = False
                if stopping:
                    note = Disconnected(DisconnectReason.USER_STOP, "", None, will_retry=False)
                else:
                    must_wait = end[0] is DisconnectReason.SERVER_CLOSING and self._adapter.must_wait(end[1])
                    delay = policy.delay(attempt, self._rng, must_wait) if retry else 0.0
                    note = Disconnected(end[0], end[1], end[2], will_retry=retry, retry_in=delay if retry else None)
                    log.warning("disconnected (%s)%s", note, "" if retry else "; not retrying")
                self._last_disconnect = note
                self._put([note])
                if fatal and not self.config.retry_auth_failures and not stopping:
                    self._fatal = end[2]
                    break
                if not retry:
                    break
        except BaseException as exc:  # a bug: stop, and make join() raise it rather than hide it
            log.exception("watchdog failed")
            self._fatal = exc
            self._put([Disconnected(DisconnectReason.TRANSPORT_ERROR, f"internal error: {exc!r}", exc, False)])
        finally:
            self._set_state(ClientState.STOPPING)
            self._stopping.set()
            with self._lock:
                self._session_cond.notify_all()
            self._queue.close()  # the dispatcher drains it, then ends and marks the client STOPPED

    def _set_state(self, state: ClientState) -> None:
        with self._lock:
            self._set_state_locked(state)

    def _set_state_locked(self, state: ClientState) -> None:
        current = self._state
        if (current, state) not in TRANSITIONS:
            # Late moves after a stop began (e.g. the watchdog finishing an attempt) are expected
            # and ignored; anything else is a runtime bug, logged rather than raised on a thread.
            if current not in (ClientState.STOPPING, ClientState.STOPPED):
                log.error("refused client state transition %s -> %s", current.value, state.value)
            return
        self._state = state
        self._session_cond.notify_all()

    def _run_connection(self) -> Tuple[bool, End, bool]:
        """One connection, from connect to close. Returns (was the session up, end, fatal?)."""
        self._attempts += 1
        try:
            transport = self._transport_factory()
        except (HostKeyError, AuthenticationError) as exc:  # e.g. the key file cannot be loaded
            reason = DisconnectReason.HOST_KEY if isinstance(exc, HostKeyError) else DisconnectReason.AUTH_FAILED
            return False, (reason, str(exc), exc), True
        except Exception as exc:  # a factory's own error: report it and retry per the policy
            log.warning("the transport factory failed", exc_info=not isinstance(exc, ImgFeedError))
            return False, (DisconnectReason.CONNECT_FAILED, f"{type(exc).__name__}: {exc}", exc), False
        conn = Connection(self._attempts, transport)
        with self._lock:
            self._conn = conn
        if self._stopping.is_set():
            transport.close()
            return False, (DisconnectReason.USER_STOP, "", None), False
        try:
            transport.connect(self.config.connect_timeout)
        except HostKeyError as exc:
            transport.close()
            return False, (DisconnectReason.HOST_KEY, str(exc), exc), True
        except AuthenticationError as exc:
            transport.close()
            return False, (DisconnectReason.AUTH_FAILED, str(exc), exc), True
        except Exception as exc:  # ConnectError, or a foreign error from a transport that maps none
            transport.close()
            if self._stopping.is_set():
                return False, (DisconnectReason.USER_STOP, "", None), False
            if not isinstance(exc, ImgFeedError):
                log.warning("%s.connect() raised a foreign exception", type(transport).__name__, exc_info=True)
            return False, (DisconnectReason.CONNECT_FAILED, str(exc) or type(exc).__name__, exc), False
        conn.started = time.monotonic()
        conn.last_message = conn.started
        reader = threading.Thread(target=self._reader_main, args=(conn,), name="imgfeed-reader")
        conn.reader = reader
        reader.start()
        try:
            try:
                with self._send_lock:
                    transport.send(self._adapter.handshake(), self.config.send_timeout)
            except TransportError as exc:
                conn.finish(DisconnectReason.TRANSPORT_ERROR, f"sending init failed: {exc}", exc)
            end = self._monitor(conn)
        finally:
            self._close_connection(conn)
        return conn.up, end, False

    def _monitor(self, conn: Connection) -> End:
        """Watch one connection until it must end; return why."""
        cfg = self.config
        tick = min(_MAX_TICK, max(_MIN_TICK, min(cfg.heartbeat_timeout, cfg.silence_timeout, cfg.init_timeout) / 10))
        resubscribed = False
        while True:
            self._wake.clear()
            if self._stopping.is_set():
                return DisconnectReason.USER_STOP, "", None
            if conn.ended.is_set():
                assert conn.end is not None
                return conn.end
            if conn.closing_reason is not None:
                # "When the server must close a connection it first sends" the error push (protocol.md 7)
                return DisconnectReason.SERVER_CLOSING, conn.closing_reason, None
            request = self._reconnect_request
            if request is not None:
                self._reconnect_request = None
                if request[0] == conn.session_number:
                    return request[1]
                log.debug("ignored a reconnect request for session %d (now %d)", request[0], conn.session_number)
            now = time.monotonic()
            if not conn.up:
                if now - conn.started > cfg.init_timeout:
                    return DisconnectReason.INIT_TIMEOUT, f"no init response or push within {cfg.init_timeout} s", None
            else:
                if not resubscribed:
                    self._resubscribe(conn)
                    resubscribed = True
                    with self._lock:
                        self._session_conn = conn
                        self._set_state_locked(ClientState.RUNNING)
                        self._session_cond.notify_all()
                # "If no message at all has arrived for 10 s, the client disconnects" (protocol.md 8)
                silence = now - conn.last_message
                if silence > cfg.silence_timeout:
                    return DisconnectReason.SILENCE, f"no message for {silence:.1f} s", None
                # "If no heartbeat has arrived for more than 10 s ... every market as suspended"
                if now - conn.last_heartbeat > cfg.heartbeat_timeout:
                    with self._emit_lock:
                        with self.book.lock:
                            # re-check under the lock: the reader may have just seen a heartbeat
                            late = time.monotonic() - conn.last_heartbeat > cfg.heartbeat_timeout
                            notes = self.book.heartbeat_late_locked() if late else []
                            if notes:
                                self.book.changed_locked()
                        self._put(notes)
                if self._resubscribe_due is not None and now >= self._resubscribe_due:
                    self._resubscribe(conn)
            self._check_stall(now)
            self._wake.wait(tick)

    def _wait_or_stop(self, delay: float) -> bool:
        """Wait ``delay`` seconds (an Event wait, so stop() cuts it short); True if stopping.

        Handler stalls are still watched meanwhile: the dispatcher may be busy with the backlog.
        """
        deadline = time.monotonic() + delay
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._stopping.is_set()
            if self._stopping.wait(min(remaining, _MAX_TICK)):
                return True
            self._check_stall(time.monotonic())

    def _resubscribe(self, conn: Connection) -> None:
        """Re-send the subscription log on a fresh session (protocol.md 8), without waiting."""
        self._resubscribe_due = None
        entries = self._subscriptions.entries()
        for name, msg in entries:
            request_id = self._tracker.next_id() if self.config.send_request_ids else None
            pending = PendingRequest(name, msg, request_id, conn.number, callback=self._resubscribed)
            key = self._tracker.add(pending)
            try:
                self._send(conn, self._adapter.encode_request(name, msg, request_id))
            except TransportError:
                self._tracker.discard(key)
                return
        if entries:
            log.info("re-sent %d subscription request(s)", len(entries))

    def _resubscribed(self, pending: PendingRequest) -> None:
        if pending.error is not None:
            log.warning("re-subscription %s %r failed (%s); retrying", pending.name, pending.msg, pending.error)
            self._resubscribe_due = time.monotonic() + _RESUBSCRIBE_RETRY

    def _check_stall(self, now: float) -> None:
        """Warn about a handler call that runs too long (kafka's "alive but not progressing")."""
        limit = self.config.handler_stall_warning
        call = self._dispatcher.stalled_call(now, limit)
        if call is not None:
            assert limit is not None
            log.warning(
                "handler %r has been handling a %s for more than %.1f s; the feed is queueing up behind it",
                call[0],
                type(call[1]).__name__,
                limit,
            )

    def _close_connection(self, conn: Connection) -> None:
        """Close the transport, end the reader, suspend the book, fail over pending requests."""
        with self._lock:
            if self._session_conn is conn:
                self._session_conn = None
        conn.closing = True
        conn.transport.close()
        reader = conn.reader
        if reader is not None:
            reader.join(max(1.0, self.config.read_timeout * 4))
            if reader.is_alive():
                log.warning("reader thread did not end within its timeout")
        with self._emit_lock:
            notes = self.book.session_lost()
            self._put(notes)
        self._tracker.connection_lost(conn.number)

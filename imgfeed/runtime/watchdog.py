"""The watchdog thread: the only thread that connects, sends the handshake, restores, closes and reconnects.

Contract: one loop, iterative, never from a callback (stomp.py #308 and websocket-client's
recursion are the counter-examples). Per attempt: build a transport, open it (``stop()`` aborts
this by closing it), start the reader, send the handshake's Send steps as the reader completes the
Await steps, restore the subscriptions in force one request at a time once the session is up
(retrying only a request that failed), then watch the deadlines until the session ends. Then
decide, from the typed :class:`~imgfeed.runtime.session.End` alone, whether and when to try again.

Why a watchdog and not a socket timeout: a socket timeout says nothing about the feed being alive
(paramiko keepalives are never checked, a stuck server keeps TCP up); the feeds define liveness
by heartbeats and messages, so the runtime measures exactly that.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from typing import Any, Callable, Deque, Optional, Tuple

from imgfeed.errors import (
    AuthenticationError,
    HostKeyError,
    ImgFeedError,
    InternalError,
    ServerRefusedError,
    TransportError,
)
from imgfeed.runtime.adapter import Decoder, FeedAdapter
from imgfeed.runtime.config import RuntimeSettings
from imgfeed.runtime.connection import Connection
from imgfeed.runtime.dispatcher import Dispatcher
from imgfeed.runtime.events import Disconnected, DisconnectReason
from imgfeed.runtime.ingest import Ingest
from imgfeed.runtime.lifecycle import Lifecycle
from imgfeed.runtime.reader import run_reader
from imgfeed.runtime.requests import PendingRequest, RequestSpec
from imgfeed.runtime.session import CloseKind, End, Phase, Session
from imgfeed.runtime.stats import ClientState
from imgfeed.transport.base import Transport

__all__ = ["Watchdog"]

log = logging.getLogger("imgfeed.runtime")

#: The longest the watchdog sleeps between checks when no deadline is nearer (seconds).
_MAX_TICK = 0.5
#: ... and the shortest, so that a deadline a hair away does not spin.
_MIN_TICK = 0.005
#: How long after a failed restoring request (e.g. rate-limited) it is sent again.
RESTORE_RETRY = 1.0
#: How long the watchdog waits for a closed connection's reader to end before moving on. Its
#: session is retired, so a reader that outlives this can deliver nothing any more.
_READER_JOIN = 1.0


class _Restore:
    """Re-establish the subscriptions in force, one request at a time, in order.

    One at a time, because order matters (IMG: a later unsubscribe must come after the subscribe
    it narrows), and so that a request that fails is retried alone rather than with the whole plan.
    """

    def __init__(self, plan: Any) -> None:
        self.plan: Deque[RequestSpec] = collections.deque(plan)
        self.inflight: Optional[PendingRequest] = None
        self.retry_at: Optional[float] = None

    def __repr__(self) -> str:
        return f"<Restore left={len(self.plan)} inflight={self.inflight!r}>"


class Watchdog:
    """Owns the ``imgfeed-watchdog`` thread (module docstring)."""

    def __init__(
        self,
        adapter: FeedAdapter,
        settings: RuntimeSettings,
        lifecycle: Lifecycle,
        ingest: Ingest,
        dispatcher: Dispatcher,
        transport_factory: Callable[[], Transport],
        decoder_factory: Callable[[], Decoder],
        rng: random.Random,
    ) -> None:
        self.adapter = adapter
        self.settings = settings
        self.lifecycle = lifecycle
        self.ingest = ingest
        self.dispatcher = dispatcher
        self._factory = transport_factory
        self._decoder_factory = decoder_factory
        self._rng = rng
        self._clock = ingest.clock
        self._send_lock = threading.Lock()
        self.thread: Optional[threading.Thread] = None
        #: (session number, why): set by the dispatcher (error policy), acted on for that session only.
        self.reconnect_request: Optional[Tuple[int, End]] = None
        self.attempts = 0
        self.internal_errors = 0
        self.last_disconnect: Optional[Disconnected] = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._main, name="imgfeed-watchdog")
        self.thread.start()

    # --- sending (any thread) --------------------------------------------------------------------

    def send(self, conn: Connection, data: bytes) -> None:
        """Write ``data`` on ``conn``; a failure ends the connection (the caller gets TransportError)."""
        with self._send_lock:
            try:
                if conn.closing or conn.session.retired:
                    raise TransportError("the connection is closing")
                conn.transport.send(data, self.settings.send_timeout)
            except TransportError as exc:
                self.ingest.retire(conn, End(DisconnectReason.TRANSPORT_ERROR, f"send failed: {exc}", exc))
                raise

    # --- the loop --------------------------------------------------------------------------------

    def _main(self) -> None:
        lifecycle = self.lifecycle
        attempt = 0  # the number of the next attempt since the last session (0: the very first)
        delay = 0.0  # before the next attempt, decided when the last one ended
        try:
            while not lifecycle.stopping.is_set():
                if attempt > 0:
                    lifecycle.move(ClientState.RECONNECTING)
                    if delay > 0 and self._wait_or_stop(delay):
                        break
                lifecycle.move(ClientState.CONNECTING)
                end, was_up = self._run_connection()
                attempt = 1 if was_up else attempt + 1
                if lifecycle.stopping.is_set() or end.reason is DisconnectReason.USER_STOP:
                    note = Disconnected(DisconnectReason.USER_STOP, will_retry=False)
                    retry = False
                else:
                    retry, delay = self._decide(end, attempt, was_up)
                    note = Disconnected(
                        end.reason, end.detail, end.exception, retry, delay if retry else None, end.code
                    )
                    when = ("; reconnecting in %.1f s" % delay if delay > 0 else "; reconnecting now") if retry else ""
                    log.warning("disconnected (%s)%s", note, when or "; not retrying")
                self.last_disconnect = note
                self.ingest.notify([note])
                if not retry:
                    break
        except BaseException as exc:  # noqa: B036 -- a bug: stop, and make join() raise it
            log.exception("the watchdog failed (a bug in imgfeed)")
            internal = InternalError(f"the watchdog failed: {exc!r}")
            internal.__cause__ = exc
            lifecycle.fail(internal)
            self.ingest.notify([Disconnected(DisconnectReason.INTERNAL_ERROR, repr(exc), exc, False)])
        finally:
            lifecycle.move(ClientState.STOPPING)
            lifecycle.request_stop()
            self.ingest.queue.close()  # the dispatcher drains it, then ends
            lifecycle.thread_ended("watchdog")

    def _decide(self, end: End, attempt: int, was_up: bool) -> Tuple[bool, float]:
        """Whether to try again after ``end``, and when (seconds), from its typed kind alone."""
        settings = self.settings
        policy = settings.reconnect
        if end.reason is DisconnectReason.INTERNAL_ERROR:
            self.internal_errors += 1
            if self.internal_errors >= settings.max_internal_errors:
                internal = InternalError(
                    f"{self.internal_errors} connections in a row ended by an internal error; the last: {end.detail}"
                )
                internal.__cause__ = end.exception
                self.lifecycle.fail(internal)
                return False, 0.0
        elif was_up:
            self.internal_errors = 0
        if end.kind is CloseKind.FATAL and not settings.retry_fatal:
            self.lifecycle.fail(end.exception or ServerRefusedError(end.detail or str(end.reason), end.code))
            return False, 0.0
        if end.kind is CloseKind.REFRESH:
            try:
                self.adapter.refresh_credentials()
            except Exception as exc:
                log.error("cannot refresh the credentials: %s", exc)
                self.lifecycle.fail(exc)
                return False, 0.0
        if policy.is_exhausted(attempt):
            log.error("giving up after %d failed connection attempts", attempt)
            return False, 0.0
        return True, policy.delay(attempt, self._rng, must_wait=end.kind is CloseKind.WAIT)

    def _wait_or_stop(self, delay: float) -> bool:
        """Wait ``delay`` seconds (stop() cuts it short); True if stopping. Stalls are still watched."""
        deadline = time.monotonic() + delay
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.lifecycle.stopping.is_set()
            if self.lifecycle.stopping.wait(min(remaining, _MAX_TICK)):
                return True
            self._check_stall(time.monotonic())

    # --- one connection --------------------------------------------------------------------------

    def _run_connection(self) -> Tuple[End, bool]:
        """One attempt, from building the transport to closing it. Returns (why it ended, was it up)."""
        self.attempts += 1
        adapter = self.adapter
        try:
            transport = self._factory()
        except (HostKeyError, AuthenticationError) as exc:  # e.g. a key file that cannot be loaded
            reason = DisconnectReason.HOST_KEY if isinstance(exc, HostKeyError) else DisconnectReason.AUTH_FAILED
            return End(reason, str(exc), exc, CloseKind.FATAL), False
        except Exception as exc:  # a factory's own error: report it and retry per the policy
            log.warning("the transport factory failed", exc_info=not isinstance(exc, ImgFeedError))
            return End(DisconnectReason.CONNECT_FAILED, f"{type(exc).__name__}: {exc}", exc), False
        session = Session(self.attempts, adapter.handshake(), adapter.liveness(), self._clock.monotonic())
        conn = Connection(session, transport)
        with self.ingest.lock:
            self.ingest.current = conn
        if self.lifecycle.stopping.is_set():
            transport.close()
            return End(DisconnectReason.USER_STOP), False
        end = self._open(conn)
        if end is not None:
            return end, False
        try:
            self._monitor(conn)
        finally:
            self._close(conn)
        assert session.end is not None
        return session.end, session.session_number > 0

    def _open(self, conn: Connection) -> Optional[End]:
        """Open the transport and start the reader; the End of a failed attempt, else None."""
        transport = conn.transport
        try:
            transport.connect(self.settings.connect_timeout)
        except HostKeyError as exc:
            transport.close()
            return End(DisconnectReason.HOST_KEY, str(exc), exc, CloseKind.FATAL)
        except AuthenticationError as exc:
            transport.close()
            return End(DisconnectReason.AUTH_FAILED, str(exc), exc, CloseKind.FATAL)
        except Exception as exc:  # ConnectError, or a foreign error from a transport that maps none
            transport.close()
            if self.lifecycle.stopping.is_set():
                return End(DisconnectReason.USER_STOP)
            if not isinstance(exc, ImgFeedError):
                log.warning("%s.connect() raised a foreign exception", type(transport).__name__, exc_info=True)
            return End(DisconnectReason.CONNECT_FAILED, str(exc) or type(exc).__name__, exc)
        with self.ingest.lock:
            conn.session.opened(self._clock.monotonic())
        decoder = self._decoder_factory()
        reader = threading.Thread(
            target=run_reader,
            args=(conn, self.ingest, decoder, self._clock, self.lifecycle.stopping.is_set),
            name="imgfeed-reader",
            daemon=True,  # a reader stuck in a transport's recv must not keep the interpreter alive
        )
        conn.reader = reader
        reader.start()
        return None

    def _monitor(self, conn: Connection) -> None:
        """Drive one open connection until its session ends."""
        session = conn.session
        lifecycle = self.lifecycle
        restore: Optional[_Restore] = None
        recorded = self._clock.recorded
        while not session.retired:
            lifecycle.wake.clear()
            if lifecycle.stopping.is_set():
                self.ingest.retire(conn, End(DisconnectReason.USER_STOP))
                break
            self._send_handshake(conn)
            if session.phase is Phase.RESTORING:
                if restore is None:
                    restore = _Restore(self.adapter.restore_plan())
                self._drive_restore(conn, restore)
            now = self._clock.monotonic()
            if not recorded:
                self.ingest.tick(conn, now)
            request = self.reconnect_request
            if request is not None:
                self.reconnect_request = None
                if request[0] == session.session_number:
                    self.ingest.retire(conn, request[1])
                    break
            self._check_stall(time.monotonic())
            lifecycle.wake.wait(self._tick(session, restore, now))

    def _tick(self, session: Session, restore: Optional[_Restore], now: float) -> float:
        wait = _MAX_TICK
        deadline = None if self._clock.recorded else session.next_deadline()
        if deadline is not None:
            wait = min(wait, deadline - now)
        if restore is not None and restore.retry_at is not None:
            wait = min(wait, restore.retry_at - time.monotonic())
        return max(_MIN_TICK, wait)

    def _send_handshake(self, conn: Connection) -> None:
        session = conn.session
        while True:
            with self.ingest.lock:
                step = session.pending_send()
            if step is None:
                return
            try:
                self.send(conn, step.build(session.facts))
            except TransportError:
                return  # the connection is over (retired by send)
            with self.ingest.lock:
                if not session.retired and session.pending_send() is step:
                    session.sent()

    def _drive_restore(self, conn: Connection, restore: _Restore) -> None:
        pending = restore.inflight
        if pending is not None:
            if not pending.done.is_set():
                return
            restore.inflight = None
            if pending.lost:
                return
            error = pending.error
            if error is not None and self.ingest.change(lambda out: self.adapter.restore_failed(pending.spec, error, out)):
                log.warning("restoring %s failed (%s); retrying in %.1f s", pending.spec, pending.error, RESTORE_RETRY)
                restore.retry_at = time.monotonic() + RESTORE_RETRY
            else:
                restore.plan.popleft()
        if restore.plan:
            if restore.retry_at is not None and time.monotonic() < restore.retry_at:
                return
            restore.retry_at = None
            spec = restore.plan[0]
            restore.inflight = self._send_request(conn, spec)
            return
        with self.ingest.lock:
            if conn.session.phase is Phase.RESTORING:
                conn.session.restored()
                self.lifecycle.move(ClientState.RUNNING)

    def _send_request(self, conn: Connection, spec: RequestSpec) -> Optional[PendingRequest]:
        """Send a restoring request; its completion wakes the watchdog."""
        tracker = self.ingest.tracker
        request_id = tracker.next_id() if spec.send_id else None
        pending = PendingRequest(spec, request_id, conn.number, callback=lambda p: self.lifecycle.wake.set())
        with self.ingest.lock:
            if conn.session.retired:
                return None
            key = tracker.add(pending)
        try:
            self.send(conn, spec.encode(request_id))
        except TransportError:
            tracker.discard(key)
            return None
        return pending

    def _close(self, conn: Connection) -> None:
        """Close the transport and end the reader (bounded: its session is retired already)."""
        conn.close_transport()
        reader = conn.reader
        if reader is not None and reader is not threading.current_thread():
            reader.join(self.lifecycle.time_left(_READER_JOIN))
            if reader.is_alive() and not self.lifecycle.stopping.is_set():
                log.warning("the reader of connection #%d is still in recv(); its data will be dropped", conn.number)
        with self.ingest.lock:
            if self.ingest.current is conn:
                self.ingest.current = None

    def _check_stall(self, now: float) -> None:
        """Warn about a handler call that runs too long (kafka's "alive but not progressing")."""
        limit = self.settings.handler_stall_warning
        call = self.dispatcher.stalled_call(now, limit)
        if call is not None:
            assert limit is not None
            log.warning(
                "handler %r has been handling a %s for more than %.1f s; the feed is queueing up behind it",
                call[0],
                type(call[1]).__name__,
                limit,
            )

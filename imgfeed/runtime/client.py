"""RuntimeClient: a self-healing connection to one feed, delivering its records to handlers in order.

Three kinds of thread, each with one job:

- ``imgfeed-reader`` (one per connection, :mod:`imgfeed.runtime.reader`) drains the transport,
  decodes, and hands each chunk to the ingest (:mod:`imgfeed.runtime.ingest`), which applies it to
  the session, the feed's cache and the queue under one lock. It never runs user code.
- ``imgfeed-dispatcher`` (:mod:`imgfeed.runtime.dispatcher`) takes batches from the queue and
  calls each handler, in registration order.
- ``imgfeed-watchdog`` (:mod:`imgfeed.runtime.watchdog`) is the only thread that connects, sends
  the handshake, restores subscriptions, closes and reconnects.

Everything feed-specific is asked of the :class:`~imgfeed.runtime.adapter.FeedAdapter`. A feed's
public client (``imgfeed.FeedClient``, ``imgfeed.betfair.BetfairClient``) is a thin subclass that
adds the feed's requests (subscribe ...) and names its cache.

Lifecycle: ``start()`` returns at once; ``stop(timeout)`` returns within ``timeout`` from any state
-- connecting, resolving a host name, in the SSH handshake, behind a stuck handler -- delivering
what is queued if there is time, and leaves no thread that could keep the interpreter from
exiting (the reader and dispatcher are daemons; the watchdog always ends promptly). ``join()``
raises what stopped the client by itself: a fatal close, a handler's exception under
``error_policy="raise"``, or an internal error.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Tuple

from imgfeed.errors import (
    ClientClosedError,
    InternalError,
    RequestTimeoutError,
    TransportError,
)
from imgfeed.runtime.adapter import Decoder, FeedAdapter
from imgfeed.runtime.clock import SYSTEM_CLOCK, Clock
from imgfeed.runtime.config import ErrorPolicy, RuntimeSettings
from imgfeed.runtime.connection import Connection
from imgfeed.runtime.dispatcher import Dispatcher
from imgfeed.runtime.events import DisconnectReason
from imgfeed.runtime.handler import dispatch_table
from imgfeed.runtime.ingest import Ingest
from imgfeed.runtime.lifecycle import Lifecycle
from imgfeed.runtime.queue import DispatchQueue
from imgfeed.runtime.requests import PendingRequest, RequestSpec, RequestTracker
from imgfeed.runtime.session import End, Phase
from imgfeed.runtime.stats import ClientState, ClientStats
from imgfeed.runtime.tap import Tap
from imgfeed.runtime.watchdog import Watchdog
from imgfeed.transport.base import Transport

__all__ = ["RuntimeClient"]

log = logging.getLogger("imgfeed.runtime")

#: How often join() and stop() look at a thread they wait for.
_JOIN_SLICE = 0.05


class RuntimeClient:
    """The runtime of one feed connection (module docstring).

    Args:
        adapter: the feed.
        settings: the runtime's settings (built by the feed's config).
        handlers: handlers to register, called in this order.
        transport_factory: builds a new transport per connection attempt.
        address: where it connects, for ``repr`` and stats.
        rng: the random source of the reconnect jitter (tests pass a seeded one).
        clock: the runtime's clock (a replay passes a recorded one).
        decoder_factory: builds the decoder of each connection (default: the adapter's).
    """

    def __init__(
        self,
        adapter: FeedAdapter,
        settings: RuntimeSettings,
        handlers: Iterable[Any] = (),
        *,
        transport_factory: Callable[[], Transport],
        address: str = "",
        rng: Optional[random.Random] = None,
        clock: Clock = SYSTEM_CLOCK,
        decoder_factory: Optional[Callable[[], Decoder]] = None,
    ) -> None:
        self._adapter = adapter
        self._settings = settings
        self._address = address
        self._life = Lifecycle(adapter.lock)
        self._queue = DispatchQueue(
            settings.queue_size, settings.overflow_policy, settings.conflate_threshold, adapter.conflation_keys
        )
        self._tracker = RequestTracker()
        self._ingest = Ingest(adapter, self._queue, self._tracker, clock, self._life.wake)
        self._dispatcher = Dispatcher(
            self._queue,
            dispatch_table(adapter.dispatch_table),
            adapter.handler_class,
            self._on_handler_error,
            self._on_dispatcher_exit,
        )
        for handler in handlers:
            self.add_handler(handler)
        self._watchdog = Watchdog(
            adapter,
            settings,
            self._life,
            self._ingest,
            self._dispatcher,
            transport_factory,
            decoder_factory or adapter.new_decoder,
            rng or random.Random(),
        )

    def __repr__(self) -> str:
        conn = self._ingest.current
        session = self._adapter.session_id(conn.session.facts) if conn is not None and conn.session.is_up else None
        return f"<{type(self).__name__} {self._address} state={self._life.state.value} session={session}>"

    # --- handlers ----------------------------------------------------------------------------------

    def add_handler(self, handler: Any) -> None:
        """Register ``handler`` (after the others). Thread-safe; applies from the next batch."""
        self._dispatcher.add(handler)

    def remove_handler(self, handler: Any) -> None:
        """Unregister ``handler``. Thread-safe; a call already under way finishes."""
        self._dispatcher.remove(handler)

    @property
    def handlers(self) -> Tuple[Any, ...]:
        """The registered handlers, in call order."""
        return self._dispatcher.handlers

    def add_tap(self, tap: Tap) -> None:
        """Let ``tap`` see every received byte and every lifecycle notification, in wire order,
        before any conflation (see :mod:`imgfeed.runtime.tap`). Thread-safe."""
        self._ingest.add_tap(tap)

    def remove_tap(self, tap: Tap) -> None:
        self._ingest.remove_tap(tap)

    def checkpoint(self) -> Optional[List[bytes]]:
        """The feed's cache as wire lines (see :meth:`FeedAdapter.checkpoint`), under the lock.

        From a tap's callback (which holds the lock) the lines match exactly what the tap has seen
        so far. ``None``: the feed cannot say its state as lines, or not now (mid-snapshot).
        """
        with self._ingest.lock:
            return self._adapter.checkpoint()

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def state(self) -> ClientState:
        """Where the client is in its life (see :data:`imgfeed.runtime.stats.TRANSITIONS`)."""
        return self._life.state

    def wait_for_state(self, *states: ClientState, timeout: float) -> bool:
        """Wait until the client is in one of ``states`` (for scripts and tests); False on timeout.

        ``ClientState.RUNNING`` means a session is up and its subscriptions are restored.
        """
        with self._life.changed:
            return self._life.changed.wait_for(lambda: self._life.state in states, timeout)

    def start(self) -> "RuntimeClient":
        """Start the threads and connect in the background. Returns at once.

        Raises:
            ClientClosedError: the client was already started.
        """
        with self._life.lock:
            if self._life.state is not ClientState.NEW:
                raise ClientClosedError(f"start() called on a client that is {self._life.state.value}")
            self._life.move(ClientState.CONNECTING)
        self._dispatcher.start()
        self._watchdog.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect, deliver what is queued, and end every thread; returns within ``timeout``.

        Safe to call from any thread (a handler included) and more than once. What the handlers
        have not received when the time is up is left undelivered (and a handler stuck in a call
        is left behind, on a daemon thread).

        Raises:
            the handler's exception, with ``error_policy="raise"``.
        """
        deadline = time.monotonic() + timeout
        self._request_stop(timeout)
        with self._life.lock:
            if self._life.state is ClientState.NEW:
                self._life.move(ClientState.STOPPED)
                return
        me = threading.current_thread()
        for thread in (self._watchdog.thread, self._dispatcher.thread):
            if thread is None or thread is me:
                continue
            while thread.is_alive() and time.monotonic() < deadline:
                thread.join(min(_JOIN_SLICE, max(0.0, deadline - time.monotonic())))
        dispatcher = self._dispatcher.thread
        if dispatcher is not None and dispatcher is not me and dispatcher.is_alive():
            self._dispatcher.abandon()  # time is up: leave the backlog, end after the current call
            call = self._dispatcher.current_call
            log.warning(
                "stop(): the dispatcher did not finish in %.1f s%s; the undelivered backlog is dropped",
                timeout,
                f" (handler {call[0]!r} is still running)" if call else "",
            )
        if self._life.handler_exc is not None and self._settings.error_policy is ErrorPolicy.RAISE:
            raise self._life.handler_exc

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until the client has stopped (by ``stop()``, or by itself).

        Returns:
            True when every thread has ended, False on timeout.

        Raises:
            what stopped the client by itself: a fatal close (``AuthenticationError``,
            ``HostKeyError``, ``ServerRefusedError`` ...), an ``InternalError``, or the handler's
            exception with ``error_policy="raise"``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in (self._watchdog.thread, self._dispatcher.thread):
            if thread is None or thread is threading.current_thread():
                continue
            while thread.is_alive():
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                thread.join(remaining)
        if self._life.handler_exc is not None and self._settings.error_policy is ErrorPolicy.RAISE:
            raise self._life.handler_exc
        if self._life.fatal is not None:
            raise self._life.fatal
        return True

    def run_forever(self) -> None:
        """Start (if needed) and run until stopped; the first Ctrl-C stops cleanly, delivering
        what is queued; a second one abandons the backlog.

        Raises:
            what :meth:`join` raises.
        """
        if self._life.state is ClientState.NEW:
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

    def __enter__(self) -> "RuntimeClient":
        if self._life.state is ClientState.NEW:
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _request_stop(self, timeout: Optional[float] = None) -> None:
        self._life.request_stop(timeout)
        conn = self._ingest.current
        if conn is not None:
            # Close from the stopping thread: this aborts a connect or a blocked read at once.
            conn.close_transport()

    # --- requests ----------------------------------------------------------------------------------

    def _request(self, spec: RequestSpec, timeout: Optional[float] = None) -> Any:
        """Send a request once the session is live and wait for its response. Thread-safe.

        A request whose connection is lost before the answer is sent again on the next session,
        within ``timeout`` (every connection is independent: the old one's effect died with it).

        Raises:
            RequestError (or a subclass): the server answered with an error.
            RequestTimeoutError: no live session, or no response, within ``timeout``.
            ClientClosedError: the client is stopped.
        """
        timeout = self._settings.request_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        tracker = self._tracker
        while True:
            conn = self._wait_for_live(spec.name, deadline)
            request_id = tracker.next_id() if spec.send_id else None
            pending = PendingRequest(spec, request_id, conn.number)
            with self._ingest.lock:
                if conn.session.retired:
                    continue
                key = tracker.add(pending)
            try:
                self._watchdog.send(conn, spec.encode(request_id))
            except TransportError:
                tracker.discard(key)
                continue  # the watchdog reconnects; wait for the next session
            if not pending.done.wait(max(0.0, deadline - time.monotonic())):
                tracker.discard(key)
                raise RequestTimeoutError(f"no response to {spec.name!r} within {timeout} s")
            if pending.lost:
                continue
            if pending.error is not None:
                raise pending.error
            return pending.response

    def _wait_for_live(self, name: str, deadline: float) -> Connection:
        life = self._life
        with life.changed:
            while True:
                if life.stopping.is_set() or life.state in (ClientState.STOPPED, ClientState.STOPPING):
                    fatal = life.fatal
                    if fatal is not None:
                        raise ClientClosedError(f"cannot send {name!r}: the client stopped: {fatal}") from fatal
                    raise ClientClosedError(f"cannot send {name!r}: the client is stopped")
                if life.state is ClientState.NEW:
                    raise ClientClosedError(f"cannot send {name!r}: call start() first")
                conn = self._ingest.current
                if conn is not None and conn.session.phase is Phase.LIVE:
                    return conn
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestTimeoutError(f"no live session to send {name!r} on before the timeout")
                life.changed.wait(remaining)

    # --- stats -------------------------------------------------------------------------------------

    def stats(self) -> ClientStats:
        """A consistent-enough snapshot of the counters and gauges (see :class:`ClientStats`)."""
        ingest = self._ingest
        now = ingest.clock.monotonic()
        with ingest.lock:
            conn = ingest.current
            session = conn.session if conn is not None and conn.session.is_up else None
            return ClientStats(
                state=self._life.state,
                messages=ingest.messages,
                bytes=ingest.bytes,
                protocol_errors=ingest.protocol_errors,
                handler_errors=self._dispatcher.handler_errors,
                reconnects=max(0, self._watchdog.attempts - 1),
                sessions=ingest.sessions,
                conflated=self._queue.conflated,
                dispatched=self._dispatcher.dispatched,
                queue_depth=len(self._queue),
                queue_high_water=self._queue.high_water,
                heartbeat_age=None if session is None else now - session.last_heartbeat,
                silence=None if session is None else now - session.last_message,
                session_id=None if session is None else self._adapter.session_id(session.facts),
                connected_since=None if session is None else session.facts.get("connected_at"),
                last_disconnect=self._watchdog.last_disconnect,
                address=self._address,
                dropped=ingest.dropped,
                internal_errors=self._watchdog.internal_errors,
                feed=self._adapter.name,
            )

    # --- the dispatcher's callbacks ----------------------------------------------------------------

    def _on_handler_error(self, exc: BaseException, session: int) -> None:
        """The error policy, applied on the dispatcher thread after a handler raised."""
        policy = self._settings.error_policy
        if policy is ErrorPolicy.RAISE:
            if self._life.handler_exc is None:
                self._life.handler_exc = exc
            self._request_stop()
        elif policy is ErrorPolicy.DISCONNECT:
            # Tied to the session the record came from: the dispatcher runs behind the reader, and
            # an error on a record of a connection already replaced must not drop the new one.
            why = End(DisconnectReason.HANDLER_ERROR, f"{type(exc).__name__}: {exc}", exc)
            self._watchdog.reconnect_request = (session, why)
            self._life.wake.set()

    def _on_dispatcher_exit(self, failure: Optional[BaseException]) -> None:
        """The dispatcher ended: after delivering everything (normal), or because it failed."""
        if failure is not None:
            internal = InternalError(f"the dispatcher thread failed: {failure!r}; no handler is called any more")
            internal.__cause__ = failure
            self._life.fail(internal)
            self._request_stop()
        self._life.thread_ended("dispatcher")

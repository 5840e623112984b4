"""The dispatcher thread: takes batches from the dispatch queue and calls the handlers.

Contract: items are delivered in queue order; for each item every handler registered at the start
of its batch is called, in registration order, one call at a time, on the ``imgfeed-dispatcher``
thread. A handler that raises -- *any* ``BaseException``: a ``SystemExit`` from a handler is a
bug in that handler, not a reason to end the feed for the others -- is logged with the item,
counted, told through its ``on_handler_error``, and never stops the dispatcher or the other
handlers (stomp.py and paho kill their reader on a user exception; websocket-client hides it).
What happens next -- go on, stop, reconnect -- is the client's error policy, reported through
``on_error``.

If the thread ends for any other reason (a bug here), it says so: ``on_exit`` receives the
exception, and the client fails loudly instead of staying "running" with nobody dispatching.

The dispatcher knows nothing of connections except the session number of the items it delivers,
which it reads from the ``Connected`` notifications in the stream: the client needs it to tie a
handler error to the session its record came from.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, Type

import attrs

from imgfeed.errors import ProtocolError
from imgfeed.runtime.events import Connected
from imgfeed.runtime.handler import Call, method_name_of, protocol_error_call
from imgfeed.runtime.queue import DispatchQueue

__all__ = ["Dispatcher", "HandlerCall", "AfterDelivery"]

log = logging.getLogger("imgfeed.runtime")

#: One handler call under way: (handler, item, monotonic start time).
HandlerCall = Tuple[Any, Any, float]

#: How long one wait for the queue lasts before the loop re-checks whether to end.
_POLL = 0.5


@attrs.frozen
class AfterDelivery:
    """A mark a feed adapter puts in the stream (in ``out``) to learn when what precedes it was handled.

    The dispatcher calls ``callback(handler_errors)`` once every item queued before the mark has
    been delivered to every handler; ``handler_errors`` is its count of handler exceptions so far,
    so the caller can tell whether any handler raised since its previous mark. A mark is never
    given to a handler, never conflated and never tapped. The callback runs on the dispatcher
    thread and must not block; an exception from it is logged and ignored. (A fan-out consumer in
    a group acknowledges its entries this way: after the handlers returned, not when read.)
    """

    callback: Callable[[int], None]


class Dispatcher:
    """Owns the ``imgfeed-dispatcher`` thread and the handler list.

    Args:
        queue: where the items come from; the thread ends once it is closed and drained.
        table: item type -> how to deliver it (see :func:`imgfeed.runtime.handler.dispatch_table`).
        handler_class: the class every handler must subclass.
        on_error: called on the dispatcher thread after a handler raised, with the exception and
            the session number of the item, so the client can apply its error policy.
        on_exit: called on the dispatcher thread as it ends: ``None`` after a normal drain, or the
            exception that ended it.
    """

    def __init__(
        self,
        queue: DispatchQueue,
        table: Dict[Type[Any], Call],
        handler_class: Type[Any],
        on_error: Callable[[BaseException, int], None],
        on_exit: Callable[[Optional[BaseException]], None],
    ) -> None:
        self._queue = queue
        self._table = table
        #: The records' part of the table, as method names (see ``method_name_of``).
        self._methods: Dict[Type[Any], str] = {}
        for kind, call in table.items():
            name = method_name_of(call)
            if name is not None:
                self._methods[kind] = name
        self._handler_class = handler_class
        self._on_error = on_error
        self._on_exit = on_exit
        self._lock = threading.Lock()
        self._handlers: Tuple[Any, ...] = ()
        self.thread: Optional[threading.Thread] = None
        #: Set to leave the backlog undelivered (stop() ran out of time, or a second Ctrl-C).
        self.abandoned = False
        #: The call under way, for the watchdog's stall check (written here, read there).
        self.current_call: Optional[HandlerCall] = None
        self._warned_call: Optional[HandlerCall] = None
        #: The session number of the items being delivered (from the last ``Connected``).
        self.session = 0
        self.dispatched = 0
        self.handler_errors = 0

    def __repr__(self) -> str:
        return f"<Dispatcher handlers={len(self._handlers)} dispatched={self.dispatched} errors={self.handler_errors}>"

    # --- handlers (any thread) -------------------------------------------------------------------

    @property
    def handlers(self) -> Tuple[Any, ...]:
        return self._handlers

    def add(self, handler: Any) -> None:
        if not isinstance(handler, self._handler_class):
            raise TypeError(
                f"handlers must subclass {self._handler_class.__module__}.{self._handler_class.__qualname__}, "
                f"got {type(handler).__name__}"
            )
        with self._lock:
            self._handlers = self._handlers + (handler,)  # copy on write: the loop reads a tuple

    def remove(self, handler: Any) -> None:
        with self._lock:
            self._handlers = tuple(h for h in self._handlers if h is not handler)

    # --- the thread ------------------------------------------------------------------------------

    def start(self) -> None:
        # A daemon: if stop() had to leave a stuck handler behind, the interpreter can still exit.
        # The watchdog (not a daemon) keeps the process alive while the client runs.
        self.thread = threading.Thread(target=self._run, name="imgfeed-dispatcher", daemon=True)
        self.thread.start()

    def is_alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def abandon(self) -> None:
        """Leave the backlog undelivered: end after the handler call under way."""
        self.abandoned = True
        self._queue.close()

    def stalled_call(self, now: float, limit: Optional[float]) -> Optional[HandlerCall]:
        """The call under way if it has run longer than ``limit`` seconds; each call once."""
        call = self.current_call
        if limit is None or call is None or call is self._warned_call or now - call[2] <= limit:
            return None
        self._warned_call = call
        return call

    def _call_for(self, item: Any) -> Optional[Call]:
        call = self._table.get(type(item))
        if call is None and isinstance(item, ProtocolError):
            return protocol_error_call
        return call

    def _run(self) -> None:
        queue = self._queue
        failure: Optional[BaseException] = None
        try:
            while not self.abandoned:
                items = queue.get_many(_POLL)
                if not items:
                    if queue.closed and len(queue) == 0:
                        break
                    continue
                handlers = self._handlers
                methods = self._methods
                monotonic = time.monotonic
                for item in items:
                    if self.abandoned:
                        break
                    # A record (what a busy feed is made of) names its handler method; the method
                    # is called directly, one Python frame less than through its Call.
                    name = methods.get(type(item))
                    call: Optional[Call] = None
                    if name is None:
                        if type(item) is AfterDelivery:
                            self._after_delivery(item)
                            continue
                        if type(item) is Connected:
                            self.session = item.session.number
                        call = self._call_for(item)
                    if name is not None or call is not None:
                        for handler in handlers:
                            self.current_call = (handler, item, monotonic())
                            try:
                                if name is not None:
                                    getattr(handler, name)(item)
                                elif call is not None:
                                    call(handler, item)
                            except BaseException as exc:  # noqa: B036 -- module docstring
                                self._failed(handler, item, exc)
                        self.current_call = None
                    self.dispatched += 1
        except BaseException as exc:  # a bug here: tell the client, which fails loudly
            log.critical("the dispatcher thread failed; no handler will be called any more", exc_info=exc)
            failure = exc
        finally:
            self.current_call = None
            self._on_exit(failure)

    def _after_delivery(self, mark: AfterDelivery) -> None:
        try:
            mark.callback(self.handler_errors)
        except Exception:
            log.exception("an after-delivery callback failed: %r", mark)

    def _failed(self, handler: Any, item: Any, exc: BaseException) -> None:
        self.handler_errors += 1
        log.error("handler %r raised while handling %r", handler, item, exc_info=exc)
        try:
            handler.on_handler_error(exc, item)
        except BaseException:  # noqa: B036 -- the same rule for the error hook
            log.exception("handler %r raised in on_handler_error", handler)
        self._on_error(exc, self.session)

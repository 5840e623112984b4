"""Request correlation: outstanding requests matched to their responses.

Matching: every request carries a fresh id, unique for the client's life, and its response is
matched by it; a response without an id is matched to the oldest outstanding request (servers
answer in order). A request belongs to one connection: when that connection is lost before the
response arrives, the request is marked *lost* and its sender decides what to do (a user's request
is sent again on the next session within its timeout; a restoring request is planned afresh).

A request's effect on the client's state -- a subscription now in force -- is applied by its
:attr:`RequestSpec.on_success`, *on the reader thread, under the runtime lock, while the response
is processed*: before any record that follows the response on the wire, and before the caller's
thread wakes. So a reconnect can never fall between "the server confirmed" and "the client knows".
"""

from __future__ import annotations

import collections
import itertools
import threading
from typing import Any, Callable, List, Optional, OrderedDict, Tuple, Union

import attrs

from imgfeed.errors import RequestError

__all__ = ["RequestId", "RequestSpec", "PendingRequest", "RequestTracker"]

#: A request id as it travels: an int from the tracker; the feed encodes it (IMG as a string).
RequestId = Union[int, str]


@attrs.frozen(eq=False)
class RequestSpec:
    """One request, as the runtime sends it.

    Attributes:
        name: what it is, for messages ("subscribe", "marketSubscription" ...).
        encode: the request's bytes for the wire, given its id (``None`` to send none).
        on_success: called with the response and the runtime's ``out`` list, under the lock, when
            the server confirmed the request (see the module docstring); appends notifications.
        payload: what it asks, for the feed's own bookkeeping (a filter ...).
        send_id: put a request id on it (IMG can be told not to).
        label: how messages name it (``subscribe {"event_ids": [...]}``); the name by default.
    """

    name: str
    encode: Callable[[Optional[RequestId]], bytes]
    on_success: Optional[Callable[[Any, List[Any]], None]] = None
    payload: Any = None
    send_id: bool = True
    label: str = ""

    def __repr__(self) -> str:
        return f"<RequestSpec {self.label or self.name}>"

    def __str__(self) -> str:
        return self.label or self.name


class PendingRequest:
    """One request waiting for its response."""

    __slots__ = ("spec", "request_id", "connection", "done", "response", "error", "lost", "callback")

    def __init__(
        self,
        spec: RequestSpec,
        request_id: Optional[int],
        connection: int,
        callback: Optional[Callable[["PendingRequest"], None]] = None,
    ) -> None:
        self.spec = spec
        self.request_id = request_id
        self.connection = connection
        self.done = threading.Event()
        self.response: Any = None
        self.error: Optional[RequestError] = None
        self.lost = False
        #: Called when the request completes or is lost (on the reader or watchdog thread, under
        #: the runtime lock; keep it short, no IO).
        self.callback = callback

    def __repr__(self) -> str:
        return f"<PendingRequest {self.spec.name} id={self.request_id} connection={self.connection}>"

    def _finish(self) -> None:
        if self.callback is not None:
            self.callback(self)
        self.done.set()


class RequestTracker:
    """Outstanding requests, oldest first. Thread-safe (its own lock, taken innermost)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: "OrderedDict[int, PendingRequest]" = collections.OrderedDict()
        self._ids = itertools.count(1)
        self._keys = itertools.count(1)

    def __len__(self) -> int:
        return len(self._pending)

    def __repr__(self) -> str:
        return f"<RequestTracker outstanding={len(self._pending)}>"

    def next_id(self) -> int:
        """A fresh request id (1, 2, ...), unique for this client's life."""
        return next(self._ids)

    def add(self, pending: PendingRequest) -> int:
        """Start tracking ``pending``; returns its key for :meth:`discard`."""
        key = next(self._keys)
        with self._lock:
            self._pending[key] = pending
        return key

    def discard(self, key: int) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def resolve(
        self, response: Any, request_id: Optional[RequestId], error: Optional[RequestError], out: List[Any]
    ) -> Optional[PendingRequest]:
        """Complete the request ``response`` answers; return it (``None`` if none matched).

        On success, the request's ``on_success`` runs first (it appends to ``out``); then the
        waiting caller is woken.
        """
        wanted = _normalise(request_id)
        with self._lock:
            found: Optional[Tuple[int, PendingRequest]] = None
            if wanted is not None:
                found = next(((k, p) for k, p in self._pending.items() if p.request_id == wanted), None)
            if found is None and (wanted is None or all(p.request_id is None for p in self._pending.values())):
                # No id (or the server dropped them): it answers in order.
                found = next(iter(self._pending.items()), None)
            if found is None:
                return None
            del self._pending[found[0]]
        pending = found[1]
        pending.response = response
        pending.error = error
        if error is None and pending.spec.on_success is not None:
            pending.spec.on_success(response, out)
        pending._finish()
        return pending

    def connection_lost(self, connection: int) -> List[PendingRequest]:
        """Mark every request sent on ``connection`` as lost; return them."""
        with self._lock:
            lost = [(k, p) for k, p in self._pending.items() if p.connection == connection]
            for k, _ in lost:
                del self._pending[k]
        for _, p in lost:
            p.lost = True
            p._finish()
        return [p for _, p in lost]


def _normalise(request_id: Optional[RequestId]) -> Optional[int]:
    """Ids go out as ints (or their decimal string); a server may echo either form."""
    if request_id is None or isinstance(request_id, int):
        return request_id
    try:
        return int(request_id)
    except ValueError:
        return -1  # an id we never sent: it matches nothing

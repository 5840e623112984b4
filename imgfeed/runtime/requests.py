"""Request bookkeeping: outstanding requests matched to responses, and the subscription log.

Matching (protocol.md 6): "imgfeed sends a fresh request_id on every request and matches responses
by it; a response without request_id is matched to the oldest outstanding request (the server
answers in order)".

A request belongs to one connection. When that connection is lost before the response arrives, the
request is marked *lost* and its caller sends it again on the next session (within its timeout):
"every connection is independent", so the old connection's half-done request has no effect.

The subscription log remembers what the user subscribed to, so that the runtime can re-send it
after every reconnect ("subscriptions are not carried over", protocol.md 8).
"""

from __future__ import annotations

import collections
import itertools
import threading
from typing import Any, Callable, Dict, List, Optional, OrderedDict, Tuple

from imgfeed.errors import RequestError

__all__ = ["PendingRequest", "RequestTracker", "SubscriptionLog"]


class PendingRequest:
    """One request waiting for its response."""

    __slots__ = ("name", "msg", "request_id", "connection", "done", "response", "error", "lost", "callback")

    def __init__(
        self,
        name: str,
        msg: Dict[str, Any],
        request_id: Optional[str],
        connection: int,
        callback: Optional[Callable[["PendingRequest"], None]] = None,
    ) -> None:
        self.name = name
        self.msg = msg
        self.request_id = request_id
        self.connection = connection
        self.done = threading.Event()
        self.response: Any = None
        self.error: Optional[RequestError] = None
        self.lost = False
        #: Called (on the reader thread; keep it short) when the request completes or is lost.
        self.callback = callback

    def __repr__(self) -> str:
        return f"<PendingRequest {self.name} id={self.request_id} connection={self.connection}>"

    def _finish(self) -> None:
        self.done.set()
        if self.callback is not None:
            self.callback(self)


class RequestTracker:
    """Outstanding requests, oldest first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: "OrderedDict[int, PendingRequest]" = collections.OrderedDict()
        self._ids = itertools.count(1)
        self._keys = itertools.count(1)

    def __len__(self) -> int:
        return len(self._pending)

    def next_id(self) -> str:
        """A fresh request id (``"1"``, ``"2"``, ...), unique for this client's life."""
        return str(next(self._ids))

    def add(self, pending: PendingRequest) -> int:
        """Start tracking ``pending``; returns its key for :meth:`discard`."""
        key = next(self._keys)
        with self._lock:
            self._pending[key] = pending
        return key

    def discard(self, key: int) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def resolve(self, response: Any, request_id: Optional[str], error: Optional[RequestError]) -> Optional[PendingRequest]:
        """Complete the request this response answers; return it (``None`` if none matched)."""
        with self._lock:
            found: Optional[Tuple[int, PendingRequest]] = None
            if request_id is not None:
                found = next(((k, p) for k, p in self._pending.items() if p.request_id == request_id), None)
            if found is None and (request_id is None or not any(p.request_id for p in self._pending.values())):
                # No id (or the server dropped ids): the server answers in order.
                found = next(iter(self._pending.items()), None)
            if found is None:
                return None
            del self._pending[found[0]]
        pending = found[1]
        pending.response = response
        pending.error = error
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


class SubscriptionLog:
    """The subscribe/unsubscribe requests that succeeded, in order, compacted. Thread-safe.

    Replaying the log on a fresh connection rebuilds the same subscriptions. An unsubscribe that
    exactly undoes an earlier subscribe removes it; an unsubscribe of everything (empty filter)
    clears the log; any other unsubscribe is kept, in order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: List[Tuple[str, Dict[str, Any]]] = []

    def __repr__(self) -> str:
        return f"SubscriptionLog({self._entries!r})"

    def record(self, name: str, msg: Dict[str, Any]) -> None:
        """Remember a successful ``subscribe`` or ``unsubscribe``."""
        with self._lock:
            if name == "subscribe":
                if ("subscribe", msg) not in self._entries:
                    self._entries.append(("subscribe", msg))
            elif name == "unsubscribe":
                if not msg:
                    self._entries.clear()
                elif ("subscribe", msg) in self._entries:
                    self._entries.remove(("subscribe", msg))
                else:
                    self._entries.append(("unsubscribe", msg))

    def entries(self) -> List[Tuple[str, Dict[str, Any]]]:
        """The requests to replay, in order."""
        with self._lock:
            return list(self._entries)

    @property
    def active(self) -> List[Dict[str, Any]]:
        """The filters of the subscriptions in force (unsubscribes not applied)."""
        with self._lock:
            return [m for n, m in self._entries if n == "subscribe"]

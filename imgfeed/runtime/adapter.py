"""The feed-adapter contract: everything the runtime must know about one feed, and nothing more.

The runtime (threads, queue, dispatcher, watchdog, reconnect policy, request correlation, liveness,
stats, lifecycle) knows no feed. A :class:`FeedAdapter` supplies, as data and small functions:

- the framing and decoding of its wire (:meth:`~FeedAdapter.new_decoder`);
- its handshake, as a sequence of :class:`~imgfeed.runtime.session.Send` and
  :class:`~imgfeed.runtime.session.Await` steps (IMG: ``init`` -> its response; Betfair:
  ``connection`` -> ``authentication`` -> ``status``);
- the liveness deadlines of a new session (:meth:`~FeedAdapter.liveness`);
- what each record *is* to the runtime (:class:`Role`), which request a response answers and
  whether it is an error, and which closes are fatal, retryable, or must wait -- as a typed
  :class:`~imgfeed.runtime.session.End`, never a string to be parsed;
- the re-subscription after a reconnect, built from its subscription state
  (:meth:`~FeedAdapter.restore_plan`: IMG, the compacted set in force; Betfair, the clocks);
- its cache (the book), which it updates under :attr:`~FeedAdapter.lock` when the runtime hands it
  a record or a lifecycle change, appending what the handlers must see to ``out``;
- its dispatch table (record type -> handler method) and its conflation keys (record type -> key;
  a type without a key is never conflated -- Betfair deltas must not be).

Threading: every method that takes ``out`` is called with :attr:`FeedAdapter.lock` held, on the
reader thread (records) or the watchdog (lifecycle); it must not block or do IO. ``lock`` is the
cache's own lock, so a reader of the cache (``is_tradable``) from any thread sees the state
between two chunks, never half of one. :meth:`~FeedAdapter.handshake` builders,
:meth:`~FeedAdapter.restore_plan` and :meth:`~FeedAdapter.refresh_credentials` run on the
watchdog, without the lock, and may do IO (a credentials provider); ``restore_plan`` takes the
lock itself to read a consistent state.
"""

from __future__ import annotations

import abc
import enum
import threading
from typing import (
    Any,
    Callable,
    Collection,
    Dict,
    Hashable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    Type,
)

from imgfeed.errors import RequestError
from imgfeed.runtime.requests import RequestId, RequestSpec
from imgfeed.runtime.session import End, Liveness, Step

__all__ = ["Role", "Decoder", "FeedAdapter"]


class Role(enum.Enum):
    """What a record is to the runtime."""

    #: Feed data: applied to the cache, delivered to handlers. Proves nothing about liveness but
    #: that bytes arrive.
    DATA = "data"
    #: A heartbeat (IMG's ``heartbeat`` push, Betfair's ``ct=HEARTBEAT``): resets the heartbeat
    #: clock, then is applied like data.
    HEARTBEAT = "heartbeat"
    #: The answer to a request: matched to it (:meth:`FeedAdapter.response_of`); checked for a
    #: close (:meth:`FeedAdapter.closing_of`); delivered only if the adapter's ``apply`` wants.
    RESPONSE = "response"
    #: The server announces that it closes the connection (:meth:`FeedAdapter.closing_of`).
    CLOSING = "closing"


class Decoder(Protocol):
    """Bytes in, records out: ``feed(b"")`` means end of stream (as ``socket.recv`` says it).

    The records come as a sized collection, iterated once, in order: a list, or a feed's own
    sequence that decodes each line only as the ingest reaches it (Betfair's does: a chunk's
    decoded lines then die one by one as they are applied, instead of all living until the chunk
    is done, which made the garbage collector a third of a busy stream's cost).
    """

    def feed(self, data: bytes, received_at: float) -> Collection[Any]: ...


class FeedAdapter(abc.ABC):
    """The questions the runtime asks about a feed. See the module docstring."""

    #: The feed's name as recordings and logs give it (``"img"``, ``"betfair"``).
    name: str = ""
    #: The cache's lock, which the runtime holds while it applies a chunk (module docstring).
    lock: "threading.RLock"
    #: Record type -> :class:`Role`; a type not listed is asked of :meth:`role_of`.
    roles: Mapping[Type[Any], Role] = {}
    #: Record type -> the name of the handler method that receives it.
    dispatch_table: Mapping[Type[Any], str] = {}
    #: Record type -> a function giving its conflation key; types not listed are never conflated.
    conflation_keys: Mapping[Type[Any], Callable[[Any], Hashable]] = {}
    #: The base class every handler of this feed must subclass.
    handler_class: Type[Any] = object

    # --- per connection --------------------------------------------------------------------------

    @abc.abstractmethod
    def new_decoder(self) -> Decoder:
        """A fresh decoder for a new connection."""

    @abc.abstractmethod
    def handshake(self) -> Sequence[Step]:
        """The steps of a new connection's handshake (fresh objects per connection)."""

    @abc.abstractmethod
    def liveness(self) -> Liveness:
        """The deadlines of a new connection."""

    def role_of(self, record: Any) -> Role:
        """The role of a record whose type is not in :attr:`roles` (default: data)."""
        return Role.DATA

    def session_id(self, facts: Dict[str, Any]) -> Optional[str]:
        """The server's id of the session, from what the handshake learnt."""
        value = facts.get("session_id")
        return None if value is None else str(value)

    # --- responses and closes --------------------------------------------------------------------

    @abc.abstractmethod
    def response_of(self, record: Any) -> Tuple[Optional[RequestId], Optional[RequestError]]:
        """For a RESPONSE record: the request id it carries (or None) and the error it stands for."""

    @abc.abstractmethod
    def closing_of(self, record: Any) -> Optional[End]:
        """If ``record`` announces that the server closes the connection: why, typed."""

    def refresh_credentials(self) -> None:
        """A close asked for fresh credentials (``CloseKind.REFRESH``): get them (watchdog, no lock).

        Raises:
            an ``ImgFeedError`` when there is no way to refresh them; the client then stops.
        """
        raise NotImplementedError(f"the {self.name or type(self).__name__} feed cannot refresh credentials")

    # --- the cache (under the lock) --------------------------------------------------------------

    @abc.abstractmethod
    def apply(self, record: Any, out: List[Any]) -> None:
        """Apply one record to the cache; append what handlers must see (the record, notes)."""

    @abc.abstractmethod
    def session_up(self, facts: Dict[str, Any], out: List[Any]) -> None:
        """A session came up (``Connected`` is already in ``out``): every market waits for its image."""

    @abc.abstractmethod
    def session_lost(self, out: List[Any]) -> None:
        """The session is gone: every market suspended."""

    @abc.abstractmethod
    def heartbeat_late(self, out: List[Any]) -> None:
        """Heartbeats are late: every market suspended, the connection kept."""

    @abc.abstractmethod
    def heartbeat_resumed(self, out: List[Any]) -> None:
        """A heartbeat came back after being late."""

    def changed(self) -> None:  # noqa: B027 -- an optional hook: most caches have no waiters
        """Wake whoever waits for the cache to change; called once per applied chunk."""

    def take_liveness(self) -> Optional[Liveness]:
        """New deadlines for the current session, learnt from the records just applied (under the
        lock, once per chunk); ``None``: unchanged. Betfair's server grants its own heartbeat
        interval in the image, so the deadlines are known only then."""
        return None

    def take_end(self) -> Optional[End]:
        """A reason to end the current session, found while applying the records just applied
        (under the lock, once per chunk); ``None``: none. Betfair: a segmented image arrived
        broken, so the stream must be resubscribed from its last clocks on a new connection."""
        return None

    def checkpoint(self) -> Optional[List[bytes]]:
        """The cache as wire lines, under the lock: fed to a fresh cache of this feed (after a
        session came up), they rebuild the state it has now. A fan-out stores them so that a late
        joiner starts from a whole state, never half of one. ``None``: this feed cannot."""
        return None

    # --- subscriptions ---------------------------------------------------------------------------

    def restore_plan(self) -> List[RequestSpec]:
        """The requests that reproduce the subscriptions in force on a new session, in order."""
        return []

    def restore_failed(self, spec: RequestSpec, error: RequestError, out: List[Any]) -> bool:
        """A restoring request failed (under the lock): True to retry it later, False to give it up
        (the adapter logs why and updates its state, appending any notifications to ``out``)."""
        return False

"""The consumer's feed adapter: a feed's own adapter, driven by the stream instead of a server.

Contract: :class:`RelayAdapter` wraps the adapter of the stream's feed (its book, decoder, dispatch
table, conflation keys and handler class are the feed's own) and adds what the stream says that
the lines cannot (docs/fanout.md):

- **Sessions as upstream.** The handshake only awaits the feed's own answers in the lines (IMG's
  init response), or a :class:`SessionResumed` that the transport puts first when it starts in
  the middle of an upstream session (from a checkpoint, or resuming after its own reconnect); the
  upstream's ``disconnected`` marker ends the downstream session with the upstream's reason
  (:class:`UpstreamDisconnected`), and the next session waits for the next upstream one. The
  feed's own close records (IMG's error push) are delivered but end nothing: the marker says when
  the upstream connection really ended, and why.
- **Suspension as upstream.** Heartbeats-late and their end follow the upstream's markers, not a
  downstream clock (the downstream's only deadline is its silence: no entry and no publisher tick).
- **Tradability never ahead of upstream.** A market is tradable downstream only when the feed's
  own rule says so *and* the upstream's last word on it (``status`` markers, reset at each
  ``resumed``, loaded with a checkpoint) was "tradable" -- so a market the upstream stopped
  trusting for a reason the lines do not show (an unsubscribe) is not traded downstream either.
  The feed binding applies this :class:`Gate` in its book (see :mod:`imgfeed.fanout.redis.feeds`).
- **Position.** Each chunk ends with a :class:`Position`, applied under the lock like any record:
  the shared :class:`StreamState` knows the last entry *applied*, so a reconnect resumes exactly
  after it -- a chunk read but dropped (its session already ended) is read again.

**Hooks.** A feed's relayed adapter may define ``relay_upstream_ended()`` (called when an upstream
connection ended or entries were lost, before the downstream session ends with it) and
``relay_resumed(whole, out)`` (called as a downstream session starts inside an upstream one;
``whole``: right after the last entry applied), so that it can tell its own reconnect to Redis
from the upstream's (Betfair keeps its streams over the first: :mod:`imgfeed.fanout.redis.betfair`).

Everything here runs under the feed's lock, on the reader thread (module imgfeed.runtime.adapter).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Type

from imgfeed.fanout.redis.records import (
    Acknowledge,
    GateChanged,
    GateReset,
    Position,
    SessionResumed,
    StreamGap,
    Tick,
    UpstreamAttemptFailed,
    UpstreamConnected,
    UpstreamDisconnected,
    UpstreamLate,
    UpstreamResumed,
)
from imgfeed.runtime.adapter import Decoder, FeedAdapter, Role
from imgfeed.runtime.events import Connected, Disconnected, DisconnectReason, Session
from imgfeed.runtime.requests import RequestId
from imgfeed.runtime.session import DONE, Await, End, Liveness, Step, StepResult

__all__ = ["Gate", "StreamState", "RelayAdapter", "upstream_end"]


class Gate:
    """The upstream's last word on each market's tradability (module docstring). Under the lock."""

    def __init__(self) -> None:
        self.tradable: Set[str] = set()
        self.dirty = False

    def __repr__(self) -> str:
        return f"<Gate tradable={len(self.tradable)}>"

    def allows(self, market_id: str) -> bool:
        return market_id in self.tradable

    def set(self, market_id: str, tradable: bool) -> None:
        if tradable:
            self.tradable.add(market_id)
        else:
            self.tradable.discard(market_id)
        self.dirty = True

    def reset(self, market_ids: Sequence[str] = ()) -> None:
        self.tradable = set(market_ids)
        self.dirty = True


class StreamState:
    """What a consumer knows of the stream, shared by its transports and its adapter (under the lock).

    Attributes:
        position: the id of the last entry applied (``None``: nothing yet).
        synced: the state is whole as of ``position`` (False at first and after a gap).
        upstream: the upstream session in force at ``position`` (a ``connected`` marker's data), or None.
        late: the upstream's heartbeats were late at ``position``.
        gate: see :class:`Gate`.
    """

    def __init__(self) -> None:
        self.position: Optional[bytes] = None
        self.synced = False
        self.upstream: Optional[Dict[str, Any]] = None
        self.late = False
        self.gate = Gate()
        self.entries = 0
        self.gaps = 0
        self.resyncs = 0

    def __repr__(self) -> str:
        return f"<StreamState position={self.position!r} synced={self.synced} upstream={self.upstream is not None}>"


#: Upstream reasons that would stop or count against the downstream client if reused as they are.
_REMAPPED = {DisconnectReason.USER_STOP: DisconnectReason.EOF, DisconnectReason.INTERNAL_ERROR: DisconnectReason.EOF}


def upstream_end(record: UpstreamDisconnected) -> End:
    """The downstream End for an upstream one: its reason (a user stop or internal error upstream
    is an end of stream here, never a reason to stop), detail and code; retried at once."""
    try:
        reason = DisconnectReason(record.reason)
    except ValueError:
        reason = DisconnectReason.EOF
    reason = _REMAPPED.get(reason, reason)
    when = "" if record.retry_in is None else f"; upstream retries in {record.retry_in:.1f} s"
    return End(reason, f"upstream {record.reason}: {record.detail}{when}" if record.detail else f"upstream {record.reason}{when}", code=record.code)


class RelayAdapter(FeedAdapter):
    """A feed's adapter driven by a fan-out stream (module docstring).

    Args:
        inner: the feed's adapter (its book follows ``state.gate``; see the feed bindings).
        refresh: re-judges every market after the gate changed (appends to ``out``).
        state: shared with the transports.
        silence_timeout: no entry and no tick for this long ends the downstream session.
        group: a consumer-group member: a session per Redis connection; markers are told, not obeyed.
    """

    def __init__(
        self,
        inner: FeedAdapter,
        refresh: Callable[[List[Any]], None],
        state: StreamState,
        silence_timeout: float,
        group: bool = False,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.lock = inner.lock
        self.state = state
        self._refresh = refresh
        self._silence = silence_timeout
        self._group = group
        self._sessions = 0
        roles: Dict[Type[Any], Role] = {k: (Role.DATA if r is Role.CLOSING else r) for k, r in inner.roles.items()}
        roles.update({kind: Role.DATA for kind in self._APPLY})
        if not group:
            roles[UpstreamDisconnected] = Role.CLOSING
            roles[StreamGap] = Role.CLOSING
        self.roles = roles
        self.dispatch_table = inner.dispatch_table
        self.conflation_keys = {} if group else inner.conflation_keys
        self.handler_class = inner.handler_class
        # Optional hooks of the feed's relayed adapter (module docstring, "Hooks").
        self._on_resumed: Optional[Callable[[bool, List[Any]], None]] = getattr(inner, "relay_resumed", None)
        self._upstream_ended: Callable[[], None] = getattr(inner, "relay_upstream_ended", _nothing)

    def __repr__(self) -> str:
        return f"<RelayAdapter {self.name} {'group ' if self._group else ''}{self.state!r}>"

    # --- per connection -------------------------------------------------------------------------

    def new_decoder(self) -> Decoder:
        return self.inner.new_decoder()

    def handshake(self) -> Sequence[Step]:
        if self._group:
            return (Await("redis", _resumed_only),)
        awaits = [step for step in self.inner.handshake() if isinstance(step, Await)]
        return (Await("upstream session", _RelayHandshake(awaits)),)

    def liveness(self) -> Liveness:
        return Liveness(self._silence, None, None)

    def role_of(self, record: Any) -> Role:
        role = self.inner.role_of(record)
        return Role.DATA if role is Role.CLOSING else role

    def session_id(self, facts: Dict[str, Any]) -> Optional[str]:
        return self.inner.session_id(facts)

    def response_of(self, record: Any) -> Tuple[Optional[RequestId], Any]:
        return self.inner.response_of(record)

    def closing_of(self, record: Any) -> Optional[End]:
        kind = type(record)
        if kind is UpstreamDisconnected:
            return upstream_end(record)
        if kind is StreamGap:
            return End(DisconnectReason.TRANSPORT_ERROR, record.detail)
        return None

    # --- the cache -------------------------------------------------------------------------------

    def apply(self, record: Any, out: List[Any]) -> None:
        method = self._APPLY.get(type(record))
        if method is None:
            self.inner.apply(record, out)
        else:
            method(self, record, out)

    def session_up(self, facts: Dict[str, Any], out: List[Any]) -> None:
        self._sessions += 1
        self.inner.session_up(facts, out)

    def session_lost(self, out: List[Any]) -> None:
        self.inner.session_lost(out)

    def heartbeat_late(self, out: List[Any]) -> None:
        self.inner.heartbeat_late(out)

    def heartbeat_resumed(self, out: List[Any]) -> None:
        self.inner.heartbeat_resumed(out)

    def changed(self) -> None:
        self.inner.changed()

    def _flush(self, out: List[Any]) -> None:
        if self.state.gate.dirty:
            self.state.gate.dirty = False
            self._refresh(out)

    def _resumed(self, record: SessionResumed, out: List[Any]) -> None:
        self.state.upstream = record.session
        if record.late:  # first: no market is said tradable for an instant before the suspension
            self._late(record, out)
        if self._on_resumed is not None:
            self._on_resumed(record.whole, out)

    def _connected(self, record: UpstreamConnected, out: List[Any]) -> None:
        self.state.upstream = record.session
        self.state.late = False
        if self._group:
            s = record.session
            out.append(Connected(Session(s.get("session_id"), str(s.get("address")), s.get("connected_at") or 0.0, self._sessions)))

    def _disconnected(self, record: UpstreamDisconnected, out: List[Any]) -> None:
        self.state.upstream = None
        self._upstream_ended()
        self.state.late = False
        if self._group:
            end = upstream_end(record)
            out.append(Disconnected(end.reason, end.detail, None, True, record.retry_in, end.code))

    def _attempt_failed(self, record: UpstreamAttemptFailed, out: List[Any]) -> None:
        out.append(record.note)

    def _late(self, record: Any, out: List[Any]) -> None:
        self.state.late = True
        self.inner.heartbeat_late(out)

    def _upstream_resumed(self, record: UpstreamResumed, out: List[Any]) -> None:
        self.state.late = False
        self.state.gate.reset()  # the "status" markers that follow say which markets are tradable
        self._flush(out)
        self.inner.heartbeat_resumed(out)

    def _gate_changed(self, record: GateChanged, out: List[Any]) -> None:
        self.state.gate.set(record.market_id, record.tradable)

    def _gate_reset(self, record: GateReset, out: List[Any]) -> None:
        self.state.gate.reset(record.market_ids)
        self._flush(out)

    def _tick(self, record: Tick, out: List[Any]) -> None:
        pass

    def _position(self, record: Position, out: List[Any]) -> None:
        self._flush(out)
        self.state.position = record.entry_id
        self.state.synced = record.whole

    def _gap(self, record: StreamGap, out: List[Any]) -> None:
        self.state.synced = False
        self._upstream_ended()
        self.state.gaps += 1

    def _acknowledge(self, record: Acknowledge, out: List[Any]) -> None:
        out.append(record.mark)

    _APPLY: Dict[Type[Any], Callable[["RelayAdapter", Any, List[Any]], None]] = {
        SessionResumed: _resumed,
        UpstreamConnected: _connected,
        UpstreamDisconnected: _disconnected,
        UpstreamAttemptFailed: _attempt_failed,
        UpstreamLate: _late,
        UpstreamResumed: _upstream_resumed,
        GateChanged: _gate_changed,
        GateReset: _gate_reset,
        Tick: _tick,
        Position: _position,
        StreamGap: _gap,
        Acknowledge: _acknowledge,
    }


def _nothing() -> None:
    pass


def _resumed_only(record: Any, facts: Dict[str, Any]) -> StepResult:
    if type(record) is SessionResumed:
        facts["session_id"] = (record.session or {}).get("session_id")
        return DONE
    return None


class _RelayHandshake:
    """The downstream handshake: a resumed or announced upstream session, or the feed's own awaited
    answers in the lines. A failed upstream handshake ends nothing here: its marker follows."""

    def __init__(self, awaits: List[Await]) -> None:
        self.awaits = awaits
        self.step = 0

    def __call__(self, record: Any, facts: Dict[str, Any]) -> StepResult:
        kind = type(record)
        if kind is SessionResumed or kind is UpstreamConnected:
            session = record.session or {}
            facts["session_id"] = session.get("session_id")
            return DONE
        if kind is UpstreamAttemptFailed:
            self.step = 0  # that upstream connection is over; the next one starts its handshake anew
            return None
        if self.step >= len(self.awaits):
            return None
        result = self.awaits[self.step].accept(record, facts)
        if result == DONE:
            self.step += 1
            return DONE if self.step == len(self.awaits) else None
        return None

"""One connection attempt as an IO-free state machine (h11's rule: the state lives in sans-IO code).

Contract: a :class:`Session` is told what happened -- the transport opened, a message arrived, a
heartbeat arrived, a handshake step was sent or answered, the time is now ``t`` -- and answers with
its phase, the first reason it ended (:class:`End`) and what the deadlines say. It does no IO,
reads no clock (``now`` is always passed in) and starts no thread; the runtime calls it under its
lock, from the reader (messages) and the watchdog (sends, deadlines).

Connection attempts are numbered over the client's life; every record the runtime applies belongs
to the session that is current when it is applied. Once a session is CLOSED it is *retired*:
whatever its reader still delivers is dropped, never applied to the book, queued or dispatched.

The phases, as a table (any pair not in it is a bug in the runtime and raises)::

    CONNECTING  --opened-----------> HANDSHAKING   the transport is open; silence counts from here
    HANDSHAKING --handshake_done---> RESTORING     the feed's last handshake step was answered
    RESTORING   --restored---------> LIVE          every subscription in force was re-established
    any but CLOSED --closed--------> CLOSED        the first End wins; later ones are ignored

The deadlines (a :class:`Liveness`, from the feed adapter):

- *silence*: no complete message for ``silence_timeout`` -> ``SILENCE``, from the moment the
  transport opened -- a server that reads ``init`` and then says nothing is silent too;
- *handshake*: not up within ``handshake_timeout`` while messages do arrive -> ``INIT_TIMEOUT``;
- *heartbeat*: once up, no heartbeat for ``heartbeat_timeout`` -> every market suspended (the
  connection stays); the next heartbeat lifts it.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import attrs

from imgfeed.runtime.events import DisconnectReason

__all__ = [
    "Phase",
    "CloseKind",
    "End",
    "Liveness",
    "Send",
    "Await",
    "DONE",
    "Step",
    "StepResult",
    "Session",
    "TRANSITIONS",
]


class Phase(str, enum.Enum):
    """Where one connection attempt is (module docstring)."""

    CONNECTING = "connecting"
    HANDSHAKING = "handshaking"
    RESTORING = "restoring"
    LIVE = "live"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


#: (phase, event) -> next phase. See the module docstring.
TRANSITIONS: Dict[Tuple[Phase, str], Phase] = {
    (Phase.CONNECTING, "opened"): Phase.HANDSHAKING,
    (Phase.HANDSHAKING, "handshake_done"): Phase.RESTORING,
    (Phase.RESTORING, "restored"): Phase.LIVE,
    **{(p, "closed"): Phase.CLOSED for p in Phase if p is not Phase.CLOSED},
}


class CloseKind(str, enum.Enum):
    """What an ended connection asks of the reconnect loop. The feed adapter classifies each close."""

    #: Reconnect per the policy (the first attempt after a loss at once).
    RETRY = "retry"
    #: Reconnect, but not before the policy's interval: the server refused us and asked to wait.
    WAIT = "wait"
    #: Stop the client: a person must act (a rejected key, an invalid app key).
    FATAL = "fatal"
    #: The credentials expired: ask the feed for fresh ones, then reconnect at once.
    REFRESH = "refresh"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class End:
    """Why a connection ended: the runtime's typed reason, never a string to be parsed.

    Attributes:
        reason: the kind of cause, as handlers see it.
        detail: words for a person.
        exception: the underlying exception, if any.
        kind: what the reconnect loop does next.
        code: the server's machine-readable reason, if it gave one.
    """

    reason: DisconnectReason
    detail: str = ""
    exception: Optional[BaseException] = attrs.field(default=None, eq=False)
    kind: CloseKind = CloseKind.RETRY
    code: Optional[str] = None


@attrs.frozen
class Liveness:
    """A session's deadlines, in seconds (module docstring). ``None`` switches a rule off."""

    silence_timeout: Optional[float]
    heartbeat_timeout: Optional[float]
    handshake_timeout: Optional[float]


@attrs.frozen
class Send:
    """A handshake step: send a message. ``build(facts)`` returns its bytes (on the watchdog)."""

    name: str
    build: Callable[[Dict[str, Any]], bytes]


#: What :attr:`Await.accept` answers when the record completes its step.
DONE = "done"
#: ``None``: not the awaited record; :data:`DONE`; or an :class:`End` (the handshake failed).
StepResult = Union[None, str, End]


@attrs.frozen
class Await:
    """A handshake step: wait for a record. ``accept(record, facts)`` may note facts (a session id)."""

    name: str
    accept: Callable[[Any, Dict[str, Any]], StepResult]


Step = Union[Send, Await]


class Session:
    """One connection attempt's state (module docstring).

    Args:
        number: the attempt's number over the client's life (1, 2, ...).
        steps: the feed's handshake, in order.
        liveness: the deadlines.
        now: the monotonic time the attempt started.
    """

    def __init__(self, number: int, steps: Sequence[Step], liveness: Liveness, now: float) -> None:
        self.number = number
        self.phase = Phase.CONNECTING
        self.steps = tuple(steps)
        self.step = 0
        self.liveness = liveness
        self.started = now
        self.last_message = now
        self.last_heartbeat = now
        self.heartbeat_late = False
        #: What the handshake learnt (``session_id`` ...), written by the adapter's Await steps.
        self.facts: Dict[str, Any] = {}
        #: Send steps passed over because the server answered before they went out (see
        #: :meth:`offer`); the watchdog still sends them, first.
        self.owed: List[Send] = []
        #: The client-wide number of the session this attempt carried, once it is up (1, 2, ...).
        self.session_number = 0
        self.end: Optional[End] = None

    def __repr__(self) -> str:
        return f"<Session #{self.number} {self.phase.value} step={self.step}/{len(self.steps)} end={self.end}>"

    # --- transitions -----------------------------------------------------------------------------

    def _move(self, event: str) -> None:
        try:
            self.phase = TRANSITIONS[(self.phase, event)]
        except KeyError:
            raise RuntimeError(f"session #{self.number}: no transition from {self.phase.value} on {event!r}") from None

    @property
    def is_up(self) -> bool:
        """The handshake completed and the session has not ended."""
        return self.phase in (Phase.RESTORING, Phase.LIVE)

    @property
    def retired(self) -> bool:
        return self.phase is Phase.CLOSED

    def opened(self, now: float) -> None:
        """The transport is open: the handshake starts, and so does the silence clock."""
        self._move("opened")
        self.started = self.last_message = self.last_heartbeat = now

    def rebase(self, now: float) -> None:
        """Start the clocks at ``now`` (a replay: the first record's recorded time)."""
        self.started = self.last_message = self.last_heartbeat = now

    def up(self, now: float, session_number: int) -> None:
        """The last handshake step was answered: the session is up, the heartbeat clock starts."""
        self._move("handshake_done")
        self.session_number = session_number
        self.last_heartbeat = now
        self.heartbeat_late = False

    def restored(self) -> None:
        self._move("restored")

    def close(self, end: End) -> bool:
        """Record why the session ended; the first reason wins. True if this call closed it."""
        if self.phase is Phase.CLOSED:
            return False
        self.end = end
        self._move("closed")
        return True

    # --- the handshake ---------------------------------------------------------------------------

    def pending_send(self) -> Optional[Send]:
        """The Send step due now, if any (the watchdog sends it): an owed one, or the current one."""
        if self.phase is Phase.CLOSED:
            return None
        if self.owed:
            return self.owed[0]
        if self.phase is Phase.HANDSHAKING and self.step < len(self.steps):
            step = self.steps[self.step]
            if isinstance(step, Send):
                return step
        return None

    def sent(self) -> None:
        """The pending Send step went out."""
        assert self.pending_send() is not None
        if self.owed:
            del self.owed[0]
        else:
            self.step += 1

    def offer(self, record: Any) -> StepResult:
        """Show ``record`` to the next Await step of the handshake (if any).

        The next Await may lie beyond a Send not yet sent: a server may answer before the watchdog
        got to sending (a Mustard server pushes its snapshot before ``init`` arrives; a replay's file
        is read at once). If that Await accepts, the Sends before it are *owed* -- still sent, first
        -- and the handshake moves on.

        Returns ``None`` (nothing to do), :data:`DONE` (the step is complete; when it was the last,
        :attr:`handshake_complete` is now true) or an :class:`End` (the handshake failed; the
        caller closes the session with it).
        """
        if self.phase is not Phase.HANDSHAKING:
            return None
        index = next((i for i in range(self.step, len(self.steps)) if isinstance(self.steps[i], Await)), None)
        if index is None:
            return None
        step = self.steps[index]
        assert isinstance(step, Await)
        result = step.accept(record, self.facts)
        if result == DONE:
            self.owed.extend(s for s in self.steps[self.step : index] if isinstance(s, Send))
            self.step = index + 1
        return result

    @property
    def handshake_complete(self) -> bool:
        return self.phase is Phase.HANDSHAKING and self.step >= len(self.steps)

    # --- liveness --------------------------------------------------------------------------------

    def message(self, now: float) -> None:
        """One or more complete messages arrived."""
        if now > self.last_message:
            self.last_message = now

    def heartbeat(self, now: float) -> bool:
        """A heartbeat arrived; True if it ended a lateness (every market may resume)."""
        if now > self.last_heartbeat:
            self.last_heartbeat = now
        was_late, self.heartbeat_late = self.heartbeat_late, False
        return was_late

    def check(self, now: float) -> Tuple[Optional[End], bool]:
        """The deadlines at ``now``: (the End they call for, or None; did heartbeats just go late?)."""
        if self.phase in (Phase.CONNECTING, Phase.CLOSED):
            return None, False
        live = self.liveness
        silence = now - self.last_message
        if live.silence_timeout is not None and silence > live.silence_timeout:
            return End(DisconnectReason.SILENCE, f"no message for {silence:.1f} s"), False
        if self.phase is Phase.HANDSHAKING:
            waited = now - self.started
            if live.handshake_timeout is not None and waited > live.handshake_timeout:
                name = self.steps[self.step].name if self.step < len(self.steps) else "handshake"
                return End(DisconnectReason.INIT_TIMEOUT, f"no {name} within {live.handshake_timeout:g} s"), False
            return None, False
        if (
            live.heartbeat_timeout is not None
            and not self.heartbeat_late
            and now - self.last_heartbeat > live.heartbeat_timeout
        ):
            self.heartbeat_late = True
            return None, True
        return None, False

    def next_deadline(self) -> Optional[float]:
        """The monotonic time of the earliest deadline that could fire, or ``None``."""
        if self.phase in (Phase.CONNECTING, Phase.CLOSED):
            return None
        live = self.liveness
        times = []
        if live.silence_timeout is not None:
            times.append(self.last_message + live.silence_timeout)
        if self.phase is Phase.HANDSHAKING:
            if live.handshake_timeout is not None:
                times.append(self.started + live.handshake_timeout)
        elif live.heartbeat_timeout is not None and not self.heartbeat_late:
            times.append(self.last_heartbeat + live.heartbeat_timeout)
        return min(times) if times else None

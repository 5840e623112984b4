"""The adapter's per-chunk seams: new deadlines (``take_liveness``) and an end (``take_end``).

A feed learns its deadlines from the data (Betfair grants its heartbeat interval in the image) and
may find that its own state calls for a new connection (a broken segmented image). The runtime asks
after each applied chunk, under the lock. Tested with a minimal line adapter over a MemoryTransport.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple

from imgfeed.runtime.adapter import FeedAdapter, Role
from imgfeed.runtime.client import RuntimeClient
from imgfeed.runtime.config import ReconnectPolicy, RuntimeSettings
from imgfeed.runtime.events import Disconnected, DisconnectReason
from imgfeed.runtime.handler import BaseHandler
from imgfeed.runtime.session import DONE, Await, End, Liveness, Step
from imgfeed.runtime.stats import ClientState
from imgfeed.transport.memory import MemoryTransport

WAIT = 5.0


class Line:
    def __init__(self, text: str) -> None:
        self.text = text


class LineDecoder:
    def __init__(self) -> None:
        self._partial = b""

    def feed(self, data: bytes, received_at: float) -> List[Any]:
        parts = (self._partial + data).split(b"\n")
        self._partial = parts.pop()
        return [Line(p.decode()) for p in parts if p]


class SeamAdapter(FeedAdapter):
    """"hello" brings the session up; "slow" grants long deadlines; "broken" asks for an end."""

    name = "seams"
    roles = {Line: Role.DATA}
    handler_class = BaseHandler

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._liveness: Optional[Liveness] = None
        self._end: Optional[End] = None

    def new_decoder(self) -> LineDecoder:
        return LineDecoder()

    def handshake(self) -> Sequence[Step]:
        return (Await("hello", lambda r, facts: DONE if r.text == "hello" else None),)

    def liveness(self) -> Liveness:
        return Liveness(silence_timeout=None, heartbeat_timeout=None, handshake_timeout=WAIT)

    def response_of(self, record: Any) -> Tuple[Any, Any]:
        return None, None

    def closing_of(self, record: Any) -> Optional[End]:
        return None

    def apply(self, record: Any, out: List[Any]) -> None:
        if record.text == "slow":
            self._liveness = Liveness(silence_timeout=0.2, heartbeat_timeout=None, handshake_timeout=WAIT)
        elif record.text == "broken":
            self._end = End(DisconnectReason.SERVER_CLOSING, "the feed's state is broken", code="BROKEN")

    def take_liveness(self) -> Optional[Liveness]:
        liveness, self._liveness = self._liveness, None
        return liveness

    def take_end(self) -> Optional[End]:
        end, self._end = self._end, None
        return end

    def session_up(self, facts: Dict[str, Any], out: List[Any]) -> None:
        pass

    def session_lost(self, out: List[Any]) -> None:
        pass

    def heartbeat_late(self, out: List[Any]) -> None:
        pass

    def heartbeat_resumed(self, out: List[Any]) -> None:
        pass


class Disconnects(BaseHandler):
    def __init__(self) -> None:
        self.seen: List[Disconnected] = []
        self.cond = threading.Condition()

    def on_disconnect(self, reason: Disconnected) -> None:
        with self.cond:
            self.seen.append(reason)
            self.cond.notify_all()

    def wait(self, n: int) -> List[Disconnected]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.seen) >= n, WAIT), self.seen
            return list(self.seen)


def client(handler: BaseHandler) -> Tuple[RuntimeClient, List[MemoryTransport]]:
    made: List[MemoryTransport] = []
    cond = threading.Condition()

    def factory() -> MemoryTransport:
        t = MemoryTransport(read_timeout=0.02)
        with cond:
            made.append(t)
        t.push(b"hello\n")
        return t

    settings = RuntimeSettings(
        connect_timeout=1.0,
        reconnect=ReconnectPolicy(interval=0.05, jitter=0.0, min_delay=0.0),
        handler_stall_warning=None,
    )
    return RuntimeClient(SeamAdapter(), settings, [handler], transport_factory=factory), made


def test_new_deadlines_apply_to_the_current_session() -> None:
    handler = Disconnects()
    c, made = client(handler)
    with c:
        assert c.wait_for_state(ClientState.RUNNING, timeout=WAIT)
        made[0].push(b"slow\n")  # from now on 0.2 s of silence ends the session
        (first,) = handler.wait(1)[:1]
        assert first.reason is DisconnectReason.SILENCE and first.will_retry


def test_an_end_the_feed_asks_for_closes_the_session_and_reconnects() -> None:
    handler = Disconnects()
    c, made = client(handler)
    with c:
        assert c.wait_for_state(ClientState.RUNNING, timeout=WAIT)
        made[0].push(b"broken\n")
        (first,) = handler.wait(1)[:1]
        assert first.reason is DisconnectReason.SERVER_CLOSING and first.code == "BROKEN" and first.will_retry
        assert c.wait_for_state(ClientState.RUNNING, timeout=WAIT) and len(made) >= 2

"""Issue 11, defect 7: replay measures liveness by the wall clock, not by the recorded times.

- At ``speed=None`` a recorded 12 s heartbeat gap (the live rule: more than 10 s suspends every
  market) suspends nothing, because the gap takes no wall time to replay.
- A slow handler makes the reader wait (a replay blocks rather than conflates), and the wall time
  it waits is taken for late heartbeats: a suspension the recording does not have.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, List, Tuple

import imgfeed
from imgfeed import SuspendReason
from imgfeed.recording.writer import RecordingWriter
from tests.reliability import wire
from tests.reliability.support import Recorder

#: The recorded clock's origin (seconds since the epoch).
T0 = 1_700_000_000.0
#: A replay's queue bound is FeedConfig's default; more records than that make its reader wait.
REPLAY_QUEUE = 100_000


def _line(data: bytes) -> bytes:
    return data[:-1]  # a recording keeps lines without their "\n"


def write_recording(path: Path, heartbeats: List[float]) -> None:
    """One recorded session: init answered, a one-market snapshot and image, then ``heartbeats``."""
    writer = RecordingWriter(path, source="test")
    try:
        writer.write(_line(wire.init_response("s1")), T0)
        writer.write(_line(wire.push("sport", {"id": "sp.golf", "name": "Golf"})), T0)
        writer.write(_line(wire.push("event", {"id": "ev.1", "name": "The Players"})), T0)
        writer.write(
            _line(wire.push("market", {"id": "m1", "name": "Winner", "event_id": "ev.1", "tags": ["ev.1"]})),
            T0,
        )
        writer.write(_line(wire.market_update("m1", "open", price=2.5)), T0)
        heartbeat = _line(wire.heartbeat())
        for t in heartbeats:
            writer.write(heartbeat, T0 + t)
    finally:
        writer.close()


def heartbeat_late_positions(calls: List[Tuple[str, Tuple[Any, ...]]]) -> List[Tuple[float, float]]:
    """For each ``on_suspend_all(HEARTBEAT_LATE)``: the recorded times of the heartbeats around it."""
    out, last = [], None
    pending: List[float] = []
    for name, args in calls:
        if name == "on_heartbeat":
            t = args[0].received_at - T0
            out.extend((before, t) for before in pending)
            pending, last = [], t
        elif name == "on_suspend_all" and args[0] is SuspendReason.HEARTBEAT_LATE:
            pending.append(-1.0 if last is None else last)
    out.extend((before, float("inf")) for before in pending)
    return out


def test_a_recorded_heartbeat_gap_suspends_the_replay_as_it_did_live(tmp_path: Path) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the 12 s gap takes no wall time at speed=None, so nothing is suspended:
    # "AssertionError: heartbeat-late suspensions between recorded heartbeats: [] (expected one
    # between 30 s and 42 s)".
    path = tmp_path / "gap.rec"
    write_recording(path, [float(t) for t in range(0, 31, 3)] + [float(t) for t in range(42, 61, 3)])
    rec = Recorder()
    imgfeed.replay(path, handlers=[rec], speed=None)
    late = heartbeat_late_positions(rec.calls)
    assert late == [(30.0, 42.0)], (
        f"heartbeat-late suspensions between recorded heartbeats: {late} (expected one between 30 s and 42 s)"
    )
    after = [name for name, _ in rec.since("on_suspend_all", 1)]
    assert "on_resume_all" in after  # the heartbeat at 42 s lifts it, as live


def test_a_slow_handler_invents_no_suspension_in_a_replay(tmp_path: Path) -> None:
    # Observed before the runtime rewrite (commit 09e6303): the handler's first call takes 2.5 s; the reader fills the queue and waits
    # for room meanwhile, and that wall time counts as heartbeat silence: "AssertionError:
    # suspensions the recording does not have: [(102.394, 102.395)]" (recorded seconds around it).
    # The recording's heartbeats are 1 ms apart and the rule is 0.2 s: it never suspended live.
    heartbeats = [i * 0.001 for i in range(REPLAY_QUEUE + 5_000)]
    path = tmp_path / "steady.rec"
    write_recording(path, heartbeats)
    slow_once = threading.Event()

    def slow(name: str, args: Tuple[Any, ...]) -> None:
        if name == "on_heartbeat" and not slow_once.is_set():
            slow_once.set()
            # Longer than the heartbeat rule, and than the reader needs to fill the queue.
            threading.Event().wait(2.5)

    rec = Recorder(before=slow)
    imgfeed.replay(path, handlers=[rec], speed=None, heartbeat_timeout=0.2)
    assert rec.count("on_heartbeat") == len(heartbeats)
    invented = heartbeat_late_positions(rec.calls)
    assert invented == [], f"suspensions the recording does not have: {invented}"

"""The runtime's clock, injectable, so that a replay measures liveness in recorded time.

Contract: the runtime reads time only through a :class:`Clock`: ``time()`` (seconds since the
epoch) stamps records and sessions, ``monotonic()`` measures the liveness deadlines. Live, that is
the system's clocks. A replay uses a :class:`RecordedClock`, which stands still until a record's
recorded receive time moves it: a 12 s heartbeat gap in the recording is 12 s of it at any replay
speed, and a slow handler, which holds the reader back in wall time, moves it not at all. So a
replay suspends exactly where the live client did, and never anywhere else.

With a recorded clock the watchdog does not check the deadlines by itself (wall time means nothing
there); the reader checks them each time the clock moves, before the record that moved it is
applied -- which is when the live client's watchdog would have fired.
"""

from __future__ import annotations

import time

__all__ = ["Clock", "SystemClock", "RecordedClock", "SYSTEM_CLOCK"]


class Clock:
    """Where the runtime reads the time. See the module docstring."""

    #: True when time moves only with the records (a replay), not by itself.
    recorded = False

    def time(self) -> float:
        """Seconds since the epoch."""
        raise NotImplementedError

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines."""
        raise NotImplementedError


class SystemClock(Clock):
    """The system's clocks: ``time.time`` and ``time.monotonic``."""

    def __repr__(self) -> str:
        return "SystemClock()"

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


#: The clock of every live client.
SYSTEM_CLOCK = SystemClock()


class RecordedClock(Clock):
    """Recorded time: it moves only when :meth:`advance` is given a later receive time.

    Both ``time()`` and ``monotonic()`` read the recorded receive time of the latest record (the
    recorder's ``time.time()``); a step back in the recording (the recorder's clock was set back)
    does not move it back.
    """

    recorded = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def __repr__(self) -> str:
        return f"RecordedClock(now={self._now:.6f})"

    def advance(self, t: float) -> bool:
        """Move to ``t`` if it is later; return whether the clock moved."""
        if t > self._now:
            self._now = t
            return True
        return False

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

"""Helpers of the fan-out tests: fast settings, and a book's state as plain data to compare."""

from __future__ import annotations

from typing import Any, Dict

from imgfeed import ReconnectPolicy

#: The longest a test waits for what it expects (seconds); only reached when it fails.
WAIT = 15.0

FAST_RECONNECT = ReconnectPolicy(interval=0.1, first_delay=0.0, backoff=2.0, max_interval=0.5, jitter=0.0, min_delay=0.1)

#: Publisher settings: ticks and checkpoints in tenths of a second.
FAST_PUBLISHER: Dict[str, Any] = dict(
    tick_interval=0.1, first_checkpoint=0.2, checkpoint_interval=0.5, connect_timeout=2.0, reconnect=FAST_RECONNECT
)
#: Consumer settings: a second of silence is death; reads block 50 ms.
FAST_CONSUMER: Dict[str, Any] = dict(
    silence_timeout=1.0, block=0.05, connect_timeout=2.0, reconnect=FAST_RECONNECT, handler_stall_warning=None
)


def book_state(book: Any) -> Dict[str, Any]:
    """What a trader sees in an IMG book: the offering and images (as received) and what is tradable."""
    snap = book.snapshot()
    state: Dict[str, Any] = {
        part: {key: record.raw for key, record in getattr(snap, part).items()}
        for part in ("sports", "competitions", "events", "market_types", "markets", "images")
    }
    state["tradable"] = set(snap.tradable)
    state["suspended"] = snap.suspended
    return state


def same_book(consumer: Any, direct: Any) -> bool:
    return bool(book_state(consumer) == book_state(direct))

"""One stream's history of changes: sequence numbers, merged images, and what changed since a clock.

Contract: :meth:`ChangeLog.publish` takes one batch of canonical deltas (one per market), gives the
batch the next sequence number, and folds each delta into that market's image with
:func:`~imgfeed.feeds.betfair.emulator.merge.merge`. Clients are sent clocks naming sequence
numbers; :meth:`ChangeLog.since` answers a resubscription with the ``merge`` of a market's deltas
after that number (an image when the market is newer, or its history no longer reaches back:
Betfair's "some markets might have img=true set indicating they are either new or can't be
patched"). :meth:`ChangeLog.check` turns a client's ``initialClk`` / ``clk`` into a sequence
number, or raises :class:`~imgfeed.feeds.betfair.emulator.clocks.ClockError`.

Memory is bounded: each market keeps at most ``history_per_key`` deltas, and a removed market is
forgotten. Not thread-safe: the scenario's lock guards it.
"""

from __future__ import annotations

import collections
from typing import Deque, Dict, List, Optional, Tuple

from imgfeed.feeds.betfair.emulator.clocks import ClockError, decode_clock, encode_clock
from imgfeed.feeds.betfair.emulator.merge import Change, merge

__all__ = ["ChangeLog"]


class ChangeLog:
    """The history of one stream (markets or orders). See the module docstring.

    Args:
        stream: :data:`~imgfeed.feeds.betfair.emulator.clocks.MARKET_STREAM` or ``ORDER_STREAM``.
        epoch: the clock epoch written into every token.
        image_flag: the key that marks an image on this stream (``img`` or ``fullImage``).
        history_per_key: deltas kept per market.
        retention: how many batches back a clock is still accepted.
    """

    def __init__(
        self, stream: str, epoch: int, image_flag: str, history_per_key: int, retention: int
    ) -> None:
        self.stream = stream
        self.epoch = epoch
        self.image_flag = image_flag
        self.history_per_key = history_per_key
        self.retention = retention
        self.seq = 0
        self._images: Dict[str, Change] = {}
        self._history: Dict[str, Deque[Tuple[int, Change]]] = {}
        self._created: Dict[str, int] = {}
        self._dropped_upto: Dict[str, int] = {}

    def __repr__(self) -> str:
        return f"<ChangeLog {self.stream} seq={self.seq} keys={len(self._images)}>"

    # --- writing ---------------------------------------------------------------------------------

    def publish(self, deltas: Dict[str, Change]) -> int:
        """Record one batch (market id -> canonical delta) under a new sequence number."""
        self.seq += 1
        seq = self.seq
        for key, delta in deltas.items():
            image = self._images.get(key)
            if image is None:
                self._created[key] = seq
                image = {"id": key, self.image_flag: True}
                self._history[key] = collections.deque()
            self._images[key] = merge(image, delta)
            history = self._history[key]
            history.append((seq, delta))
            if len(history) > self.history_per_key:
                self._dropped_upto[key] = history.popleft()[0]
        return seq

    def remove(self, key: str) -> None:
        """Forget a market (it was retired): no image, no history."""
        self._images.pop(key, None)
        self._history.pop(key, None)
        self._created.pop(key, None)
        self._dropped_upto.pop(key, None)

    # --- reading ---------------------------------------------------------------------------------

    def keys(self) -> List[str]:
        return list(self._images)

    def image(self, key: str) -> Optional[Change]:
        """The merged image of ``key`` (do not modify it), or None."""
        return self._images.get(key)

    def since(self, key: str, seq: int) -> Optional[Change]:
        """What changed on ``key`` after batch ``seq``: a merged delta, an image, or None."""
        image = self._images.get(key)
        if image is None:
            return None
        if self._created[key] > seq or self._dropped_upto.get(key, 0) > seq:
            return merge(None, image)
        acc: Optional[Change] = None
        for s, delta in self._history[key]:
            if s > seq:
                acc = merge(acc, delta)
        return acc

    def clock(self, seq: Optional[int] = None, initial: bool = False) -> str:
        """The token naming batch ``seq`` (default: the latest)."""
        return encode_clock(self.stream, self.epoch, self.seq if seq is None else seq, initial)

    def check(self, initial_clk: object, clk: object) -> int:
        """The sequence number a resubscription resumes from; :class:`ClockError` if invalid."""
        initial = decode_clock(initial_clk, self.stream, self.epoch, initial=True)
        seq = decode_clock(clk, self.stream, self.epoch)
        if initial > seq or seq > self.seq:
            raise ClockError(f"clk {clk!r} is not a point of this stream's history")
        if self.seq - seq > self.retention:
            raise ClockError(f"clk {clk!r} has expired: more than {self.retention} batches ago")
        return seq

"""What both demos' painters share: redraw at most every :data:`REFRESH` seconds, from the main
thread, with the client's health (message rate included) worked out the same way.

Contract: a subclass says how to draw (:meth:`Painter.draw`); :meth:`Painter.tick` is what
``run_client`` calls on every turn of its loop, and draws only when :data:`REFRESH` has passed.
Nothing here knows a feed: the client is any :class:`~imgfeed.runtime.client.RuntimeClient`.
"""

from __future__ import annotations

import time
from typing import Optional

from imgfeed.cli.console import FeedHealth, RateMeter
from imgfeed.runtime.client import RuntimeClient
from imgfeed.runtime.stats import ClientStats

__all__ = ["Painter", "REFRESH"]

#: How often the view is redrawn on a terminal (seconds).
REFRESH = 0.5


class Painter:
    """Draws a demo's view from the main thread, at most every :data:`REFRESH` seconds.

    Args:
        client: the client whose state is drawn.
        source: where the feed comes from, for the view's header.
    """

    def __init__(self, client: RuntimeClient, source: str) -> None:
        self.source = source
        self.rate = RateMeter()
        self.started = time.time()
        self._client = client
        self._last_messages = 0
        self._last_draw = 0.0

    def tick(self) -> None:
        """Draw, if :data:`REFRESH` seconds have passed since the last draw."""
        now = time.monotonic()
        if now - self._last_draw >= REFRESH:
            self._last_draw = now
            self.draw()

    def draw(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def health(self, stats: ClientStats, heartbeat_age: Optional[float], note: str = "") -> FeedHealth:
        """The view's health line for ``stats``; counts the messages since the last call into the rate."""
        self.rate.add(stats.messages - self._last_messages)
        self._last_messages = stats.messages
        return FeedHealth(
            source=self.source,
            connected=stats.session_id is not None,
            session_id=stats.session_id,
            heartbeat_age=heartbeat_age,
            messages=stats.messages,
            rate=self.rate.rate(),
            started_at=self.started,
            note=note,
        )

"""Playing a file through a client, whatever the feed: the pieces both replays share.

Contract: a replay (``imgfeed.replay`` for IMG, ``imgfeed.feeds.betfair.replay`` for Betfair)
builds a client whose connections are a :class:`~imgfeed.transport.replay.ReplayTransport` and
its successors (:func:`connections`), starts it, and calls :func:`play_to_end`, which returns
once every line read has been dispatched and raises the transport's
:class:`~imgfeed.errors.ReplayError` (after those lines) if the file was corrupt. Nothing here
knows a feed.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, List, Optional

from imgfeed.errors import ConfigError
from imgfeed.runtime.client import RuntimeClient
from imgfeed.runtime.stats import ClientState
from imgfeed.transport.base import Transport
from imgfeed.transport.replay import ReplayTransport

__all__ = ["check_speed", "connections", "play_to_end"]

#: How often a replay checks for its end, a ``stop`` request or a client that stopped, in seconds.
_STOP_POLL = 0.05


def check_speed(speed: Any) -> None:
    """Raise :class:`~imgfeed.errors.ConfigError` unless ``speed`` is None or a positive number."""
    if speed is not None and not (isinstance(speed, (int, float)) and speed > 0):
        raise ConfigError("speed", speed, "a positive number, or None for as fast as possible")


def connections(transport: ReplayTransport) -> Callable[[], Transport]:
    """A transport factory: the first connection plays ``transport`` from the start; each
    reconnection goes on where the last ended (:meth:`ReplayTransport.successor`)."""
    current: List[ReplayTransport] = []

    def factory() -> Transport:
        current.append(current[-1].successor() if current else transport)
        return current[-1]

    return factory


def play_to_end(
    client: RuntimeClient, transport: ReplayTransport, stop: Optional[threading.Event], stop_timeout: float
) -> None:
    """Run the started ``client`` until ``transport`` is done, ``stop`` is set or the client stopped.

    Until every line has been read (or ``stop``, or the client stopped by itself: a handler raised
    with ``error_policy="raise"``). Everything read is queued by then (the reader queues a chunk
    before it reads the next); ``stop(stop_timeout)`` delivers the queue before it returns --
    however long the handlers take. A file found corrupt is raised after that.
    """
    try:
        while not transport.done.wait(_STOP_POLL):
            if (stop is not None and stop.is_set()) or client.state in (
                ClientState.STOPPING,
                ClientState.STOPPED,
            ):
                break
        client.stop(timeout=stop_timeout)
        client.join()
    except BaseException:
        client.stop()
        raise
    if transport.error is not None:
        raise transport.error

"""Run a :class:`~imgfeed.FeedClient` from a command until Ctrl-C, SIGTERM, ``--duration`` or a fatal error.

Contract of :func:`run_client`: starts the client, subscribes (retrying until a session is up, as
the client reconnects by itself), waits, then stops the client and joins its threads. Ctrl-C and
SIGTERM are the normal way to end ``tail`` and ``record`` and give exit code 0. A failure that
needs a person -- a rejected key, an unknown or changed host key, reconnect attempts exhausted --
is raised as :class:`~imgfeed.errors.ImgFeedError` with one line saying what to do.

Why subscribe from the main thread in a loop with a short timeout: ``subscribe`` waits for a
session; while the client is still connecting (or retrying every 30 s) the loop keeps checking
whether it was asked to stop, so Ctrl-C is answered at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from imgfeed.cli._common import explain_host_key_error
from imgfeed.cli._subscription import unmatched_warning
from imgfeed.errors import (
    AuthenticationError,
    ClientClosedError,
    HostKeyError,
    ImgFeedError,
    RateLimitedError,
    RequestTimeoutError,
)
from imgfeed.feeds.img.client import FeedClient
from imgfeed.runtime.stats import ClientState
from imgfeed.signals import stop_on_signals

__all__ = ["run_client", "join_explained", "quieted", "check_once", "INTERRUPTED"]

log = logging.getLogger("imgfeed.cli")

#: How long one subscribe attempt waits for a session before checking for Ctrl-C again.
_SUBSCRIBE_SLICE = 1.0
#: How long to wait after "API limit breached" before subscribing again.
_RATE_LIMIT_BACKOFF = 5.0
#: How often the main thread checks whether the client has stopped by itself.
_POLL = 0.2


#: The exit code of a command stopped by Ctrl-C or SIGTERM before it had a result (``check``).
INTERRUPTED = 130


def check_once(client: Any, probe: Any, timeout: float) -> Tuple[bool, Any]:
    """``imgfeed check``'s wait: start ``client``, wait for ``probe.done``, stop the client.

    The wait ends when ``probe.done`` is set, after ``timeout`` seconds, or on Ctrl-C or SIGTERM
    (through :func:`~imgfeed.signals.stop_on_signals`, noticed within :data:`_POLL` seconds).

    Returns:
        (whether a signal ended it, ``probe.disconnect`` as it was before the stop, which adds a
        "user stop" of its own).
    """
    stop = threading.Event()
    with stop_on_signals(stop):
        client.start()
        try:
            deadline = time.monotonic() + timeout
            while not stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or probe.done.wait(min(_POLL, remaining)):
                    break
        finally:
            ended = probe.disconnect
            client.stop(timeout=5.0)
    return stop.is_set(), ended


@contextlib.contextmanager
def quieted(logger_name: str, level: int, when: bool = True) -> Iterator[None]:
    """While active, ``logger_name`` logs only at ``level`` and above; restored afterwards.

    For messages a command already shows in its own words (a replay's end of stream, a failed
    check's reason). Restoring matters when ``imgfeed.cli.main`` runs inside another program.
    """
    logger = logging.getLogger(logger_name)
    previous = logger.level
    if when:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def run_client(
    client: FeedClient,
    args: argparse.Namespace,
    filters: Optional[Dict[str, List[str]]],
    duration: Optional[float] = None,
    stop: Optional[threading.Event] = None,
    on_tick: Optional[Callable[[], None]] = None,
) -> int:
    """Run ``client`` until stopped; see the module docstring. Returns the exit code.

    Args:
        client: a client that has not been started.
        args: the parsed options (for the host-key hint).
        filters: the subscribe filters (``{}`` everything), or ``None`` to subscribe to nothing.
        duration: stop after this many seconds.
        stop: set it (from any thread) to stop; one is made if not given.
        on_tick: called from the main thread every poll interval (e.g. to redraw a view).
    """
    stop = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration

    def asked_to_stop() -> bool:
        return stop.is_set() or (deadline is not None and time.monotonic() >= deadline)

    with stop_on_signals(stop):
        client.start()
        try:
            subscribed = filters is None
            while not asked_to_stop():
                if client.state is ClientState.STOPPED or client.state is ClientState.STOPPING:
                    break
                if not subscribed:
                    subscribed = _try_subscribe(client, filters or {}, stop)
                    if subscribed and filters and client.state is ClientState.RUNNING:
                        _warn_if_unmatched(client, filters)
                    if on_tick is not None:
                        on_tick()
                    continue
                if on_tick is not None:
                    on_tick()
                wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
                stop.wait(wait)
        finally:
            client.stop(timeout=5.0)
    join_explained(client, args)
    if not asked_to_stop():
        # The client ended by itself without a fatal error: its reconnect policy gave up.
        last = client.stats().last_disconnect
        raise ImgFeedError(f"the client stopped: {last or 'unknown reason'}")
    return 0


def join_explained(client: FeedClient, args: argparse.Namespace) -> None:
    """Join a stopped client; a key or host-key failure becomes one line saying what to do.

    Raises:
        ImgFeedError: the client ended on a failure that needs a person.
    """
    try:
        client.join(timeout=5.0)
    except HostKeyError as exc:
        raise explain_host_key_error(exc, args) from None
    except AuthenticationError as exc:
        raise ImgFeedError(
            f"{exc}. Check --user {args.user} and --key {args.key}, and that IMG Arena has your public key "
            f"({args.key}.pub)"
        ) from None


def _warn_if_unmatched(client: FeedClient, filters: Dict[str, List[str]]) -> None:
    """Once, after the first subscribe: say so when the filters match nothing the offering lists.

    The server sends the offering right after ``init`` and answers ``subscribe`` after it, so the
    book holds the offering by now.
    """
    warning = unmatched_warning(filters, client.book.snapshot())
    if warning is not None:
        print(f"imgfeed: {warning}", file=sys.stderr, flush=True)


def _try_subscribe(client: FeedClient, filters: Dict[str, List[str]], stop: threading.Event) -> bool:
    try:
        client.subscribe(timeout=_SUBSCRIBE_SLICE, **filters)
    except RequestTimeoutError:
        return False  # no session yet (connecting or reconnecting): try again
    except ClientClosedError:
        return True  # the client stopped (fatal error or stop): the caller finds out why
    except RateLimitedError:
        log.warning("subscribe refused (API limit breached); retrying in %.0f s", _RATE_LIMIT_BACKOFF)
        stop.wait(_RATE_LIMIT_BACKOFF)
        return False
    return True

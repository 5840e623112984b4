"""How a test server's command line serves: start or say why not, warn off loopback, stop cleanly.

Contract: :func:`serve` starts a :class:`~imgfeed.loopback.server.LoopbackServer`, turns a
refused listen into an :class:`~imgfeed.errors.ImgFeedError` that names the address and suggests
``--port 0``, warns on stderr when the address is not loopback, prints what ``announce`` returns,
and serves until Ctrl-C, SIGTERM (when called on the main thread) or ``duration`` seconds; then it
says so and stops the server (every connection closed, every thread joined). The words that name
the server and who may connect are the caller's; nothing here knows a feed.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, Callable, Optional, TextIO

from imgfeed.errors import ImgFeedError
from imgfeed.loopback.server import LoopbackServer, is_loopback
from imgfeed.signals import stop_on_signals

__all__ = ["serve"]


def serve(
    server: LoopbackServer[Any],
    out: TextIO,
    duration: Optional[float],
    announce: Callable[[], str],
    name: str,
    exposed_to: str,
) -> int:
    """Start ``server``, print ``announce()``, serve until told to stop; returns the exit status 0.

    Args:
        server: a server not started yet.
        out: where the announcement and the stop line go.
        duration: seconds to serve; None: until Ctrl-C or SIGTERM.
        announce: called once listening (the port is known); returns the text to print.
        name: what the stop line calls the server ("simulator": ``stopping the simulator``).
        exposed_to: who can connect off loopback, as in "anyone who can reach this port and
            ``exposed_to`` can connect".

    Raises:
        ImgFeedError: the address could not be listened on.
    """
    host, port = server.host, server.port
    try:
        server.start()
    except OSError as exc:
        raise ImgFeedError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; try --port 0") from None
    if not is_loopback(server.host):
        sys.stderr.write(
            f"warning: listening on {server.host}, not loopback: anyone who can reach this port and "
            f"{exposed_to} can connect\n"
        )
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            out.write(announce())
            out.flush()
            stop.wait(duration)
    finally:
        out.write(f"stopping the {name}\n")
        out.flush()
        server.stop()
    return 0

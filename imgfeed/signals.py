"""Ctrl-C and SIGTERM that stop a program by setting an event, safe wherever the main thread is.

Contract of :func:`stop_on_signals`: while active, SIGINT and SIGTERM set the given
:class:`threading.Event` instead of interrupting or killing the process; afterwards the previous
handlers are back and the thread it started is joined. Off the main thread (where Python cannot
handle signals) it does nothing. imgfeed's commands use it, and so can a service that embeds a
client: wait on the event, then stop the client.

Why not ``signal.signal(SIGTERM, lambda *_: stop.set())``: Python runs a signal handler in the
main thread between two of its bytecodes, wherever that thread is. ``Event.set`` takes the event's
lock, and ``Event.wait`` holds that same lock while it starts and ends waiting. When the signal
lands there, the handler waits for a lock its own thread holds, and the process hangs for good.
``imgfeed demo`` hung that way on Ctrl-C, about one run in thirty: py-spy showed ``Event.set``
called from the handler inside ``Event.wait``, both on the main thread. Any lock the main thread
can hold has the same problem, so the handler takes none: it puts a word on a
:class:`queue.SimpleQueue` (re-entrant, in C), and a named thread that waits on the queue sets the
event.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from typing import Any, Iterator

__all__ = ["stop_on_signals"]

#: The signals that stop a command: Ctrl-C, and a process manager's stop.
SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How long one wait of the relay thread for a word lasts (every blocking call has a timeout).
_WAKE = 1.0
#: How long leaving :func:`stop_on_signals` waits for the relay thread to end.
_JOIN = 2.0


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """While active, SIGTERM and SIGINT set ``stop`` instead of killing or interrupting.

    A process manager's SIGTERM then closes a recording and a connection cleanly, like Ctrl-C.
    Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    relay = _Relay(stop)
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def handle(signum: int, frame: Any) -> None:
        relay.notify()  # no Python-level lock here: see the module docstring

    try:
        for sig in SIGNALS:
            signal.signal(sig, handle)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        relay.close()


class _Relay:
    """A thread that sets ``stop`` when :meth:`notify` says so; :meth:`close` ends and joins it.

    The two talk through a :class:`queue.SimpleQueue`, whose ``put`` is written in C to be
    re-entrant (the standard library documents it as safe in ``__del__`` and weakref callbacks,
    which run at arbitrary points as a signal handler does): it takes no lock that the interrupted
    thread could hold. A pipe would do too, but ``select`` refuses descriptors above 1023 in a
    process with many sockets open.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._words: "queue.SimpleQueue[bool]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="imgfeed-signals", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Ask for ``stop`` to be set; safe in a signal handler."""
        self._words.put(True)

    def close(self) -> None:
        """End the thread (a signal already noted still sets ``stop``) and join it."""
        self._words.put(False)  # never fails nor blocks: the thread always gets it
        self._thread.join(_JOIN)

    def _run(self) -> None:
        while True:
            try:
                signalled = self._words.get(timeout=_WAKE)
            except queue.Empty:
                continue
            if not signalled:  # close(): whatever notify() said before it has been read already
                return
            self._stop.set()

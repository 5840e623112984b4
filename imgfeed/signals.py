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
can hold has the same problem, so the handler takes none: it writes one byte to a pipe (a system
call), and a named thread that waits on the pipe sets the event.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
from typing import Any, Iterator

__all__ = ["stop_on_signals"]

#: The signals that stop a command: Ctrl-C, and a process manager's stop.
SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: How long the relay thread waits on its pipe before checking whether it was closed.
_WAKE = 1.0
#: How long leaving :func:`stop_on_signals` waits for the relay thread to end.
_JOIN = 2.0
#: The byte a signal writes, and the byte that tells the relay thread to end.
_SIGNALLED, _CLOSE = b"s", b"c"


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
        relay.notify()  # no lock here: see the module docstring

    try:
        for sig in SIGNALS:
            signal.signal(sig, handle)
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        relay.close()


class _Relay:
    """A thread that sets ``stop`` when a byte arrives on its pipe; :meth:`notify` writes one."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="imgfeed-signals", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        """Ask for ``stop`` to be set; safe in a signal handler (one ``write``, no lock)."""
        self._send(_SIGNALLED)

    def close(self) -> None:
        """End the thread (a signal already written still sets ``stop``), join it, close the pipe."""
        self._closing = True
        self._send(_CLOSE)
        self._thread.join(_JOIN)
        if not self._thread.is_alive():  # else it still reads the pipe; its descriptors die with it
            os.close(self._read)
            os.close(self._write)

    def _send(self, byte: bytes) -> None:
        try:
            os.write(self._write, byte)
        except BlockingIOError:
            pass  # the pipe is full of unread bytes, which wake the thread anyway

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self._read], [], [], _WAKE)
            if ready:
                data = os.read(self._read, 512)
                if _SIGNALLED in data:  # before the close byte: a late signal still counts
                    self._stop.set()
                if _CLOSE in data:
                    return
            elif self._closing:  # the close byte could not be written (a full pipe)
                return

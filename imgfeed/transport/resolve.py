"""Host-name resolution that ``stop()`` can cut short.

``socket.getaddrinfo`` cannot be interrupted and has no timeout of its own; a resolver that hangs
would hold whichever thread called it for as long as the system's resolver takes (seconds to
minutes), and ``stop(timeout)`` could not keep its word. So it runs on a short-lived daemon thread
(``imgfeed-resolve``) while the caller waits on an event, in short slices, until the answer
arrives, the deadline passes or the transport is closed. An abandoned lookup ends by itself when
the resolver returns; being a daemon it never keeps the interpreter from exiting.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable, List, Tuple

from imgfeed.errors import ConnectError

__all__ = ["resolve", "Address"]

#: (family, type, proto, sockaddr) of the first address found.
Address = Tuple[int, int, int, Any]

#: How often the waiting caller looks at the close flag (seconds).
_SLICE = 0.05


def resolve(host: str, port: int, timeout: float, closed: Callable[[], bool]) -> Address:
    """The first TCP address of ``host:port``.

    Raises:
        ConnectError: the name does not resolve, the lookup took longer than ``timeout``, or
            ``closed()`` became true meanwhile.
    """
    done = threading.Event()
    result: List[Any] = []

    def lookup() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # noqa: B036 -- handed to the caller, never lost
            result.append(exc)
        finally:
            done.set()

    threading.Thread(target=lookup, name="imgfeed-resolve", daemon=True).start()
    deadline = time.monotonic() + timeout
    while not done.wait(_SLICE):
        if closed():
            raise ConnectError("closed while resolving the host name")
        if time.monotonic() >= deadline:
            raise ConnectError(f"resolving {host!r} timed out after {timeout:.1f} s")
    answer = result[0]
    if isinstance(answer, BaseException):
        raise ConnectError(f"cannot resolve {host!r}: {answer}") from answer
    family, socktype, proto, _, addr = answer[0]
    return family, socktype, proto, addr

"""A handler that records every callback as ``(method, args)``, in order, for any feed's tests.

:class:`CallRecorder` holds the calls under a condition, so that a test waits for what it expects
(:meth:`CallRecorder.wait_for` with a :func:`called` predicate) instead of sleeping. A feed's
suite makes its recorder with :func:`recorder_of`, which records every ``on_*`` callback of that
feed's handler class.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, ClassVar, List, Optional, Type, TypeVar

__all__ = ["CallRecorder", "called", "recorder_of"]

R = TypeVar("R", bound="CallRecorder")


class CallRecorder:
    """Records every call as ``(method, args)``, in order, and lets a test wait for one."""

    #: The callback left out of a timeout's message (there are too many of it to read), and what
    #: the message calls it.
    noisy: ClassVar[str] = ""
    noisy_label: ClassVar[str] = ""
    #: How long :meth:`wait_for` waits by default (seconds); a passing test never waits this long.
    timeout: ClassVar[float] = 5.0

    def __init__(self) -> None:
        self.calls: List[Any] = []
        self.cond = threading.Condition()

    def _record(self, name: str, args: tuple) -> None:
        with self.cond:
            self.calls.append((name, args))
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[List[Any]], bool], timeout: Optional[float] = None) -> List[Any]:
        """Wait until ``predicate(calls)`` holds; returns the calls, or fails with the last ones."""
        timeout = self.timeout if timeout is None else timeout
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.calls), timeout):
                tail = [(n, a) for n, a in self.calls if n != self.noisy][-15:]
                raise AssertionError(f"not seen within {timeout} s; last calls ({self.noisy_label} left out): {tail}")
            return list(self.calls)

    def of(self, name: str) -> List[Any]:
        """The arguments of every call of ``name``."""
        with self.cond:
            return [a for n, a in self.calls if n == name]

    def names(self) -> List[str]:
        with self.cond:
            return [n for n, _ in self.calls]


def _recording(name: str) -> Callable[..., None]:
    def method(self: CallRecorder, *args: Any) -> None:
        self._record(name, args)

    method.__name__ = name
    return method


def recorder_of(cls: Type[R], handler: type) -> Type[R]:
    """Make ``cls`` (a :class:`CallRecorder` and a ``handler``) record every ``on_*`` callback."""
    for name in [n for n in dir(handler) if n.startswith("on_")]:
        setattr(cls, name, _recording(name))
    return cls


def called(name: str, n: int = 1, where: Optional[Callable[..., bool]] = None) -> Callable[[List[Any]], bool]:
    """A predicate for :meth:`CallRecorder.wait_for`: ``name`` was called at least ``n`` times
    (with arguments satisfying ``where``, if given)."""
    return lambda calls: sum(1 for c in calls if c[0] == name and (where is None or where(*c[1]))) >= n

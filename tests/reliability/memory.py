"""Measuring the client's memory from inside the test process (Linux ``/proc``).

:func:`peak_rss_growth` reports how far the resident set rose above its level at the start of a
block, at its highest point during the block. The kernel keeps the peak (``VmHWM``); writing ``5``
to ``/proc/self/clear_refs`` resets it to the current size, so the peak of the block alone is
measured. Without that permission the peak since the process started is used, which can only
overstate the growth -- a test may then fail spuriously, never pass wrongly.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

__all__ = ["Growth", "peak_rss_growth", "rss_bytes"]

_MiB = 1024 * 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_bytes() -> int:
    """The resident set size of this process now."""
    return _status_kib("VmRSS") * 1024


class Growth:
    """The result of :func:`peak_rss_growth`, filled in when the block ends."""

    bytes = 0

    @property
    def mib(self) -> float:
        return self.bytes / _MiB


@contextlib.contextmanager
def peak_rss_growth() -> Iterator[Growth]:
    """Measure the peak resident-memory growth of the block (see the module docstring)."""
    growth = Growth()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:
        pass
    start = rss_bytes()
    yield growth
    growth.bytes = max(0, _status_kib("VmHWM") * 1024 - start)

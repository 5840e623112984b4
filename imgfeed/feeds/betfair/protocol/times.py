"""Time conversions for ESA: epoch milliseconds and ISO 8601 strings to aware UTC datetimes.

The wire carries two forms. Envelope and order times (``pt``, ``pd``, ``md``, ``cd``, ``ld``) are
epoch milliseconds; market-definition times (``marketTime``, ``openDate``, ``suspendTime``,
``settledTime``, ``removalDate``) are ISO 8601 strings such as ``2017-06-14T18:55:00.000Z``. Records
carry both as aware UTC datetimes, so a user compares them with ``datetime.now(timezone.utc)``
without knowing which form the server used.

The codec checks every time against these functions when it decodes a line, so converting a
checked value later (when a book is built) cannot fail.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

__all__ = ["MIN_EPOCH_MS", "MAX_EPOCH_MS", "epoch_ms_to_datetime", "parse_iso_time"]

_UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)

#: The epoch milliseconds of datetime's range (0001-01-01 .. 9999-12-31 23:59:59.999 UTC).
MIN_EPOCH_MS = -62135596800000
MAX_EPOCH_MS = 253402300799999


def epoch_ms_to_datetime(ms: int) -> datetime:
    """Convert epoch milliseconds to an aware UTC datetime, exactly (no float rounding).

    Raises:
        OverflowError: ``ms`` lies outside :data:`MIN_EPOCH_MS` .. :data:`MAX_EPOCH_MS`.
    """
    return _EPOCH + timedelta(0, 0, 0, ms)  # (days, seconds, microseconds, milliseconds): 0.36 us, by keyword 0.56


@functools.lru_cache(maxsize=1024)
def parse_iso_time(value: str) -> datetime:
    """Parse an ESA ISO 8601 time (``...Z``, an offset, or none meaning UTC) to aware UTC.

    Cached: a market definition is resent whole on every change, with the same few times each time
    (``openDate``, ``marketTime``, ``suspendTime``), and both the codec's checks and the book
    records parse them. A datetime is immutable, so sharing one is safe; a failure is not cached.

    Raises:
        ValueError: ``value`` is not such a time.
    """
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    dt = datetime.fromisoformat(text)  # 3.9 and 3.10 do not read "Z": hence the rewrite above
    if dt.tzinfo is None:
        return dt.replace(tzinfo=_UTC)
    if dt.tzinfo is _UTC:
        return dt
    try:
        return dt.astimezone(_UTC)
    except OverflowError:
        raise ValueError(f"time out of range in UTC: {value!r}") from None

"""The base of every IMG record: the fields every record has, and what it does not model.

Kept apart from :mod:`~imgfeed.feeds.img.protocol.messages` (where every record class is
re-exported) so that the price records (:mod:`~imgfeed.feeds.img.protocol.prices`) can subclass it
without an import cycle. The contract of the fields is in ``messages``' docstring.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Dict, Optional, Tuple

import attrs

__all__ = ["Record"]

# Every record is @attrs.frozen(kw_only=True): frozen and slotted (attrs.frozen's defaults), keyword
# arguments only. Spelled out on each class rather than splatted from a dict so that mypy's attrs
# plugin sees kw_only (it cannot read **kwargs) and accepts required fields after defaulted ones.


@attrs.frozen(kw_only=True)
class Record:
    """Fields every record has. See the module docstring."""

    publish_time: Optional[datetime] = None
    received_at: Optional[float] = attrs.field(default=None, eq=False, repr=False)
    # Not hashed (a dict cannot be), but compared: records hash by their modelled fields, so equal
    # records still hash equal and records can go in sets and be dict keys.
    raw: Dict[str, Any] = attrs.field(factory=dict, repr=False, hash=False)

    #: The keys of ``msg`` the record models; ``extra`` returns the others.
    _MODELLED: ClassVar[Tuple[str, ...]] = ()

    @property
    def msg(self) -> Any:
        """The message body (``raw["msg"]``), as received."""
        return self.raw.get("msg")

    @property
    def extra(self) -> Dict[str, Any]:
        """Keys of ``msg`` that this record does not model, with their values."""
        msg = self.raw.get("msg")
        if not isinstance(msg, dict):
            return {}
        return {k: v for k, v in msg.items() if k not in self._MODELLED}

    @property
    def is_recovery(self) -> bool:
        """True when the server marked this push as re-sent state (``"is_recovery": true``)."""
        return self.raw.get("is_recovery") is True

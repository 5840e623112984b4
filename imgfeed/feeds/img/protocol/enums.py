"""The feed's open enums: the documented values of a stage, a market status and a close reason.

Contract: every enum here is an *open* one. ``parse`` turns a documented wire value into its member
and hands any other string back unchanged, so a value the server starts sending tomorrow (a new
stage, a new close reason) reaches the user as the string it was, instead of turning the whole
message into a protocol error. Members are ``str`` subclasses and print as their wire value.

This module does no IO and knows no record: :mod:`imgfeed.feeds.img.protocol.messages` uses these
enums (and re-exports them), never the other way round.
"""

from __future__ import annotations

import enum
from typing import Union, cast

__all__ = ["Stage", "MarketStatus", "CloseReason"]


class _OpenEnum(str, enum.Enum):
    """A string enum whose ``parse`` keeps values it does not know as plain strings.

    The real server may grow new values; a new stage or reason must not turn a whole message into a
    protocol error.

    >>> Stage.parse("in_play")
    <Stage.IN_PLAY: 'in_play'>
    >>> Stage.parse("abandoned")
    'abandoned'
    >>> str(Stage.IN_PLAY)
    'in_play'
    """

    @classmethod
    def parse(cls, value: str) -> Union["_OpenEnum", str]:
        return cast("Union[_OpenEnum, str]", cls._value2member_map_.get(value, value))

    def __str__(self) -> str:
        return str(self.value)  # the wire value ("in_play"), not "Stage.IN_PLAY"


class Stage(_OpenEnum):
    """Stage of an event or market (docs/protocol.md section 5)."""

    PRE_PLAY = "pre_play"
    IN_PLAY = "in_play"
    ENDED = "ended"


class MarketStatus(_OpenEnum):
    """Status of a market or selection in a ``market_update`` (docs/protocol.md section 6)."""

    OPEN = "open"
    SUSPENDED = "suspended"
    CLOSED = "closed"
    SETTLED = "settled"


class CloseReason(_OpenEnum):
    """Why the server is closing the connection (the error push, docs/protocol.md section 7)."""

    NO_INIT_SENT = "no init sent"
    MAX_CONNECTIONS_HIT = "max connections hit"
    CONNECTION_RATE_LIMIT_HIT = "connection rate limit hit"
    SLOW_READER = "slow reader"
    INTERNAL_DISCONNECTION_REQUESTED = "internal disconnection requested"
    SERVICE_ERROR = "service error"

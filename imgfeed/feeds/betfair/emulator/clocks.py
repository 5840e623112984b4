"""Clock tokens: the emulator's ``initialClk`` and ``clk``, opaque to clients, checked on resubscribe.

Betfair's clocks are opaque strings that a client stores and hands back on a resubscription. The
emulator's carry what it needs to answer one: which stream they belong to (market or order), which
emulator history (the *epoch*, fixed by the scenario seed), whether the token is an ``initialClk``
or a ``clk``, and the sequence number of the last batch of changes the client was sent. They are
base64 (standard alphabet, as Betfair's look), so a client cannot tell them from the real ones and
must not parse them.

:func:`decode_clock` raises :class:`ClockError` with the reason for anything that is not a token of
this stream and epoch: the session answers that with ``INVALID_CLOCK``. Pure functions, no state.
"""

from __future__ import annotations

import base64
import binascii
import struct

__all__ = ["ClockError", "encode_clock", "decode_clock", "MARKET_STREAM", "ORDER_STREAM"]

#: Stream tags (one byte each): market changes, order changes.
MARKET_STREAM = "m"
ORDER_STREAM = "o"

_MAGIC = b"\xbf"


class ClockError(ValueError):
    """A clock token that this emulator did not issue for this stream (the reason says why)."""


def encode_clock(stream: str, epoch: int, seq: int, initial: bool = False) -> str:
    """The token for ``seq`` on ``stream``; ``initial`` makes it an ``initialClk``."""
    tag = (stream.upper() if initial else stream).encode("ascii")
    return base64.b64encode(_MAGIC + tag + struct.pack(">IQ", epoch & 0xFFFFFFFF, seq)).decode("ascii")


def decode_clock(token: object, stream: str, epoch: int, initial: bool = False) -> int:
    """The sequence number in ``token``, or :class:`ClockError` if it is not one of ours.

    Args:
        token: what the client sent as ``clk`` (or ``initialClk`` when ``initial``).
        stream: :data:`MARKET_STREAM` or :data:`ORDER_STREAM`: the subscription being resumed.
        epoch: the emulator's clock epoch.
        initial: whether ``token`` was sent as ``initialClk``.
    """
    name = "initialClk" if initial else "clk"
    if not isinstance(token, str) or not token:
        raise ClockError(f"{name} must be a non-empty string, got {token!r}")
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        raise ClockError(f"{name} {token!r} is not a clock this emulator issued") from None
    if len(raw) != 14 or raw[:1] != _MAGIC:
        raise ClockError(f"{name} {token!r} is not a clock this emulator issued")
    tag = raw[1:2].decode("latin-1")
    want = stream.upper() if initial else stream
    if tag != want:
        kinds = {
            "m": "a market clk",
            "M": "a market initialClk",
            "o": "an order clk",
            "O": "an order initialClk",
        }
        raise ClockError(f"{name} {token!r} is {kinds.get(tag, 'not a clock')}, not {kinds[want]}")
    token_epoch, seq = struct.unpack(">IQ", raw[2:])
    if token_epoch != epoch & 0xFFFFFFFF:
        raise ClockError(f"{name} {token!r} belongs to another emulator history (epoch {token_epoch})")
    return int(seq)

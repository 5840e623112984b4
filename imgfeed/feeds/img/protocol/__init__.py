"""The sans-IO protocol core: bytes in, records out; requests in, bytes out.

Nothing in this package imports ``socket``, ``paramiko``, ``threading``, ``queue`` or ``time``. It
can be unit-tested and fuzzed without a network, and it is what both the client and the simulator
use to speak the wire format.

One job per module: ``messages`` (the records), ``enums`` (their open enums), ``ids`` (showing and
reading market ids), ``codec`` (a line to a record, an object to a line), ``fields`` and
``timestamps`` (the codec's field checks and timestamp parsing) and ``requests`` (what the client
sends).
"""

from imgfeed.feeds.img.protocol.codec import (
    RATE_LIMIT_MESSAGE,
    Decoded,
    FeedDecoder,
    decode_line,
    encode_message,
)
from imgfeed.feeds.img.protocol.enums import CloseReason, MarketStatus, Stage
from imgfeed.feeds.img.protocol.ids import decode_market_id
from imgfeed.feeds.img.protocol.messages import (
    Competition,
    Event,
    EventMeta,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    Record,
    RemoveMarkets,
    Response,
    Selection,
    ServerClosing,
    Settlement,
    Sport,
    Unknown,
)
from imgfeed.feeds.img.protocol.requests import (
    FILTER_KEYS,
    Request,
    decode_request,
    init_request,
    subscribe_request,
    unsubscribe_request,
)
from imgfeed.feeds.img.protocol.timestamps import format_timestamp, parse_timestamp
from imgfeed.framing import DEFAULT_MAX_LINE_LENGTH, LineBuffer

__all__ = [
    "RATE_LIMIT_MESSAGE",
    "Decoded",
    "FeedDecoder",
    "decode_line",
    "encode_message",
    "format_timestamp",
    "parse_timestamp",
    "DEFAULT_MAX_LINE_LENGTH",
    "LineBuffer",
    "CloseReason",
    "Competition",
    "Event",
    "EventMeta",
    "Heartbeat",
    "InitResponse",
    "Market",
    "MarketStatus",
    "MarketType",
    "MarketUpdate",
    "RateLimited",
    "Record",
    "RemoveMarkets",
    "Response",
    "Selection",
    "ServerClosing",
    "Settlement",
    "Sport",
    "Stage",
    "Unknown",
    "decode_market_id",
    "FILTER_KEYS",
    "Request",
    "decode_request",
    "init_request",
    "subscribe_request",
    "unsubscribe_request",
]

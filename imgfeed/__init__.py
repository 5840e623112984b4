"""imgfeed: a synchronous, threaded client for sports-trading price feeds.

The IMG Arena golf odds distribution service is here at the top level; Betfair's Exchange Stream
API is ``imgfeed.betfair``. This is what a program needs: the client and its configuration, the
handler classes to subclass, the book to ask "may I trade now?", the records handlers receive,
and every error. Everything else is importable from the module that defines it
(``imgfeed.framing.LineBuffer``, ``imgfeed.feeds.img.protocol.codec.decode_line`` ...); the
layout is in docs/architecture.md.
"""

from imgfeed._version import __version__
from imgfeed.errors import (
    AuthenticationError,
    CertificateError,
    ClientClosedError,
    ConfigError,
    ConnectError,
    FeedError,
    HostKeyError,
    HostKeyMismatchError,
    ImgFeedError,
    InternalError,
    LineTooLongError,
    ProtocolError,
    RateLimitedError,
    ReplayError,
    RequestError,
    RequestTimeoutError,
    ServerRefusedError,
    TransportError,
    UnknownHostKeyError,
)
from imgfeed.feeds.img.book import BookSnapshot, MarketBook
from imgfeed.feeds.img.client import FeedClient
from imgfeed.feeds.img.config import (
    DEFAULT_PORT,
    ErrorPolicy,
    FeedConfig,
    HostKeyPolicy,
    OverflowPolicy,
    ReconnectPolicy,
)
from imgfeed.feeds.img.handler import Handler, LoggingHandler
from imgfeed.feeds.img.protocol.messages import (
    CloseReason,
    Competition,
    Event,
    EventMeta,
    Heartbeat,
    Market,
    MarketStatus,
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
    Stage,
    Unknown,
    decode_market_id,
    raw_market_id,
)
from imgfeed.feeds.img.subscriptions import Subscription
from imgfeed.recording.replay import ReplayResult, replay
from imgfeed.runtime.events import (
    Disconnected,
    DisconnectReason,
    Session,
    SuspendReason,
)
from imgfeed.runtime.stats import ClientState, ClientStats

__all__ = [
    "__version__",
    # the client and its settings: what every program builds
    "FeedClient",
    "FeedConfig",
    "ReconnectPolicy",
    "HostKeyPolicy",
    "OverflowPolicy",
    "ErrorPolicy",
    "DEFAULT_PORT",
    # handlers: what users subclass or plug in
    "Handler",
    "LoggingHandler",
    # what a program reads: the book, its snapshot, the subscriptions, the client's state and counters
    "MarketBook",
    "BookSnapshot",
    "Subscription",
    "ClientState",
    "ClientStats",
    # what lifecycle handler methods receive
    "Session",
    "Disconnected",
    "DisconnectReason",
    "SuspendReason",
    # the records handlers receive, their enums, and the response a request returns
    "Record",
    "Sport",
    "Competition",
    "Event",
    "EventMeta",
    "MarketType",
    "Market",
    "MarketUpdate",
    "Selection",
    "Settlement",
    "RemoveMarkets",
    "Heartbeat",
    "ServerClosing",
    "RateLimited",
    "Unknown",
    "Response",
    "MarketStatus",
    "Stage",
    "CloseReason",
    # market ids: show one to a person, accept either form
    "decode_market_id",
    "raw_market_id",
    # replay a recording through your handlers
    "replay",
    "ReplayResult",
    # every error a user may catch
    "FeedError",
    "ImgFeedError",
    "ConfigError",
    "ProtocolError",
    "LineTooLongError",
    "TransportError",
    "ConnectError",
    "AuthenticationError",
    "HostKeyError",
    "CertificateError",
    "UnknownHostKeyError",
    "HostKeyMismatchError",
    "RequestError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ClientClosedError",
    "ReplayError",
    "ServerRefusedError",
    "InternalError",
]

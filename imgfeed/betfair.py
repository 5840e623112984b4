"""imgfeed.betfair: a client for Betfair's Exchange Stream API (ESA), on imgfeed's shared runtime.

This is what a program needs (docs/betfair.md): the client and its configuration, the handler
class to subclass, the book records handlers receive (Betfair's API-NG names, as
betfairlightweight users know them), the replay of Betfair historical files and imgfeed
recordings, and the errors. Example::

    from imgfeed.betfair import BetfairClient, BetfairConfig, BetfairHandler

    class Prices(BetfairHandler):
        def on_market_book(self, book):
            runner = book.runners[0]
            print(book.market_id, book.status, runner.best_available_to_back[:1])

    config = BetfairConfig(app_key="...", session_token="...")
    with BetfairClient(config, handlers=[Prices()]) as client:
        client.subscribe_markets(
            market_filter={"eventTypeIds": ["7"], "marketTypes": ["WIN"]},
            market_data_filter={"fields": ["EX_BEST_OFFERS", "EX_LTP", "EX_MARKET_DEF"], "ladderLevels": 3},
        )
        client.run_forever()
"""

from imgfeed.errors import (
    AuthenticationError,
    CertificateError,
    ClientClosedError,
    ConfigError,
    ConnectError,
    ImgFeedError,
    ProtocolError,
    ReplayError,
    RequestError,
    RequestTimeoutError,
    ServerRefusedError,
    TransportError,
)
from imgfeed.feeds.betfair.adapter import SubscriptionError
from imgfeed.feeds.betfair.books import (
    MarketBook,
    MarketDefinition,
    Order,
    OrderBook,
    PriceSize,
    RunnerBook,
    RunnerDefinition,
    RunnerOrders,
    StrategyMatches,
)
from imgfeed.feeds.betfair.client import BetfairClient
from imgfeed.feeds.betfair.config import DEFAULT_HOST, DEFAULT_PORT, INTEGRATION_HOST, BetfairConfig
from imgfeed.feeds.betfair.handler import BetfairHandler, BetfairLoggingHandler
from imgfeed.feeds.betfair.protocol.messages import ConnectionMessage, ErrorCode, StatusMessage
from imgfeed.feeds.betfair.replay import BetfairReplayResult, replay
from imgfeed.runtime.config import ErrorPolicy, OverflowPolicy, ReconnectPolicy
from imgfeed.runtime.events import Disconnected, DisconnectReason, Session, SuspendReason

__all__ = [
    # the client
    "BetfairClient",
    "BetfairConfig",
    "BetfairHandler",
    "BetfairLoggingHandler",
    "ReconnectPolicy",
    "OverflowPolicy",
    "ErrorPolicy",
    "DEFAULT_HOST",
    "INTEGRATION_HOST",
    "DEFAULT_PORT",
    # what handlers receive
    "MarketBook",
    "RunnerBook",
    "PriceSize",
    "MarketDefinition",
    "RunnerDefinition",
    "OrderBook",
    "RunnerOrders",
    "StrategyMatches",
    "Order",
    "StatusMessage",
    "ConnectionMessage",
    "ErrorCode",
    "Session",
    "Disconnected",
    "DisconnectReason",
    "SuspendReason",
    # backtests
    "replay",
    "BetfairReplayResult",
    # errors
    "ImgFeedError",
    "ConfigError",
    "ProtocolError",
    "TransportError",
    "ConnectError",
    "AuthenticationError",
    "CertificateError",
    "RequestError",
    "SubscriptionError",
    "RequestTimeoutError",
    "ClientClosedError",
    "ServerRefusedError",
    "ReplayError",
]

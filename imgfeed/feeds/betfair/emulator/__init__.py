"""A local Betfair Exchange Stream API (ESA) over TLS: the feed to develop and test against.

:class:`EmulatorServer` serves ESA as Betfair's specification describes it (CRLF JSON lines,
authentication, market and order subscriptions, segmentation, heartbeats, conflation, clocks and
``RESUB_DELTA``, every error code) on loopback with a CA and certificate it makes on first use,
driven by a deterministic :class:`Scenario` of horse racing, football and tennis markets and an
account's orders, and injects faults through ``server.faults``. ``python -m
imgfeed.feeds.betfair.emulator`` runs it from the command line.

Example (a test that steps the exchange by hand)::

    from imgfeed.feeds.betfair.emulator import EmulatorConfig, EmulatorServer, ScenarioConfig

    with EmulatorServer(EmulatorConfig(auth_timeout=1.0), ScenarioConfig(seed=1), cert_dir=tmp) as server:
        ...  # connect with ssl.create_default_context(cafile=server.cafile) to server.port
        server.wait_for_subscriptions(1, timeout=5)
        server.scenario.step()              # one round of price moves and market life, now
        server.wait_for_flush(timeout=5)    # ... and it is on the socket
        server.faults.drop("rst")           # then see what the client does about it
"""

from imgfeed.feeds.betfair.emulator.certs import CertificatePaths, ensure_certificates
from imgfeed.feeds.betfair.emulator.config import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    ScenarioConfig,
)
from imgfeed.feeds.betfair.emulator.faults import (
    DROP_MODES,
    SPLIT_MODES,
    FaultController,
)
from imgfeed.feeds.betfair.emulator.filters import (
    MarketDataFilter,
    MarketFilter,
    MarketInfo,
    OrderFilter,
)
from imgfeed.feeds.betfair.emulator.merge import diff, merge
from imgfeed.feeds.betfair.emulator.scenario import Batch, Scenario
from imgfeed.feeds.betfair.emulator.server import DEFAULT_CERT_DIR, EmulatorServer
from imgfeed.feeds.betfair.emulator.session import ServerSession, SessionState
from imgfeed.feeds.betfair.emulator.wire import CLOSES, ERROR_CODES

__all__ = [
    "EmulatorServer",
    "EmulatorConfig",
    "ScenarioConfig",
    "Scenario",
    "Batch",
    "ServerSession",
    "SessionState",
    "FaultController",
    "MarketFilter",
    "MarketDataFilter",
    "OrderFilter",
    "MarketInfo",
    "CertificatePaths",
    "ensure_certificates",
    "merge",
    "diff",
    "ERROR_CODES",
    "CLOSES",
    "SPLIT_MODES",
    "DROP_MODES",
    "DEFAULT_CERT_DIR",
    "DEFAULT_APP_KEY",
    "DEFAULT_SESSION_TOKEN",
]

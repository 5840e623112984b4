"""A local odds distribution service: the feed to develop and test against without credentials.

:class:`SimulatorServer` serves the protocol of ``docs/protocol.md`` over SSH on loopback, driven by a
deterministic :class:`Scenario` of golf tournaments, and can inject the service's faults through
``server.faults``. The same session logic runs on stdin/stdout (``python -m
imgfeed.feeds.img.simulator.stdio``) for OpenSSH's ``ForceCommand``, and ``imgfeed simulate`` runs the
server from the command line.

Example (a test that steps the feed by hand)::

    from imgfeed.feeds.img.simulator import ScenarioConfig, SessionConfig, SimulatorServer

    with SimulatorServer(
        authorized_keys=["~/.ssh/id_ed25519.pub"],
        session_config=SessionConfig(heartbeat_interval=0.2),
        scenario_config=ScenarioConfig.of_size("tiny", seed=1),
    ) as server:
        server.write_known_hosts("known_hosts")
        ...  # connect a client to server.host, server.port
        server.wait_for_sessions(1, timeout=5)
        server.scenario.step()              # one round of price moves, now
        server.faults.stop_heartbeats()     # and see what the client does about it
"""

from imgfeed.feeds.img.simulator.config import ScenarioConfig, SessionConfig
from imgfeed.feeds.img.simulator.faults import CLOSE_REASONS, FaultController
from imgfeed.feeds.img.simulator.model import Emission, MarketInfo, escape_id
from imgfeed.feeds.img.simulator.scenario import Scenario
from imgfeed.feeds.img.simulator.server import SimulatorServer
from imgfeed.feeds.img.simulator.session import ServerSession, SessionState

__all__ = [
    "SimulatorServer",
    "SessionConfig",
    "ScenarioConfig",
    "Scenario",
    "Emission",
    "MarketInfo",
    "ServerSession",
    "SessionState",
    "FaultController",
    "CLOSE_REASONS",
    "escape_id",
]

"""Started Betfair emulators for any suite: short timers, one certificate directory, all stopped.

Both the emulator's suite and the Betfair client's suite start emulators the same way: with
:data:`FAST` timers, certificates made once per run in ``cert_dir``, and every server stopped
(every thread joined) after the test. Each suite picks its own scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, List

from imgfeed.feeds.betfair.emulator import EmulatorConfig, EmulatorServer, ScenarioConfig

__all__ = ["ALL_FIELDS", "FAST", "WAIT", "emulators"]

#: Generous bound for anything a test waits for; a passing test never waits this long.
WAIT = 10.0
#: Short timers, so that the suites are quick.
FAST = EmulatorConfig(auth_timeout=5.0, close_flush_timeout=1.0, handshake_timeout=5.0)
#: A market data filter that asks for every field, ten levels deep.
ALL_FIELDS = {
    "fields": [
        "EX_BEST_OFFERS_DISP",
        "EX_BEST_OFFERS",
        "EX_ALL_OFFERS",
        "EX_TRADED",
        "EX_TRADED_VOL",
        "EX_LTP",
        "EX_MARKET_DEF",
        "SP_TRADED",
        "SP_PROJECTED",
    ],
    "ladderLevels": 10,
}


def emulators(cert_dir: Path, scenario: ScenarioConfig) -> Iterator[Callable[..., EmulatorServer]]:
    """The body of a ``make_server`` fixture: yields ``make(config=FAST, scenario_config=scenario)``,
    which starts an emulator; after the test, stops every one it started."""
    servers: List[EmulatorServer] = []

    def make(config: EmulatorConfig = FAST, scenario_config: ScenarioConfig = scenario) -> EmulatorServer:
        server = EmulatorServer(config, scenario_config, cert_dir=cert_dir)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop(timeout=WAIT)

"""The Betfair benchmark's input files: ESA market streams as the emulator serves them, and a real one.

Each stream is made by the emulator's own session, sans-IO (no socket, no thread): a
``ServerSession`` authenticated and subscribed, fed the scenario's steps, its output split into
lines; only the ``mcm`` lines are kept (one message per line, as in Betfair's historical files,
with the subscription ``id`` kept: both clients accept it). Deterministic for a seed, and written
once per run into a temporary directory so that every client reads the same bytes.

- ``full-ladders-1``: one horse race, every field (full-depth ladders, traded ladders, best offers
  10 deep, starting prices, definitions), one change per line -- the heaviest per message;
- ``best-offers-200``: 200 markets, best offers 3 deep, ltp, traded volume and definitions, the
  image segmented -- the common trading subscription, at the 200-market limit;
- ``BASIC-1.132153978``: Betfair's own historical file (ltp and definitions), from bflw's tests.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Tuple

from imgfeed.feeds.betfair.emulator import (
    DEFAULT_APP_KEY,
    DEFAULT_SESSION_TOKEN,
    EmulatorConfig,
    ScenarioConfig,
)
from imgfeed.feeds.betfair.emulator.registry import ConnectionRegistry
from imgfeed.feeds.betfair.emulator.scenario import Scenario
from imgfeed.feeds.betfair.emulator.session import ServerSession

__all__ = ["make_files", "BASIC"]

_HERE = os.path.dirname(os.path.abspath(__file__))
BASIC = os.path.join(_HERE, "..", "tests", "betfair", "data", "BASIC-1.132153978")

ALL_FIELDS = [
    "EX_BEST_OFFERS_DISP", "EX_BEST_OFFERS", "EX_ALL_OFFERS", "EX_TRADED", "EX_TRADED_VOL",
    "EX_LTP", "EX_MARKET_DEF", "SP_TRADED", "SP_PROJECTED",
]


def _stream(scenario_config: ScenarioConfig, data_filter: Dict[str, Any], steps: int) -> List[bytes]:
    scenario = Scenario(scenario_config, clock=lambda: 1.7e9)
    session = ServerSession(EmulatorConfig(segment_size=16 * 1024), scenario, ConnectionRegistry(), 1.7e9, "bench")
    now = 1.7e9
    auth = {"op": "authentication", "id": 1, "appKey": DEFAULT_APP_KEY, "session": DEFAULT_SESSION_TOKEN}
    sub = {"op": "marketSubscription", "id": 2, "marketFilter": {}, "marketDataFilter": data_filter,
           "segmentationEnabled": True, "heartbeatMs": 5000}
    out = bytearray()
    with scenario.lock:
        session.receive_data(json.dumps(auth).encode() + b"\r\n", now)
        session.receive_data(json.dumps(sub).encode() + b"\r\n", now)
    out += session.data_to_send()
    for _ in range(steps):
        now += 0.2
        batch = scenario.step(now=now)
        session.deliver(batch, now)
        out += session.data_to_send()
    return [line for line in bytes(out).split(b"\r\n") if line.startswith(b'{"op":"mcm"')]


def make_files(directory: str, quick: bool = False) -> List[Tuple[str, str, int]]:
    """Write the streams into ``directory``; returns ``(name, path, lines)`` for each file."""
    steps = 30 if quick else 3000
    streams = {
        "full-ladders-1": _stream(
            ScenarioConfig(seed=1, markets=1, updates_per_step=1, pre_play_steps=400, in_play_steps=400,
                           start_time=1.7e9),
            {"fields": ALL_FIELDS, "ladderLevels": 10},
            steps,
        ),
        "best-offers-200": _stream(
            ScenarioConfig(seed=2, markets=200, updates_per_step=8, start_time=1.7e9),
            {"fields": ["EX_BEST_OFFERS", "EX_LTP", "EX_TRADED_VOL", "EX_MARKET_DEF"], "ladderLevels": 3},
            steps // 10,
        ),
    }
    files = []
    for name, lines in streams.items():
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(b"\r\n".join(lines) + b"\r\n")
        files.append((name, path, len(lines)))
    with open(BASIC, "rb") as f:
        basic = f.read().count(b"\n")
    files.append(("BASIC-1.132153978", BASIC, basic))
    return files


if __name__ == "__main__":  # pragma: no cover
    import tempfile

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, n in make_files(tmp):
            print(name, n, os.path.getsize(path))
    print(f"{time.perf_counter() - started:.1f} s")

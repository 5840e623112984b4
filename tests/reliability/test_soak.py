"""The bounded soak, short version: random faults for a few seconds, then nothing may be lost.

The engine is ``benchmarks/soak.py`` (its long run is ``python benchmarks/soak.py --minutes 10``);
here it runs for about 12 seconds, the client in this process and the simulator in a child
process the soak starts and stops, so that the suite's leak check (threads and file descriptors)
applies to the client and to the soak's pipes to its server. The faults come from a seeded RNG: a
failure names its seed and replays the same sequence of faults (timing on a shared machine still
varies).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("imgfeed_benchmarks_soak", ROOT / "benchmarks" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # attrs resolves the module of its classes through sys.modules
    spec.loader.exec_module(module)
    return module


soak = _load_soak()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7])
def test_short_soak_loses_nothing_and_leaks_nothing(seed: int) -> None:
    settings = soak.SoakSettings(seconds=12, rate=1000, fault_every=0.5, seed=seed, report_every=1, warmup=3)
    result = soak.run_soak(settings)
    rows = "\n".join(" ".join(s.cells()) for s in result.samples)
    assert result.stopped is None, f"{result.stopped} (seed {seed})\n{rows}"
    assert result.fault_errors == []
    assert result.caught_up, f"the client did not catch up after the faults (seed {seed})\n{rows}"
    assert result.book_mismatches == [], f"book images differ from the server's (seed {seed})"
    assert result.handler_mismatches == [], (
        f"the handler's last images differ from the server's (seed {seed})"
    )
    assert result.markets_checked > 0
    # The run did exercise the client: several kinds of fault, several reconnects.
    assert len(result.faults) >= 5, result.faults
    last = result.samples[-1]
    assert last.sessions >= 3 and last.delivered > 1000, rows
    # Threads and descriptors stay flat; memory is judged by the long run (12 s is too short).
    assert result.flat["threads"][2] and result.flat["fds"][2], (result.flat, rows)


def _samples(blocks: list) -> list:
    base = soak.Sample(
        t=0, rss_mb=60, rss_trimmed_mb=60, server_rss_mb=60, py_blocks_k=0, book_markets=32, book_images=32,
        threads=6, fds=10, sessions=1, reconnects=0, messages=0, delivered=0, conflated=0,
        protocol_errors=0, handler_errors=0, faults=0, queue_depth=0,
    )  # fmt: skip
    return [attrs.evolve(base, t=float(i), py_blocks_k=float(b)) for i, b in enumerate(blocks)]


def test_python_blocks_are_judged_by_their_floor_so_a_sampled_backlog_is_not_a_leak() -> None:
    settings = soak.SoakSettings(warmup=0)
    # A sample that fell while a stalled handler had 3,000 records queued, in the last third only.
    backlog = soak._flatness(_samples([170, 172, 171, 170, 173, 171, 170, 480, 171]), settings)
    assert backlog["py_blocks_k"] == (170, 170, True)
    # A leak lifts every sample, the floor with it.
    leak = soak._flatness(_samples([170, 180, 175, 200, 210, 205, 230, 240, 235]), settings)
    assert leak["py_blocks_k"] == (170, 230, False)

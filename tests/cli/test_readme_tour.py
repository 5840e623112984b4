"""The README's five-minute tour, run as a new user would: each of its commands, against the simulator.

The commands are read from README.md, not copied here, so the tour cannot drift from what works.
They run through ``bash`` with ``HOME`` pointing at a fresh directory (the tour's ``~/.imgfeed``
paths land there) and with only what a test must add: ``--port 0`` for ``imgfeed simulate`` (and
its port in place of 2093 in the commands after it), a ``--duration`` where the tour says "Ctrl-C
to stop", and Ctrl-C itself for the handler example.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple

import pytest
import ujson

from tests.cli.conftest import Process

ROOT = Path(__file__).resolve().parents[2]


class Block(NamedTuple):
    lang: str
    text: str


def tour_blocks() -> List[Block]:
    """The ``sh`` and ``python`` blocks of the README's tour, in order (output samples left out)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tour = readme.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    return [Block(lang, text) for lang, text in re.findall(r"```(sh|python)\n(.*?)\n```", tour, flags=re.S)]


def commands(block: Block) -> List[str]:
    """The shell commands of a block, continuation lines joined."""
    return [c.strip() for c in block.text.replace("\\\n", " ").splitlines() if c.strip()]


class Tour(NamedTuple):
    home: Path
    work: Path
    port: int
    env: Dict[str, str]
    blocks: List[Block]

    def sh(self, command: str, timeout: float = 60.0) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.replace("--port 2093", f"--port {self.port}")],
            cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    """`imgfeed simulate`, the tour's second command, running in a fresh HOME."""
    home = tmp_path_factory.mktemp("home")
    work = home / "work"
    work.mkdir()
    bin_dir = os.path.dirname(sys.executable)  # where this environment's `imgfeed` script is
    env = dict(os.environ, HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    env["PYTHONUNBUFFERED"] = "1"  # the handler example's prints reach the test as they happen
    blocks = tour_blocks()
    (simulate,) = commands(blocks[1])
    assert simulate == "imgfeed simulate"
    sim = Process(["-c", f"exec {simulate} --port 0"], env=env, cwd=str(work), program="bash")
    try:
        banner = sim.wait_for_line(lambda line: line.startswith("imgfeed simulator listening on "))
        assert banner, sim.lines
        port = int(banner.split(":")[1].split()[0])
        yield Tour(home, work, port, env, blocks)
    finally:
        code, err = sim.finish(signal.SIGTERM)
        assert code == 0, err
        assert (home / ".imgfeed" / "simulator" / "client_ed25519").exists()


def test_the_tour_has_the_blocks_this_test_runs() -> None:
    blocks = tour_blocks()
    assert [b.lang for b in blocks] == ["sh", "sh", "sh", "sh", "python", "sh", "python"], blocks
    assert commands(blocks[0]) == ["imgfeed demo"]


def test_1_demo(tour: Tour) -> None:
    (demo,) = commands(tour.blocks[0])
    result = tour.sh(f"{demo} --duration 2")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert any(" LIVE " in line for line in result.stdout.splitlines()), result.stdout


def _tail(tour: Tour) -> str:
    (tail,) = commands(tour.blocks[2])
    assert tail.startswith("imgfeed tail --host 127.0.0.1 --port 2093 ") and tail.endswith("--subscribe-all")
    return tail


def test_2_tail(tour: Tour) -> None:
    result = tour.sh(f"{_tail(tour)} --duration 2")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"** connected to 127.0.0.1:{tour.port}, session " in result.stdout
    assert " market_update " in result.stdout


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_2_tail_jsonl_into_jq(tour: Tour) -> None:
    (pipeline,) = commands(tour.blocks[3])
    command = pipeline.replace("imgfeed tail ... --subscribe-all", _tail(tour), 1)
    command = command.replace(" --format jsonl |", " --format jsonl --duration 2 |", 1)
    assert "..." not in command and "--duration 2 |" in command
    result = tour.sh(command)
    assert result.returncode == 0, result.stderr
    ids = [ujson.loads(line) for line in result.stdout.splitlines()]
    assert ids and all(isinstance(i, str) for i in ids)
    assert any("~7c" in i for i in ids) and not any("|" in i for i in ids)  # raw ids, as --market takes


def _handler_source(tour: Tour) -> str:
    return tour.blocks[4].text


def test_3_a_handler(tour: Tour) -> None:
    source = _handler_source(tour).replace("port=2093", f"port={tour.port}")
    # What the test adds: Ctrl-C is for run_forever(), as the tour says. Sent before it (while
    # subscribe() waits for its answer, or between a print before the call and the call), it would
    # interrupt the script there instead. So "== running" is printed from inside run_forever(),
    # by the join() it waits in.
    run = "    client.run_forever()"
    assert source.count(run) == 1
    source = source.replace(
        run,
        "    join = client.join\n"
        "    client.join = lambda timeout=None: (print('== running', flush=True), join(timeout))[1]\n" + run,
    )
    script = tour.work / "favourites.py"
    script.write_text(source, encoding="utf-8")
    proc = Process([str(script)], env=tour.env, cwd=str(tour.work))
    try:
        # (print() from two threads may interleave: "== running" may share a line with a price)
        assert proc.wait_for_line(lambda line: "== running" in line), proc.lines
        # "market_id status best.name best.price", the market id raw
        line = proc.wait_for_line(
            lambda line: re.match(r"golf_\S+ (open|suspended|closed|settled) ", line) is not None
        )
        assert line, proc.lines
    finally:
        code, err = proc.finish(signal.SIGINT)  # "until Ctrl-C"
    assert code == 0, err
    assert "Traceback" not in err, err


def test_4_record_then_replay(tour: Tour) -> None:
    record, replay = commands(tour.blocks[5])
    assert record.startswith("imgfeed record ") and replay.startswith("imgfeed replay ")
    recorded = tour.sh(f"{record} --duration 2")
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stderr.splitlines()[0].startswith(f"imgfeed: recording 127.0.0.1:{tour.port} to ")
    assert (tour.work / "today.jsonl.gz").exists()

    replayed = tour.sh(replay)  # `| head`: the replay stops quietly when head has had its ten lines
    assert replayed.returncode == 0, replayed.stderr
    assert "Traceback" not in replayed.stderr and "BrokenPipe" not in replayed.stderr
    lines = replayed.stdout.splitlines()
    assert len(lines) == 10 and all(isinstance(ujson.loads(line), dict) for line in lines)

    # The tour's replay in Python, with the Favourites handler of step 3.
    favourites = _handler_source(tour).split("\nconfig = ", 1)[0]
    script = tour.work / "replay_favourites.py"
    script.write_text(favourites + "\n" + tour.blocks[6].text + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tour.work, env=tour.env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^golf_\S+ open ", result.stdout, flags=re.M), result.stdout

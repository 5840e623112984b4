"""replay: records per second replaying a recording as fast as possible.

    python benchmarks/replay.py [--updates N] [--rounds R] [--quick]

A recording of the realistic stream (``_stream.py``) is written with imgfeed's own
``RecordingWriter``, plain and gzip-compressed. Each round then times, on the same file:

- the floor: read the file, split it into lines, and ``ujson.loads`` each feed line once (format 2
  stores the line as received after its time: ``<t> =<line>``) -- the least any replay must do to
  get at the messages;
- ``read_recording``: imgfeed's recording reader alone (entries checked, lines as bytes);
- ``imgfeed.replay``: the whole path a live feed takes -- reader thread, framing, decoding, the
  market book, the dispatch queue (blocking, never conflating, in a replay) and a handler that
  counts the records it is given -- with the default parser, and with ``imgfeed[speed]``'s
  msgspec (when installed).

"vs floor" is floor time / stage time. The best (lowest) time of the rounds is kept.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import os
import tempfile
import time
from typing import Any, Callable, Dict, List

import _common
import _stream
import ujson

import imgfeed
from imgfeed.feeds.img.protocol import encode_message
from imgfeed.feeds.img.protocol.fast import AVAILABLE as SPEED
from imgfeed.recording.reader import read_recording
from imgfeed.recording.writer import RecordingWriter


class _Counter(imgfeed.Handler):
    """Counts the records the dispatcher hands over; nothing else."""

    def __init__(self) -> None:
        self.records = 0

    def on_market_update(self, record: Any) -> None:
        self.records += 1

    def on_heartbeat(self, record: Any) -> None:
        self.records += 1

    def on_market(self, record: Any) -> None:
        self.records += 1


def _write(path: str, messages: List[Dict[str, Any]]) -> None:
    with RecordingWriter(path, source="simulator") as writer:
        t = 1_741_942_211.0
        for m in messages:
            t += 0.0001
            writer.write(encode_message(m)[:-1], t)


def _floor(path: str) -> int:
    opener = gzip.open if path.endswith(".gz") else open
    loads = ujson.loads
    n = 0
    with opener(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    for raw in lines[1:]:  # the first line is the header
        if raw:
            loads(raw.partition(b" ")[2][1:])
            n += 1
    return n


def _reader(path: str) -> int:
    n = 0
    for _ in read_recording(path):
        n += 1
    return n


def _replay(path: str, parser: str = "ujson") -> int:
    counter = _Counter()
    result = imgfeed.replay(path, handlers=[counter], parser=parser)
    if result.stats.protocol_errors:
        raise AssertionError(f"replay reported {result.stats.protocol_errors} protocol errors")
    return result.lines


def _replay_speed(path: str) -> int:
    return _replay(path, parser="msgspec")


def _time(fn: Callable[[str], int], path: str, expected: int) -> float:
    gc.collect()
    start = time.perf_counter()
    n = fn(path)
    elapsed = time.perf_counter() - start
    if n != expected:
        raise AssertionError(f"{fn.__name__} played {n} lines, expected {expected}")
    return elapsed


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=20_000, help="market updates in the recording")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.updates, args.rounds = 300, 1

    messages = _stream.build_messages(args.updates, args.seed)
    n = len(messages)
    rows = []
    with tempfile.TemporaryDirectory(prefix="imgfeed-bench-") as tmp:
        for name in ("feed.jsonl", "feed.jsonl.gz"):
            path = os.path.join(tmp, name)
            _write(path, messages)
            size = os.path.getsize(path)
            stages = {
                "floor: read + split + ujson.loads": _floor,
                "read_recording (entries only)": _reader,
                "imgfeed.replay -> handler": _replay,
            }
            if SPEED:
                stages["imgfeed[speed] replay -> handler"] = _replay_speed
            best = {k: float("inf") for k in stages}
            for _ in range(args.rounds):
                for k, fn in stages.items():
                    best[k] = min(best[k], _time(fn, path, n))
            floor = best["floor: read + split + ujson.loads"]
            for k, t in best.items():
                rows.append(
                    [
                        name,
                        k,
                        _common.fmt(n / t),
                        _common.fmt(size / t / 1e6),
                        _common.fmt(t / n * 1e6),
                        f"{floor / t:.0%}",
                    ]
                )
            ratio = floor / best["imgfeed.replay -> handler"]
            rows.append([name, "**ratio replay / floor** (target >= 0.80)", "", "", "", f"**{ratio:.2f}**"])
            if SPEED:
                ratio = floor / best["imgfeed[speed] replay -> handler"]
                rows.append([name, "**ratio imgfeed[speed] replay / floor**", "", "", "", f"**{ratio:.2f}**"])

    _common.print_machine()
    print(
        f"Recording: {n:,} lines of the realistic stream ({args.updates:,} market updates); "
        f"best of {args.rounds} rounds."
    )
    print()
    _common.print_table(
        "replay", ["file", "stage", "records/s", "MB/s (file)", "µs/record", "vs floor"], rows
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""betfair: lines/s of imgfeed's ESA pipeline against betfairlightweight's, on the same files, same run.

    python benchmarks/betfair.py [--rounds R] [--quick]

The files (``_betfair_files.py``): a full-ladder single market, a 200-market best-offers stream
with a segmented image (both served by the emulator's own session, sans-IO), and Betfair's
historical file BASIC-1.132153978. Each round times, on the same bytes:

- **floor**: read + ``split(b"\\n")`` + stdlib ``json.loads`` of every line, result thrown
  away: what any Python ESA reader pays at least;
- **bflw cache**: betfairlightweight 2.24's ``StreamListener.on_data`` for every line (listener ->
  stream -> cache; lightweight, no output queue): its historical path, caches only;
- **bflw books**: the same with an output queue, so that bflw builds its (lightweight, dict) books
  of the changed markets for every line, drained as they come: what a bflw user's handler gets.
  Parsed with stdlib ``json``, and again with orjson (**bflw books, orjson**) when it is installed:
  bflw uses orjson whenever it can import it (its ``speed`` extra), so that row is its best case;
- **imgfeed books**: imgfeed's pipeline without threads: ``BetfairDecoder.feed`` on 64 KiB chunks
  (framing, decoding, checks), the adapter's ``apply`` (segments, clocks, cache, tradability,
  eviction, an immutable ``MarketBook`` per changed market), and each item delivered to a
  ``BetfairHandler`` through the dispatch table -- the handler counts the books;
- **imgfeed books, ujson**: the same with ``parser="ujson"``, when ``imgfeed[speed]`` (msgspec,
  the default parser once installed) is: what the extra buys;
- **imgfeed books, read**: the same with a handler that reads every runner's best back and lay;
- **imgfeed replay**: ``imgfeed.betfair.replay`` of the file: the whole runtime (reader thread,
  queue, dispatcher thread) with the counting handler, on recorded time;
- **imgfeed client**: a live ``BetfairClient`` whose connection is in memory (the file pushed in
  64 KiB chunks after the handshake): reader thread, ingest, queue (``block``, so that every book
  is counted), dispatcher thread, counting handler; from the first chunk to the last book.

"vs bflw" is bflw-books time / stage time (the like-for-like comparison: both hand a book per
changed market to the user), "vs bflw+orjson" the same against bflw's orjson row; "vs floor" is
floor time / stage time. The target is imgfeed books >= 2x bflw books, as a ratio, never asserted.
The best (lowest) time of the rounds is kept; each round runs every stage once (interleaved).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Tuple

import _common

try:
    import orjson
except ImportError:  # bflw then parses with stdlib json only, and so does its only row
    orjson = None
from _betfair_files import make_files

from imgfeed.feeds.betfair.adapter import BetfairAdapter
from imgfeed.feeds.betfair.books import MarketBook
from imgfeed.feeds.betfair.client import BetfairClient
from imgfeed.feeds.betfair.config import BetfairConfig
from imgfeed.feeds.betfair.handler import BetfairHandler
from imgfeed.feeds.betfair.replay import replay
from imgfeed.runtime.handler import dispatch_table
from imgfeed.runtime.stats import ClientState
from imgfeed.transport.memory import MemoryTransport

TARGET = 2.0  # issue 12: imgfeed's pipeline >= 2x bflw's, end to end
CHUNK = 64 * 1024
_FOREVER = 10.0 * 365 * 24 * 3600


class Counter(BetfairHandler):
    def __init__(self) -> None:
        self.books = 0

    def on_market_book(self, book: MarketBook) -> None:
        self.books += 1


class Reader(BetfairHandler):
    """Reads what a strategy would: every runner's best back and lay."""

    def __init__(self) -> None:
        self.books = 0
        self.prices = 0.0

    def on_market_book(self, book: MarketBook) -> None:
        self.books += 1
        for runner in book.runners:
            back = runner.best_available_to_back or runner.available_to_back
            lay = runner.best_available_to_lay or runner.available_to_lay
            if back:
                self.prices += back[0].price
            if lay:
                self.prices += lay[0].price


def floor(data: bytes) -> int:
    loads = json.loads
    n = 0
    for line in data.split(b"\n"):  # json.loads skips the \r as whitespace
        if line:
            loads(line)
            n += 1
    return n


def bflw(text_lines: List[str], books: bool, parser: Any = json) -> int:
    """bflw's listener over the lines, parsing with ``parser`` (stdlib ``json`` or ``orjson``)."""
    from betfairlightweight.streaming import listener as listener_module

    saved = listener_module.json
    listener_module.json = parser  # what bflw's compat module picks at import: orjson if installed
    try:
        return _bflw(text_lines, books)
    finally:
        listener_module.json = saved


def _bflw(text_lines: List[str], books: bool) -> int:
    from betfairlightweight.streaming import StreamListener

    out: "queue.Queue[Any]" = queue.Queue()
    listener = StreamListener(output_queue=out if books else None, lightweight=True, max_latency=None)
    listener.register_stream(0, "marketSubscription")
    on_data = listener.on_data
    get = out.get_nowait
    n = 0
    for line in text_lines:
        on_data(line)
        if books:
            while not out.empty():
                n += len(get())
    return n


def imgfeed(data: bytes, handler: BetfairHandler, **settings: Any) -> int:
    config = BetfairConfig(app_key="bench", session_token="bench", closed_retention=_FOREVER,
                           order_closed_retention=_FOREVER, **settings)
    adapter = BetfairAdapter(config, historical=True)
    decoder = adapter.new_decoder()
    table = dispatch_table(adapter.dispatch_table)
    out: List[Any] = []
    with adapter.lock:
        adapter.session_up({}, out)
    apply = adapter.apply
    delivered = 0
    for start in range(0, len(data), CHUNK):
        records = decoder.feed(data[start : start + CHUNK], 1.7e9)
        out = []
        with adapter.lock:  # as the ingest holds it: one critical section per chunk
            for record in records:
                apply(record, out)
        for item in out:
            call = table.get(type(item))
            if call is not None:
                call(handler, item)
                delivered += 1
    return delivered


class Waiter(Counter):
    """Counts the books and says when the last expected one has arrived."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.done = threading.Event()

    def on_market_book(self, book: MarketBook) -> None:
        self.books += 1
        if self.books >= self.expected:
            self.done.set()


def imgfeed_client(data: bytes, expected: int) -> float:
    """The live client's threads (reader, queue, dispatcher) on an in-memory connection: seconds
    from the first chunk pushed to the last book delivered."""
    config = BetfairConfig(app_key="bench", session_token="bench", closed_retention=_FOREVER,
                           overflow_policy="block", handler_stall_warning=None)

    def respond(transport: MemoryTransport, line: bytes) -> None:
        if b'"authentication"' in line:
            transport.push(b'{"op":"status","id":0,"statusCode":"SUCCESS","connectionClosed":false}\r\n')

    transport = MemoryTransport(respond, read_timeout=0.05)
    transport.push(b'{"op":"connection","connectionId":"bench"}\r\n')
    waiter = Waiter(expected)
    client = BetfairClient(config, handlers=[waiter], transport_factory=lambda: transport,
                           adapter=BetfairAdapter(config, historical=True))
    client.start()
    try:
        assert client.wait_for_state(ClientState.RUNNING, timeout=10.0)
        started = time.perf_counter()
        for start in range(0, len(data), CHUNK):
            transport.push(data[start : start + CHUNK])
        assert waiter.done.wait(600.0), "not every book was delivered"
        return time.perf_counter() - started
    finally:
        client.stop()


def best_times(stages: List[Tuple[str, Callable[[], Any]]], rounds: int) -> Dict[str, float]:
    """The best time of each stage over ``rounds`` rounds, each round running every stage once:
    interleaved, so that a busy spell of the (shared) machine weighs on every stage alike."""
    best = {label: float("inf") for label, _ in stages}
    for _ in range(rounds):
        for label, fn in stages:
            gc.collect()
            started = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - started)
    return best


def measure(name: str, path: str, n: int, rounds: int) -> Tuple[List[List[object]], Dict[str, float]]:
    """The table rows of one file, and its imgfeed/bflw books ratios (by bflw row)."""
    with open(path, "rb") as f:
        data = f.read()
    text_lines = [line.decode() for line in data.split(b"\n") if line.strip()]
    stages: List[Tuple[str, Callable[[], Any]]] = [
        ("floor (split + json.loads)", lambda: floor(data)),
        ("bflw cache", lambda: bflw(text_lines, books=False)),
        ("bflw books", lambda: bflw(text_lines, books=True)),
    ]
    if orjson is not None:
        stages.append(("bflw books, orjson", lambda: bflw(text_lines, books=True, parser=orjson)))
    stages += [
        ("imgfeed books", lambda: imgfeed(data, Counter())),
    ]
    if _has_msgspec():
        stages.append(("imgfeed books, ujson", lambda: imgfeed(data, Counter(), parser="ujson")))
    stages += [
        ("imgfeed books, read", lambda: imgfeed(data, Reader())),
        ("imgfeed replay (threads)", lambda: replay(path, handlers=[Counter()])),
    ]
    times = best_times(stages, rounds)
    counter = Counter()
    imgfeed(data, counter)
    times["imgfeed client (threads)"] = min(imgfeed_client(data, counter.books) for _ in range(rounds))
    stages.append(("imgfeed client (threads)", lambda: None))
    base, fl = times["bflw books"], times["floor (split + json.loads)"]
    fast = times.get("bflw books, orjson")
    rows: List[List[object]] = []
    for label, _ in stages:
        t = times[label]
        rows.append([name, label, f"{n / t:,.0f}", _common.fmt(t / n * 1e6), _common.fmt(base / t, 2),
                     "" if fast is None else _common.fmt(fast / t, 2), _common.fmt(fl / t, 2)])
    ratios = {"bflw books": base / times["imgfeed books"]}
    if fast is not None:
        ratios["bflw books, orjson"] = fast / times["imgfeed books"]
    return rows, ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per stage (best kept)")
    _common.add_common_args(parser)
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    try:
        import betfairlightweight  # noqa: F401
    except ImportError:
        print("betfairlightweight is not installed: pip install -e '.[test]'", file=sys.stderr)
        return 2
    _common.print_machine()
    print(f"floor: stdlib json; bflw: stdlib json, and orjson {_version('orjson')} if installed; "
          f"imgfeed: " + (f"msgspec {_version('msgspec')} (imgfeed[speed]), and ujson {_version('ujson')} "
                          "for its own row" if _has_msgspec() else f"ujson {_version('ujson')}"))
    rows: List[List[object]] = []
    ratios: Dict[str, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="imgfeed-bench-betfair-") as tmp:
        for name, path, n in make_files(tmp, quick=args.quick):
            file_rows, ratios[name] = measure(name, path, n, rounds)
            rows += file_rows
    _common.print_table(
        "Betfair ESA pipeline, lines/s (higher is better)",
        ["file", "stage", "lines/s", "µs/line", "vs bflw", "vs bflw+orjson", "vs floor"],
        rows,
    )
    for name, by_peer in ratios.items():
        for peer, ratio in by_peer.items():
            verdict = "meets" if ratio >= TARGET else "below"
            print(f"ratio imgfeed/{peer} on {name}: {ratio:.2f}x ({verdict} the {TARGET:g}x target)")
    return 0


def _has_msgspec() -> bool:
    try:
        from imgfeed.feeds.betfair.protocol import fast
    except ImportError:  # an imgfeed older than its fast path (an A/B against an older checkout)
        return False
    return fast.AVAILABLE


def _version(module: str) -> str:
    try:
        return str(__import__(module).__version__)
    except (ImportError, AttributeError):
        return "?"


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())

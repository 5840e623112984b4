"""memory: what the market book costs, per image and per selection, against the JSON it holds.

    python benchmarks/memory.py [--markets 10000] [--selections 30] [--quick]

Each market sends one ``market_update`` of ``--selections`` priced selections (the realistic
stream's golfers). The lines are decoded and applied to a ``MarketBook``, as the reader does, and
the script reports, measured with ``tracemalloc`` (Python's allocations) and the resident set
(``/proc``, after ``malloc_trim``), for each parser:

- the book holding the latest image of every market, after a handler has read every price of
  every record it was given (what a client keeps while it runs);
- the same after something has read every price of every image *through the book* (a display,
  via ``book.snapshot().images``): the snapshot's copies cache their parsed ``raw`` and
  ``Selection`` records, and go with the snapshot (``imgfeed/feeds/img/images.py``).

"vs JSON" is the book's traced memory over the total size of the lines it holds. Target (issue 14):
the book's share <= 2x the raw JSON of its images. A ``MarketUpdate`` keeps its line and parses
it only when something reads ``raw`` or ``selections`` (``imgfeed/feeds/img/protocol/prices.py``).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import random
import sys
import tracemalloc
from typing import Any, Callable, Dict, List, Optional

import _common
import _stream

from imgfeed.feeds.img.book import MarketBook
from imgfeed.feeds.img.protocol import encode_message
from imgfeed.feeds.img.protocol.codec import decode_line
from imgfeed.feeds.img.protocol.fast import AVAILABLE as SPEED
from imgfeed.feeds.img.protocol.fast import fast_decode_line

TARGET = 2.0  # issue 14: the book's share <= 2x the raw JSON of its images


def _lines(markets: int, selections: int, seed: int) -> List[bytes]:
    rng = random.Random(seed)
    when = "2025-03-14 08:50:11.331473"
    out = []
    for i in range(markets):
        golfers = _stream._golfers(rng, selections)
        message = _stream.market_update(f"golf_{1000 + i // 40}_m{i}", golfers, rng, when)
        out.append(encode_message(message)[:-1])
    return out


def _trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _measure(lines: List[bytes], decode: Callable[[bytes, Optional[float]], Any]) -> Dict[str, float]:
    data = b"\n".join(lines)  # split below, inside the traced region, as the reader does
    gc.collect()
    _trim()
    rss0 = _common.rss_bytes()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    book = MarketBook()
    book.session_started()
    out: List[Any] = []
    with book.lock:
        for line in data.split(b"\n"):
            book.apply_locked(decode(line, 1.0), out)
    # A handler reads every price of every record it is given, then lets it go.
    for record in out:
        for selection in getattr(record, "selections", ()):
            selection.price  # noqa: B018 -- reading it is the point
    out.clear()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    _trim()
    rss_held = _common.rss_bytes() - rss0
    # A display reads every price of every image through the book: the snapshot's copies cache their tree.
    snapshot = book.snapshot()
    for image in snapshot.images.values():
        for selection in image.selections:
            selection.price  # noqa: B018 -- reading it is the point
    del snapshot
    gc.collect()
    read = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    _trim()
    rss_read = _common.rss_bytes() - rss0
    del book
    return {"held": held, "read": read, "rss_held": rss_held, "rss_read": rss_read}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markets", type=int, default=10_000)
    parser.add_argument("--selections", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    _common.add_common_args(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.markets = 200
    lines = _lines(args.markets, args.selections, args.seed)
    json_bytes = sum(len(line) for line in lines)
    parsers = [("ujson (default)", decode_line)]
    if SPEED:
        parsers.append(("msgspec (imgfeed[speed])", fast_decode_line))
    rows = []
    ratios = []
    for name, decode in parsers:
        m = _measure(lines, decode)
        n, s = args.markets, args.markets * args.selections
        rows.append([name, "images held (handler read every price)", _common.fmt(m["held"] / n), _common.fmt(m["held"] / s),
                     _common.fmt(m["rss_held"] / 1e6), f"{m['held'] / json_bytes:.2f}"])  # fmt: skip
        rows.append([name, "... and every price read through the book", _common.fmt(m["read"] / n), _common.fmt(m["read"] / s),
                     _common.fmt(m["rss_read"] / 1e6), f"{m['read'] / json_bytes:.2f}"])  # fmt: skip
        ratios.append((name, m["held"] / json_bytes))
    _common.print_machine()
    print(
        f"{args.markets:,} markets of {args.selections} selections: {json_bytes / 1e6:.1f} MB of JSON "
        f"({json_bytes / args.markets:,.0f} B per image); Python {sys.version.split()[0]}, pid {os.getpid()}."
    )
    print()
    _common.print_table(
        "memory of the book",
        ["parser", "state", "B per image", "B per selection", "RSS (MB)", "vs JSON"],
        rows,
    )
    for name, ratio in ratios:
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"book / JSON with {name} = {ratio:.2f} (target <= {TARGET:.1f}: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

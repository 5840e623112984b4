"""``imgfeed.betfair.replay``: Betfair historical files (plain, gzip, bzip2) and recordings.

The historical file goes through imgfeed's whole pipeline (framing, decoding, stream, cache,
handlers) and through bflw's historical path; both end with the same books.
"""

from __future__ import annotations

import bz2
import gzip
from pathlib import Path
from typing import Any, List

import pytest

import imgfeed.betfair as betfair
from imgfeed.betfair import BetfairHandler, MarketBook, OrderBook, ReplayError, replay
from imgfeed.recording.writer import RecordingWriter
from tests.betfair_client.support import bflw_books, book_shape

DATA = Path(__file__).resolve().parents[1] / "betfair" / "data"
BASIC = DATA / "BASIC-1.132153978"


class Books(BetfairHandler):
    def __init__(self) -> None:
        self.markets: List[MarketBook] = []
        self.orders: List[OrderBook] = []
        self.statuses: List[Any] = []

    def on_market_book(self, book: MarketBook) -> None:
        self.markets.append(book)

    def on_order_book(self, book: OrderBook) -> None:
        self.orders.append(book)

    def on_market_status(self, market_id: str, tradable: bool) -> None:
        self.statuses.append((market_id, tradable))


def bflw_historical(path: Path) -> Any:
    bflw = pytest.importorskip("betfairlightweight")
    listener = bflw.StreamListener(lightweight=True, max_latency=None)
    listener.register_stream(0, "marketSubscription")
    for line in path.read_text().splitlines():
        if line.strip():
            listener.on_data(line)
    return listener


def test_a_historical_file_ends_with_bflws_books() -> None:
    handler = Books()
    result = replay(BASIC, handlers=[handler])
    assert result.lines == 480 and result.stats.protocol_errors == 0
    book = result.markets.book("1.132153978")
    assert book.status == "CLOSED" and handler.markets[-1] == book
    assert len(handler.markets) == 480  # one book per line: a backtest sees every change
    assert {book_shape(book)["runners"][k]["status"] for k in book_shape(book)["runners"]} >= {"WINNER", "LOSER"}
    assert {"1.132153978": book_shape(book)} == bflw_books(bflw_historical(BASIC), ["1.132153978"])
    # the stream is whole from its first line: the market was tradable while it was open
    assert ("1.132153978", True) in handler.statuses


@pytest.mark.parametrize("opener, suffix", [(gzip.open, ".gz"), (bz2.open, ".bz2")])
def test_compressed_files_by_their_content(tmp_path: Path, opener: Any, suffix: str) -> None:
    path = tmp_path / ("renamed" + suffix[::-1])  # the name says nothing: the magic bytes do
    with opener(path, "wb") as f:
        f.write(BASIC.read_bytes())
    assert replay(path).markets.book("1.132153978") == replay(BASIC).markets.book("1.132153978")


def test_the_order_stream_of_a_historical_file() -> None:
    handler = Books()
    result = replay(DATA / "ORDER-1.177596575", handlers=[handler])
    assert handler.orders and handler.orders[-1].market_id == "1.177596575"
    assert result.orders.book("1.177596575").closed


def test_closed_markets_are_evicted_in_recorded_time() -> None:
    result = replay(BASIC, closed_retention=0.0)
    assert "1.132153978" not in result.markets


def test_a_recording_of_another_feed_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "img.jsonl"
    with RecordingWriter(path, source="simulator", feed="img") as writer:
        writer.write(b'{"mode":"push","type":"heartbeat","msg":{}}', 1.0)
    with pytest.raises(ReplayError, match="another feed"):
        replay(path)


def test_a_file_that_is_not_betfair_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(ReplayError, match="not a Betfair historical file"):
        replay(path)
    with pytest.raises(ReplayError, match="cannot open"):
        replay(tmp_path / "missing")


def test_a_handler_that_raises_stops_the_replay_with_raise() -> None:
    class Boom(BetfairHandler):
        def on_market_book(self, book: MarketBook) -> None:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        replay(BASIC, handlers=[Boom()], error_policy="raise")


def test_the_public_module_says_what_it_exports() -> None:
    for name in betfair.__all__:
        assert hasattr(betfair, name), name
    assert {"BetfairClient", "BetfairConfig", "BetfairHandler", "MarketBook", "RunnerBook", "PriceSize",
            "MarketDefinition", "OrderBook", "Order", "replay"} <= set(betfair.__all__)

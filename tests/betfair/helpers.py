"""Shared helpers for the Betfair tests: test data, decoding, and a stream-to-cache pipeline."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Iterable, List, Optional

from imgfeed.errors import ProtocolError
from imgfeed.feeds.betfair.cache.markets import MarketCache
from imgfeed.feeds.betfair.cache.orders import OrderCache
from imgfeed.feeds.betfair.protocol.codec import decode_line
from imgfeed.feeds.betfair.protocol.messages import ChangeMessage, MarketChangeMessage, OrderChangeMessage
from imgfeed.feeds.betfair.protocol.stream import SubscriptionStream

DATA = pathlib.Path(__file__).parent / "data"


def data_lines(name: str) -> List[bytes]:
    """The non-empty lines of a file in tests/betfair/data."""
    return [line for line in (DATA / name).read_bytes().splitlines() if line.strip()]


def mcm(received_at: float = 0.0, **fields: Any) -> MarketChangeMessage:
    """A market change message decoded from a JSON object built from ``fields`` (wire names)."""
    record = decode(json.dumps({"op": "mcm", **fields}).encode(), received_at)
    assert isinstance(record, MarketChangeMessage), record
    return record


def ocm(received_at: float = 0.0, **fields: Any) -> OrderChangeMessage:
    record = decode(json.dumps({"op": "ocm", **fields}).encode(), received_at)
    assert isinstance(record, OrderChangeMessage), record
    return record


def decode(line: bytes, received_at: float = 0.0) -> Any:
    """Decode a line the test knows to be good; fail with the error if it is not."""
    record = decode_line(line, received_at)
    assert not isinstance(record, ProtocolError), record
    return record


class Pipeline:
    """decode -> SubscriptionStream -> cache, as the client will run it, without IO."""

    def __init__(self, cache: Optional[Any] = None, stream: Optional[SubscriptionStream] = None) -> None:
        self.cache = MarketCache() if cache is None else cache
        self.stream = SubscriptionStream() if stream is None else stream
        self.errors: List[ProtocolError] = []
        self.changed: List[str] = []

    def feed(self, lines: Iterable[bytes], received_at: float = 0.0) -> "Pipeline":
        for line in lines:
            record = decode_line(line, received_at)
            if isinstance(record, ProtocolError):
                self.errors.append(record)
                continue
            if not isinstance(record, ChangeMessage):
                continue
            change = self.stream.receive(record)
            if isinstance(change, ProtocolError):
                self.errors.append(change)
            elif change is not None:
                self.changed.extend(self.cache.apply(change))
        return self


def order_pipeline() -> Pipeline:
    return Pipeline(cache=OrderCache())

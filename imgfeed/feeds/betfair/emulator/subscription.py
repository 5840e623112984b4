"""One market or order subscription of a connection: image, resubscription, deltas, heartbeats, conflation.

Contract: a :class:`Subscription` turns the scenario's canonical batches into the change messages
(``mcm`` / ``ocm`` dicts, not yet encoded) one client gets, and knows when its next heartbeat or
conflated flush is due. It is sans-IO and clock-free like the session that owns it.

- Every message carries the subscription's ``id`` (the ``id`` of the subscribing request) and
  ``pt``; every unsegmented one ``clk``. The image carries ``initialClk`` too, and the
  ``heartbeatMs`` / ``conflateMs`` granted.
- Deltas hold only what the data filter asks for (see
  :mod:`~imgfeed.feeds.betfair.emulator.filters`); a batch with nothing for this client sends
  nothing, but still moves the clock the next heartbeat reports.
- ``conflateMs`` > 0, or a client that reads too slowly (the connection says so with ``hold``),
  merges the deltas per market with the one merge function and sends them at once later, with
  ``con: true`` on each market that merged more than one change ("if the socket buffer is full we
  won't attempt to push; so the next push will be conflated").
- ``ct: HEARTBEAT`` after ``heartbeatMs`` without a message on this subscription.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Union

import attrs

from imgfeed.feeds.betfair.emulator.changelog import ChangeLog
from imgfeed.feeds.betfair.emulator.clocks import MARKET_STREAM
from imgfeed.feeds.betfair.emulator.filters import (
    InvalidRequest,
    MarketDataFilter,
    MarketFilter,
    MarketInfo,
    OrderFilter,
)
from imgfeed.feeds.betfair.emulator.merge import Change, merge

__all__ = ["Subscription", "SubscriptionRequest", "Message", "HEARTBEAT_BOUNDS", "CONFLATE_BOUNDS"]

#: A change message before encoding.
Message = Dict[str, Any]

#: heartbeatMs bounds ("bounds are 500 to 5000") and conflateMs bounds ("0 to 120000").
HEARTBEAT_BOUNDS = (500, 5000)
CONFLATE_BOUNDS = (0, 120_000)
_FILTER_KEYS = {
    "marketSubscription": ("marketFilter", "marketDataFilter"),
    "orderSubscription": ("orderFilter",),
}
_COMMON_KEYS = ("op", "id", "segmentationEnabled", "heartbeatMs", "conflateMs", "initialClk", "clk")


def _clamp(value: Any, name: str, bounds: Tuple[int, int], default: int) -> int:
    if value is None:
        return default
    if type(value) is not int:
        raise InvalidRequest(f"{name} must be an integer, got {value!r}")
    return min(bounds[1], max(bounds[0], value))


@attrs.frozen
class SubscriptionRequest:
    """A ``marketSubscription`` / ``orderSubscription`` as parsed and bounds-checked.

    ``heartbeatMs`` and ``conflateMs`` are clamped to their bounds, as Betfair does ("this might be
    different to what you specified ... as we bounds check"), and reported back in the image.
    """

    kind: str
    rows: Optional[MarketFilter]
    columns: Union[MarketDataFilter, OrderFilter]
    heartbeat_ms: int
    conflate_ms: int
    segmentation: bool

    @classmethod
    def parse(cls, op: str, request: Dict[str, Any], default_heartbeat_ms: int) -> "SubscriptionRequest":
        """Raises :class:`InvalidRequest` for anything the schema does not allow."""
        extra = sorted(set(request) - set(_COMMON_KEYS) - set(_FILTER_KEYS[op]))
        if extra:
            raise InvalidRequest(f"unknown key(s) in {op}: {', '.join(extra)}")
        segmentation = request.get("segmentationEnabled")
        if segmentation is not None and type(segmentation) is not bool:
            raise InvalidRequest(f"segmentationEnabled must be true or false, got {segmentation!r}")
        market = op == "marketSubscription"
        return cls(
            kind="mcm" if market else "ocm",
            rows=MarketFilter.from_json(request.get("marketFilter")) if market else None,
            columns=(
                MarketDataFilter.from_json(request.get("marketDataFilter"))
                if market
                else OrderFilter.from_json(request.get("orderFilter"))
            ),
            heartbeat_ms=_clamp(
                request.get("heartbeatMs"), "heartbeatMs", HEARTBEAT_BOUNDS, default_heartbeat_ms
            ),
            conflate_ms=_clamp(request.get("conflateMs"), "conflateMs", CONFLATE_BOUNDS, 0),
            segmentation=bool(segmentation),
        )


class Subscription:
    """One subscription of a session. See the module docstring.

    Args:
        kind: ``"mcm"`` (market subscription) or ``"ocm"`` (order subscription).
        request_id: the ``id`` of the subscribing request, carried by every change message.
        log: the stream's change log (clocks, images, history).
        rows: the MarketFilter (market subscriptions only).
        columns: the MarketDataFilter or the OrderFilter.
        heartbeat_ms: granted heartbeat interval (already clamped to 500-5000).
        conflate_ms: granted conflation interval (already clamped to 0-120000).
        segmentation: whether the client enabled segmentation.
        initial_clk: the ``initialClk`` to hand out (the image's, or the resumed one's).
        seq: the batch the client is up to date with once its image / resub delta is sent.
        now: the time of the subscription.
    """

    def __init__(
        self,
        kind: str,
        request_id: Optional[int],
        log: ChangeLog,
        rows: Optional[MarketFilter],
        columns: Union[MarketDataFilter, OrderFilter],
        heartbeat_ms: int,
        conflate_ms: int,
        segmentation: bool,
        initial_clk: str,
        seq: int,
        now: float,
    ) -> None:
        self.kind = kind
        self.items_key = "mc" if kind == "mcm" else "oc"
        self.request_id = request_id
        self.log = log
        self.rows = rows
        self.columns = columns
        self.heartbeat_ms = heartbeat_ms
        self.conflate_ms = conflate_ms
        self.segmentation = segmentation
        self.initial_clk = initial_clk
        #: Everything up to this batch has been sent (or had nothing for this client).
        self.sent_seq = seq
        self.last_clk_sent: Optional[str] = None
        self.messages_sent = 0
        self._last_sent = now
        self._pending: Dict[str, List[Any]] = {}
        self._pending_seq = seq
        self._flush_at: Optional[float] = None

    def __repr__(self) -> str:
        return (
            f"<Subscription {self.kind} id={self.request_id} seq={self.sent_seq} hb={self.heartbeat_ms}ms"
            f" conflate={self.conflate_ms}ms pending={len(self._pending)}>"
        )

    # --- what this client sees -------------------------------------------------------------------

    def wants(self, info: Optional[MarketInfo]) -> bool:
        """Whether a market is in this subscription (orders: every market of the account)."""
        if self.rows is None:
            return True
        return info is not None and self.rows.matches(info)

    def project(self, change: Change, image: bool = False) -> Optional[Change]:
        if isinstance(self.columns, MarketDataFilter):
            return self.columns.project(change)
        return self.columns.project(change, image=image)

    def _envelope(self, pt: int) -> Message:
        return {"op": self.kind, "id": self.request_id}

    # --- images and resubscription ---------------------------------------------------------------

    def image(self, infos: Dict[str, Optional[MarketInfo]], pt: int) -> Message:
        """The ``SUB_IMAGE``: every wanted market's image, projected."""
        items = []
        for key, info in infos.items():
            if not self.wants(info):
                continue
            image = self.log.image(key)
            projected = None if image is None else self.project(image, image=True)
            if projected is not None:
                items.append(projected)
        return self._opening("SUB_IMAGE", items, pt)

    def resub_delta(self, since: int, infos: Dict[str, Optional[MarketInfo]], pt: int) -> Message:
        """The ``RESUB_DELTA``: per wanted market, the merge of its deltas after batch ``since``."""
        items = []
        for key, info in infos.items():
            if not self.wants(info):
                continue
            change = self.log.since(key, since)
            projected = (
                None if change is None else self.project(change, image=bool(change.get(self.log.image_flag)))
            )
            if projected is not None:
                items.append(projected)
        return self._opening("RESUB_DELTA", items, pt)

    def _opening(self, ct: str, items: List[Change], pt: int) -> Message:
        message = self._envelope(pt)
        message.update(
            initialClk=self.initial_clk,
            clk=self.log.clock(self.sent_seq),
            conflateMs=self.conflate_ms,
            heartbeatMs=self.heartbeat_ms,
            pt=pt,
            ct=ct,
        )
        if items:
            message[self.items_key] = items
        return message

    # --- live changes ----------------------------------------------------------------------------

    def on_batch(
        self,
        seq: int,
        deltas: Dict[str, Change],
        infos: Dict[str, MarketInfo],
        pt: int,
        now: float,
        hold: bool,
    ) -> Optional[Message]:
        """A batch of the stream: the delta message to send now, or None (nothing, or held back)."""
        wanted = {
            k: d for k, d in deltas.items() if self.wants(infos.get(k) if self.rows is not None else None)
        }
        if hold or self.conflate_ms > 0 or self._pending:
            for key, delta in wanted.items():
                entry = self._pending.get(key)
                if entry is None:
                    self._pending[key] = [merge(None, delta), 1]
                else:
                    entry[0] = merge(entry[0], delta)
                    entry[1] += 1
            if self._pending:
                self._pending_seq = seq
                if self._flush_at is None:
                    self._flush_at = now + self.conflate_ms / 1000.0
            else:
                self.sent_seq = seq
            return None
        items = [p for p in (self.project(d) for d in wanted.values()) if p is not None]
        if not items:
            self.sent_seq = seq
            return None
        return self._delta(items, seq, pt)

    def flush(self, now: float, pt: int, hold: bool) -> Optional[Message]:
        """The merged held-back changes, once the conflation interval is over and output flows."""
        if not self._pending or hold or self._flush_at is None or now < self._flush_at:
            return None
        items = []
        for change, count in self._pending.values():
            projected = self.project(change)
            if projected is not None:
                if count > 1:
                    projected["con"] = True
                items.append(projected)
        self._pending.clear()
        self._flush_at = None
        if not items:
            self.sent_seq = self._pending_seq
            return None
        return self._delta(items, self._pending_seq, pt)

    def _delta(self, items: List[Change], seq: int, pt: int) -> Message:
        self.sent_seq = seq
        message = self._envelope(pt)
        message.update(clk=self.log.clock(seq), pt=pt)
        message[self.items_key] = items
        return message

    # --- heartbeats ------------------------------------------------------------------------------

    def heartbeat(self, now: float, pt: int) -> Optional[Message]:
        """``ct: HEARTBEAT`` if ``heartbeatMs`` passed since the last message, else None."""
        if now < self._last_sent + self.heartbeat_ms / 1000.0:
            return None
        message = self._envelope(pt)
        message.update(clk=self.log.clock(self.sent_seq), pt=pt, ct="HEARTBEAT")
        return message

    def sent(self, message: Message, now: float) -> None:
        """Record that ``message`` (or one segment of it) was queued for the client."""
        self._last_sent = now
        self.messages_sent += 1
        if "clk" in message:
            self.last_clk_sent = message["clk"]

    def next_deadline(self, heartbeats: bool, hold: bool) -> Optional[float]:
        times = []
        if heartbeats and not hold:
            times.append(self._last_sent + self.heartbeat_ms / 1000.0)
        if self._flush_at is not None and not hold:
            times.append(self._flush_at)
        return min(times) if times else None

    @property
    def is_market(self) -> bool:
        return self.log.stream == MARKET_STREAM

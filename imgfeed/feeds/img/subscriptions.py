"""Subscriptions as state, not a log: what is in force, compacted, and which markets it wants.

The service's rule (docs/protocol.md section 6): a ``subscribe`` or ``unsubscribe`` names filter
lists (``event_ids``, ``market_type_ids``, ``market_ids``); a market matches a filter when it
matches every list given, and an empty filter matches every market. A market is subscribed when
the latest request whose filter matches it is a ``subscribe``. Connections are independent: after
a reconnect the client must re-establish what is in force (docs/protocol.md section 8).

Contract of :class:`SubscriptionState`:

- Filters are sets: ``[b, a]`` is the filter ``[a, b]``.
- It changes only when the server *confirms* a request, on the reader thread, under the book's
  lock, before the records after the response are applied (see :mod:`imgfeed.runtime.requests`).
- It stays compact, so that its size is bounded by what is in force and a reconnect re-sends the
  fewest requests that reproduce it: a request removes every earlier one whose markets it covers
  entirely; an ``unsubscribe`` narrows an earlier ``subscribe`` of the same shape to what is left
  (``subscribe(event_ids=[E1, E2])`` then ``unsubscribe(event_ids=[E1])`` is
  ``subscribe(event_ids=[E2])``); a ``subscribe`` joins an earlier one that differs in one list
  only, when nothing between them touches it; an ``unsubscribe`` that no earlier ``subscribe``
  could overlap is dropped (it changes nothing).
- :meth:`SubscriptionState.wants` answers "is this market subscribed?" by the service's rule, for
  a market of the offering (its event and market type known). For a market outside the offering
  the lists cannot be checked; there the book trusts the server's images -- the server sends them
  only for markets it has subscribed -- and stops trusting one when a confirmed request
  :func:`may_cover` it, until its next image proves it is still subscribed. Either way a price
  that will not be updated is never shown as live.

Not thread-safe by itself: the book's lock guards it.
"""

from __future__ import annotations

from typing import Any, Dict, FrozenSet, List, Optional, Tuple

import attrs

from imgfeed.feeds.img.protocol.requests import FILTER_KEYS

__all__ = ["Subscription", "SubscriptionState", "make_filter", "may_cover"]

#: One filter: for each list given, the set of ids (a tuple of pairs, so that it can be hashed).
Filter = Tuple[Tuple[str, FrozenSet[str]], ...]

#: The most answers :meth:`SubscriptionState.wants` keeps (one per market of the offering, unless
#: markets keep changing event or type): a bound, not a size anyone should reach.
_MAX_ANSWERS = 100_000


def make_filter(msg: Dict[str, Any]) -> Filter:
    """The filter of a request's ``msg`` (keys in wire order; values as sets)."""
    return tuple((key, frozenset(msg[key])) for key in FILTER_KEYS if key in msg)


@attrs.frozen
class Subscription:
    """One request in force, in the order a reconnect re-sends them.

    Attributes:
        action: ``"subscribe"`` or ``"unsubscribe"``.
        event_ids, market_type_ids, market_ids: the filter's lists (``None``: not given).
    """

    action: str
    event_ids: Optional[FrozenSet[str]] = None
    market_type_ids: Optional[FrozenSet[str]] = None
    market_ids: Optional[FrozenSet[str]] = None

    @classmethod
    def from_filter(cls, subscribe: bool, f: Filter) -> "Subscription":
        return cls("subscribe" if subscribe else "unsubscribe", **dict(f))

    @property
    def is_subscribe(self) -> bool:
        return self.action == "subscribe"

    def msg(self) -> Dict[str, List[str]]:
        """The request's ``msg``, lists sorted."""
        return {key: sorted(ids) for key, ids in self.filter}

    @property
    def filter(self) -> Filter:
        lists = (self.event_ids, self.market_type_ids, self.market_ids)
        return tuple((k, v) for k, v in zip(FILTER_KEYS, lists) if v is not None)


def _covers(outer: Filter, inner: Filter) -> bool:
    """Every market matching ``inner`` matches ``outer`` (as far as the lists can tell)."""
    given = dict(inner)
    return all(key in given and given[key] <= ids for key, ids in outer)


def _may_overlap(a: Filter, b: Filter) -> bool:
    """Some market could match both (lists on different keys may always overlap)."""
    other = dict(b)
    return all(key not in other or ids & other[key] for key, ids in a)


def _differs_in_one(a: Filter, b: Filter) -> Optional[str]:
    """The one key on which two filters of the same shape differ (None if not exactly one)."""
    if [k for k, _ in a] != [k for k, _ in b]:
        return None
    diff = [k for (k, x), (_, y) in zip(a, b) if x != y]
    return diff[0] if len(diff) == 1 else None


def _replace(f: Filter, key: str, ids: FrozenSet[str]) -> Filter:
    return tuple((k, ids if k == key else v) for k, v in f)


class SubscriptionState:
    """The subscriptions in force (module docstring)."""

    def __init__(self) -> None:
        self._set_entries([])

    def _set_entries(self, entries: List[Tuple[bool, Filter]]) -> None:
        #: (subscribe?, filter), oldest first.
        self._entries = entries
        #: What :meth:`wants` answered since the entries last changed: the book asks on every
        #: ``market_update``, and the answer changes only with the entries (or the market's
        #: event and type, which are part of the key).
        self._answers: Dict[Tuple[str, Optional[str], Optional[str]], bool] = {}

    def __repr__(self) -> str:
        return f"SubscriptionState({self.in_force()!r})"

    def __len__(self) -> int:
        return len(self._entries)

    def in_force(self) -> Tuple[Subscription, ...]:
        """What a reconnect re-sends, in order."""
        return tuple(Subscription.from_filter(s, f) for s, f in self._entries)

    def confirmed(self, subscribe: bool, msg: Dict[str, Any]) -> None:
        """The server confirmed a ``subscribe`` (or ``unsubscribe``) with this ``msg``."""
        f = make_filter(msg)
        entries = [(s, e) for s, e in self._entries if not _covers(f, e)]
        if subscribe:
            entries = self._join(entries, f)
        else:
            entries = [self._narrowed(s, e, f) for s, e in entries]
            entries = [(s, e) for s, e in entries if all(ids for _, ids in e) or not e]
            entries.append((False, f))
        self._set_entries(self._pruned(entries))

    def drop(self, subscription: Subscription) -> None:
        """Forget one entry (the server refused to restore it)."""
        wanted = (subscription.is_subscribe, subscription.filter)
        self._set_entries(self._pruned([e for e in self._entries if e != wanted]))

    @staticmethod
    def _join(entries: List[Tuple[bool, Filter]], f: Filter) -> List[Tuple[bool, Filter]]:
        """Append ``subscribe(f)``, joined with an earlier subscribe it extends where that is exact."""
        for i in range(len(entries) - 1, -1, -1):
            subscribe, e = entries[i]
            key = _differs_in_one(e, f)
            if subscribe and key is not None:
                later = entries[i + 1 :]
                if not any(_may_overlap(e, other) for _, other in later):
                    joined = _replace(f, key, dict(e)[key] | dict(f)[key])
                    return entries[:i] + later + [(True, joined)]
        return entries + [(True, f)]

    @staticmethod
    def _narrowed(subscribe: bool, e: Filter, f: Filter) -> Tuple[bool, Filter]:
        """An earlier subscribe of the same shape as ``unsubscribe(f)``, minus what ``f`` removes."""
        key = _differs_in_one(e, f)
        if subscribe and key is not None:
            return subscribe, _replace(e, key, dict(e)[key] - dict(f)[key])
        return subscribe, e

    @staticmethod
    def _pruned(entries: List[Tuple[bool, Filter]]) -> List[Tuple[bool, Filter]]:
        """Drop unsubscribes that no earlier subscribe could overlap: they change nothing."""
        kept: List[Tuple[bool, Filter]] = []
        for subscribe, f in entries:
            if subscribe or any(s and _may_overlap(e, f) for s, e in kept):
                kept.append((subscribe, f))
        return kept

    def wants(self, market_id: str, event_id: Optional[str], market_type_id: Optional[str]) -> bool:
        """Is this market of the offering subscribed, by the service's rule?

        The latest request whose filter matches the market decides; none: not subscribed.
        """
        key = (market_id, event_id, market_type_id)
        answer = self._answers.get(key)
        if answer is None:
            if len(self._answers) >= _MAX_ANSWERS:
                self._answers.clear()  # markets re-described many times over: start again
            answer = self._answers[key] = self._match(market_id, event_id, market_type_id)
        return answer

    def _match(self, market_id: str, event_id: Optional[str], market_type_id: Optional[str]) -> bool:
        values = {"event_ids": event_id, "market_type_ids": market_type_id, "market_ids": market_id}
        for subscribe, f in reversed(self._entries):
            if all(values[key] in ids for key, ids in f):
                return subscribe
        return False


def may_cover(msg: Dict[str, Any], market_id: str) -> bool:
    """Could a request with this ``msg`` cover ``market_id``, knowing nothing else of the market?

    Only a ``market_ids`` list can be checked without the offering; any other list may match.
    """
    ids = msg.get("market_ids")
    return ids is None or market_id in ids

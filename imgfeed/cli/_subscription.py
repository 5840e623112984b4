"""What a command subscribes to, in words, and whether the offering has anything that matches.

Contract: :func:`describe_subscription` says what the ``--subscribe-all`` / ``--event`` /
``--market-type`` / ``--market`` options ask for in one phrase (``record`` prints it as it starts);
:func:`unmatched_warning` compares the filters with the offering the server listed and returns the
one line to print when they match nothing, or ``None``. Pure functions: no IO, no client.

Why warn and still subscribe: the service accepts a subscription to a market type that has no
open market yet (its prices flow once one opens), so a filter that matches nothing now is not an
error. But the usual cause is a typo, or an id copied in another form, and without a word the
command just shows no prices.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Set

from imgfeed.feeds.img.book import BookSnapshot
from imgfeed.feeds.img.protocol.messages import Market

__all__ = ["OPTION_OF_FILTER", "describe_subscription", "unmatched_warning", "matching_markets"]

#: The command-line option of each subscribe filter.
OPTION_OF_FILTER = {"event_ids": "--event", "market_type_ids": "--market-type", "market_ids": "--market"}


def describe_subscription(filters: Optional[Dict[str, List[str]]]) -> str:
    """``"every market"``, ``"--event ev.1"``, or ``"nothing"``, for ``subscription_filters``' result."""
    if filters is None:
        return "nothing"
    if not filters:
        return "every market"
    return " ".join(f"{OPTION_OF_FILTER[key]} {' '.join(values)}" for key, values in filters.items())


def _matches(market: Market, filters: Mapping[str, List[str]]) -> bool:
    for key, values in filters.items():
        if key == "market_ids" and market.id not in values:
            return False
        if key == "event_ids" and market.event_id not in values:
            return False
        if key == "market_type_ids" and market.market_type_id not in values:
            return False
    return True


def matching_markets(filters: Mapping[str, List[str]], snapshot: BookSnapshot) -> List[str]:
    """The ids of the markets of the offering that match every filter given."""
    return [market_id for market_id, market in snapshot.markets.items() if _matches(market, filters)]


def unmatched_warning(filters: Mapping[str, List[str]], snapshot: BookSnapshot) -> Optional[str]:
    """One line when ``filters`` match no market the offering lists; ``None`` when they do.

    Says which ids the offering does not know, or, when each is known, that together they match
    nothing (a market must match every filter). Nothing is said for an empty offering: there is
    nothing to compare with.
    """
    if not filters or not snapshot.markets or matching_markets(filters, snapshot):
        return None
    markets = snapshot.markets.values()
    known: Dict[str, Set[Optional[str]]] = {
        "event_ids": {*snapshot.events, *(m.event_id for m in markets)},
        "market_type_ids": {*snapshot.market_types, *(m.market_type_id for m in markets)},
        "market_ids": {*snapshot.markets},
    }
    unknown = [
        f"{OPTION_OF_FILTER[key]} {value}"
        for key, values in filters.items()
        for value in values
        if value not in known[key]
    ]
    listed = f"{len(snapshot.markets)} markets listed now"
    if not unknown:
        return (
            f"warning: {describe_subscription(dict(filters))} together match none of the {listed} "
            "(a market must match every one given), so no prices will flow"
        )
    return (
        f"warning: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in the offering "
        f"({listed}), so no prices will flow for {'it' if len(unknown) == 1 else 'them'}; ids are compared "
        'exactly: copy them from `imgfeed tail --format jsonl` (the msg.id of its "market" and "event" lines)'
    )

"""The emulator's one merge function for ESA changes, and the diff that produces the deltas.

The scenario describes each market (and each market's orders) as a full *image*: a
``MarketChange`` (or ``OrderMarketChange``) dict with every field, flagged ``img`` (or
``fullImage``). :func:`diff` turns two successive images into the delta Betfair would send, and
:func:`merge` folds a change into an accumulated one. Everything the server sends comes from that
single function:

- the server-side state of a market is ``merge`` of all its deltas, starting from its first image;
- a ``RESUB_DELTA`` payload is ``merge`` of the deltas since the client's ``clk``;
- a conflated update (``conflateMs``, or a client that reads too slowly) is ``merge`` of the
  deltas held back meanwhile.

Invariant (tested as a property): ``merge(copy(a), diff(a, b)) == b`` for images ``a`` and ``b``.

Rules, as the ESA specification states them for a client's cache:

- An image (``img`` / ``fullImage`` true) replaces what it is merged into.
- ``marketDefinition`` is replaced whole; scalars (``tv``, ``ltp``, ``spn``, ``spf``, ``closed``,
  ``accountId``) are replaced.
- Price ladders (``atb``, ``atl``, ``trd``, ``spb``, ``spl``, ``mb``, ``ml``) are ``[price, size]``
  keyed by price; level ladders (``batb``, ``batl``, ``bdatb``, ``bdatl``) are
  ``[level, price, size]`` keyed by level. Size 0 removes. In an image the removed rows are
  dropped; in an accumulated delta they are kept, so the client still removes them.
- ``rc`` / ``orc`` entries are merged by runner (``id``, ``hc``); ``uo`` orders are replaced whole
  by bet ``id``; ``smc`` is merged per strategy ref as ``mb`` / ``ml`` ladders.
- ``con`` is not merged: the caller sets it when it conflated.

Empty ladder lists are no-ops here (the scenario always sends explicit zero rows, never a clear).
This module knows nothing about subscriptions, filters or the wire.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["Change", "merge", "diff", "is_image", "PRICE_LADDERS", "LEVEL_LADDERS", "BACK_LADDERS"]

#: A MarketChange / RunnerChange / OrderMarketChange / OrderRunnerChange as a JSON-ready dict.
Change = Dict[str, Any]

#: ``[price, size]`` ladders, keyed by price.
PRICE_LADDERS = frozenset({"atb", "atl", "trd", "spb", "spl", "mb", "ml"})
#: ``[level, price, size]`` ladders, keyed by level.
LEVEL_LADDERS = frozenset({"batb", "batl", "bdatb", "bdatl"})
#: Price ladders shown best (highest) price first.
BACK_LADDERS = frozenset({"atb", "spb"})
#: Lists of runners, merged by (id, hc).
_RUNNER_LISTS = frozenset({"rc", "orc"})
_IMAGE_FLAGS = ("img", "fullImage")
#: Keys that identify a change rather than change anything.
_IDENTITY = frozenset({"id", "hc", "img", "fullImage", "con"})


def is_image(change: Change) -> bool:
    """True when ``change`` replaces what it applies to (``img`` or ``fullImage`` is true)."""
    return change.get("img") is True or change.get("fullImage") is True


def _runner_key(runner: Change) -> Tuple[Any, Any]:
    return (runner["id"], runner.get("hc", 0) or 0)


def _sort_rows(key: str, rows: Dict[Any, List[Any]]) -> List[List[Any]]:
    reverse = key in BACK_LADDERS
    return [rows[k] for k in sorted(rows, reverse=reverse)]


def _merge_ladder(
    key: str, old: Optional[List[List[Any]]], new: List[List[Any]], image: bool
) -> List[List[Any]]:
    size_at = 2 if key in LEVEL_LADDERS else 1
    rows: Dict[Any, List[Any]] = {row[0]: row for row in old or ()}
    for row in new:
        if image and row[size_at] == 0:
            rows.pop(row[0], None)
        else:
            rows[row[0]] = list(row)
    return _sort_rows(key, rows)


def _strip_zeros(change: Change) -> Change:
    """A deep copy of an image with no zero-size rows anywhere (an image has nothing to remove)."""
    out: Change = {}
    for key, value in change.items():
        if key in PRICE_LADDERS or key in LEVEL_LADDERS:
            size_at = 2 if key in LEVEL_LADDERS else 1
            out[key] = _sort_rows(key, {row[0]: list(row) for row in value if row[size_at] != 0})
        elif key in _RUNNER_LISTS:
            out[key] = [_strip_zeros(runner) for runner in value]
        elif key == "smc":
            out[key] = {ref: _strip_zeros(sm) for ref, sm in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge(acc: Optional[Change], change: Change) -> Change:
    """Fold ``change`` into ``acc`` and return the result.

    ``acc`` is updated in place and returned, except when it is ``None`` or ``change`` is an image:
    then a fresh copy of ``change`` is returned. ``change`` itself is never modified or shared.
    Whether removed rows are kept depends on ``acc``: dropped when it is an image, kept otherwise.
    """
    if acc is None or is_image(change):
        return _strip_zeros(change) if is_image(change) else copy.deepcopy(change)
    _merge_into(acc, change, is_image(acc))
    return acc


def _merge_into(acc: Change, change: Change, image: bool) -> None:
    for key, value in change.items():
        if key in _IDENTITY:
            continue
        if key in PRICE_LADDERS or key in LEVEL_LADDERS:
            if value:
                acc[key] = _merge_ladder(key, acc.get(key), value, image)
        elif key in _RUNNER_LISTS:
            runners = {_runner_key(r): r for r in acc.get(key, ())}
            for runner in value:
                k = _runner_key(runner)
                runners[k] = _merge_child(runners.get(k), runner, image)
            acc[key] = list(runners.values())
        elif key == "uo":
            orders = {order["id"]: order for order in acc.get(key, ())}
            for order in value:
                orders[order["id"]] = copy.deepcopy(order)
            acc[key] = list(orders.values())
        elif key == "smc":
            refs = dict(acc.get(key, {}))
            for ref, matches in value.items():
                refs[ref] = _merge_child(refs.get(ref), matches, image)
            acc[key] = refs
        else:
            acc[key] = copy.deepcopy(value)


def _merge_child(old: Optional[Change], new: Change, image: bool) -> Change:
    if old is None or is_image(new):
        return _strip_zeros(new) if image or is_image(new) else copy.deepcopy(new)
    _merge_into(old, new, image or is_image(old))
    return old


def _diff_ladder(key: str, old: List[List[Any]], new: List[List[Any]]) -> List[List[Any]]:
    level = key in LEVEL_LADDERS
    before = {row[0]: row for row in old}
    after = {row[0]: row for row in new}
    rows: Dict[Any, List[Any]] = {k: list(row) for k, row in after.items() if before.get(k) != row}
    for k in before.keys() - after.keys():
        rows[k] = [k, 0, 0] if level else [k, 0]
    return _sort_rows(key, rows)


def diff(old: Optional[Change], new: Change, new_child_flag: Optional[str] = None) -> Change:
    """The delta that turns image ``old`` into image ``new`` (only ``id`` if nothing changed).

    ``old`` ``None`` means the item is new: the result is ``new`` itself (an image). A runner that
    appears in ``new`` only is sent whole, flagged with ``new_child_flag`` if given (Betfair flags a
    new order runner ``fullImage``). A scalar or ladder that disappears entirely cannot be sent as a
    delta and is not allowed (the scenario keeps ``ltp`` once set and empties ladders row by row).
    """
    if old is None:
        return _strip_zeros(new)
    out: Change = {"id": new["id"]}
    if "hc" in new:
        out["hc"] = new["hc"]
    for key, value in new.items():
        if key in _IDENTITY:
            continue
        before = old.get(key)
        if key in PRICE_LADDERS or key in LEVEL_LADDERS:
            rows = _diff_ladder(key, before or [], value)
            if rows:
                out[key] = rows
        elif key in _RUNNER_LISTS:
            olds = {_runner_key(r): r for r in before or ()}
            changed = []
            for runner in value:
                prior = olds.get(_runner_key(runner))
                if prior is None:
                    whole = _strip_zeros(runner)
                    if new_child_flag:
                        whole[new_child_flag] = True
                    changed.append(whole)
                    continue
                delta = diff(prior, runner)
                if len(delta) > (2 if "hc" in delta else 1):
                    changed.append(delta)
            if changed:
                out[key] = changed
        elif key == "uo":
            olds = {o["id"]: o for o in before or ()}
            orders = [copy.deepcopy(o) for o in value if olds.get(o["id"]) != o]
            if orders:
                out[key] = orders
        elif key == "smc":
            refs: Dict[str, Change] = {}
            for ref, matches in value.items():
                prior = (before or {}).get(ref)
                sub = {
                    k: v
                    for k, v in diff({"id": 0, **(prior or {})}, {"id": 0, **matches}).items()
                    if k != "id"
                }
                if sub:
                    refs[ref] = sub
            if refs:
                out[key] = refs
        elif before != value:
            out[key] = copy.deepcopy(value)
    return out

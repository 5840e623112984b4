"""Hypothesis strategies for the protocol core: realistic server messages, junk lines, byte streams.

The message strategies build the decoded JSON *objects* (dicts) the server sends, shaped as in
docs/protocol.md sections 4-7, with Unicode names and both timestamp forms. :func:`server_messages`
pairs each object with the record class it must decode to, so a property can check the codec
against the documentation and not just against itself.

:func:`streams` turns a list of lines into the bytes of a feed (``\\n`` or ``\\r\\n`` endings), and
:func:`chunkings` cuts a byte string into pieces, preferring the hard places: inside a multi-byte
UTF-8 character, between ``\\r`` and ``\\n``, and 1-byte chunks.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Sequence, Tuple, Type

from hypothesis import settings
from hypothesis import strategies as st

from imgfeed.feeds.img.protocol import (
    CloseReason,
    Competition,
    Event,
    Heartbeat,
    InitResponse,
    Market,
    MarketType,
    MarketUpdate,
    RateLimited,
    Record,
    RemoveMarkets,
    Response,
    ServerClosing,
    Sport,
    Unknown,
    encode_message,
)

__all__ = [
    "property_settings",
    "utc_datetimes",
    "aware_datetimes",
    "timestamps",
    "names",
    "market_ids",
    "server_messages",
    "junk_lines",
    "feed_lines",
    "streams",
    "chunkings",
    "split_at",
    "json_values",
    "requests",
]

UTC = timezone.utc

#: Settings for the protocol-core properties: cheap tests, so 200 examples (or the profile's number,
#: if larger, as in the ``imgfeed-fuzz`` profile of conftest.py).
property_settings = settings(max_examples=max(200, settings().max_examples))

#: The slug alphabet of market ids (docs/protocol.md section 10).
SLUG = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_.~"

#: Any datetime the feed can carry, in UTC. Years 1..9999 on purpose: formatting must pad them.
utc_datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)

#: Aware datetimes in fixed offsets up to +-23:59 (kept one day off the ends of the calendar so
#: converting to UTC cannot overflow).
aware_datetimes = st.builds(
    lambda dt, minutes: dt.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)

#: Feed timestamps, with and without the fraction (docs/protocol.md section 3).
timestamps = st.builds(
    lambda dt, spec: dt.replace(tzinfo=None).isoformat(" ", spec),
    utc_datetimes,
    st.sampled_from(["microseconds", "seconds"]),
)

#: "Names may hold any Unicode" (docs/protocol.md section 3): every plane, control characters included
#: (JSON escapes them, so none can become a raw newline on the wire). No lone surrogates: they are
#: not valid UTF-8.
names = st.text(st.characters(codec="utf-8"), max_size=30)

ids = st.text(SLUG, min_size=1, max_size=20)
market_ids = st.text(SLUG, min_size=1, max_size=80)
prices = st.one_of(st.none(), st.floats(min_value=1.0, max_value=1001.0), st.integers(1, 1000))
fractions = st.sampled_from([0.0, 0.25, 1 / 3, 0.5, 1.0])
stages = st.sampled_from(["pre_play", "in_play", "ended", None, "abandoned"])
statuses = st.sampled_from(["open", "suspended", "closed", "settled", "voided"])
#: Keys the records do not model: they must survive in ``raw`` / ``extra``.
extras = st.dictionaries(st.sampled_from(["x_new", "venue", "ordering", "ø"]), st.integers(), max_size=2)


def _push(kind: str, msg: Any, publish_time: Any, recovery: Any) -> Dict[str, Any]:
    obj: Dict[str, Any] = {"mode": "push", "type": kind}
    if publish_time is not None:  # Mustard era: no publish_time (docs/protocol.md section 9)
        obj["publish_time"] = publish_time
    if recovery is not None:
        obj["is_recovery"] = recovery
    obj["msg"] = msg
    return obj


def _pushes(kind: str, msg: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(
        _push,
        st.just(kind),
        msg,
        st.one_of(st.none(), timestamps),
        st.sampled_from([None, False, True]),
    )


def _with_extras(fixed: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(lambda d, e: {**e, **d}, fixed, extras)


sports = _with_extras(st.fixed_dictionaries({"id": ids.map("sp.".__add__), "name": names}))
competitions = _with_extras(
    st.fixed_dictionaries(
        {"id": ids.map("comp.".__add__), "name": names},
        optional={
            "sport_id": st.just("sp.golf"),
            "arena_id": st.one_of(ids, st.integers(0, 10**6)),
            "start_time": st.one_of(st.none(), timestamps),
        },
    )
)
events = _with_extras(
    st.fixed_dictionaries(
        {"id": ids.map("ev.".__add__), "name": names},
        optional={
            "competition_id": st.one_of(st.none(), ids.map("comp.".__add__)),
            "arena_competition_id": st.one_of(ids, st.integers(0, 10**6)),
            "arena_id": st.one_of(ids, st.integers(0, 10**6)),
            "start_time": st.one_of(st.none(), timestamps),
            "stage": stages,
            "meta": st.lists(
                st.fixed_dictionaries(
                    {"event_id": ids, "offering_levels": st.lists(st.sampled_from(["M1", "M2", "L"]))}
                ),
                max_size=2,
            ),
        },
    )
)
market_types = _with_extras(st.fixed_dictionaries({"id": ids.map("mt.".__add__), "name": names}))
markets = _with_extras(
    st.fixed_dictionaries(
        {"id": market_ids, "name": names},
        optional={
            "arena_id": ids,
            "event_id": ids.map("ev.".__add__),
            "arena_event_id": st.one_of(st.integers(0, 10**6), ids),
            "tags": st.lists(st.sampled_from(["sp.golf", "mt.winonly", "ev.golf_1100", "comp.golf_1"])),
            "start_time": st.one_of(st.none(), timestamps),
            "stage": stages,
            "numwinners": st.integers(1, 10),
        },
    )
)
settlements = st.one_of(
    st.none(), st.fixed_dictionaries({"stake_returned": fractions, "payout_returned": fractions})
)
selections = st.fixed_dictionaries(
    {"id": ids.map("g:".__add__)},
    optional={"name": names, "price": prices, "status": statuses, "settlement": settlements},
)
market_updates = _with_extras(
    st.fixed_dictionaries(
        {"id": market_ids, "status": statuses},
        optional={"selections": st.lists(selections, max_size=5)},
    )
)
heartbeats = st.fixed_dictionaries({}, optional={"timestamp": timestamps})


def _resp(fields: Dict[str, Any], publish_time: Any) -> Dict[str, Any]:
    obj = {"mode": "resp", **fields}
    if publish_time is not None:
        obj["publish_time"] = publish_time
    return obj


def _resps(fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(_resp, fields, st.one_of(st.none(), timestamps))


init_responses = _resps(
    st.fixed_dictionaries(
        {"status": st.just("session initialized"), "session_id": st.uuids().map(str)},
        optional={"reason": st.none(), "request_id": ids},
    )
)
ok_responses = _resps(
    st.fixed_dictionaries({"status": st.sampled_from(["ok", "error"])}, optional={"request_id": ids})
)
rate_limited = _resps(
    st.fixed_dictionaries(
        {"status": st.just("error"), "msg": st.just("API limit breached")}, optional={"request_id": ids}
    )
)
error_pushes = st.builds(
    lambda reason, sid, pt: {
        "mode": "push",
        "status": "error",
        "session_id": sid,
        "reason": reason,
        "publish_time": pt,
    },
    st.one_of(st.sampled_from([r.value for r in CloseReason]), names),
    st.uuids().map(str),
    timestamps,
)
unknown_pushes = _pushes("golfer_scores", st.dictionaries(names, st.integers(), max_size=3))

#: (decoded JSON object, record class it must decode to).
server_messages: st.SearchStrategy[Tuple[Dict[str, Any], Type[Record]]] = st.one_of(
    _pushes("sport", sports).map(lambda o: (o, Sport)),
    _pushes("competition", competitions).map(lambda o: (o, Competition)),
    _pushes("event", events).map(lambda o: (o, Event)),
    _pushes("market_type", market_types).map(lambda o: (o, MarketType)),
    _pushes("market", markets).map(lambda o: (o, Market)),
    _pushes("market_update", market_updates).map(lambda o: (o, MarketUpdate)),
    _pushes("remove_markets", st.lists(market_ids, max_size=4)).map(lambda o: (o, RemoveMarkets)),
    _pushes("heartbeat", heartbeats).map(lambda o: (o, Heartbeat)),
    init_responses.map(lambda o: (o, InitResponse)),
    ok_responses.map(lambda o: (o, Response)),
    rate_limited.map(lambda o: (o, RateLimited)),
    error_pushes.map(lambda o: (o, ServerClosing)),
    unknown_pushes.map(lambda o: (o, Unknown)),
)

#: Lines that are not good messages: not UTF-8, not JSON, not an object, no mode, wrong types.
#: None contains ``\\n``; some end in ``\\r`` or are empty (both must survive any chunking alike).
junk_lines = st.one_of(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")),
    st.sampled_from(
        [
            b"",
            b"\r",
            b"not json",
            b"[1, 2, 3]",
            b'"just a string"',
            b"null",
            b"{}",
            b'{"mode": "pull"}',
            b'{"mode": "push", "type": "market_update", "msg": {"id": "m", "status": "open", '
            b'"selections": [{"id": "g:1", "price": "9.5"}]}}',
            b'{"mode": "push", "type": "sport", "msg": {"name": "Golf"}}',
            b'{"mode": "push", "type": "heartbeat", "publish_time": "yesterday"}',
            b'{"mode": "resp", "status": "ok", "name": "\xc3\xa9\xff"}',
            b'{"mode": "push", "type": "sport", "msg": {"id": "sp.golf", "name": "Gol\xe2\x82',
        ]
    ),
)


def feed_lines() -> st.SearchStrategy[List[bytes]]:
    """Lines of a feed (no terminators): realistic messages mixed with junk."""
    good = server_messages.map(lambda pair: encode_message(pair[0])[:-1])
    return st.lists(st.one_of(good, good, junk_lines), max_size=12)


@st.composite
def streams(draw: st.DrawFn, lines: st.SearchStrategy[List[bytes]] | None = None) -> bytes:
    """The bytes of a feed: each line ended by ``\\n`` or ``\\r\\n``, maybe an unterminated tail."""
    items = draw(lines if lines is not None else feed_lines())
    out = bytearray()
    for line in items:
        out += line + draw(st.sampled_from([b"\n", b"\n", b"\r\n"]))
    if draw(st.booleans()):
        out += draw(st.sampled_from([b"", b"\r", b'{"mode": "push", "ty', '{"é'.encode()[:-1]]))
    return bytes(out)


def _hard_places(data: bytes) -> List[int]:
    """Cut positions inside a UTF-8 character or between ``\\r`` and ``\\n``."""
    return [i for i in range(1, len(data)) if 0x80 <= data[i] <= 0xBF or (data[i - 1 : i + 1] == b"\r\n")]


def split_at(data: bytes, cuts: Sequence[int]) -> List[bytes]:
    """``data`` cut at the given positions (sorted, deduplicated, empty pieces dropped)."""
    points = [0, *sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]  # noqa: B905 (3.9 has no strict=)


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> List[bytes]:
    """A way to deliver ``data``: 1-byte chunks, or cuts at random and at the hard places."""
    if len(data) < 2:
        return [data] if data else []
    if draw(st.integers(0, 9)) == 0:
        return [data[i : i + 1] for i in range(len(data))]
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=12))
    hard = _hard_places(data)
    if hard:
        cuts += draw(st.lists(st.sampled_from(hard), max_size=12))
    return split_at(data, cuts)


#: JSON values that survive an encode/decode round trip exactly.
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        names,
    ),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(names, children, max_size=4)),
    max_leaves=12,
)

#: (name, msg, request_id) for a :class:`imgfeed.feeds.img.protocol.Request`.
requests = st.tuples(
    st.one_of(st.sampled_from(["init", "subscribe", "unsubscribe"]), names),
    st.dictionaries(names, json_values, max_size=4),
    st.one_of(st.none(), names),
)

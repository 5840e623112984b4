"""A recorded-looking server stream of realistic mix, and SSH-like chunking of it.

What "realistic" means here (docs/protocol.md sections 4-6): the snapshot after ``init`` (one sport,
competitions, events, market types, markets), then ``market_update`` pushes for subscribed markets,
each the full image of a market with 5 to 60 selections (golfers; a few names outside ASCII), a
heartbeat now and then, some suspended markets with unpriced selections, and a few settled markets
whose selections carry settlement factors. Deterministic for a given seed.

Chunking: paramiko's ``Channel.recv`` returns whatever the channel buffer holds, up to the size
asked for; a busy reader sees pieces from a few hundred bytes up to several SSH packets (32 KiB of
payload each), cut anywhere, including inside a line or a UTF-8 character.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List

from imgfeed.feeds.img.protocol import encode_message, format_timestamp

__all__ = ["build_messages", "build_stream", "chunked", "market_update"]

_FIRST = [
    "Scottie",
    "Rory",
    "Jon",
    "Xander",
    "Ludvig",
    "Nicolai",
    "Tommy",
    "Viktor",
    "Hideki",
    "Séamus",
    "Collin",
    "Wyndham",
    "Patrick",
    "Sungjae",
    "Tom",
    "Rasmus",
    "Min Woo",
    "Sahith",
    "Matt",
    "Åke",
]
_LAST = [
    "Scheffler",
    "McIlroy",
    "Rahm",
    "Schauffele",
    "Åberg",
    "Højgaard",
    "Fleetwood",
    "Hovland",
    "Matsuyama",
    "Power",
    "Morikawa",
    "Clark",
    "Cantlay",
    "Im",
    "Kim",
    "Højgaard",
    "Lee",
    "Theegala",
    "Fitzpatrick",
    "Müller",
]

_START = datetime(2025, 3, 14, 8, 50, 11, 331473, tzinfo=timezone.utc)


def _golfers(rng: random.Random, n: int) -> List[Dict[str, Any]]:
    ids = rng.sample(range(1000, 60000), n)
    return [{"id": f"g:{i}", "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"} for i in ids]


def market_update(
    market_id: str, golfers: List[Dict[str, Any]], rng: random.Random, when: str
) -> Dict[str, Any]:
    """One ``market_update`` push: the full image of a market (docs/protocol.md section 6)."""
    roll = rng.random()
    if roll < 0.01:  # settled: every selection carries its settlement factors
        winner = rng.randrange(len(golfers))
        selections = [
            dict(
                g,
                price=None,
                status="settled",
                settlement={"stake_returned": 0.0, "payout_returned": 1.0 if i == winner else 0.0},
            )
            for i, g in enumerate(golfers)
        ]
        status = "settled"
    elif roll < 0.04:  # suspended: some selections unpriced
        selections = [
            dict(
                g,
                price=None if rng.random() < 0.3 else round(rng.uniform(1.5, 500.0), 2),
                status="suspended",
                settlement=None,
            )
            for g in golfers
        ]
        status = "suspended"
    else:
        selections = [
            dict(g, price=round(rng.uniform(1.01, 1000.0), 2), status="open", settlement=None)
            for g in golfers
        ]
        status = "open"
    return {
        "mode": "push",
        "type": "market_update",
        "publish_time": when,
        "msg": {"id": market_id, "status": status, "selections": selections},
    }


def build_messages(n_updates: int, seed: int = 0, n_markets: int = 200) -> List[Dict[str, Any]]:
    """The snapshot for ``n_markets`` markets, then ``n_updates`` market updates with heartbeats."""
    rng = random.Random(seed)
    clock = _START

    def now() -> str:
        nonlocal clock
        clock += timedelta(microseconds=rng.randint(50, 400))
        return format_timestamp(clock)

    out: List[Dict[str, Any]] = [
        {
            "mode": "resp",
            "status": "session initialized",
            "session_id": "66193235-937c-4591-a301-33d7251ce8b6",
            "publish_time": now(),
            "reason": None,
        },
        {"mode": "push", "type": "sport", "publish_time": now(), "msg": {"id": "sp.golf", "name": "Golf"}},
    ]
    for c in range(3):
        out.append(
            {
                "mode": "push",
                "type": "competition",
                "publish_time": now(),
                "msg": {
                    "id": f"comp.golf_{c}",
                    "name": f"Tour {c}",
                    "sport_id": "sp.golf",
                    "arena_id": str(c),
                },
            }
        )
    events = [f"ev.golf_{1100 + e}" for e in range(6)]
    for e, ev in enumerate(events):
        out.append(
            {
                "mode": "push",
                "type": "event",
                "publish_time": now(),
                "msg": {
                    "id": ev,
                    "name": f"Championship {e}",
                    "competition_id": f"comp.golf_{e % 3}",
                    "arena_competition_id": str(e % 3),
                    "arena_id": str(1100 + e),
                    "start_time": "2025-03-13 11:40:00.000000",
                    "stage": "in_play",
                    "meta": [{"event_id": str(1100 + e), "offering_levels": ["M1"]}],
                },
            }
        )
    types = ["winonly", "top5", "top10", "top20", "matchbet", "threeball", "make_cut", "first_round_leader"]
    for t in types:
        out.append(
            {
                "mode": "push",
                "type": "market_type",
                "publish_time": now(),
                "msg": {"id": f"mt.{t}", "name": t.replace("_", " ").title()},
            }
        )
    markets = []
    for m in range(n_markets):
        ev = events[m % len(events)]
        mt = types[m % len(types)]
        market_id = f"{ev[3:]}_{mt}_{m}"
        markets.append((market_id, _golfers(rng, rng.randint(5, 60))))
        out.append(
            {
                "mode": "push",
                "type": "market",
                "publish_time": now(),
                "msg": {
                    "id": market_id,
                    "arena_id": f"m-{m}",
                    "name": mt,
                    "event_id": ev,
                    "arena_event_id": int(ev.rsplit("_", 1)[1]),
                    "tags": ["sp.golf", f"mt.{mt}", ev],
                    "start_time": "2025-03-13 11:40:00.000000",
                    "stage": "in_play",
                    "numwinners": 1,
                },
            }
        )
    out.append({"mode": "resp", "status": "ok", "request_id": "1", "publish_time": now()})
    for i in range(n_updates):
        if i % 250 == 0:
            when = now()
            out.append(
                {"mode": "push", "type": "heartbeat", "publish_time": when, "msg": {"timestamp": when}}
            )
        market_id, golfers = markets[rng.randrange(len(markets))]
        out.append(market_update(market_id, golfers, rng, now()))
    return out


def build_stream(n_updates: int, seed: int = 0) -> bytes:
    """The wire bytes of :func:`build_messages`: one JSON object per line."""
    return b"".join(encode_message(m) for m in build_messages(n_updates, seed))


def chunked(data: bytes, seed: int = 0, low: int = 512, high: int = 3 * 32 * 1024) -> Iterator[bytes]:
    """Cut ``data`` into pieces of ``low`` to ``high`` bytes, as a busy paramiko reader sees them."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        size = rng.randint(low, high)
        yield data[pos : pos + size]
        pos += size

"""A batch job: replay a recording through a handler and write the settlements to a CSV file.

Settlement arrives as part of a market's image: each selection of a settled market carries
``"settlement": {"stake_returned": ..., "payout_returned": ...}`` (a winner has payout 1.0, a
fraction for a dead heat; a loser 0/0; a void selection stake 1.0). Markets can be *re*-settled
later, so the last settlement of a selection is the one that counts; this job keeps the latest
and counts the changes.

``imgfeed.replay`` runs the file through the same decoder, dispatcher and market book as a live
connection, so this handler would work unchanged on the live feed -- which is the point: test your
integration on yesterday's data.

Make a recording (against ``imgfeed simulate`` running in another terminal, or the real service),
then run the job::

    imgfeed record --host 127.0.0.1 --port 2093 --user demo \\
        --key ~/.imgfeed/simulator/client_ed25519 --known-hosts ~/.imgfeed/simulator/known_hosts \\
        --subscribe-all --out feed.jsonl.gz --duration 120
    python examples/settlements_csv.py feed.jsonl.gz settlements.csv
"""

from __future__ import annotations

import argparse
import csv
import sys
from typing import Dict, List, Tuple

import imgfeed


class SettlementCollector(imgfeed.Handler):
    """Keeps the latest settlement of every selection, with the names from the offering."""

    FIELDS = [
        "event_id",
        "event_name",
        "market_id",
        "market_name",
        "selection_id",
        "selection_name",
        "stake_returned",
        "payout_returned",
        "result",
        "publish_time",
        "changes",
    ]

    def __init__(self) -> None:
        self.markets: Dict[str, imgfeed.Market] = {}
        self.events: Dict[str, imgfeed.Event] = {}
        self.rows: Dict[Tuple[str, str], Dict[str, object]] = {}

    def on_event(self, record: imgfeed.Event) -> None:
        self.events[record.id] = record

    def on_market(self, record: imgfeed.Market) -> None:
        self.markets[record.id] = record

    def on_market_update(self, record: imgfeed.MarketUpdate) -> None:
        for selection in record.selections:
            settlement = selection.settlement
            if settlement is None:
                continue
            key = (record.market_id, selection.id)
            previous = self.rows.get(key)
            if previous is not None and (previous["stake_returned"], previous["payout_returned"]) == (
                settlement.stake_returned,
                settlement.payout_returned,
            ):
                continue  # the same settlement again (every update carries the full image)
            market = self.markets.get(record.market_id)
            event = self.events.get(market.event_id) if market and market.event_id else None
            self.rows[key] = {
                "event_id": market.event_id if market else "",
                "event_name": event.name if event else "",
                "market_id": record.market_id,
                "market_name": market.name if market else "",
                "selection_id": selection.id,
                "selection_name": selection.name or "",
                "stake_returned": settlement.stake_returned,
                "payout_returned": settlement.payout_returned,
                "result": "won" if settlement.is_winner else "void" if settlement.is_void else "lost",
                "publish_time": record.publish_time.isoformat() if record.publish_time else "",
                "changes": 0 if previous is None else int(previous["changes"]) + 1,  # type: ignore[call-overload]
            }

    def write_csv(self, path: str) -> int:
        rows: List[Dict[str, object]] = [self.rows[k] for k in sorted(self.rows)]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=self.FIELDS)
            writer.writeheader()
            writer.writerows(rows)
        return len(rows)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", nargs="+", help="recording file(s), in order")
    parser.add_argument("out", help="the CSV file to write")
    args = parser.parse_args(argv)
    collector = SettlementCollector()
    try:
        imgfeed.replay(args.recording, handlers=[collector], speed=None)  # None: as fast as possible
    except imgfeed.ReplayError as exc:
        print(f"settlements_csv: {exc}", file=sys.stderr)
        return 2
    count = collector.write_csv(args.out)
    print(f"{count} settled selections written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

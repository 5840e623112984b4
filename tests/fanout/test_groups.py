"""Consumer groups: work done once, acknowledged after the handlers return, claimed from the dead."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import textwrap
from typing import Any, List, Set

import ujson

from imgfeed.fanout.redis import StreamConsumer
from tests.fanout.redis_server import RedisServer
from tests.fanout.support import FAST_CONSUMER, WAIT
from tests.fanout.test_fanout import _Closer, published, redis_client
from tests.integration.conftest import Sim
from tests.reliability.support import Recorder

#: A group member in its own process whose handler gets stuck on its third update (then it is killed).
MEMBER = textwrap.dedent(
    """
    import sys, threading
    from imgfeed import Handler
    from imgfeed.fanout.redis import StreamConsumer

    class Stuck(Handler):
        n = 0
        def on_market_update(self, update):
            self.n += 1
            if self.n == 3:
                print("stuck", flush=True)
                threading.Event().wait()

    c = StreamConsumer(sys.argv[1], "golf", [Stuck()], group="settle", consumer="a", start_id="0",
                       silence_timeout=5.0, block=0.05, handler_stall_warning=None)
    c.run_forever()
    """
)


def updates_in(r: Any, ids: List[bytes]) -> List[dict]:
    raws = []
    for entry_id in ids:
        ((_, fields),) = r.xrange("golf", entry_id, entry_id)
        line = fields.get(b"l")
        if line is not None and b"market_update" in line:
            raws.append(ujson.loads(line))
    return raws


def key(raw: dict) -> str:
    return ujson.dumps(raw, sort_keys=True)


def test_a_killed_members_pending_entries_are_claimed_by_the_other(
    sim: Sim, redis_server: RedisServer, closing: List[Any]
) -> None:
    client, publisher, _ = published(sim, redis_server, closing)
    r = redis_client(redis_server)
    closing.append(_Closer(r))
    member = subprocess.Popen([sys.executable, "-c", MEMBER, redis_server.url], stdout=subprocess.PIPE)
    try:
        assert member.stdout is not None
        ready, _, _ = select.select([member.stdout], [], [], WAIT)
        assert ready and member.stdout.readline().strip() == b"stuck"
        pending = [p["message_id"] for p in r.xpending_range("golf", "settle", "-", "+", 10_000, consumername="a")]
        assert pending  # read, handed to its handler, never acknowledged
    finally:
        member.send_signal(signal.SIGKILL)
        member.wait(WAIT)
        if member.stdout is not None:
            member.stdout.close()
    lost_with_a = updates_in(r, pending)
    assert lost_with_a

    rec = Recorder()
    b = StreamConsumer(
        redis_server.url, "golf", [rec], group="settle", consumer="b", **{**FAST_CONSUMER, "silence_timeout": 2.0},
        claim_idle=0.3, claim_interval=0.1,
    ).start()
    closing.append(b)
    sim.scenario.step()  # new work too, shared with nobody now

    def handled() -> Set[str]:
        return {key(u.raw) for u in rec.args("on_market_update")}

    assert rec.wait_for(lambda _: {key(u) for u in lost_with_a} <= handled(), WAIT)
    assert _all_acknowledged(r, b)
    assert b.acks.given_up == 0


def _all_acknowledged(r: Any, b: StreamConsumer) -> bool:
    """Wait (on the consumer's acknowledgements) until nothing is pending in the group."""
    return b.acks.wait_until(lambda: r.xpending("golf", "settle")["pending"] == 0, WAIT)


def test_a_failing_handler_leaves_its_entries_pending_until_they_are_handled_again(
    sim: Sim, redis_server: RedisServer, closing: List[Any]
) -> None:
    client, publisher, _ = published(sim, redis_server, closing)
    r = redis_client(redis_server)
    closing.append(_Closer(r))
    failed: List[Any] = []

    def fail_once(name: str, args: Any) -> None:
        if name == "on_market_update" and not failed:
            failed.append(args[0])
            raise RuntimeError("the settlement database is down (test)")

    rec = Recorder(before=fail_once)
    c = StreamConsumer(
        redis_server.url, "golf", [rec], group="settle", consumer="c", start_id="0", **FAST_CONSUMER,
        claim_idle=0.3, claim_interval=0.1,
    ).start()
    closing.append(c)
    assert rec.wait_for(lambda _: bool(failed), WAIT)
    again = key(failed[0].raw)
    # Delivered again (claimed from itself once idle), handled, and then acknowledged.
    assert rec.wait_for(lambda _: again in {key(u.raw) for u in rec.args("on_market_update")}, WAIT)
    assert _all_acknowledged(r, c)
    assert c.acks.withheld >= 1 and c.stats().handler_errors == 1

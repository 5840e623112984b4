"""Issue 11, defect 6: the dispatcher can die silently.

A handler that raises ``SystemExit`` (or any ``BaseException`` that is not an ``Exception``) ends
the dispatcher thread today: the client stays RUNNING with ``handler_errors == 0`` and nobody
dispatches any more. Either such an exception is reported like any handler error (counted, passed
to ``on_handler_error``, later records still dispatched), or the client fails visibly (``join()``
raises).
"""

from __future__ import annotations

from typing import Any, Tuple, Type

import pytest

from imgfeed import FeedClient
from tests.reliability.support import Recorder
from tests.unit.memory_feed import FakeFeed, fast_config, market_update

#: The longest a test waits for something it expects (seconds); only reached when it fails.
WAIT = 5.0
#: How long a failing client gets to say so through join() (seconds).
SETTLE = 1.0


class HandlerBug(BaseException):
    """A BaseException of the user's own (as some frameworks raise to unwind)."""


class RaisesOnce(Recorder):
    """Raises ``exc_type`` from its first ``on_market_update``; records everything."""

    def __init__(self, exc_type: Type[BaseException]) -> None:
        self.exc_type = exc_type
        self.raised = False
        super().__init__(before=self._maybe_raise)

    def _maybe_raise(self, name: str, args: Tuple[Any, ...]) -> None:
        if name == "on_market_update" and not self.raised:
            self.raised = True
            raise self.exc_type("raised by a handler (test)")


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("exc_type", [SystemExit, HandlerBug], ids=["SystemExit", "BaseException-subclass"])
def test_a_handler_raising_base_exception_is_reported_or_fails_the_client(
    exc_type: Type[BaseException],
) -> None:
    # Observed before the runtime rewrite (commit 09e6303) (both parameters): the exception ends the imgfeed-dispatcher thread; the
    # client stays RUNNING, nothing more is dispatched and join() just times out:
    # "AssertionError: the dispatcher stopped silently: state=running, handler_errors=0,
    # updates delivered after the error: [], join() returned False".
    feed = FakeFeed(markets=("m1", "m2"))
    handler = RaisesOnce(exc_type)
    client = FeedClient(
        fast_config(silence_timeout=WAIT * 2), handlers=[handler], transport_factory=feed
    ).start()
    failed: Any = None
    try:
        assert handler.wait_for(lambda r: r.count("on_connect") == 1, WAIT)
        t = feed.connections[0]
        t.push_message(market_update("m1"))
        t.push_message(market_update("m2"))
        delivered = handler.wait_for(
            lambda r: "m2" in [u.market_id for u in r.args("on_market_update")], SETTLE
        )
        if delivered:
            # Reported like any handler error, and the dispatcher goes on.
            assert client.stats().handler_errors == 1
            errors = handler.args("on_handler_error")
            assert len(errors) == 1 and isinstance(errors[0], exc_type), errors
            return
        # Or the client fails visibly.
        try:
            joined = client.join(timeout=SETTLE)
        except BaseException as exc:  # the cause, re-raised by join(): what a visible failure is
            failed = exc
        else:
            state, errors = client.state.value, client.stats().handler_errors
            raise AssertionError(
                f"the dispatcher stopped silently: state={state}, handler_errors={errors}, updates delivered "
                f"after the error: {handler.args('on_market_update')}, join() returned {joined}"
            )
    finally:
        try:
            client.stop()
        except BaseException:  # stop() may re-raise the failure join() already showed
            pass
    assert failed is not None

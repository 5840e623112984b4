"""``imgfeed.signals.stop_on_signals``: Ctrl-C and SIGTERM set the event, from any point of the main thread."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from imgfeed.signals import stop_on_signals

#: Where ``imgfeed demo`` hung on Ctrl-C: the handler ran while the main thread, inside
#: ``stop.wait``, held the event's lock. Holding that lock here puts the handler there every time.
#: In a child process, so that a regression fails this test instead of hanging the suite.
_HANDLER_WHILE_THE_LOCK_IS_HELD = textwrap.dedent(
    """
    import signal, threading
    from imgfeed.signals import stop_on_signals

    stop = threading.Event()
    with stop_on_signals(stop):
        with stop._cond:  # what Event.wait holds as it starts and ends waiting
            signal.raise_signal(signal.{sig})  # the handler runs here, on this thread
        print("set" if stop.wait(5.0) else "not set", flush=True)
    print("exited", flush=True)
    """
)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_main_thread_holds_the_events_lock_sets_it(sig: str) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _HANDLER_WHILE_THE_LOCK_IS_HELD.format(sig=sig)],
        capture_output=True,
        text=True,
        timeout=20.0,
    )
    assert (child.returncode, child.stdout, child.stderr) == (0, "set\nexited\n", "")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_sets_the_event_and_leaving_restores_the_handlers(sig: int) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    with stop_on_signals(stop):
        assert "imgfeed-signals" in {t.name for t in threading.enumerate()}
        signal.raise_signal(sig)  # neither KeyboardInterrupt nor the end of the test run
        assert stop.wait(5.0)
    assert {s: signal.getsignal(s) for s in before} == before
    assert "imgfeed-signals" not in {t.name for t in threading.enumerate()}  # joined


def test_without_a_signal_the_event_stays_clear_and_the_thread_is_joined() -> None:
    stop = threading.Event()
    with stop_on_signals(stop):
        pass
    assert not stop.is_set()
    assert "imgfeed-signals" not in {t.name for t in threading.enumerate()}


def test_off_the_main_thread_it_changes_nothing() -> None:
    seen = []

    def body() -> None:
        with stop_on_signals(threading.Event()):
            seen.append(({t.name for t in threading.enumerate()}, signal.getsignal(signal.SIGINT)))

    worker = threading.Thread(target=body, name="test-signals-worker")
    worker.start()
    worker.join(5.0)
    names, handler = seen[0]
    assert "imgfeed-signals" not in names and handler is signal.getsignal(signal.SIGINT)

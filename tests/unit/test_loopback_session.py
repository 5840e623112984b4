"""imgfeed.loopback.session: the output queue and the request window that both test servers use."""

from __future__ import annotations

from imgfeed.loopback.session import OutputQueue, RequestWindow


def test_output_queue_keeps_order_and_counts_bytes() -> None:
    out = OutputQueue()
    assert out.take() == b"" and out.size == 0
    out.append(b"ab")
    out.append(b"\r\n")
    assert out.size == 4 and repr(out) == "<OutputQueue 4B>"
    assert out.take() == b"ab\r\n"
    assert out.size == 0 and out.take() == b""


def test_output_queue_discard_says_what_it_dropped() -> None:
    out = OutputQueue()
    out.append(b"12345")
    assert out.discard() == 5
    assert out.size == 0 and out.take() == b""


def test_request_window_forgets_what_is_older_than_the_window() -> None:
    window = RequestWindow()
    for t in (0.0, 0.5, 1.0):
        window.add(t)
    assert window.recent(1.0, 2.0) == 3
    # An arrival exactly ``seconds`` old is out of the window.
    assert window.recent(2.0, 2.0) == 2
    assert window.recent(10.0, 2.0) == 0
    assert repr(window) == "<RequestWindow 0 recent>"

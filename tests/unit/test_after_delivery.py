"""The dispatcher's after-delivery mark: called once everything queued before it was handled."""

from __future__ import annotations

import threading
from typing import Any, List, Optional, Tuple

from imgfeed.runtime.dispatcher import AfterDelivery, Dispatcher
from imgfeed.runtime.handler import BaseHandler
from imgfeed.runtime.queue import DispatchQueue


class Item:
    def __init__(self, n: int, fail: bool = False) -> None:
        self.n = n
        self.fail = fail


class Calls(BaseHandler):
    def __init__(self, log: List[Tuple[str, Any]]) -> None:
        self.log = log

    def on_item(self, item: Item) -> None:
        self.log.append(("handled", item.n))
        if item.fail:
            raise ValueError(f"item {item.n}")


def test_marks_follow_every_handler_call_before_them_and_count_the_errors() -> None:
    log: List[Tuple[str, Any]] = []
    done = threading.Event()
    ended: List[Optional[BaseException]] = []
    queue = DispatchQueue(100)
    table = {Item: lambda h, item: h.on_item(item)}
    dispatcher = Dispatcher(queue, table, BaseHandler, lambda exc, session: None, lambda f: (ended.append(f), done.set()))
    dispatcher.add(Calls(log))
    dispatcher.add(Calls(log))

    def mark(name: str) -> AfterDelivery:
        return AfterDelivery(lambda errors: log.append((name, errors)))

    def broken(errors: int) -> None:
        raise RuntimeError("a bug in a callback")

    queue.put_many([Item(1), mark("a"), Item(2, fail=True), AfterDelivery(broken), mark("b"), Item(3), mark("c")])
    queue.close()
    dispatcher.start()
    assert done.wait(5)
    assert dispatcher.thread is not None
    dispatcher.thread.join(5)
    assert ended == [None]  # a failing callback is logged, and the dispatcher goes on
    assert log == [
        ("handled", 1), ("handled", 1), ("a", 0),
        ("handled", 2), ("handled", 2), ("b", 2),  # both handlers raised on item 2
        ("handled", 3), ("handled", 3), ("c", 2),
    ]
    assert dispatcher.dispatched == 3  # marks are not deliveries

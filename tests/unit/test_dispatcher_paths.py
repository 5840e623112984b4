"""The dispatcher's two paths: records (a handler method called with the item) and the rest.

Records take a shorter path (``imgfeed.runtime.handler.method_name_of``): these tests hold it to
what the general one does -- queue order across both kinds, every handler called, a raising
handler counted and the others still called, and the method looked up on the handler at each call.
"""

from __future__ import annotations

import threading
from typing import Any, List, Optional, Tuple

from imgfeed.runtime.dispatcher import Dispatcher
from imgfeed.runtime.handler import BaseHandler, dispatch_table, method_name_of
from imgfeed.runtime.queue import DispatchQueue


class Item:
    def __init__(self, n: int, fail: bool = False) -> None:
        self.n = n
        self.fail = fail


class Note:
    def __init__(self, n: int) -> None:
        self.n = n


class Calls(BaseHandler):
    def __init__(self, name: str, log: List[Tuple[str, str, int]]) -> None:
        self.name = name
        self.log = log

    def on_item(self, item: Item) -> None:
        self.log.append((self.name, "item", item.n))
        if item.fail:
            raise ValueError(f"item {item.n}")

    def on_note(self, n: int) -> None:
        self.log.append((self.name, "note", n))


def _run(items: List[Any], handlers: List[Calls]) -> Dispatcher:
    done = threading.Event()
    ended: List[Optional[BaseException]] = []
    queue = DispatchQueue(100)
    table = dispatch_table({Item: "on_item"})
    table[Note] = lambda h, note: h.on_note(note.n)  # a notification: called with other arguments
    errors: List[BaseException] = []
    dispatcher = Dispatcher(
        queue, table, BaseHandler, lambda exc, session: errors.append(exc), lambda f: (ended.append(f), done.set())
    )
    for handler in handlers:
        dispatcher.add(handler)
    queue.put_many(items)
    queue.close()
    dispatcher.start()
    assert done.wait(5) and ended == [None]
    assert dispatcher.thread is not None
    dispatcher.thread.join(5)
    assert [str(e) for e in errors] == [f"item {i.n}" for i in items if isinstance(i, Item) and i.fail] * len(handlers)
    return dispatcher


def test_records_and_notifications_keep_queue_order_and_reach_every_handler() -> None:
    log: List[Tuple[str, str, int]] = []
    handlers = [Calls("a", log), Calls("b", log)]
    dispatcher = _run([Item(1), Note(2), Item(3, fail=True), Note(4), Item(5)], handlers)
    assert log == [
        ("a", "item", 1), ("b", "item", 1),
        ("a", "note", 2), ("b", "note", 2),
        ("a", "item", 3), ("b", "item", 3),  # both raised: counted, and the next handler still called
        ("a", "note", 4), ("b", "note", 4),
        ("a", "item", 5), ("b", "item", 5),
    ]
    assert dispatcher.dispatched == 5 and dispatcher.handler_errors == 2 and dispatcher.current_call is None


def test_a_record_method_replaced_on_the_handler_is_the_one_called() -> None:
    log: List[Tuple[str, str, int]] = []
    handler = Calls("a", log)
    handler.on_item = lambda item: log.append(("a", "replaced", item.n))  # type: ignore[method-assign]
    _run([Item(1)], [handler])
    assert log == [("a", "replaced", 1)]


def test_only_record_calls_name_their_method() -> None:
    table = dispatch_table({Item: "on_item"})
    assert method_name_of(table[Item]) == "on_item"
    assert all(method_name_of(call) is None for kind, call in table.items() if kind is not Item)

"""One sub-package per feed that imgfeed speaks, each built on the shared runtime.

A feed package holds what is specific to one service: its wire records, codec, caches and
adapter. What every feed shares (threads, queue, dispatcher, watchdog, reconnect) lives in
:mod:`imgfeed.runtime`.
"""

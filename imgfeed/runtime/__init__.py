"""The feed-agnostic runtime: threads, queue, dispatcher, watchdog, liveness, requests, lifecycle.

It knows no feed: everything specific to one (its handshake, records, cache and rules) comes from a
feed adapter (``imgfeed.feeds.<name>``). Nothing here imports from ``imgfeed.feeds``; a test
(``tests/unit/test_layering.py``) walks the imports to keep it so.
"""

"""Fan-out: one process holds the feed's connection; any number of consumers elsewhere get the feed.

Both feeds limit connections per account, so a firm with many services cannot give each its own.
:mod:`imgfeed.fanout.redis` publishes the raw feed (before conflation) and its lifecycle to a Redis
stream, and runs consumers on the same runtime as a direct client, with the same handler callbacks
and suspension rules (docs/fanout.md). Nothing here is imported by ``import imgfeed``.
"""

__all__: list = []

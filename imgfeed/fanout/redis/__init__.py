"""Fan-out over Redis Streams: a publisher tap on a live client, consumers on the same runtime.

Needs the ``redis`` extra (``pip install 'imgfeed[redis]'``). See docs/fanout.md for the stream's
entry format, the marker and checkpoint protocol, and the delivery guarantees.

- :class:`Publisher`: ``Publisher(client, "redis://host:6379/0", "golf").start()``.
- :func:`consume` / :class:`StreamConsumer`: the same handlers and book as a direct client.
"""

from imgfeed.fanout.redis.consumer import StreamConsumer, StreamNotFoundError, consume
from imgfeed.fanout.redis.publisher import Publisher, PublisherStats
from imgfeed.fanout.redis.url import RedisTarget

__all__ = ["Publisher", "PublisherStats", "StreamConsumer", "StreamNotFoundError", "consume", "RedisTarget"]

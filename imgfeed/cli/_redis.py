"""The Redis options that ``imgfeed fanout`` and ``imgfeed tail --from-redis`` share.

The password may be given in the URL or, so that it never shows in ``ps`` or a shell history, in
the environment variable :data:`PASSWORD_ENV`, which wins. Neither is ever printed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from imgfeed.errors import ConfigError, ImgFeedError

__all__ = ["PASSWORD_ENV", "add_redis_tls_option", "target_from_args"]

#: The environment variable that holds the Redis password.
PASSWORD_ENV = "IMGFEED_REDIS_PASSWORD"


def add_redis_tls_option(group: Any) -> None:
    group.add_argument(
        "--redis-ca-file",
        metavar="FILE",
        help="CA certificates to verify a rediss:// server against (default: the system's)",
    )


def target_from_args(url: str, args: argparse.Namespace, option: str) -> Any:
    """The :class:`~imgfeed.fanout.redis.RedisTarget` of ``url`` (imports redis support only now).

    Raises:
        ImgFeedError: a bad URL, or the ``redis`` extra is not installed.
    """
    try:
        from imgfeed.fanout.redis.url import RedisTarget
    except ImportError as exc:  # pragma: no cover -- only without attrs, which imgfeed needs anyway
        raise ImgFeedError(f"{option} needs the redis extra: pip install 'imgfeed[redis]' ({exc})") from None
    try:
        import redis  # noqa: F401 -- checked here, so the error says what to install
    except ImportError:
        raise ImgFeedError(f"{option} needs the redis extra: pip install 'imgfeed[redis]'") from None
    try:
        return RedisTarget.from_url(url, password=os.environ.get(PASSWORD_ENV) or None, ca_file=args.redis_ca_file)
    except ConfigError as exc:
        raise ImgFeedError(f"bad {option} {exc.value!r}: expected {exc.allowed}") from None

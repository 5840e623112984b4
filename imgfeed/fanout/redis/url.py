"""Where the Redis server is and how to log in: a ``redis://`` or ``rediss://`` URL, with its secret kept.

Contract: :meth:`RedisTarget.from_url` parses ``redis://[user[:password]@]host[:port][/db]``
(``rediss://`` for TLS, certificates verified against the system's or ``ca_file``'s roots) and
raises a :class:`~imgfeed.errors.ConfigError` that names the allowed forms and never repeats the
URL's password. The password is kept out of ``repr``, :meth:`~RedisTarget.describe`, logs and
error messages: everything here speaks of the target by its description. :func:`redis_errors`
translates redis-py's exceptions at this one edge (``raise ... from exc``): a refused login is an
:class:`~imgfeed.errors.AuthenticationError`, anything else a :class:`~imgfeed.errors.ConnectError`
or :class:`~imgfeed.errors.TransportError`.

redis-py is imported only when a connection is made, so ``import imgfeed`` never needs it.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from typing import TYPE_CHECKING, Any, Iterator, Optional

import attrs

from imgfeed.errors import (
    AuthenticationError,
    ConfigError,
    ConnectError,
    TransportError,
)

if TYPE_CHECKING:  # pragma: no cover
    import redis

__all__ = ["RedisTarget", "redis_errors", "DEFAULT_PORT"]

#: Redis's registered port.
DEFAULT_PORT = 6379

_FORMS = "redis://[user[:password]@]host[:port][/db] or rediss://... (TLS)"


@attrs.frozen(repr=False)
class RedisTarget:
    """One Redis server and the login to it.

    Attributes:
        host, port, db: where.
        username: the ACL user (``None``: the default user).
        password: the secret (never shown).
        tls: ``rediss://``: TLS, with the server's certificate and host name verified.
        ca_file: the roots to verify it against (``None``: the system's).
    """

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = attrs.field(default=None, eq=False)
    tls: bool = False
    ca_file: Optional[str] = None

    @classmethod
    def from_url(cls, url: str, *, password: Optional[str] = None, ca_file: Optional[str] = None) -> "RedisTarget":
        """Parse ``url`` (see the module docstring); ``password`` replaces the URL's, if given.

        Raises:
            ConfigError: not a Redis URL; the message shows it without its password.
        """
        if not isinstance(url, str):
            raise ConfigError("redis", type(url).__name__, _FORMS)
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise ConfigError("redis", _hide_password(url), _FORMS) from None  # its message may quote the URL
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ConfigError("redis", _hide_password(url), _FORMS)
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ConfigError("redis", _hide_password(url), f"{_FORMS}; the path is a database number")
        username = urllib.parse.unquote(parts.username) if parts.username else None
        secret = urllib.parse.unquote(parts.password) if parts.password is not None else None
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORT,
            db=int(path or 0),
            username=username or None,
            password=password if password is not None else secret,
            tls=parts.scheme == "rediss",
            ca_file=ca_file,
        )

    def describe(self) -> str:
        """``redis://user@host:port/db``: the target without its password, for logs and errors."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{user}{host}:{self.port}/{self.db}"

    def __repr__(self) -> str:
        secret = ", password=<hidden>" if self.password else ""
        return f"RedisTarget({self.describe()!r}{secret})"

    def connect(self, timeout: float, read_timeout: Optional[float] = None) -> "redis.Redis":
        """A connected client (one socket, no retries of its own: the caller's policy retries).

        Args:
            timeout: seconds to connect and log in.
            read_timeout: seconds one command may take (default ``timeout``); a blocking read
                must allow for its own block time.

        Raises:
            AuthenticationError: the server refused the user or password.
            ConnectError: it cannot be reached, or TLS failed.
        """
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options: Any = {}
        if self.tls:
            options = dict(ssl=True, ssl_cert_reqs="required", ssl_check_hostname=True, ssl_ca_certs=self.ca_file)
        with redis_errors(self, connecting=True):
            # single_connection_client: the constructor connects (and logs in) at once.
            client = redis.Redis(
                host=self.host,
                port=self.port,
                db=self.db,
                username=self.username,
                password=self.password,
                socket_connect_timeout=timeout,
                socket_timeout=read_timeout or timeout,
                single_connection_client=True,
                retry=Retry(NoBackoff(), 0),
                client_name="imgfeed",
                **options,
            )
        try:
            with redis_errors(self, connecting=True):
                client.ping()
        except BaseException:
            client.close()
            raise
        return client


def _hide_password(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":<hidden>@", 1)
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url.split("@", 1)[-1] if "@" in url else url


def scrubbed(text: str, target: RedisTarget) -> str:
    """``text`` with the target's password, should it appear, replaced."""
    return text.replace(target.password, "<hidden>") if target.password else text


@contextlib.contextmanager
def redis_errors(target: RedisTarget, connecting: bool = False) -> Iterator[None]:
    """Translate redis-py's exceptions into imgfeed's (module docstring), naming ``target``."""
    import redis.exceptions as rex

    try:
        yield
    except rex.AuthenticationError as exc:
        raise AuthenticationError(f"{target.describe()}: login refused ({scrubbed(str(exc), target)})") from exc
    except rex.ResponseError as exc:
        text = scrubbed(str(exc), target)
        if text.startswith(("WRONGPASS", "NOAUTH", "NOPERM")):
            raise AuthenticationError(f"{target.describe()}: {text}") from exc
        raise TransportError(f"{target.describe()}: the server refused a command: {text}") from exc
    except rex.RedisError as exc:
        text = scrubbed(str(exc) or type(exc).__name__, target)
        error = ConnectError if connecting else TransportError
        raise error(f"{target.describe()}: {text}") from exc
    except OSError as exc:  # TLS and socket errors redis-py lets through
        error = ConnectError if connecting else TransportError
        raise error(f"{target.describe()}: {scrubbed(str(exc), target)}") from exc

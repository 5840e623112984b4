"""imgfeed: a synchronous, threaded client for the IMG Arena golf odds distribution service.

The public API is re-exported here; import from ``imgfeed`` rather than from its submodules.
"""

from imgfeed._version import __version__
from imgfeed.errors import *  # noqa: F401,F403
from imgfeed.errors import __all__ as _errors_all
from imgfeed.protocol import *  # noqa: F401,F403
from imgfeed.protocol import __all__ as _protocol_all

__all__ = ["__version__", *_errors_all, *_protocol_all]

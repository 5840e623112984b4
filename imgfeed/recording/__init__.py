"""Recordings of a feed's raw lines with their receive times, and replaying them."""

from imgfeed.recording.format import *  # noqa: F401,F403
from imgfeed.recording.format import __all__

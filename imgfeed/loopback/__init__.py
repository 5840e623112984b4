"""Building blocks shared by imgfeed's loopback test servers, and by no client code.

The IMG simulator (``imgfeed.feeds.img.simulator``) and the Betfair emulator
(``imgfeed.feeds.betfair.emulator``) are built on these pieces. Nothing here knows a feed:
nothing under ``imgfeed.loopback`` imports from ``imgfeed.feeds`` (``tests/unit/test_layering.py``
checks it); the feeds import from here.
"""

"""Betfair's Exchange Stream API (ESA): wire records, codec, segment assembly, clocks and caches.

The sub-packages here do no IO, threading or clock reads: :mod:`.protocol` turns lines into records
and requests into lines, :mod:`.cache` folds change messages into market and order books, and
:mod:`.historical` reads Betfair's historical data files. The public API users import is
:mod:`imgfeed.betfair`.
"""

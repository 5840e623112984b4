"""Betfair's Exchange Stream API (ESA): the protocol, the caches and a local emulator."""

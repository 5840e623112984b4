"""The sans-IO ESA protocol: records, the line codec, segment assembly and per-stream state.

Nothing in this package imports ``socket``, ``ssl``, ``threading`` or ``time``: bytes and records go
in, records and bytes come out, and every time is passed in by the caller.
"""

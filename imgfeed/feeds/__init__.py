"""Feed-specific code beside the shared runtime: one sub-package per feed (``betfair``, ...)."""

"""The feeds imgfeed speaks, one package each, on the shared runtime (``imgfeed.runtime``)."""

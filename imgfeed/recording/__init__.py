"""Recordings of a feed's raw lines with their receive times (:mod:`.format`), and replaying them
through a client (:mod:`.replay`)."""

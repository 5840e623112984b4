"""The package version, kept in one place so setup.cfg and the code agree."""

__version__ = "0.1.0.dev0"

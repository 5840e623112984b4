"""Regression tests for the runtime defects of issue 11, each expected to fail on today's runtime."""

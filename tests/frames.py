"""Tiny in-memory data with a known answer, for model tests: the checkerboard of
:mod:`recommender.testing` (one definition, shared with the SignalContract tests)."""

from recommender.testing import checkerboard

__all__ = ["checkerboard"]

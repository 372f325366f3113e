"""xuanxue (选学): personalised course menus for cadre training.

A pure library: it never imports ``fastapi`` or ``service``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    from recommender.ranking.model import RecommenderModel

__all__ = ["__version__", "load_model"]


def load_model(path: str) -> RecommenderModel:
    """Load a trained model from an artifact directory (or ``models/current``)."""
    from recommender.lifecycle.artifacts import load_model as _load

    return _load(path)

"""Small helpers shared by the route modules."""

from __future__ import annotations

import unicodedata
import weakref
from typing import Any

_VOCABULARY: weakref.WeakKeyDictionary[Any, tuple[dict[str, str], dict[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _norm(text: object) -> str:
    return unicodedata.normalize("NFKC", str(text or "")).replace(" ", "").strip()


def _vocabulary(model: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Ranks (training data + the rules' rank table) and systems (training data) the model
    knows, by normalised spelling; built once per loaded model."""
    found = _VOCABULARY.get(model)
    if found is None:
        ranks = [*model.cadres["rank"].dropna().unique(), *model.rules.rank_bands]
        systems = model.cadres["system"].dropna().unique()
        found = (
            {_norm(r): str(r) for r in ranks if _norm(r)},
            {_norm(s): str(s) for s in systems if _norm(s)},
        )
        _VOCABULARY[model] = found
    return found


def known_segment(model: Any, rank: str, system: str) -> tuple[str, str]:
    """``rank`` and ``system`` as the model spells them, '' for values it does not know.

    The segment (rank × unit level × system) keys request-time memos; free text the model
    never saw would only add entries (and evict warm ones) while scoring the same as
    '' after the popularity back-off, so it is mapped to '' before it reaches the model.
    """
    ranks, systems = _vocabulary(model)
    return ranks.get(_norm(rank), ""), systems.get(_norm(system), "")

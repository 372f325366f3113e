"""xuanxue (选学): personalised course menus for cadre training.

A pure library: it never imports ``fastapi`` or ``service`` (import-linter checks it).
The names below are the public API — what the service, the CLI, notebooks and portals'
Python code use; everything else may move between releases. They load lazily, so
``import recommender`` (and ``recommender --help``) stays fast.

Rooms (each sub-package's docstring is its map), lower layers first:
``data`` → ``text`` → ``signals`` → ``ranking`` → ``menu`` / ``insights`` → ``lifecycle`` → ``cli``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name → module that defines it
_EXPORTS = {
    # data contract
    "Columns": "recommender.data.schema",
    "FORMATS": "recommender.data.schema",
    "SOURCES": "recommender.data.schema",
    "UNIT_LEVELS": "recommender.data.schema",
    "WINDOWS": "recommender.data.schema",
    "ENUM_ALIASES": "recommender.data.cells",
    "VALUE_LABELS": "recommender.data.cells",
    "display_width": "recommender.data.spreadsheet",
    "fit_columns": "recommender.data.spreadsheet",
    "print_setup": "recommender.data.spreadsheet",
    "set_cell": "recommender.data.spreadsheet",
    "neutralise": "recommender.data.spreadsheet",
    "load_dataset": "recommender.data.loading",
    "TrainingData": "recommender.data.training",
    "Catalog": "recommender.data.catalog",
    # signals and ranking
    "Signal": "recommender.signals.base",
    "Query": "recommender.signals.base",
    "QueryBatch": "recommender.signals.base",
    "Hybrid": "recommender.ranking.hybrid",
    "TrainConfig": "recommender.ranking.pipeline",
    "default_signals": "recommender.ranking.pipeline",
    "fit_recommender": "recommender.ranking.pipeline",
    "RecommenderModel": "recommender.ranking.model",
    "Recommendation": "recommender.ranking.model",
    "UnknownIdError": "recommender.ranking.model",
    "Reason": "recommender.signals.base",
    "CadreQuery": "recommender.ranking.queries",
    "Filters": "recommender.ranking.candidates",
    "CandidatePolicy": "recommender.ranking.candidates",
    "CandidateSet": "recommender.ranking.candidates",
    "Ranked": "recommender.ranking.results",
    "Scored": "recommender.ranking.model",
    "match_percent": "recommender.ranking.results",
    # menus
    "Menu": "recommender.menu.types",
    "MenuConstraints": "recommender.menu.types",
    "MenuItem": "recommender.menu.types",
    "Unmet": "recommender.menu.types",
    "MenuError": "recommender.menu.types",
    "plan_menu": "recommender.menu.planning",
    "HoursRecord": "recommender.menu.ledger",
    "hours_record": "recommender.menu.ledger",
    "hours_earned": "recommender.menu.ledger",
    "plan_year": "recommender.menu.ledger",
    "plan_day": "recommender.menu.ledger",
    # lifecycle
    "ArtifactError": "recommender.lifecycle.artifacts",
    "load_model": "recommender.lifecycle.artifacts",
    "read_metadata": "recommender.lifecycle.artifacts",
    "resolve": "recommender.lifecycle.artifacts",
    "smoke_check": "recommender.lifecycle.artifacts",
    "EventStore": "recommender.lifecycle.events",
    "BaseEventStore": "recommender.lifecycle.events",
    "open_event_store": "recommender.lifecycle.events",
    "validate_events": "recommender.lifecycle.events",
    "EventConflictError": "recommender.lifecycle.events",
    "EventValidationError": "recommender.lifecycle.events",
    "EventStoreUnavailable": "recommender.lifecycle.events",
    "KeyFile": "recommender.lifecycle.keys",
    "KeyFileError": "recommender.lifecycle.keys",
    "scopes_grant": "recommender.lifecycle.keys",
    "add_key": "recommender.lifecycle.keys",
    "read_keys": "recommender.lifecycle.keys",
    "revoke_key": "recommender.lifecycle.keys",
    "train": "recommender.lifecycle.train",
    "evaluate": "recommender.lifecycle.evaluate",
    # identity: look-ups by 身份证号 under the deployment's secret
    "CadreLookup": "recommender.lifecycle.lookup",
    "cadre_lookup": "recommender.lifecycle.lookup",
    "configured_secret": "recommender.lifecycle.lookup",
    "identity_problem": "recommender.lifecycle.lookup",
    "looks_like_id_card": "recommender.lifecycle.lookup",
    "IdentityError": "recommender.data.identity",
    "mask_id_card": "recommender.data.identity",
    "shown_id": "recommender.data.identity",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'recommender' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

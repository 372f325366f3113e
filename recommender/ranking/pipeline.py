"""From validated tables to a fitted :class:`~recommender.ranking.model.RecommenderModel`.

One nested, immutable :class:`TrainConfig` holds every option (text space, each signal,
the blend search); :func:`default_signals` turns it into the signal list the hybrid is
given. Adding a signal is one module under ``recommender/signals`` plus one line here (or
``fit_recommender(..., signals=default_signals(cfg) + [MySignal()])``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from recommender.data.rules import TrainingRules
from recommender.data.training import TrainingData
from recommender.ranking.blend_search import BlendConfig
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.model import RecommenderModel
from recommender.signals.base import Signal
from recommender.signals.collaborative import CollaborativeSignal
from recommender.signals.content import ContentSignal, course_text, profile_text
from recommender.signals.context import ContextSignal
from recommender.signals.field import FieldSignal
from recommender.signals.instructor import InstructorSignal
from recommender.signals.popularity import PopularitySignal
from recommender.signals.quality import QualitySignal
from recommender.signals.sequence import SequenceSignal
from recommender.signals.transition import TransitionSignal
from recommender.text.fields import FieldTaxonomy
from recommender.text.space import TextSpace
from recommender.text.tokenizer import ChineseTokenizer

#: EASE inverts a courses × courses matrix: past this many courses item-kNN is used
EASE_MAX_COURSES = 20_000


@dataclass(frozen=True)
class SignalsConfig:
    """Options of the default signals."""

    content_history_weight: float = 0.5
    collaborative: str = "auto"  # "ease", "itemknn", or "auto" (EASE up to 20k courses)
    ease_l2: float = 200.0
    knn_neighbours: int = 100
    popularity_half_life_days: float = 180.0
    sequence_max_gap: int = 1


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, kept apart from learned state (saved in the artifact)."""

    signals: SignalsConfig = field(default_factory=SignalsConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    history_half_life_days: float | None = None
    text_min_df: int = 1
    text_max_df: float = 0.5
    fields_path: str | None = None  # fields-of-work taxonomy (None: the packaged one)
    weights: Mapping[str, float] | None = None
    cold_weights: Mapping[str, float] | None = None

    @classmethod
    def of(cls, *, collaborative: str = "auto", seed: int = 0) -> TrainConfig:
        """The defaults with the options the CLI exposes."""
        return cls(
            signals=SignalsConfig(collaborative=collaborative),
            blend=BlendConfig(random_state=seed),
        )


DEFAULT_CONFIG = TrainConfig()


def default_signals(cfg: TrainConfig, n_courses: int = 0) -> list[Signal]:
    """The signals the hybrid blends, configured from ``cfg``."""
    s = cfg.signals
    kind = s.collaborative
    if kind == "auto":
        kind = "ease" if n_courses <= EASE_MAX_COURSES else "itemknn"
    return [
        ContentSignal(history_weight=s.content_history_weight),
        CollaborativeSignal(kind=kind, l2=s.ease_l2, neighbours=s.knn_neighbours),
        PopularitySignal(scope="segment", half_life_days=s.popularity_half_life_days),
        PopularitySignal(scope="overall", half_life_days=s.popularity_half_life_days),
        QualitySignal(),
        SequenceSignal(max_gap=s.sequence_max_gap),
        TransitionSignal(),
        InstructorSignal(),
        ContextSignal(),
        FieldSignal(),
    ]


def prepare_data(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    completions: pd.DataFrame,
    cfg: TrainConfig = DEFAULT_CONFIG,
    *,
    tokenizer=None,
) -> tuple[TextSpace, TrainingData]:
    """The fitted text space and the training data with course and profile vectors."""
    text = TextSpace(
        tokenizer=tokenizer or ChineseTokenizer(), min_df=cfg.text_min_df, max_df=cfg.text_max_df
    ).fit(course_text(courses))
    data = TrainingData.build(
        courses, cadres, completions, history_half_life_days=cfg.history_half_life_days
    )
    texts = [profile_text(r) for r in data.cadres.to_dict("records")]
    taxonomy = FieldTaxonomy.load(cfg.fields_path)
    data = data.with_text(
        text.course_matrix_, text.transform(texts), taxonomy.match(texts), taxonomy
    )
    return text, data


def fit_recommender(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    completions: pd.DataFrame,
    cfg: TrainConfig = DEFAULT_CONFIG,
    *,
    signals: Sequence[Signal] | None = None,
    rules: TrainingRules | None = None,
    metadata: dict | None = None,
    tokenizer=None,
) -> RecommenderModel:
    """Fit the text space, every signal and the blend; return the servable model."""
    text, data = prepare_data(courses, cadres, completions, cfg, tokenizer=tokenizer)
    hybrid = Hybrid(
        signals=list(signals) if signals is not None else default_signals(cfg, data.n_items),
        weights=cfg.weights,
        cold_weights=cfg.cold_weights,
        blend=cfg.blend,
    ).fit(data)
    return RecommenderModel(hybrid, text, data, rules=rules, metadata=metadata)

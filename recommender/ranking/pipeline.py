"""From validated tables to a fitted :class:`~recommender.ranking.model.RecommenderModel`.

One nested, immutable :class:`TrainConfig` holds every option (text space, each signal,
the blend search); :func:`default_signals` turns it into the signal list the hybrid is
given. Adding a signal is one module under ``recommender/signals`` plus one line here (or
``fit_recommender(..., signals=default_signals(cfg) + [MySignal()])``).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import pandas as pd
import tomli_w

from recommender.data.rules import TrainingRules
from recommender.data.training import TrainingData
from recommender.ranking.blend_search import BlendConfig
from recommender.ranking.candidates import CandidatePolicy
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.model import RecommenderModel
from recommender.ranking.ranker import RankerConfig
from recommender.signals.base import Signal
from recommender.signals.collaborative import CollaborativeSignal
from recommender.signals.content import (
    PROFILE_FIELDS,
    ContentSignal,
    course_text,
    profile_text,
)
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


@dataclass(frozen=True)
class SignalsConfig:
    """Options of the default signals."""

    content_history_weight: float = 0.5
    collaborative: str = "auto"  # "ease", "itemknn", or "auto" (EASE up to the limit below)
    #: EASE inverts a courses × courses matrix: past this many courses item-kNN is used
    ease_max_courses: int = 20_000
    ease_l2: float = 200.0
    knn_neighbours: int = 100
    popularity_half_life_days: float = 180.0
    sequence_max_gap: int = 1


@dataclass(frozen=True)
class TrainConfig:
    """Every training option, kept apart from learned state (saved in the artifact)."""

    signals: SignalsConfig = field(default_factory=SignalsConfig)
    blend: BlendConfig = field(default_factory=BlendConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)
    history_half_life_days: float | None = None
    text_min_df: int = 1
    text_max_df: float = 0.5
    fields_path: str | None = None  # fields-of-work taxonomy (None: the packaged one)
    weights: Mapping[str, float] | None = None
    cold_weights: Mapping[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every option as plain data (``None`` left out: TOML has no null)."""
        return _drop_none(asdict(self))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> TrainConfig:
        """The config ``to_dict`` wrote; an unknown key is an error naming it."""
        raw = dict(raw)
        parts = {"signals": SignalsConfig, "blend": BlendConfig, "ranker": RankerConfig}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in parts:
                kwargs[key] = _build(parts[key], value, key)
            elif key in {f.name for f in fields(cls)}:
                kwargs[key] = value
            else:
                raise ConfigError(f"训练配置中有未知的项“{key}”")
        return cls(**kwargs)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        """Read a TOML config file, or a model's ``metadata.json`` (its ``params``)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
            if str(path).lower().endswith(".json"):
                raw = json.loads(text)
                raw = raw.get("params", raw)
            else:
                raw = tomllib.loads(text)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigError(f"无法读取训练配置（{exc}）") from exc
        if not isinstance(raw, Mapping):
            raise ConfigError("训练配置应是一张表")
        return cls.from_dict(raw)

    @classmethod
    def of(cls, *, collaborative: str = "auto", seed: int = 0) -> TrainConfig:
        """The defaults with the options the CLI exposes."""
        return cls(
            signals=SignalsConfig(collaborative=collaborative),
            blend=BlendConfig(random_state=seed),
        )


DEFAULT_CONFIG = TrainConfig()


class ConfigError(ValueError):
    """A training config file that cannot be read or names an unknown option."""


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _build(kind: type, value: Any, where: str) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigError(f"训练配置中的“{where}”应是一张表")
    names = {f.name for f in fields(kind)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise ConfigError(f"训练配置中有未知的项“{where}.{unknown[0]}”")
    return kind(**value)


def signal_specs(signals: Sequence[Signal]) -> list[dict[str, Any]]:
    """Each signal's class and parameters, as the artifact's metadata records them."""
    return [
        {"name": s.name, "class": f"{type(s).__module__}.{type(s).__qualname__}",
         "params": s.get_params(deep=False)}
        for s in signals
    ]  # fmt: skip


def default_signals(cfg: TrainConfig, n_courses: int = 0) -> list[Signal]:
    """The signals the hybrid blends, configured from ``cfg``."""
    s = cfg.signals
    kind = s.collaborative
    if kind == "auto":
        kind = "ease" if n_courses <= s.ease_max_courses else "itemknn"
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


@dataclass
class StartedText:
    """The text space being fitted in worker processes (:func:`start_text`) for these
    courses and cadres, and the ``finish()`` that waits for it."""

    courses: pd.DataFrame
    cadres: pd.DataFrame
    space: TextSpace
    taxonomy: FieldTaxonomy
    finish: Any


def start_text(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    cfg: TrainConfig = DEFAULT_CONFIG,
    *,
    tokenizer=None,
) -> StartedText:
    """Start tokenising the course and profile texts (and finding the profiles' fields of
    work) in worker processes; training loads the records meanwhile."""
    text = TextSpace(
        tokenizer=tokenizer or ChineseTokenizer(), min_df=cfg.text_min_df, max_df=cfg.text_max_df
    )
    profiles = cadres[[c for c in PROFILE_FIELDS if c in cadres]]  # all profile_text reads
    texts = [profile_text(r) for r in profiles.to_dict("records")]
    taxonomy = FieldTaxonomy.load(cfg.fields_path)
    finish = text.fit_with_profiles(course_text(courses), texts, taxonomy)
    return StartedText(courses, cadres, text, taxonomy, finish)


def prepare_data(
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    completions: pd.DataFrame,
    cfg: TrainConfig = DEFAULT_CONFIG,
    *,
    tokenizer=None,
    external: pd.DataFrame | None = None,
    text: StartedText | None = None,
) -> tuple[TextSpace, TrainingData]:
    """The fitted text space and the training data with course and profile vectors
    (``external``: records of courses outside the catalog, for the hours ledger; ``text``:
    :func:`start_text` of these very courses and cadres, already under way)."""
    if text is None or text.courses is not courses or text.cadres is not cadres:
        # courses and profiles are tokenised in worker processes while the records are indexed
        text = start_text(courses, cadres, cfg, tokenizer=tokenizer)
    data = TrainingData.build(
        courses,
        cadres,
        completions,
        history_half_life_days=cfg.history_half_life_days,
        external=external,
    )
    vectors, fields = text.finish()
    space = text.space
    return space, data.with_text(space.course_matrix_, vectors, fields, text.taxonomy)


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
    external: pd.DataFrame | None = None,
    text: StartedText | None = None,
) -> RecommenderModel:
    """Fit the text space, every signal and the blend; return the servable model.

    ``external``: records of courses outside the catalog (``Dataset.external``): never
    recommended, counted in the model's hours ledger (学时 already earned). ``text``: the
    text space already started for these courses and cadres (:func:`start_text`)."""
    text, data = prepare_data(
        courses, cadres, completions, cfg, tokenizer=tokenizer, external=external, text=text
    )
    hybrid = Hybrid(
        signals=list(signals) if signals is not None else default_signals(cfg, data.n_items),
        weights=cfg.weights,
        cold_weights=cfg.cold_weights,
        blend=cfg.blend,
    ).fit(data, policy=CandidatePolicy(data.courses, rules))
    return RecommenderModel(hybrid, text, data, rules=rules, metadata=metadata, ranker=cfg.ranker)

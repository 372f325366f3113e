"""``TrainingData``: the tables turned into the arrays every signal fits on, built once.

Id maps, the interaction matrix (cadres × courses, confidence weights), enrolment times,
segments, declared context, each cadre's last course, and — filled in by the ranking layer,
which owns the text space — course and profile term vectors. One temporal split
(:meth:`TrainingData.split_time`) serves blend fitting and evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.features import (
    IdMap,
    context_bits,
    interaction_matrix,
    quality_prior,
    segments,
)
from recommender.data.schema import Columns as C


def leave_last_split(completions: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out each cadre's last enrolment (by time) when the cadre has at least two."""
    df = completions.sort_values(C.ENROLLED_AT, kind="stable")
    last = df.groupby(C.CADRE_ID).tail(1).index
    counts = df.groupby(C.CADRE_ID)[C.COURSE_ID].transform("size")
    held = last.intersection(df.index[counts >= 2])
    return df.drop(index=held), df.loc[held]


def temporal_split(completions: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split enrolments by time: the last ``fraction`` of them is the holdout."""
    order = completions[C.ENROLLED_AT].sort_values(kind="stable").index
    cut = round(len(order) * (1.0 - fraction))
    return completions.loc[order[:cut]], completions.loc[order[cut:]]


@dataclass
class TrainingData:
    """Everything a :class:`~recommender.signals.base.Signal` may fit on.

    Attributes
    ----------
    courses, cadres, completions
        The validated frames (completions may be a training part of the full table).
    course_ids, cadre_ids
        External id ↔ internal index.
    history
        (cadres × courses) float32 confidence of each enrolment (strongest repeat kept).
    rows, cols, times
        One entry per usable enrolment (internal indices, enrolment time).
    now
        The newest enrolment time: "now" for decays and open sessions.
    course_vectors, profile_vectors
        L2-normalised TF-IDF rows of every course and every cadre profile (set by the
        ranking layer's text space; ``None`` until then).
    """

    courses: pd.DataFrame
    cadres: pd.DataFrame
    completions: pd.DataFrame
    course_ids: IdMap
    cadre_ids: IdMap
    history: sp.csr_matrix
    rows: np.ndarray
    cols: np.ndarray
    times: np.ndarray
    now: np.datetime64
    segments: list[tuple[str, ...]]
    context: np.ndarray
    quality: np.ndarray
    course_vectors: sp.csr_matrix | None = None
    profile_vectors: sp.csr_matrix | None = None
    #: (cadres × fields of work) and the taxonomy that made it (set by the ranking layer)
    profile_fields: np.ndarray | None = None
    field_taxonomy: Any = None
    #: records of courses outside the catalog (``Dataset.external``): hours earned, never
    #: recommended, not in ``history``
    external: pd.DataFrame | None = None
    _bridge: sp.csr_matrix | None = field(default=None, repr=False)
    #: each record's (cadre, course) index, -1 where unknown, in ``completions`` order
    _lookup: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        courses: pd.DataFrame,
        cadres: pd.DataFrame,
        completions: pd.DataFrame,
        *,
        history_half_life_days: float | None = None,
        course_vectors: sp.csr_matrix | None = None,
        profile_vectors: sp.csr_matrix | None = None,
        profile_fields: np.ndarray | None = None,
        field_taxonomy: Any = None,
        external: pd.DataFrame | None = None,
    ) -> TrainingData:
        courses = courses.reset_index(drop=True)
        cadres = cadres.reset_index(drop=True)
        course_ids = IdMap(courses[C.COURSE_ID].to_numpy())
        cadre_ids = IdMap(cadres[C.CADRE_ID].to_numpy())
        return cls._assemble(
            courses,
            cadres,
            completions,
            course_ids,
            cadre_ids,
            (
                cadre_ids.lookup(completions[C.CADRE_ID]),
                course_ids.lookup(completions[C.COURSE_ID]),
            ),
            (segments(cadres), context_bits(cadres)),
            history_half_life_days=history_half_life_days,
            course_vectors=course_vectors,
            profile_vectors=profile_vectors,
            profile_fields=profile_fields,
            field_taxonomy=field_taxonomy,
            external=external,
        )

    @classmethod
    def _assemble(
        cls,
        courses: pd.DataFrame,
        cadres: pd.DataFrame,
        completions: pd.DataFrame,
        course_ids: IdMap,
        cadre_ids: IdMap,
        lookup: tuple[np.ndarray, np.ndarray],
        profile: tuple[list, np.ndarray],
        *,
        history_half_life_days: float | None,
        **text: Any,
    ) -> TrainingData:
        """``build`` from the parts that depend on the catalog and the cadres alone (id maps,
        segments, context) and each record's cadre and course index (``lookup``)."""
        times = completions[C.ENROLLED_AT].to_numpy(dtype="datetime64[s]")
        known = times[~np.isnat(times)]
        now = known.max() if len(known) else np.datetime64("now", "s")
        rows, cols = lookup
        ok = (rows >= 0) & (cols >= 0)
        history = interaction_matrix(
            completions,
            cadre_ids,
            course_ids,
            now=now,
            half_life_days=history_half_life_days,
            rows=rows,
            cols=cols,
        )
        return cls(
            courses=courses,
            cadres=cadres,
            completions=completions,
            course_ids=course_ids,
            cadre_ids=cadre_ids,
            history=history,
            rows=rows[ok],
            cols=cols[ok],
            times=times[ok],
            now=now,
            segments=profile[0],
            context=profile[1],
            quality=quality_prior(courses, completions),
            _lookup=lookup,
            **text,
        )

    @property
    def n_items(self) -> int:
        return len(self.course_ids)

    @property
    def n_cadres(self) -> int:
        return len(self.cadre_ids)

    def subset(self, completions: pd.DataFrame, *, history_half_life_days=None) -> TrainingData:
        """The same catalog, cadres and text vectors with other enrolments (e.g. a split)."""
        return TrainingData.build(
            self.courses,
            self.cadres,
            completions,
            history_half_life_days=history_half_life_days,
            course_vectors=self.course_vectors,
            profile_vectors=self.profile_vectors,
            profile_fields=self.profile_fields,
            field_taxonomy=self.field_taxonomy,
            external=self.external,
        )

    def _rows_of(self, completions: pd.DataFrame, half_life_days) -> TrainingData:
        """:meth:`subset` for records taken from ``self.completions`` (a split): the id maps,
        segments, context and each record's indices are this data's, not worked out again."""
        index = self.completions.index
        if self._lookup is None or not index.is_unique:
            return self.subset(completions, history_half_life_days=half_life_days)
        at = index.get_indexer(completions.index)
        return TrainingData._assemble(
            self.courses,
            self.cadres,
            completions,
            self.course_ids,
            self.cadre_ids,
            (self._lookup[0][at], self._lookup[1][at]),
            (self.segments, self.context),
            history_half_life_days=half_life_days,
            course_vectors=self.course_vectors,
            profile_vectors=self.profile_vectors,
            profile_fields=self.profile_fields,
            field_taxonomy=self.field_taxonomy,
            external=self.external,
        )

    def split_time(
        self, fraction: float, *, history_half_life_days=None
    ) -> tuple[TrainingData, pd.DataFrame]:
        """Training data from the earlier enrolments and the later ``fraction`` as holdout."""
        train, holdout = temporal_split(self.completions, fraction)
        return self._rows_of(train, history_half_life_days), holdout

    def split_last(self, *, history_half_life_days=None) -> tuple[TrainingData, pd.DataFrame]:
        """Training data without each cadre's last enrolment, and those enrolments."""
        train, holdout = leave_last_split(self.completions)
        return self._rows_of(train, history_half_life_days), holdout

    def last_items(self) -> np.ndarray:
        """Each cadre's most recent course (-1 = none)."""
        order = np.argsort(self.times, kind="stable")
        last = np.full(self.n_cadres, -1, dtype=np.int64)
        last[self.rows[order]] = self.cols[order]
        return last

    def item_counts(self) -> np.ndarray:
        """Cadres who enrolled in each course."""
        return np.asarray((self.history > 0).sum(axis=0)).ravel()

    def cold_bridge(self, neighbours: int = 20) -> sp.csr_matrix:
        """(courses × courses) map that keeps warm scores and gives each course with no
        enrolments the similarity-weighted mean score of its nearest warm courses by text
        (see :func:`cold_item_bridge`); computed once per data."""
        if self._bridge is None:
            if self.course_vectors is None:
                raise ValueError("course_vectors are needed for the cold-course bridge")
            self._bridge = cold_item_bridge(
                self.course_vectors, self.item_counts() > 0, neighbours=neighbours
            )
        return self._bridge

    def with_text(
        self,
        course_vectors: sp.csr_matrix,
        profile_vectors: sp.csr_matrix,
        profile_fields: np.ndarray | None = None,
        field_taxonomy: Any = None,
    ) -> TrainingData:
        """The same data with the text layer's vectors (and fields of work) filled in."""
        return replace(
            self,
            course_vectors=course_vectors,
            profile_vectors=profile_vectors,
            profile_fields=profile_fields,
            field_taxonomy=field_taxonomy,
            _bridge=None,
        )


def cold_item_bridge(
    course_matrix: sp.csr_matrix, warm: np.ndarray, *, neighbours: int = 20
) -> sp.csr_matrix:
    """(n_items × n_items) map that copies warm scores and fills each cold course with the
    similarity-weighted mean score of its nearest warm courses (content neighbours).

    Multiplying a behavioural score row by it gives a course with no completions the score
    its look-alikes have, instead of the lowest score in the catalog.
    """
    n = course_matrix.shape[0]
    warm_idx, cold_idx = np.flatnonzero(warm), np.flatnonzero(~warm)
    rows, cols, vals = [warm_idx], [warm_idx], [np.ones(len(warm_idx), np.float32)]
    if len(cold_idx) and len(warm_idx):
        sims = (course_matrix[cold_idx] @ course_matrix[warm_idx].T).toarray()
        k = min(neighbours, len(warm_idx))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        w = np.take_along_axis(sims, top, axis=1).clip(min=0)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
        w = w / w.sum(axis=1, keepdims=True)
        rows.append(warm_idx[top].ravel())
        cols.append(np.repeat(cold_idx, k))
        vals.append(w.ravel().astype(np.float32))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )

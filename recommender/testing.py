"""Contract tests every :class:`~recommender.signals.base.Signal` must pass.

``SignalContract`` is a pytest mixin in the spirit of implicit's ``RecommenderBaseTestMixin``:
a test class sets ``make_signal`` (and, for signals that are not meant to rank a withheld
course first, ``ranks_withheld = False``) and inherits every check. The data is a tiny
checkerboard with a known answer: two groups of cadres, each taking its own block of
courses, one course per cadre withheld.
"""

from __future__ import annotations

import pickle
from typing import ClassVar

import numpy as np
import pandas as pd

from recommender.data.schema import CADRES, COMPLETIONS, COURSES
from recommender.data.schema import Columns as C
from recommender.data.training import TrainingData
from recommender.signals.base import NotFittedError, QueryBatch, Signal

_TOPICS = {
    "应急管理": ("应急管理", "突发事件先期处置与应急预案演练", "安全生产"),
    "乡村振兴": ("乡村振兴", "农村集体经济发展与产业振兴", "乡村振兴"),
}


def _frame(spec, rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for f in spec.fields:
        if f.name not in df:
            df[f.name] = f.default if f.default is not None else np.nan
    df = df[spec.columns]
    for f in spec.fields:
        if f.kind == "datetime":
            df[f.name] = pd.to_datetime(df[f.name])
        elif f.kind == "bool":
            df[f.name] = df[f.name].fillna(bool(f.default)).astype(bool)
        elif f.kind in ("float", "int"):
            df[f.name] = pd.to_numeric(df[f.name]).astype(
                "float64" if f.kind == "float" else "Int64"
            )
        else:
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), "").astype(str)
    return df


def checkerboard(n_per_block: int = 6, cadres_per_group: int = 8):
    """Two groups × two course blocks: each group takes its own block, one course withheld.

    Returns (courses, cadres, completions, withheld) where ``withheld`` maps a cadre_id to
    the one course of its block it has not taken (the known answer).
    """
    courses, cadres, comps, withheld = [], [], [], {}
    for b, (cat, (term, desc, tag)) in enumerate(_TOPICS.items()):
        for j in range(n_per_block):
            courses.append(
                {
                    C.COURSE_ID: f"K{b}{j:02d}",
                    C.TITLE: f"{term}专题第{j + 1}讲",
                    C.DESCRIPTION: f"围绕{desc}开展{term}能力提升培训。",
                    C.CATEGORY: cat,
                    C.TAGS: tag,
                    C.CREDIT_HOURS: 2.0,
                    C.FORMAT: "video",
                    C.PUBLISHED_AT: "2024-01-01",
                }
            )
    t0 = pd.Timestamp("2024-02-01")
    for g, (term, desc, _) in enumerate(_TOPICS.values()):
        for i in range(cadres_per_group):
            cid = f"G{g}{i:02d}"
            cadres.append(
                {
                    C.CADRE_ID: cid,
                    C.UNIT_LEVEL: "county",
                    C.SYSTEM: f"系统{g}",
                    C.RANK: "一级科员",
                    C.JOB_TITLE: f"{term}岗",
                    C.JOB_DESCRIPTION: f"从事{desc}等工作。",
                }
            )
            held = f"K{g}{(i % n_per_block):02d}"
            withheld[cid] = held
            taken = [f"K{g}{j:02d}" for j in range(n_per_block) if f"K{g}{j:02d}" != held]
            for step, course in enumerate(taken):
                comps.append(
                    {
                        C.CADRE_ID: cid,
                        C.COURSE_ID: course,
                        C.ENROLLED_AT: t0 + pd.Timedelta(days=7 * step + i),
                        C.COMPLETED_AT: t0 + pd.Timedelta(days=7 * step + i + 3),
                        C.PROGRESS: 1.0,
                        C.SOURCE: "self_selected",
                    }
                )
    return (
        _frame(COURSES, courses),
        _frame(CADRES, cadres),
        _frame(COMPLETIONS, comps),
        withheld,
    )


def checkerboard_data() -> tuple[TrainingData, dict[str, str]]:
    """The checkerboard as :class:`TrainingData` with TF-IDF vectors, and the answers."""
    from recommender.ranking.pipeline import prepare_data

    courses, cadres, comps, withheld = checkerboard()
    _, data = prepare_data(courses, cadres, comps)
    return data, withheld


class SignalContract:
    """Mixin: set ``make_signal`` (a zero-argument callable) on the subclass."""

    make_signal: ClassVar = None
    #: the signal should rank each cadre's withheld course first among courses not taken
    ranks_withheld: ClassVar[bool] = True
    _cache: ClassVar[dict] = {}

    def _data(self):
        if "data" not in SignalContract._cache:
            SignalContract._cache["data"] = checkerboard_data()
        return SignalContract._cache["data"]

    def _fitted(self):
        data, _ = self._data()
        return type(self).make_signal().fit(data)

    def _batch(self):
        data, _ = self._data()
        return QueryBatch.for_cadres(data, np.arange(data.n_cadres))

    def test_fit_returns_self(self):
        data, _ = self._data()
        signal = type(self).make_signal()
        assert signal.fit(data) is signal

    def test_not_fitted_raises(self):
        signal = type(self).make_signal()
        batch = self._batch()
        for call in (lambda: signal.score(batch), lambda: signal.score_one(batch.query(0))):
            try:
                call()
            except NotFittedError:
                continue
            raise AssertionError(f"{type(signal).__name__} scored before fit")

    def test_scores_have_one_column_per_course(self):
        data, _ = self._data()
        scores = self._fitted().score(self._batch())
        assert scores.shape == (data.n_cadres, data.n_items)
        assert scores.dtype == np.float32
        assert np.isfinite(scores).all()

    def test_single_equals_batch(self):
        signal = self._fitted()
        signal.prepare()
        batch = self._batch()
        scores = signal.score(batch)
        for i in range(len(batch)):
            np.testing.assert_allclose(
                signal.score_one(batch.query(i)), scores[i], rtol=1e-5, atol=1e-6
            )

    def test_deterministic(self):
        batch = self._batch()
        np.testing.assert_array_equal(self._fitted().score(batch), self._fitted().score(batch))

    def test_pickle_round_trip_identical(self):
        signal = self._fitted()
        signal.prepare()
        batch = self._batch()
        again = pickle.loads(pickle.dumps(signal))
        assert not [k for k in vars(again) if k.startswith("_serving")]
        np.testing.assert_array_equal(again.score(batch), signal.score(batch))
        np.testing.assert_array_equal(
            again.score_one(batch.query(0)), signal.score_one(batch.query(0))
        )

    def test_memo_key_means_equal_scores(self):
        signal = self._fitted()
        batch = self._batch()
        by_key: dict = {}
        for i in range(len(batch)):
            q = batch.query(i)
            key = signal.memo_key(q)
            if key is None:
                continue
            row = signal.score_one(q)
            if key in by_key:
                np.testing.assert_array_equal(by_key[key], row)
            by_key[key] = row

    def test_memo_on_agrees_with_memo_key(self):
        """Batch scoring scores each ``memo_on`` group once: rows of a group must score
        alike, and their memo keys must group the same way (``memo_on`` is optional: a
        signal with a memo key but no ``memo_on`` is only scored row by row in batches)."""
        signal = self._fitted()
        batch = self._batch()
        on = signal.memo_on()
        if on is None:
            return
        codes = batch.groups(on)
        scores = signal.score(batch)
        for c in np.unique(codes):
            rows = np.flatnonzero(codes == c)
            np.testing.assert_allclose(scores[rows], scores[rows[:1]].repeat(len(rows), 0))
        keys = [signal.memo_key(batch.query(i)) for i in range(len(batch))]
        for i in range(len(batch)):
            for j in range(i + 1, len(batch)):
                assert (codes[i] == codes[j]) == (keys[i] == keys[j])

    def test_withheld_course_ranks_first(self):
        if not type(self).ranks_withheld:
            return
        data, withheld = self._data()
        scores = self._fitted().score(self._batch())
        seen = data.history.toarray() > 0
        scores[seen] = -np.inf
        for cadre, course in withheld.items():
            row = data.cadre_ids.index[cadre]
            top = int(np.argmax(scores[row]))
            assert data.course_ids.ids[top] == course, (type(self).__name__, cadre)


def all_signal_classes() -> list[type[Signal]]:
    """Every concrete Signal subclass imported so far (for a completeness check)."""
    out, todo = [], list(Signal.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        out.append(cls)
    return out

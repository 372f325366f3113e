"""Every Signal passes the shared contract; a new signal is one class plus one line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.rp3beta import RP3betaSignal
from recommender.data.schema import Columns as C
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.model import RecommenderModel
from recommender.ranking.pipeline import DEFAULT_CONFIG, default_signals, prepare_data
from recommender.signals.base import QueryBatch
from recommender.signals.collaborative import CollaborativeSignal
from recommender.signals.content import ContentSignal
from recommender.signals.context import ContextSignal
from recommender.signals.field import FieldSignal
from recommender.signals.instructor import InstructorSignal
from recommender.signals.popularity import PopularitySignal
from recommender.signals.quality import QualitySignal
from recommender.signals.sequence import SequenceSignal
from recommender.signals.transition import TransitionSignal
from recommender.testing import SignalContract, all_signal_classes, checkerboard


def documented_example() -> dict:
    """Execute the "Adding a signal" code block of the docs, so the docs stay true."""
    page = Path(__file__).resolve().parents[1] / "docs" / "reference" / "models.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    code = next(b for b in blocks if "class RecentlyPublished(Signal)" in b)
    namespace: dict = {"__name__": __name__}  # pickles as this module's RecentlyPublished
    exec(compile(code, str(page), "exec"), namespace)
    return namespace


RecentlyPublished = documented_example()["RecentlyPublished"]


class TestContent(SignalContract):
    make_signal = ContentSignal


class TestEASE(SignalContract):
    make_signal = staticmethod(lambda: CollaborativeSignal(kind="ease", l2=1.0))


class TestItemKNN(SignalContract):
    make_signal = staticmethod(lambda: CollaborativeSignal(kind="itemknn"))


class TestSegmentPopularity(SignalContract):
    make_signal = staticmethod(lambda: PopularitySignal(scope="segment"))


class TestOverallPopularity(SignalContract):
    make_signal = staticmethod(lambda: PopularitySignal(scope="overall"))
    ranks_withheld = False  # both blocks are equally popular overall


class TestQuality(SignalContract):
    make_signal = QualitySignal
    ranks_withheld = False  # the same prior for everybody


class TestSequence(SignalContract):
    make_signal = SequenceSignal
    ranks_withheld = False  # follows the last course, not the block


class TestTransition(SignalContract):
    # light shrinkage: with ~8 successions per course the default pseudo-count (20) hands
    # the ranking to next-course popularity, where the first course of a block never counts
    make_signal = staticmethod(lambda: TransitionSignal(shrinkage=1.0))


class TestInstructor(SignalContract):
    make_signal = InstructorSignal
    ranks_withheld = False  # checkerboard courses name no teacher


class TestContext(SignalContract):
    make_signal = ContextSignal
    ranks_withheld = False  # every checkerboard course is a video


class TestField(SignalContract):
    make_signal = FieldSignal


class TestRecentlyPublished(SignalContract):
    make_signal = RecentlyPublished
    ranks_withheld = False


def test_every_signal_class_has_a_contract_test():
    tested = {
        type(cls.make_signal())
        for cls in globals().values()
        if isinstance(cls, type) and issubclass(cls, SignalContract) and cls.make_signal
    }
    missing = {c for c in all_signal_classes() if c.__module__.startswith("recommender.")} - tested
    assert not missing, f"signals without a SignalContract test: {missing}"


def _hybrid(signals, weights, cold=None):
    courses, cadres, comps, withheld = checkerboard()
    text, data = prepare_data(courses, cadres, comps)
    hybrid = Hybrid(signals=signals, weights=weights, cold_weights=cold or weights).fit(data)
    return RecommenderModel(hybrid, text, data), data, withheld


def test_a_new_signal_is_one_line_of_configuration():
    signals = [*default_signals(DEFAULT_CONFIG), RecentlyPublished()]
    model, _data, _ = _hybrid(signals, {"content": 1.0, "recent": 1.0})
    assert [s.name for s in model.hybrid.signals_][-1] == "recent"
    # the new signal reaches the request path through the same contract
    recs = model.recommend("G000", k=3)
    assert recs and all(r.course_id.startswith("K0") for r in recs[:1])
    # ... and its own reasons reach the explanations, with no code naming it
    recent = model.hybrid.signals_[-1]
    items = list(range(len(model.course_ids)))
    scored = model.score(model.query("G000"))
    reasons = model.explain(scored.query, items, scored.components)
    has = [any(r.kind == "recent" for r in rs) for rs in reasons]
    assert has == [bool(recent.age_days_[i] <= 30) for i in items]
    assert any(has) or not (recent.age_days_ <= 30).any()


def test_single_cadre_path_equals_batch_blend(tiny_model):
    """The request path (memoised shared rows + per-query scores) gives the batch scores."""
    m = tiny_model
    rows = np.arange(0, len(m.cadre_map), max(1, len(m.cadre_map) // 40))
    batch = m.queries.batch(rows)
    blended, _ = m.hybrid.score(batch)
    for j, r in enumerate(rows):
        single = m.score(m.query(str(m.cadre_map.ids[r]))).scores
        np.testing.assert_allclose(single, blended[j], rtol=1e-4, atol=1e-4)


def test_signals_fit_once_and_are_not_changed_by_requests(tiny_model):
    import pickle

    before = pickle.dumps(tiny_model.hybrid)
    for cid in tiny_model.cadre_map.ids[:20]:
        tiny_model.recommend(str(cid), k=5)
    assert pickle.dumps(tiny_model.hybrid) == before


def test_blend_weights_are_fitted_on_a_validation_split():
    courses, cadres, comps, _ = checkerboard(cadres_per_group=20)
    _text, data = prepare_data(courses, cadres, comps)
    hybrid = Hybrid(signals=default_signals(DEFAULT_CONFIG)).fit(data)
    report = hybrid.validation_
    assert report["validation_cadres"] > 0
    # collaborative filtering finds the withheld block course: it must not be silenced
    assert hybrid.weights_["collaborative"] > 0 or hybrid.weights_["content"] > 0
    # signals that need history never get a cold weight
    assert hybrid.cold_weights_["collaborative"] == 0.0
    assert hybrid.cold_weights_["sequence"] == 0.0


def test_cold_course_gets_its_text_neighbours_score():
    courses, cadres, comps, _ = checkerboard()
    new = courses.iloc[[0, 6]].copy()  # one new course per block (keeps document frequencies)
    new[C.COURSE_ID] = ["NEW01", "NEW02"]
    courses = pd.concat([courses, new], ignore_index=True)
    _text, data = prepare_data(courses, cadres, comps)
    collab = CollaborativeSignal(kind="ease", l2=1.0).fit(data)
    scores = collab.score(QueryBatch.for_cadres(data, np.arange(data.n_cadres)))
    new_col = data.course_ids.index["NEW01"]
    g0 = [data.cadre_ids.index[c] for c in data.cadre_ids.ids if c.startswith("G0")]
    g1 = [data.cadre_ids.index[c] for c in data.cadre_ids.ids if c.startswith("G1")]
    # an 应急管理 course nobody took scores like the 应急管理 block, for 应急管理 cadres
    assert scores[g0, new_col].mean() > scores[g1, new_col].mean()


class TestRP3beta(SignalContract):
    make_signal = staticmethod(lambda: RP3betaSignal(alpha=1.0, beta=0.5, neighbours=20))


# --------------------------------------------------------------- fit from statistics
def _fitted_arrays(obj, prefix: str = "") -> dict:
    """Every fitted array of a signal (attributes ending in ``_``, nested estimators and
    tables included), by path."""
    import scipy.sparse as sp

    out = {}
    if isinstance(obj, np.ndarray) or sp.issparse(obj):
        out[prefix] = obj.toarray() if sp.issparse(obj) else obj
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(_fitted_arrays(v, f"{prefix}[{i}]"))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_fitted_arrays(v, f"{prefix}[{k!r}]"))
    elif isinstance(obj, (int, float, str)):
        out[prefix] = obj
    elif hasattr(obj, "__dict__"):
        for k, v in vars(obj).items():
            if k.endswith("_") or k in ("cold", "nbrs", "weights", "matrix") or prefix:
                out.update(_fitted_arrays(v, f"{prefix}.{k}"))
    return out


def _sample_data():
    from recommender.data.loading import load_dataset

    ds = load_dataset(Path(__file__).resolve().parents[1] / "data" / "sample", write_rejects=False)
    return prepare_data(ds.courses, ds.cadres, ds.completions)[1]


def test_fit_is_statistics_then_fit_from_statistics_on_the_sample():
    """Each signal fitted from its statistics and the catalog side alone (no enrolment
    record within reach) holds exactly the arrays ``fit(data)`` gives."""
    from sklearn.base import clone

    from recommender.signals.base import CatalogMeta

    data = _sample_data()
    meta = CatalogMeta.of(data)
    assert not hasattr(meta, "rows") and not hasattr(meta, "history")
    signals = [
        *default_signals(DEFAULT_CONFIG, data.n_items),
        CollaborativeSignal(kind="itemknn", neighbours=30),
        SequenceSignal(max_gap=3),
    ]
    for signal in signals:
        assert signal.fits_from_statistics(), signal.name
        direct = _fitted_arrays(clone(signal).fit(data))
        stats = clone(signal).statistics(data)
        split = _fitted_arrays(clone(signal).fit_from_statistics(stats, meta))
        assert direct.keys() == split.keys() and direct, signal.name
        for key, value in direct.items():
            np.testing.assert_array_equal(split[key], value, err_msg=f"{signal.name}{key}")


def test_statistics_have_their_known_values():
    """Popularity counts, the Gram and the successions on data small enough to count."""
    import scipy.sparse as sp

    from recommender.signals.collaborative import gram_matrix
    from recommender.signals.popularity import popularity_counts
    from recommender.signals.sequence import successions

    now = np.datetime64("2024-07-01T00:00:00", "s")
    day = np.timedelta64(86400, "s")
    times = np.array([now, now - 10 * day, now, now])
    pop = popularity_counts(
        np.array([0, 1, 1, 2]),
        times,
        np.array([0, 0, 1, 1]),
        [("a",), ("b",)],
        3,
        half_life_days=10.0,
    )
    np.testing.assert_allclose(pop.counts.toarray(), [[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(pop.support, [2, 2])

    X = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]], np.float32))
    gram = gram_matrix(X)
    np.testing.assert_array_equal(gram.gram, [[1, 2, 0], [2, 5, 1], [0, 1, 1]])
    np.testing.assert_array_equal(gram.item_users, [1, 2, 1])

    # cadre 0 takes 2 → 0 → 1 (the tie at t=1 keeps input order); cadre 1 takes 1, 1, 2
    rows = np.array([0, 0, 0, 1, 1, 1])
    cols = np.array([0, 1, 2, 1, 1, 2])
    order = np.array([1, 1, 0, 5, 6, 7])
    s = successions(rows, cols, order, 3)
    expected = np.zeros((3, 3))
    expected[2, 0] = expected[0, 1] = expected[1, 2] = 1.0  # the repeat 1 → 1 is skipped
    np.testing.assert_array_equal(s.counts.toarray(), expected)
    np.testing.assert_array_equal(s.next_counts, [1.0, 2.0, 1.0])  # not a cadre's first


def test_hybrid_fits_signals_from_given_statistics():
    """``Hybrid.fit(statistics=…)`` fits those signals from them: the same blended scores."""
    from sklearn.base import clone

    courses, cadres, comps, _ = checkerboard()
    _text, data = prepare_data(courses, cadres, comps)
    signals = default_signals(DEFAULT_CONFIG, data.n_items)
    weights = {s.name: 1.0 for s in signals}
    plain = Hybrid(signals=signals, weights=weights, cold_weights=weights).fit(data)
    stats = {s.name: clone(s).statistics(data) for s in signals if s.name != "content"}
    given = Hybrid(signals=signals, weights=weights, cold_weights=weights)
    given.fit(data, statistics=stats)
    batch = QueryBatch.for_cadres(data, np.arange(data.n_cadres))
    np.testing.assert_array_equal(given.score(batch)[0], plain.score(batch)[0])
    # statistics from other data are used, not recomputed from ``data``
    half = data.subset(comps.iloc[: len(comps) // 2])
    other = {"popularity": clone(signals[2]).statistics(half)}
    moved = Hybrid(signals=signals, weights=weights, cold_weights=weights)
    moved.fit(data, statistics=other)
    assert not np.array_equal(
        moved.signal("popularity").score(batch), plain.signal("popularity").score(batch)
    )

"""Training in parallel (issue 22) fits the model the serial path fits: the final signal fit
beside the validation folds in threads, courses and profiles tokenised in worker processes
with their fields of work — the same weights, the same arrays, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.data.loading import load_dataset
from recommender.ranking import hybrid as hybrid_mod
from recommender.ranking.blend_search import BlendConfig
from recommender.ranking.pipeline import (
    DEFAULT_CONFIG,
    course_text,
    default_signals,
    prepare_data,
    profile_text,
)
from recommender.text import space as space_mod
from recommender.text.fields import FieldTaxonomy
from recommender.text.space import TextSpace
from recommender.text.tokenizer import ChineseTokenizer
from tests.conftest import SAMPLE as SAMPLE_DIR


@pytest.fixture(scope="module")
def sample():
    return load_dataset(SAMPLE_DIR, write_rejects=False)


@pytest.fixture(scope="module")
def sample_data(sample):
    return prepare_data(sample.courses, sample.cadres, sample.completions, DEFAULT_CONFIG)[1]


def _arrays(obj, prefix: str = "") -> dict[str, bytes]:
    """Every fitted array of an object (and of the objects it holds), as raw bytes."""
    out = {}
    for key, value in vars(obj).items():
        name = f"{prefix}{key}"
        if key.startswith("_serving"):
            continue
        if sp.issparse(value):
            value = value.tocsr()
            out[name] = b"|".join(
                np.ascontiguousarray(a).tobytes() for a in (value.data, value.indices, value.indptr)
            )
        elif isinstance(value, np.ndarray) and value.dtype != object:
            out[name] = np.ascontiguousarray(value).tobytes()
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            out.update(_arrays(value, name + "."))
    return out


def _fit(data, threads: int, monkeypatch, **blend):
    monkeypatch.setattr(hybrid_mod, "FIT_THREADS", threads)
    cfg = BlendConfig(**blend)
    return hybrid_mod.Hybrid(signals=default_signals(DEFAULT_CONFIG, data.n_items), blend=cfg).fit(
        data
    )


@pytest.mark.parametrize("protocol", ["temporal", "leave-last"])
def test_threaded_fit_is_the_serial_fit(sample_data, monkeypatch, protocol):
    """One fold (temporal) or two pooled folds (leave-last): the probes and the final fit in
    two threads give the weights, the validation report and the arrays of one thread."""
    serial = _fit(sample_data, 1, monkeypatch, protocol=protocol)
    threaded = _fit(sample_data, 2, monkeypatch, protocol=protocol)
    assert threaded.weights_ == serial.weights_
    assert threaded.cold_weights_ == serial.cold_weights_
    assert repr(threaded.validation_) == repr(serial.validation_)  # nan == nan as text
    assert serial.validation_["validation_cadres"] >= 50  # the weights were really fitted
    assert [s.name for s in threaded.signals_] == [s.name for s in serial.signals_]
    for a, b in zip(threaded.signals_, serial.signals_, strict=True):
        want = _arrays(b)
        assert want, f"{b.name}: no fitted arrays to compare"
        assert _arrays(a) == want, b.name


def test_a_failing_signal_fit_fails_the_fit(sample_data, monkeypatch):
    class Broken(default_signals(DEFAULT_CONFIG)[0].__class__):
        def fit(self, data):
            raise RuntimeError("broken on purpose")

    monkeypatch.setattr(hybrid_mod, "FIT_THREADS", 2)
    signals = [*default_signals(DEFAULT_CONFIG, sample_data.n_items)[1:], Broken()]
    with pytest.raises(RuntimeError, match="broken on purpose"):
        hybrid_mod.Hybrid(signals=signals).fit(sample_data)


def test_profiles_tokenised_with_their_fields_in_workers_as_one_by_one(sample, monkeypatch):
    """Courses and profiles tokenised in two worker processes, each profile normalised once
    for its tokens and its fields of work: the serial space, vectors and fields."""
    courses = course_text(sample.courses)
    profiles = [profile_text(r) for r in sample.cadres.to_dict("records")]
    profiles += ["", "乡村振兴 Excel 2026年 ☺ 黨風廉政", profiles[0]]
    taxonomy = FieldTaxonomy.load()
    serial = TextSpace(tokenizer=ChineseTokenizer()).fit(courses)
    monkeypatch.setenv(space_mod.JOBS_ENV, "2")
    monkeypatch.setattr(space_mod, "PARALLEL_MIN_TEXTS", 0)
    space = TextSpace(tokenizer=ChineseTokenizer())
    finish = space.fit_with_profiles(courses, profiles, taxonomy)
    vectors, fields = finish()
    assert list(space.terms_) == list(serial.terms_)
    assert (space.course_matrix_ != serial.course_matrix_).nnz == 0
    monkeypatch.setenv(space_mod.JOBS_ENV, "1")
    want = serial.transform(profiles)
    assert vectors.shape == want.shape and (vectors != want).nnz == 0
    np.testing.assert_array_equal(fields, taxonomy.match(profiles))
    assert fields[:-3].any(axis=1).mean() > 0.5  # most sample profiles name a field
    one = TextSpace(tokenizer=ChineseTokenizer()).fit_with_profiles(courses, profiles[:5])
    v1, f1 = one()  # in this process (few texts), no taxonomy: no fields
    assert f1 is None and (v1 != want[:5]).nnz == 0


def _plain_loss(Z, closed, share):
    """The listwise loss as it was written before the buffered, threaded one."""

    def loss(w):
        s = sum(np.float32(wn) * z for wn, z in zip(w, Z, strict=True))
        s = np.where(closed, -np.inf, s)
        top = s.max(axis=1, keepdims=True)
        e = np.exp(s - top)
        total = e.sum(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(total[:, 0])
        gap = e / total - share
        picked = (np.where(share > 0, s, 0.0) * share).sum(axis=1)
        return float(np.mean(lse - picked)), np.array([float((gap * z).sum()) for z in Z]) / len(
            share
        )

    return loss


@pytest.mark.parametrize("rows", [1, 7, 600])
def test_threaded_listwise_loss_is_the_plain_loss_bit_for_bit(rows):
    from concurrent.futures import ThreadPoolExecutor

    from recommender.ranking.listwise import _Loss

    rng = np.random.default_rng(rows)
    items = 700
    Z = [rng.standard_normal((rows, items)).astype(np.float32) for _ in range(6)]
    closed = rng.random((rows, items)) < 0.3
    target = (rng.random((rows, items)) < 0.01) & ~closed
    target[np.arange(rows), rng.integers(0, items, rows)] = True
    closed &= ~target
    share = target.astype(np.float32)
    share /= share.sum(axis=1, keepdims=True)
    plain, loss = _plain_loss(Z, closed, share), _Loss(Z, closed, share)
    with ThreadPoolExecutor(2) as pool:
        for threads in (None, pool):
            loss.pool = threads
            for _ in range(4):
                w = rng.random(len(Z)) * 3
                w[rng.integers(0, len(Z))] = 0.0
                (v1, g1), (v2, g2) = plain(w), loss(w)
                assert v1 == v2 and g1.tobytes() == g2.tobytes()


def test_split_reuses_the_records_indices(sample_data):
    """A validation split takes its records' cadre/course indices from the whole data's
    (not looked up again): the same training data as building it from the records."""
    from recommender.data.training import TrainingData, temporal_split

    train, _ = sample_data.split_time(0.1)
    part, _ = temporal_split(sample_data.completions, 0.1)
    built = TrainingData.build(sample_data.courses, sample_data.cadres, part)
    assert (train.history != built.history).nnz == 0
    assert train.history.dtype == built.history.dtype
    for name in ("rows", "cols", "times", "quality", "context"):
        np.testing.assert_array_equal(getattr(train, name), getattr(built, name))
    assert train.segments == built.segments and train.now == built.now
    again, _ = train.split_last()  # a split of a split: indices of the records kept
    direct = TrainingData.build(sample_data.courses, sample_data.cadres, again.completions)
    assert (again.history != direct.history).nnz == 0
    np.testing.assert_array_equal(again.rows, direct.rows)


def test_train_starts_the_text_while_the_records_load(tmp_path, monkeypatch, sample):
    """``train`` starts tokenising once the courses and cadres are read (once, not again in
    the fit) and publishes the model ``fit_model`` fits from the loaded data."""
    from recommender.lifecycle import train as train_mod
    from recommender.lifecycle.artifacts import load_model
    from recommender.ranking import pipeline

    calls = []
    real = pipeline.start_text

    def counted(courses, cadres, *a, **kw):
        calls.append(len(courses))
        return real(courses, cadres, *a, **kw)

    monkeypatch.setattr(pipeline, "start_text", counted)
    monkeypatch.setattr(train_mod, "start_text", counted)
    path = train_mod.train(
        SAMPLE_DIR, tmp_path / "models", rejects_dir=tmp_path, events_path=tmp_path / "x.sqlite3"
    )
    assert calls == [len(sample.courses)]
    model = load_model(path)
    fitted = train_mod.fit_model(sample)
    assert model.hybrid.weights_ == fitted.hybrid.weights_
    assert (model.profile_vectors_ != fitted.profile_vectors_).nnz == 0
    np.testing.assert_array_equal(model.fields_, fitted.fields_)

"""Quality vs peers: the hybrid against its own baselines, implicit ALS and LightFM.

One temporal split (last 20 % of enrolments = test), k = 10, the relevance definition of
``recommender.lifecycle.evaluate`` (a test cadre's relevant set = test-period courses not taken in
training; training-history courses removed from every ranking). The hybrid and its baselines
come from ``evaluate_model``; the peers are scored through the same ``_relevant`` /
``_topk`` / ``_slice_rows`` path, and that path is checked by re-scoring the hybrid through it.

Peers are tuned honestly: each grid point is fitted on the earlier 90 % of the *training*
enrolments and scored (NDCG@10) on the last 10 % of them — the same holdout the hybrid uses
to fit its blend weights — then the best point is refitted on the whole training part.

    .venv/bin/python -m benchmarks.bench_quality [--quick] [--scales sample medium]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from benchmarks.common import Section, blas_single_thread, dataset_dir
from recommender.data.loading import load_dataset
from recommender.lifecycle.evaluate import _relevant, _slice_rows, _topk, evaluate_model, split_completions
from recommender.data.features import interaction_matrix
from recommender.lifecycle.train import TrainParams, make_hybrid
from recommender.ranking.blend_search import batch_ndcg, temporal_holdout

K = 10
#: peer grids (the issue's); --quick shrinks them
ALS_GRID = {"factors": (32, 64, 128), "regularization": (0.01, 0.1), "alpha": (1.0, 10.0)}
ALS_ITERATIONS = 15
LFM_GRID = {"no_components": (32, 64), "epochs": (10, 30), "learning_rate": (0.05,)}
MAX_VALID_CADRES = 2000  # the hybrid's own max_validation_cadres

Scorer = Callable[[np.ndarray, sp.csr_matrix], np.ndarray]


# ------------------------------------------------------------------ scoring path
def rank_rows(
    model, test: pd.DataFrame, scorers: dict[str, Scorer], k: int = K, batch: int = 512
) -> pd.DataFrame:
    """evaluate_model's metric rows for arbitrary scorers f(user_rows, history) → scores."""
    users, rel = _relevant(model, test)
    has_hist = np.asarray(model.history_[users].getnnz(axis=1) > 0)
    cold_items = model.item_counts_ == 0
    rel_sets = [rel.indices[rel.indptr[u] : rel.indptr[u + 1]] for u in users]
    closed = _closed(model)
    rows = []
    for name, fn in scorers.items():
        tops = []
        for start in range(0, len(users), batch):
            u = users[start : start + batch]
            hist = model.history_[u]
            s = np.array(fn(u, hist), dtype=np.float32)
            s[hist.toarray() > 0] = -np.inf
            s[:, closed] = -np.inf  # evaluate_model's filter: sessions already started
            tops.append(_topk(s, k))
        rows += _slice_rows(name, np.vstack(tops), rel_sets, has_hist, cold_items, model, k)
    return pd.DataFrame(rows)


def _closed(model) -> np.ndarray:
    """Courses evaluate_model removes from every ranking (sessions that began before the
    split); none when the library has no such filter."""
    if hasattr(model, "open_courses"):
        return ~np.asarray(model.open_courses(), dtype=bool)
    return np.zeros(len(model.courses_), dtype=bool)


def with_fallback(fn: Scorer, fallback: np.ndarray) -> Scorer:
    """Rows without history get ``fallback`` scores (a peer that cannot score cold cadres)."""

    def score(users, hist):
        s = np.array(fn(users, hist), dtype=np.float32)
        cold = np.asarray(hist.getnnz(axis=1) == 0)
        s[cold] = fallback
        return s

    return score


def overall_popularity(model) -> np.ndarray:
    """The hybrid's own overall-popularity scores (what the `popularity` baseline ranks by)."""
    comps = model.components(
        model.profile_vectors_[:1],
        model.history_[:1],
        [model.segments_[0]],
        model.last_items_[:1],
        needed=("popularity_overall",),
    )
    return np.asarray(comps["popularity_overall"][0], dtype=np.float32)


# ------------------------------------------------------------------------ peers
class ALSPeer:
    """implicit's CPU ALS on the hybrid's own interaction weights (confidence = alpha · w)."""

    name = "implicit_als"

    def __init__(self, factors: int, regularization: float, alpha: float, seed: int = 0):
        self.params = dict(factors=factors, regularization=regularization, alpha=alpha)
        self.seed = seed

    def fit(self, X: sp.csr_matrix) -> ALSPeer:
        from implicit.cpu.als import AlternatingLeastSquares

        with blas_single_thread():  # implicit's own advice: it threads itself
            self.model = AlternatingLeastSquares(
                **self.params, iterations=ALS_ITERATIONS, random_state=self.seed, num_threads=0
            )
            self.model.fit(X.tocsr().astype(np.float32), show_progress=False)
        return self

    def scorer(self, fallback: np.ndarray) -> Scorer:
        uf, itf = self.model.user_factors, self.model.item_factors
        return with_fallback(lambda u, h: uf[u] @ itf.T, fallback)


class LightFMPeer:
    """LightFM WARP; ``features`` adds TF-IDF item (course text) and user (profile) features."""

    def __init__(
        self,
        no_components: int,
        learning_rate: float,
        *,
        features: bool,
        item_text: sp.csr_matrix | None = None,
        user_text: sp.csr_matrix | None = None,
        seed: int = 0,
    ):
        from lightfm import LightFM

        self.features = features
        self.name = "lightfm_warp+features" if features else "lightfm_warp"
        self.params = dict(no_components=no_components, learning_rate=learning_rate)
        self.model = LightFM(loss="warp", random_state=seed, **self.params)
        self.item_features = self.user_features = None
        if features:
            self.item_features = _identity_plus(item_text)
            self.user_features = _identity_plus(user_text)
        self.epochs_done = 0

    def fit_more(self, X: sp.csr_matrix, epochs: int) -> LightFMPeer:
        """Continue training to ``epochs`` in total (fit(epochs=30) ≡ fit(10) then +20)."""
        coo = X.tocoo()
        ones = sp.coo_matrix((np.ones_like(coo.data), (coo.row, coo.col)), shape=X.shape)
        self.model.fit_partial(
            ones,
            user_features=self.user_features,
            item_features=self.item_features,
            sample_weight=coo,
            epochs=epochs - self.epochs_done,
            num_threads=2,
        )
        self.epochs_done = epochs
        return self

    def scorer(self, fallback: np.ndarray) -> Scorer:
        _, ue = self.model.get_user_representations(self.user_features)
        ib, ie = self.model.get_item_representations(self.item_features)
        fn = lambda u, h: ue[u] @ ie.T + ib  # noqa: E731
        # without user features a cold cadre's embedding is its untrained random init
        return fn if self.features else with_fallback(fn, fallback)


def _identity_plus(text: sp.csr_matrix) -> sp.csr_matrix:
    """[identity | TF-IDF] rows L1-normalised (what lightfm.data.Dataset builds by default)."""
    n = text.shape[0]
    return normalize(
        sp.hstack(
            [sp.identity(n, format="csr", dtype=np.float32), text.astype(np.float32)]
        ).tocsr(),
        norm="l1",
    )


# ------------------------------------------------------------------- validation
class Validation:
    """Grid-search holdout carved from the training enrolments only."""

    def __init__(self, model, train: pd.DataFrame, fraction: float, seed: int):
        inner, valid = temporal_holdout(train, fraction)
        self.X = interaction_matrix(inner, model.cadres_, model.courses_)
        rows = model.cadres_.lookup(valid["cadre_id"])
        cols = model.courses_.lookup(valid["course_id"])
        ok = (rows >= 0) & (cols >= 0)
        rel = sp.csr_matrix(
            (np.ones(ok.sum(), np.float32), (rows[ok], cols[ok])), shape=self.X.shape
        )
        rel = (rel - rel.multiply(self.X > 0)).tocsr()
        rel.eliminate_zeros()
        users = np.flatnonzero(rel.getnnz(axis=1) > 0)
        if len(users) > MAX_VALID_CADRES:
            rng = np.random.default_rng(seed)
            users = np.sort(rng.choice(users, MAX_VALID_CADRES, replace=False))
        self.users, self.relevant = users, rel[users].toarray() > 0
        self.popularity = np.asarray((self.X > 0).sum(axis=0), dtype=np.float32).ravel()

    def ndcg(self, scorer: Scorer) -> float:
        hist = self.X[self.users]
        s = np.array(scorer(self.users, hist), dtype=np.float32)
        s[hist.toarray() > 0] = -np.inf
        return float(batch_ndcg(s, self.relevant, K).mean())


def tune_als(val: Validation, X_train: sp.csr_matrix, quick: bool, seed: int, fallback):
    grid = (
        {"factors": (64,), "regularization": (0.01, 0.1), "alpha": (10.0,)} if quick else ALS_GRID
    )
    rows = []
    for f, r, a in itertools.product(*grid.values()):
        t0 = time.perf_counter()
        peer = ALSPeer(f, r, a, seed).fit(val.X)
        rows.append(
            {
                "peer": "implicit_als",
                "factors": f,
                "regularization": r,
                "alpha": a,
                "iterations": ALS_ITERATIONS,
                "valid_ndcg@10": val.ndcg(peer.scorer(val.popularity)),
                "fit_s": time.perf_counter() - t0,
            }
        )
    best = max(rows, key=lambda r: r["valid_ndcg@10"])
    t0 = time.perf_counter()
    peer = ALSPeer(best["factors"], best["regularization"], best["alpha"], seed).fit(X_train)
    return peer.scorer(fallback), rows, best, time.perf_counter() - t0


def tune_lightfm(val: Validation, X_train, model, quick: bool, seed: int, fallback, features):
    grid = (
        {"no_components": (32,), "epochs": (5, 10), "learning_rate": (0.05,)} if quick else LFM_GRID
    )
    kw = dict(
        features=features,
        item_text=model.content_.course_matrix_,
        user_text=model.profile_vectors_,
        seed=seed,
    )
    rows = []
    for comps, lr in itertools.product(grid["no_components"], grid["learning_rate"]):
        peer, t0 = LightFMPeer(comps, lr, **kw), time.perf_counter()
        for epochs in sorted(grid["epochs"]):  # one run per (components, lr), read at each epoch
            peer.fit_more(val.X, epochs)
            rows.append(
                {
                    "peer": peer.name,
                    "no_components": comps,
                    "epochs": epochs,
                    "learning_rate": lr,
                    "valid_ndcg@10": val.ndcg(peer.scorer(val.popularity)),
                    "fit_s": time.perf_counter() - t0,
                }
            )
    best = max(rows, key=lambda r: r["valid_ndcg@10"])
    t0 = time.perf_counter()
    peer = LightFMPeer(best["no_components"], best["learning_rate"], **kw)
    peer.fit_more(X_train, best["epochs"])
    return peer.scorer(fallback), rows, best, time.perf_counter() - t0


# ---------------------------------------------------------------------- one run
def run_scale(scale: str, *, quick: bool, seed: int = 0, peers=("als", "lightfm")) -> dict:
    """Everything for one dataset: metric table, grids, timings."""
    ds = load_dataset(dataset_dir(scale))
    train, test = split_completions(ds.completions, "temporal", fraction=0.2)
    t0 = time.perf_counter()
    model = make_hybrid(TrainParams(seed=seed)).fit(ds.courses, ds.cadres, train)
    fit_s = {"hybrid (all baselines share its fit)": time.perf_counter() - t0}
    report = evaluate_model(model, test, k=K, seed=seed)
    table = report.table
    X = model.history_  # the hybrid's own training interactions and confidence weights
    fallback = overall_popularity(model)  # = the "popularity" baseline's scores
    scorers: dict[str, Scorer] = {"hybrid_recheck": lambda u, h: model.score_cadres(u)}
    grids, best = [], {}
    val = Validation(model, train, model.validation_fraction, seed)
    if "als" in peers:
        fn, rows, b, s = tune_als(val, X, quick, seed, fallback)
        scorers["implicit_als"], best["implicit_als"], fit_s["implicit_als (refit)"] = fn, b, s
        grids += rows
    if "lightfm" in peers:
        for features in (False, True):
            fn, rows, b, s = tune_lightfm(val, X, model, quick, seed, fallback, features)
            name = rows[0]["peer"]
            scorers[name], best[name], fit_s[f"{name} (refit)"] = fn, b, s
            grids += rows
    peer_table = rank_rows(model, test, scorers)
    check = peer_table[(peer_table.model == "hybrid_recheck") & (peer_table.slice == "all")]
    ref = table[(table.model == "hybrid") & (table.slice == "all")]
    recheck_delta = abs(float(check["ndcg@10"].iloc[0]) - float(ref["ndcg@10"].iloc[0]))
    table = pd.concat([table, peer_table[peer_table.model != "hybrid_recheck"]], ignore_index=True)
    return {
        "scale": scale,
        "table": table,
        "grids": pd.DataFrame(grids),
        "best": best,
        "fit_s": fit_s,
        "details": report.details,
        "recheck_delta": recheck_delta,
        "n": (len(ds.cadres), len(ds.courses), len(train), len(test)),
    }


COLD_NOTE = {
    "random": "random",
    "popularity": "same list for all",
    "segment_popularity": "segment list",
    "content": "profile text",
    "ease": "no history → zero scores (ties)",
    "itemknn": "no history → zero scores (ties)",
    "hybrid": "content + segment popularity",
    "implicit_als": "popularity fallback",
    "lightfm_warp": "popularity fallback",
    "lightfm_warp+features": "own model (profile TF-IDF user features)",
}


def summary(res: dict) -> pd.DataFrame:
    t = res["table"]
    allr = t[t.slice == "all"].set_index("model")
    cold = t[t.slice == "cold_cadres"].set_index("model")
    cc = t[t.slice == "cold_courses"].set_index("model")
    out = pd.DataFrame(
        {
            "model": allr.index,
            f"recall@{K}": allr[f"recall@{K}"].to_numpy(),
            f"ndcg@{K}": allr[f"ndcg@{K}"].to_numpy(),
            f"map@{K}": allr[f"map@{K}"].to_numpy(),
            "coverage": allr["coverage"].to_numpy(),
            f"cold_cadre_ndcg@{K}": cold[f"ndcg@{K}"].reindex(allr.index).to_numpy(),
            f"cold_course_ndcg@{K}": cc[f"ndcg@{K}"].reindex(allr.index).to_numpy(),
            "cold cadres scored by": [COLD_NOTE.get(m, "") for m in allr.index],
        }
    )
    hybrid = float(allr.loc["hybrid", f"ndcg@{K}"])
    out["hybrid / model (ndcg)"] = hybrid / out[f"ndcg@{K}"]
    return out


def verdict(res: dict) -> str:
    s = summary(res).set_index("model")
    others = s.drop(index=["hybrid", "random"])
    best = others[f"ndcg@{K}"].idxmax()
    h, b = s.loc["hybrid", f"ndcg@{K}"], others.loc[best, f"ndcg@{K}"]
    ok = "meets" if h >= 1.10 * b else ("ahead, but below" if h > b else "MISSES")
    return (
        f"{res['scale']}: hybrid NDCG@{K} {h:.4f} vs best other {best} {b:.4f} → "
        f"×{h / b:.3f} ({(h / b - 1) * 100:+.1f} %); {ok} the ≥ +10 % target"
    )


def main(argv: list[str] | None = None) -> Section:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sample only, tiny grids")
    ap.add_argument("--scales", nargs="+", default=None, help="default: sample medium")
    ap.add_argument("--no-lightfm", action="store_true")
    args = ap.parse_args(argv)
    scales = args.scales or (["sample"] if args.quick else ["sample", "medium"])
    peers = ("als",) if args.no_lightfm else ("als", "lightfm")
    try:
        import lightfm  # noqa: F401
    except ImportError:
        peers = ("als",)
    sec = Section(
        "Quality vs peers (temporal split, k = 10)",
        "python -m benchmarks.bench_quality" + (" --quick" if args.quick else ""),
    )
    t_all = time.perf_counter()
    for scale in scales:
        res = run_scale(scale, quick=args.quick, peers=peers)
        n_cad, n_course, n_train, n_test = res["n"]
        d = res["details"]
        sec.add(
            f"{scale}: {n_cad} cadres, {n_course} courses, {n_train} train / {n_test} test "
            f"enrolments; {d['test_cadres']} test cadres ({d['cold_cadres']} cold), "
            f"{d['cold_courses']} cold courses",
            summary(res),
        )
        sec.add(
            f"{scale}: peer grids (validation = last 10 % of the training enrolments, "
            f"≤ {MAX_VALID_CADRES} cadres, NDCG@{K}); best refitted on all training data",
            res["grids"],
        )
        sec.add(
            f"{scale}: fit seconds",
            pd.DataFrame([{"what": k, "seconds": v} for k, v in res["fit_s"].items()]),
            ".1f",
        )
        sec.note(verdict(res))
        sec.note(
            f"{scale}: hybrid re-scored through the peers' path differs from "
            f"evaluate_model by {res['recheck_delta']:.2e} NDCG (apples to apples check)"
        )
        if "lightfm" not in peers:
            sec.note("LightFM rows left out: the `lightfm` module is not installed")
    sec.note(
        "Peers without features cannot place a cadre with no training history: their "
        "cold rows use the overall popularity scores (the `popularity` baseline). "
        "lightfm_warp+features scores cold cadres from their profile TF-IDF itself."
    )
    sec.seconds = time.perf_counter() - t_all
    sec.save("quality")
    return sec


if __name__ == "__main__":
    main()

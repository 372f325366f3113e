"""Quality in both worlds: the hybrid against its baselines and tuned peers, plus real posts.

1. **Synthetic sample** (``data/sample``, or generated scales): temporal split (last 20 % of
   enrolments = test; relevant = test courses the cadre chose and had not taken). The hybrid
   and its baselines come from ``evaluate_hybrid``; the peers (implicit ALS, LightFM WARP
   with and without text features, EASE with λ tuned, item-kNN, RP3beta) are ranked through
   the same relevance / open-course filter / top-k / slice code, checked by re-scoring the
   hybrid through it.
2. **Real behaviour** (``--real PATH``, default ``../shared/data/icourse163``): train on
   ``PATH/train``, score ``PATH/test_dev.csv`` leave-last (exactly
   ``evaluate(dataset, test=frame)``); NDCG@10 and Recall@10.
3. **Real job profiles**: the model trained on ``data/sample`` recommends for real Hubei
   posts whose duties name one field (:mod:`benchmarks.real_posts`), cold start.

Peers are tuned honestly on a validation split carved from the training part only (sample:
the last 10 % of training enrolments by time, the split the hybrid fits its blend on; real:
the last course of every learner with ≥ 2 training courses), then refitted on all of it.

    .venv/bin/python -m benchmarks.bench_quality [--quick] [--real PATH] [--scales sample medium]
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from benchmarks import real_posts
from benchmarks.common import OUT, REAL_DATA, ROOT, SAMPLE, Section, blas_single_thread, dataset_dir
from benchmarks.rp3beta import RP3betaSignal
from recommender.data.loading import load_dataset
from recommender.data.training import TrainingData
from recommender.lifecycle.evaluate import evaluate_hybrid, slice_rows, split_completions

# the courses evaluate_hybrid lets a list hold: peers face the request path's own policy
from recommender.ranking.blend_search import (
    batch_ndcg,
    chosen,
    listable,
    relevance,
)
from recommender.ranking.candidates import CandidatePolicy
from recommender.ranking.hybrid import Hybrid
from recommender.ranking.pipeline import (
    DEFAULT_CONFIG,
    default_signals,
    fit_recommender,
    prepare_data,
)
from recommender.ranking.scaling import top_k
from recommender.signals.base import QueryBatch, Signal
from recommender.signals.collaborative import CollaborativeSignal
from recommender.signals.popularity import PopularitySignal

K = 10
CFG = DEFAULT_CONFIG
Scorer = Callable[[QueryBatch, np.ndarray], np.ndarray]  # (batch, cadre rows) → scores


# ------------------------------------------------------------------------ grids
def grids(quick: bool) -> dict[str, list[dict]]:
    """Peer grids; ``quick`` keeps the cheap item–item grids and shrinks ALS / LightFM."""

    def product(**axes) -> list[dict]:
        return [dict(zip(axes, v, strict=True)) for v in itertools.product(*axes.values())]

    als = product(factors=(4, 64), regularization=(1.0,), alpha=(0.1, 10.0))
    lfm = product(no_components=(32,), learning_rate=(0.05,), epochs=(2, 10))
    lfm_text = product(no_components=(32,), learning_rate=(0.05,), top_terms=(10,), epochs=(2,))
    rp3 = product(alpha=(0.25, 0.5, 1.0), beta=(0.0, 0.3, 0.6), neighbours=(10, 50, 200))
    if not quick:
        als = product(
            factors=(4, 16, 64, 128), regularization=(0.1, 1.0, 10.0, 30.0), alpha=(0.1, 1, 10)
        )
        lfm = product(no_components=(16, 64), learning_rate=(0.05,), epochs=(2, 5, 10, 30))
        lfm_text = product(
            no_components=(16, 64), learning_rate=(0.05,), top_terms=(10, 50), epochs=(2, 5, 10)
        )
        rp3 = product(
            alpha=(0.25, 0.5, 0.75, 1.0, 1.25),
            beta=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
            neighbours=(5, 10, 25, 50, 100, 300),
        )
    return {
        "ease_tuned": product(l2=(1, 3, 10, 50, 200, 1000, 5000, 25000, 100000)),
        "itemknn_tuned": product(neighbours=(1, 2, 5, 10, 20, 50, 100, 200, 400)),
        "rp3beta": rp3,
        "implicit_als": als,
        "lightfm_warp": lfm,
        "lightfm_warp+text": lfm_text,
    }


# ------------------------------------------------------------------------ peers
def with_fallback(fn: Scorer, pop: Signal) -> Scorer:
    """Rows without history get the overall popularity (the ``popularity`` baseline)."""

    def score(batch: QueryBatch, users: np.ndarray) -> np.ndarray:
        s = np.array(fn(batch, users), dtype=np.float32)
        cold = ~batch.has_history
        if cold.any():
            s[cold] = pop.score(batch)[cold]
        return s

    return score


def signal_scorer(signal: Signal, data: TrainingData) -> Scorer:
    fitted = signal.fit(data)
    return lambda batch, users: fitted.score(batch)


def fit_als(data: TrainingData, p: dict) -> Scorer:
    from implicit.cpu.als import AlternatingLeastSquares

    with blas_single_thread():  # implicit's own advice: it threads itself
        als = AlternatingLeastSquares(
            factors=p["factors"],
            regularization=p["regularization"],
            alpha=p["alpha"],
            iterations=15,
            random_state=0,
            num_threads=2,
        )
        als.fit(data.history.tocsr().astype(np.float32), show_progress=False)
    uf, itf = np.asarray(als.user_factors), np.asarray(als.item_factors)
    return lambda batch, users: uf[users] @ itf.T


def top_terms(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Each row's ``n`` largest entries."""
    m = m.tocsr().astype(np.float32)
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        keep = np.argsort(-m.data[lo:hi], kind="stable")[:n]
        rows.append(np.full(len(keep), r))
        cols.append(m.indices[lo:hi][keep])
        vals.append(m.data[lo:hi][keep])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape
    )


def _identity_plus(text: sp.csr_matrix) -> sp.csr_matrix:
    """[identity | text] rows L1-normalised (what lightfm.data.Dataset builds by default)."""
    eye = sp.identity(text.shape[0], format="csr", dtype=np.float32)
    return normalize(sp.hstack([eye, text.astype(np.float32)]).tocsr(), norm="l1")


class LightFMRuns:
    """LightFM WARP fits that continue training along the epochs axis of a grid (fit(10) ≡
    fit(2) + 8 more), so one run per other-parameter combination reads every epoch count."""

    def __init__(self) -> None:
        self.runs: dict = {}

    def __call__(self, data: TrainingData, p: dict) -> Scorer:
        from lightfm import LightFM

        key = (id(data), *[(k, v) for k, v in sorted(p.items()) if k != "epochs"])
        run = self.runs.get(key)
        if run is None or run["epochs"] > p["epochs"]:
            uf = itf = None
            if "top_terms" in p:
                itf = _identity_plus(top_terms(data.course_vectors, p["top_terms"]))
                uf = _identity_plus(top_terms(data.profile_vectors, p["top_terms"]))
            model = LightFM(
                loss="warp",
                no_components=p["no_components"],
                learning_rate=p["learning_rate"],
                random_state=0,
            )
            run = self.runs[key] = {"model": model, "epochs": 0, "uf": uf, "itf": itf}
        coo = data.history.tocoo()
        ones = sp.coo_matrix((np.ones_like(coo.data), (coo.row, coo.col)), shape=coo.shape)
        run["model"].fit_partial(
            ones,
            user_features=run["uf"],
            item_features=run["itf"],
            sample_weight=coo,
            epochs=p["epochs"] - run["epochs"],
            num_threads=2,
        )
        run["epochs"] = p["epochs"]
        _, ue = run["model"].get_user_representations(run["uf"])
        ib, ie = run["model"].get_item_representations(run["itf"])
        return lambda batch, users: ue[users] @ ie.T + ib


def peer_fitters() -> dict[str, Callable[[TrainingData, dict], Scorer]]:
    """Peer name → fit(data, params) returning a scorer (cold cadres not handled)."""
    return {
        "ease_tuned": lambda d, p: signal_scorer(CollaborativeSignal(kind="ease", **p), d),
        "itemknn_tuned": lambda d, p: signal_scorer(CollaborativeSignal(kind="itemknn", **p), d),
        "rp3beta": lambda d, p: signal_scorer(RP3betaSignal(**p), d),
        "implicit_als": fit_als,
        "lightfm_warp": LightFMRuns(),
        "lightfm_warp+text": LightFMRuns(),
    }


#: how each model ranks a cadre with no training history
COLD_NOTE = {
    "random": "random",
    "popularity": "same list for all",
    "segment_popularity": "segment list",
    "content": "profile text",
    "ease": "zero scores (ties)",
    "itemknn": "zero scores (ties)",
    "hybrid": "content + segment popularity",
    "hybrid+rp3beta": "content + segment popularity",
    "lightfm_warp+text": "own model (profile TF-IDF user features)",
}


# ------------------------------------------------------------------- validation
class Validation:
    """Held-out targets carved from the training part; NDCG@10 of a scorer on them."""

    def __init__(self, data: TrainingData, holdout: pd.DataFrame, max_cadres: int, seed=0):
        rel = relevance(data, holdout)
        users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
        if len(users) > max_cadres:
            rng = np.random.default_rng(seed)
            users = np.sort(rng.choice(users, size=max_cadres, replace=False))
        self.data, self.users = data, users
        self.batch = QueryBatch.for_cadres(data, users)
        self.relevant = rel[users].toarray() > 0
        self.seen = ~listable(CandidatePolicy(data.courses), data, users, self.batch.history)
        self.pop = overall_popularity(data)

    def ndcg(self, scorer: Scorer) -> float:
        s = np.array(with_fallback(scorer, self.pop)(self.batch, self.users), dtype=np.float32)
        s[self.seen] = -np.inf
        return float(batch_ndcg(s, self.relevant, K).mean())


def overall_popularity(data: TrainingData) -> Signal:
    days = CFG.signals.popularity_half_life_days
    return PopularitySignal(scope="overall", half_life_days=days).fit(data)


def tune(name: str, grid: list[dict], fit, val: Validation, data: TrainingData):
    """Grid rows with validation NDCG, the best params, and the best refitted on ``data``."""
    rows = []
    for p in grid:
        t0 = time.perf_counter()
        score = val.ndcg(fit(val.data, p))
        rows.append({"peer": name, **p, "valid_ndcg@10": score, "fit_s": time.perf_counter() - t0})
    best = max(rows, key=lambda r: r["valid_ndcg@10"])
    params = {k: best[k] for k in grid[0]}
    t0 = time.perf_counter()
    scorer = with_fallback(fit(data, params), overall_popularity(data))
    return rows, params, scorer, time.perf_counter() - t0


def tune_all(val: Validation, data: TrainingData, quick: bool, peers: list[str]) -> dict:
    fitters, out = peer_fitters(), {"grids": [], "best": {}, "scorers": {}, "fit_s": {}}
    for name, grid in grids(quick).items():
        if name not in peers:
            continue
        t0 = time.perf_counter()
        rows, params, scorer, refit_s = tune(name, grid, fitters[name], val, data)
        out["grids"] += rows
        out["best"][name] = params
        out["scorers"][name] = scorer
        out["fit_s"][name] = (len(grid), time.perf_counter() - t0, refit_s)
        print(f"[tune] {name}: {len(grid)} points, best {params}", flush=True)
    return out


# ---------------------------------------------------------------- scoring path
def rank_rows(data: TrainingData, test: pd.DataFrame, scorers: dict[str, Scorer]) -> pd.DataFrame:
    """``evaluate_hybrid``'s metric rows for arbitrary scorers, through the same filters."""
    rel = relevance(data, test)
    users = np.flatnonzero(np.asarray(rel.getnnz(axis=1) > 0))
    policy = CandidatePolicy(data.courses)
    tops: dict[str, list] = {name: [] for name in scorers}
    for start in range(0, len(users), 256):
        u = users[start : start + 256]
        batch = QueryBatch.for_cadres(data, u)
        seen = ~listable(policy, data, u, batch.history)
        for name, fn in scorers.items():
            s = np.array(fn(batch, u), dtype=np.float32)
            s[seen] = -np.inf
            tops[name].append(top_k(s, K))
    has_hist = np.asarray(data.history[users].getnnz(axis=1) > 0)
    rel_sets = [rel.indices[rel.indptr[u] : rel.indptr[u + 1]] for u in users]
    cold_items = data.item_counts() == 0
    rows = []
    for name, parts in tops.items():
        rows += slice_rows(name, np.vstack(parts), rel_sets, has_hist, cold_items, data, K)
    return pd.DataFrame(rows)


@dataclass
class WorldResult:
    """One world's metric table (model × slice), tuning results and timings."""

    name: str
    table: pd.DataFrame
    tuned: dict
    details: dict
    fit_s: dict[str, float] = field(default_factory=dict)
    recheck_delta: float = float("nan")


def run_world(name, data, test, val, *, quick: bool, peers: list[str]) -> WorldResult:
    """Hybrid + baselines (evaluate_hybrid), tuned peers and hybrid+rp3beta on one split."""
    t0 = time.perf_counter()
    signals = default_signals(CFG, data.n_items)
    hybrid = Hybrid(signals=signals, blend=CFG.blend).fit(data)
    fit_s = {"hybrid": time.perf_counter() - t0}
    report = evaluate_hybrid(hybrid, data, test, k=K, seed=CFG.blend.random_state)
    tuned = tune_all(val, data, quick, peers)
    scorers: dict[str, Scorer] = {"hybrid_recheck": lambda b, u: hybrid.score(b)[0]}
    if "rp3beta" in tuned["best"]:
        t0 = time.perf_counter()
        rp3 = RP3betaSignal(**tuned["best"]["rp3beta"])
        with_rp3 = Hybrid(signals=[*signals, rp3], blend=CFG.blend).fit(data)
        fit_s["hybrid+rp3beta"] = time.perf_counter() - t0
        scorers["hybrid+rp3beta"] = lambda b, u: with_rp3.score(b)[0]
        tuned["best"]["hybrid+rp3beta"] = {"weights": _weights(with_rp3)}
    scorers.update(tuned["scorers"])
    peer_rows = rank_rows(data, test, scorers)
    ref = report.table.query("model == 'hybrid' and slice == 'all'")["ndcg@10"].iloc[0]
    check = peer_rows.query("model == 'hybrid_recheck' and slice == 'all'")["ndcg@10"].iloc[0]
    table = pd.concat(
        [report.table, peer_rows[peer_rows.model != "hybrid_recheck"]], ignore_index=True
    )
    tuned["best"]["hybrid"] = {"weights": _weights(hybrid)}
    return WorldResult(name, table, tuned, report.details, fit_s, abs(float(check - ref)))


def _weights(hybrid: Hybrid) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in hybrid.weights_.items() if v)


# ----------------------------------------------------------------------- worlds
def sample_world(scale: str, quick: bool, peers: list[str]) -> tuple[WorldResult, tuple]:
    ds = load_dataset(dataset_dir(scale), write_rejects=False)
    train, test = split_completions(ds.completions, "temporal", fraction=0.2)
    _, data = prepare_data(ds.courses, ds.cadres, train, CFG)
    inner, holdout = data.split_time(CFG.blend.validation_fraction)
    val = Validation(inner, chosen(holdout), max_cadres=CFG.blend.max_validation_cadres)
    res = run_world(scale, data, chosen(test), val, quick=quick, peers=peers)
    return res, (len(ds.cadres), len(ds.courses), len(train), len(test), len(val.users))


def real_world(path: Path, quick: bool, peers: list[str]) -> tuple[WorldResult, tuple]:
    """Train on PATH/train, score PATH/test_dev.csv (= evaluate(dataset, test=frame))."""
    ds = load_dataset(path / "train", write_rejects=False)
    test = pd.read_csv(path / "test_dev.csv", dtype=str)
    _, data = prepare_data(ds.courses, ds.cadres, ds.completions, CFG)
    inner, valid = split_completions(ds.completions, "leave-last")
    val = Validation(data.subset(inner), valid, max_cadres=5000)
    res = run_world("icourse163", data, test, val, quick=quick, peers=peers)
    return res, (len(ds.cadres), len(ds.courses), len(ds.completions), len(test), len(val.users))


# ----------------------------------------------------------------------- tables
def _settings(res: WorldResult, model: str) -> str:
    best = res.tuned["best"].get(model)
    if not best:
        return "library default" if model in ("ease", "itemknn") else "–"
    return ", ".join(f"{k} {v}" for k, v in best.items())


def summary(res: WorldResult, *, slices: bool = True) -> pd.DataFrame:
    t = res.table
    allr = t[t.slice == "all"].set_index("model")
    out = pd.DataFrame({"model": allr.index, "settings (chosen on validation)": ""})
    out["settings (chosen on validation)"] = [_settings(res, m) for m in allr.index]
    out[f"ndcg@{K}"] = allr[f"ndcg@{K}"].to_numpy()
    out[f"recall@{K}"] = allr[f"recall@{K}"].to_numpy()
    if slices:
        cold = t[t.slice == "cold_cadres"].set_index("model")[f"ndcg@{K}"]
        cc = t[t.slice == "cold_courses"].set_index("model")[f"ndcg@{K}"]
        out[f"map@{K}"] = allr[f"map@{K}"].to_numpy()
        out["coverage"] = allr["coverage"].to_numpy()
        out[f"cold_cadre_ndcg@{K}"] = cold.reindex(allr.index).to_numpy()
        out[f"cold_course_ndcg@{K}"] = cc.reindex(allr.index).to_numpy()
        out["cold cadres scored by"] = [COLD_NOTE.get(m, "popularity fallback") for m in allr.index]
    out["hybrid / model (ndcg)"] = float(allr.loc["hybrid", f"ndcg@{K}"]) / out[f"ndcg@{K}"]
    return out


def tuning_table(res: WorldResult) -> pd.DataFrame:
    rows = []
    for name, (points, seconds, refit) in res.tuned["fit_s"].items():
        g = [r for r in res.tuned["grids"] if r["peer"] == name]
        rows.append(
            {
                "peer": name,
                "grid points": points,
                "best": _settings(res, name),
                "valid_ndcg@10": max(r["valid_ndcg@10"] for r in g),
                "tune s": seconds,
                "refit s": refit,
            }
        )
    return pd.DataFrame(rows)


def ratio_note(res: WorldResult) -> str:
    allr = res.table[res.table.slice == "all"].set_index("model")
    h = float(allr.loc["hybrid", f"ndcg@{K}"])
    others = allr.drop(index=["hybrid", "hybrid+rp3beta", "random"], errors="ignore")
    best = others[f"ndcg@{K}"].idxmax()
    b = float(others.loc[best, f"ndcg@{K}"])
    text = f"{res.name}: hybrid NDCG@{K} {h:.4f} vs best other {best} {b:.4f} (×{h / b:.3f})"
    if "ease_tuned" in allr.index:
        e = float(allr.loc["ease_tuned", f"ndcg@{K}"])
        text += f"; hybrid / EASE-tuned = {h / e:.3f}"
    return text


# ------------------------------------------------------------------ real posts
def post_lists(model, posts: pd.DataFrame, courses: pd.DataFrame) -> pd.DataFrame:
    """Per post: on-field and compulsory courses in its cold-start top 10, and the list."""
    cats = courses.set_index("course_id")["category"]
    compulsory = courses.set_index("course_id")["compulsory"].astype(bool)
    rows = []
    for post in posts.to_dict("records"):
        fld = real_posts.BY_NAME[post["field"]]
        ids = [
            r.course_id
            for r in model.recommend_profile(real_posts.profile(post), k=K, explain=False)
        ]
        rows.append(
            {
                "field": fld.name,
                "on": int(cats[ids].isin(fld.categories).sum()),
                "n": len(ids),
                "compulsory": int(compulsory[ids].sum()),
                "list": "|".join(ids),
            }
        )
    return pd.DataFrame(rows)


def posts_table(positions: Path) -> pd.DataFrame:
    """Cold-start lists for real posts from the model fitted on data/sample, per field, next
    to a content-only model (the profile text alone, same filters) fitted on the same data."""
    ds = load_dataset(SAMPLE, write_rejects=False)
    model = fit_recommender(ds.courses, ds.cadres, ds.completions)
    only = {"content": 1.0}
    text_only = fit_recommender(
        ds.courses, ds.cadres, ds.completions, replace(CFG, weights=only, cold_weights=only)
    )
    posts = real_posts.field_posts(real_posts.load_positions(positions))
    per = post_lists(model, posts, ds.courses)
    alone = post_lists(text_only, posts, ds.courses)
    cats = ds.courses["category"]
    out = []
    groups = [(name, g.index) for name, g in per.groupby("field", sort=False)]
    for name, idx in [*groups, ("all", per.index)]:
        g, a = per.loc[idx], alone.loc[idx]
        fcats = real_posts.BY_NAME[name].categories if name != "all" else frozenset()
        label = f"{name} ({'+'.join(sorted(fcats))})" if fcats else "all"
        out.append(
            {
                "field (on-field categories)": label,
                "posts": len(g),
                f"share ≥ 1 on-field in top {K}": float((g.on > 0).mean()),
                "median on-field": float(g.on.median()),
                "distinct lists": g["list"].nunique(),
                "compulsory share of lists": float(g.compulsory.sum() / max(g.n.sum(), 1)),
                "content only: share ≥ 1": float((a.on > 0).mean()),
                "content only: median": float(a.on.median()),
                "catalog on-field share": float(cats.isin(fcats).mean()) if fcats else np.nan,
            }
        )
    return pd.DataFrame(out)


# -------------------------------------------------------------------------- main
def add_world(sec: Section, res: WorldResult, counts: tuple, real: bool) -> None:
    d = res.details
    if real:
        cad, crs, n_train, n_test, n_val = counts
        caption = (
            f"real {res.name}: {cad} learners, {crs} courses, {n_train} train enrolments; "
            f"{d['test_cadres']} test learners (test_dev.csv, leave-last); "
            f"peers tuned on {n_val} leave-last validation learners from train"
        )
    else:
        cad, crs, n_train, n_test, n_val = counts
        caption = (
            f"synthetic {res.name}: {cad} cadres, {crs} courses, {n_train} train / {n_test} test "
            f"enrolments; {d['test_cadres']} test cadres ({d['cold_cadres']} cold), "
            f"{d['cold_courses']} cold courses; peers tuned on {n_val} validation cadres"
        )
    sec.add(caption, summary(res, slices=not real))
    sec.add(
        f"{res.name}: peer tuning (validation NDCG@{K}; best refitted on all training)",
        tuning_table(res),
        ".4f",
    )
    sec.note(ratio_note(res))
    sec.note(f"{res.name}: the hybrid blends {', '.join(d['signals'])} (library defaults)")
    sec.note(
        f"{res.name}: hybrid re-scored through the peers' path differs from evaluate_hybrid "
        f"by {res.recheck_delta:.2e} NDCG (apples-to-apples check)"
    )
    grids_out = OUT / "results" / f"quality_grids_{res.name}.csv"
    grids_out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(res.tuned["grids"]).to_csv(grids_out, index=False)


def parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="sample only, small peer grids")
    ap.add_argument("--scales", nargs="+", default=None, help="default: sample (+ medium)")
    default_real = REAL_DATA if REAL_DATA.exists() else None
    ap.add_argument("--real", type=Path, default=default_real, help="icourse163-style dir")
    ap.add_argument("--positions", type=Path, default=real_posts.POSITIONS)
    ap.add_argument("--no-lightfm", action="store_true")
    ap.add_argument(
        "--no-results", action="store_true", help="do not splice into benchmarks/RESULTS.md"
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> Section:
    args = parse(argv)
    scales = args.scales or (["sample"] if args.quick else ["sample", "medium"])
    peers = list(grids(True))
    try:
        import lightfm  # noqa: F401
    except ImportError:
        args.no_lightfm = True
    if args.no_lightfm:
        peers = [p for p in peers if not p.startswith("lightfm")]
    cmd = "python -m benchmarks.bench_quality" + (" --quick" if args.quick else "")
    if args.real is not None:
        cmd += f" --real {args.real}"
    sec = Section("Quality in both worlds (k = 10)", cmd)
    t_all = time.perf_counter()
    for scale in scales:
        res, counts = sample_world(scale, args.quick, peers)
        add_world(sec, res, counts, real=False)
    if args.real is not None and (args.real / "test_dev.csv").exists():
        res, counts = real_world(args.real, args.quick, peers)
        add_world(sec, res, counts, real=True)
    else:
        sec.note(f"real world skipped: no icourse163 data at {args.real or REAL_DATA}")
    if args.positions.exists():
        sec.add(
            f"real job profiles, cold start: Hubei 2026 posts whose duties name one field, "
            f"top {K} from the model trained on data/sample",
            posts_table(args.positions),
            ".3f",
        )
    else:
        sec.note(f"real posts skipped: {args.positions} not found")
    if args.no_lightfm:
        sec.note("LightFM rows left out: the `lightfm` module is not installed")
    sec.note(
        "Peers that cannot place a cadre with no history (ALS, LightFM without features, "
        "tuned EASE / item-kNN, RP3beta) rank such cadres by overall popularity."
    )
    sec.seconds = time.perf_counter() - t_all
    sec.save("quality")
    if not args.no_results:
        sec.splice(ROOT / "benchmarks" / "RESULTS.md", "Quality")
    return sec


if __name__ == "__main__":
    main()

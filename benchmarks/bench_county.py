"""A county academy's own export (tests/fixtures/county): do the lists fit each cadre's job?

    .venv/bin/python -m benchmarks.bench_county [--holdout 2]

Three figures, from issue 19, each beside the popular list in the same run:

- **held-out hit@10**: each cadre's ``--holdout`` latest electives are removed, the model is
  trained on the rest; a hit is a held-out course in the cadre's top 10 (the request path's
  lists: same candidate policy for both rows);
- **on-field share**: for cadres whose 单位/职务/分管工作 name a field of work, the share of
  the top 10 whose category serves one of those fields;
- **mean pairwise Jaccard** of the top-10 lists of all cadres (lower = more personal).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data.identity import TEST_ID_SECRET
from recommender.data.loading import load_dataset
from recommender.data.schema import Columns as C
from recommender.ranking.pipeline import fit_recommender

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "county"


def county_files(folder: Path = FIXTURE) -> dict[str, Path]:
    from tests.fixtures import county_export as gen

    return gen.files(folder)


def load(folder: Path = FIXTURE):
    return load_dataset(files=county_files(folder), write_rejects=False, id_secret=TEST_ID_SECRET)


def holdout_split(ds, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): each cadre's ``n`` latest elective enrolments go to test."""
    comps = ds.completions
    compulsory = set(
        ds.courses.loc[ds.courses[C.COMPULSORY].fillna(False).astype(bool), C.COURSE_ID]
    )
    elective = ~comps[C.COURSE_ID].isin(compulsory)
    elective &= comps[C.SOURCE].fillna("").astype(str) != "assigned"
    ranked = comps[elective].sort_values(C.ENROLLED_AT).groupby(C.CADRE_ID).tail(n)
    return comps.drop(index=ranked.index), ranked


def popular_lists(model, ids, k=10) -> dict[str, list[str]]:
    """The popular list each cadre would get: most-taken courses under the same policy."""
    counts = np.asarray(model.item_counts_, np.float64)
    out = {}
    for cid in ids:
        cands = model.score(model.query(cid)).candidates.mask
        s = np.where(cands, counts + 1e-9 * np.arange(len(counts))[::-1], -np.inf)
        top = np.argsort(-s, kind="stable")[: min(k, int(cands.sum()))]
        out[cid] = [model.course_ids[i] for i in top]
    return out


def hit_rate(lists: dict[str, list[str]], test: pd.DataFrame) -> float:
    held = test.groupby(C.CADRE_ID)[C.COURSE_ID].apply(set)
    hits = [bool(set(lists.get(cid, [])) & courses) for cid, courses in held.items()]
    return float(np.mean(hits)) if hits else float("nan")


def on_field_share(model, lists: dict[str, list[str]]) -> tuple[float, int]:
    """Mean share of on-field courses in the lists of cadres that name a field."""
    cf = model.ranker.course_fields
    if cf is None:
        return float("nan"), 0
    shares = []
    for cid, courses in lists.items():
        fields = model.query(cid).query.fields
        if fields is None or fields.max() < model.ranker.config.field_share or not courses:
            continue
        named = fields >= model.ranker.config.field_share
        idx = [model.course_index(c) for c in courses]
        shares.append(float(np.mean((cf[idx][:, named] > 0).any(axis=1))))
    return (float(np.mean(shares)) if shares else float("nan")), len(shares)


def mean_jaccard(lists: dict[str, list[str]]) -> float:
    sets = [set(v) for v in lists.values() if v]
    pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2)]
    return float(np.mean(pairs)) if pairs else float("nan")


def figures(folder: Path = FIXTURE, holdout: int = 2) -> pd.DataFrame:
    ds = load(folder)
    train, test = holdout_split(ds, holdout)
    m = fit_recommender(ds.courses, ds.cadres, train)
    ids = [str(c) for c in ds.cadres[C.CADRE_ID]]
    ours = {cid: [r.course_id for r in m.recommend(cid, 10, explain=False)] for cid in ids}
    pop = popular_lists(m, ids)
    full = fit_recommender(ds.courses, ds.cadres, ds.completions)
    ours_full = {cid: [r.course_id for r in full.recommend(cid, 10, explain=False)] for cid in ids}
    pop_full = popular_lists(full, ids)
    field_ours, n_field = on_field_share(full, ours_full)
    field_pop, _ = on_field_share(full, pop_full)
    rows = [
        {"figure": f"held-out hit@10 ({test[C.CADRE_ID].nunique()} cadres, {holdout} latest)",
         "hybrid": hit_rate(ours, test), "popular list": hit_rate(pop, test)},
        {"figure": f"on-field share of the top 10 ({n_field} cadres naming a field)",
         "hybrid": field_ours, "popular list": field_pop},
        {"figure": f"mean pairwise Jaccard of top-10 lists ({len(ids)} cadres)",
         "hybrid": mean_jaccard(ours_full), "popular list": mean_jaccard(pop_full)},
        {"figure": "shortest list", "hybrid": float(min(len(v) for v in ours_full.values())),
         "popular list": float(min(len(v) for v in pop_full.values()))},
    ]  # fmt: skip
    out = pd.DataFrame(rows)
    out["ratio"] = out["hybrid"] / out["popular list"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdout", type=int, default=2)
    ap.add_argument("--folder", type=Path, default=FIXTURE)
    args = ap.parse_args()
    t0 = time.perf_counter()
    table = figures(args.folder, args.holdout)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()

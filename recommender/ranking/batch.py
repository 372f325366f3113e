"""One vectorised batch path: many cadres scored per chunk with ``Hybrid.score``.

Batch ``recommend --cadres``, unit menus' recommendation tables and nightly jobs go
through here; the lists equal :meth:`RecommenderModel.recommend`'s (same candidate policy,
same ranker), only scored a chunk of cadres at a time instead of one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recommender.data.schema import Columns as C
from recommender.ranking.candidates import ELECTIVES, Filters
from recommender.ranking.results import Ranked


def recommend_many(
    model: Any,
    cadre_ids: Sequence[str],
    k: int = 10,
    *,
    filters: Filters = ELECTIVES,
    events=None,
    explain: bool = False,
    chunk: int = 1024,
) -> tuple[dict[str, Ranked], list[str]]:
    """Lists by cadre id for the known ids, and the unknown ids (skipped, reported).

    ``events``: an event store (``for_cadre``) or ``None``; with a store each cadre's newer
    completions are merged into its query, as on the request path.
    """
    known: list[str] = []
    unknown: list[str] = []
    for cid in dict.fromkeys(str(c) for c in cadre_ids):
        (known if model.has_cadre(cid) else unknown).append(cid)
    at = model.reference_at()
    out: dict[str, Ranked] = {}
    for start in range(0, len(known), chunk):
        ids = known[start : start + chunk]
        if events is None:
            rows = model.cadre_map.lookup(ids)
            batch = model.queries.batch(rows)
            queries = None
        else:
            queries = [model.query(cid, events=events) for cid in ids]
            batch = model.queries.batch_of(queries)
        scores, comps = model.score_batch(batch)
        audiences = [model.cadre_audience(cid) for cid in ids]  # memoised per cadre
        masks = model.policy.for_batch((), batch.history, filters, at, audiences=audiences)
        tops = model.ranker.top_many(
            scores, masks, k, fields=batch.fields, has_history=batch.has_history
        )
        for i, cid in enumerate(ids):
            top = tops[i]
            reasons: list = [()] * len(top)
            if explain and len(top):
                q = queries[i] if queries is not None else model.query(cid)
                row_comps = {name: comp[i] for name, comp in comps.items()}
                reasons = model.explain(q, top, row_comps)
            cands = None
            if len(top) < k:  # say why, counted by rule, as the request path does
                q = queries[i] if queries is not None else model.query(cid)
                cands = model.policy.for_query(
                    q.profile, q.history, filters, at, audience=audiences[i]
                )
            out[cid] = Ranked(
                model.as_recommendations(top, np.asarray(scores[i]), reasons), candidates=cands, k=k
            )
    return out, unknown


def batch_frame(
    model: Any, cadre_ids: Sequence[str], k: int, *, filters: Filters = ELECTIVES, events=None
) -> pd.DataFrame:
    """``cadre_id, rank, course_id, score`` rows (no explanations); unknown ids are skipped
    and listed in ``frame.attrs["unknown"]``."""
    lists, unknown = recommend_many(model, cadre_ids, k, filters=filters, events=events)
    rows = [(cid, r.rank, r.course_id, r.score) for cid, recs in lists.items() for r in recs]
    frame = pd.DataFrame(rows, columns=[C.CADRE_ID, "rank", C.COURSE_ID, "score"])
    frame.attrs["unknown"] = unknown
    return frame

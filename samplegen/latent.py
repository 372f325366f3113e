"""Latent preferences of the sample's cadres: job relevance, needs, hidden cohort taste.

The content signal is ``topic_preferences`` (system duties, survey needs, flags ↔ course
topic); the collaborative signal is ``cohort_taste`` (per system × unit level favourites drawn
at random, invisible in any text).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from samplegen.courses import TOPIC_LIST

LOW_LEVELS = ("township", "village")


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def need_topic_map(phrases: list[str]) -> dict[str, list[int]]:
    """Topics a needs phrase refers to: character-bigram overlap with topic name/aspects/tags."""
    texts = [_bigrams(t[0] + "".join(t[1]) + "".join(t[2])) for _, t in TOPIC_LIST]
    out: dict[str, list[int]] = {}
    for p in phrases:
        grams = _bigrams(p)
        scores = np.array([len(grams & t) / max(1, len(grams)) for t in texts])
        best = np.argsort(-scores, kind="stable")[:3]
        out[p] = [int(i) for i in best if scores[i] >= 0.5]
    return out


def topic_preferences(cadres: pd.DataFrame, needs: list[list[str]]) -> np.ndarray:
    """(n_cadres, n_topics) float32 relevance of every topic to every cadre."""
    t = len(TOPIC_LIST)
    systems = sorted(set(cadres["system"]))
    sys_idx = {s: i for i, s in enumerate(systems)}
    aff = np.zeros((len(systems), t), np.float32)
    for j, (_, topic) in enumerate(TOPIC_LIST):
        if topic[3] == ("*",):
            aff[:, j] = 0.35
        else:
            for s in topic[3]:
                if s in sys_idx:
                    aff[sys_idx[s], j] = 1.0 if s == topic[3][0] else 0.8
    pref = aff[[sys_idx[s] for s in cadres["system"]]]
    cats = np.array([c for c, _ in TOPIC_LIST])
    low = cadres["unit_level"].isin(LOW_LEVELS).to_numpy()
    pref[np.ix_(low, np.isin(cats, ["乡村振兴", "基层治理"]))] += 0.4
    lead = (
        cadres["newly_promoted"] | cadres["rank"].isin(["副科", "正科", "副处", "正处"])
    ).to_numpy()
    pref[np.ix_(lead, cats == "领导艺术")] += 0.5
    names = [tp[0] for _, tp in TOPIC_LIST]
    vo = cadres["village_official"].to_numpy()
    pref[vo, names.index("驻村帮扶与村级治理")] += 0.8
    young = cadres["young_cadre"].to_numpy()
    pref[young, names.index("年轻干部成长")] += 0.6
    mapping = need_topic_map(sorted({p for ps in needs for p in ps}))
    rows, cols = [], []
    for i, ps in enumerate(needs):
        for p in ps:
            for j in mapping[p]:
                rows.append(i)
                cols.append(j)
    np.add.at(pref, (np.array(rows, int), np.array(cols, int)), 1.0)
    return pref


def personal_interests(
    rng: np.random.Generator, n_cadres: int, n_topics: int, *, per_cadre: int = 2
) -> np.ndarray:
    """(n_cadres, n_topics) float32: a few lasting personal interests no profile text states.

    Only behaviour reveals them (a cadre keeps returning to the same topics), which is
    what a collaborative model or a history-aware content model can learn.
    """
    out = np.zeros((n_cadres, n_topics), np.float32)
    picks = np.argsort(rng.random((n_cadres, n_topics)), axis=1)[:, :per_cadre]
    np.put_along_axis(out, picks, 1.0, axis=1)
    return out


def cohort_of(cadres: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Hidden cohort of each cadre (the same system in the same city: colleagues who are
    organised together and talk about courses) and the number of cohorts."""
    key = cadres["system"] + "/" + cadres["region"]
    codes, uniques = pd.factorize(key, sort=True)
    return codes.astype(np.int64), len(uniques)


def cohort_taste(
    rng: np.random.Generator, n_cohorts: int, candidates: np.ndarray, n_courses: int
) -> np.ndarray:
    """(n_cohorts, n_courses) float32: each cohort's favourite courses, unrelated to their text."""
    k = max(12, round(0.03 * n_courses))
    taste = np.zeros((n_cohorts, n_courses), np.float32)
    for c in range(n_cohorts):
        fav = rng.choice(candidates, size=min(k, len(candidates)), replace=False)
        taste[c, fav] = rng.uniform(1.5, 3.0, size=len(fav))
    return taste

"""Vectorised simulation of enrolments and completions for the synthetic sample.

Free choices are drawn per cadre by Gumbel-top-k over a latent utility
``W_REL·relevance + cohort taste + W_POP·log popularity + exposure + format/window fit``;
compulsory courses are assigned to their audience; series parts follow one another.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data.schema import WINDOWS
from samplegen.courses import DATA_END, DATA_START, DAY
from samplegen.latent import (
    cohort_of,
    cohort_taste,
    personal_interests,
    topic_preferences,
)
from samplegen.vocab import COUNTY_BAND_RANKS

W_REL, W_POP, W_FMT, W_WINDOW = 3.0, 0.6, 0.6, -3.0
SEC = np.timedelta64(1, "s")


def _course_window(start: np.ndarray) -> np.ndarray:
    """Window index of each session start (-1 for unscheduled courses)."""
    ok = ~np.isnat(start)
    days = start.astype("datetime64[D]").astype(np.int64)
    weekday = (days + 3) % 7
    hour = (start - start.astype("datetime64[D]")).astype("timedelta64[h]").astype(np.int64)
    win = np.where(weekday >= 5, 2, np.where(hour >= 18, 1, 0))
    return np.where(ok, win, -1)


def _bits(cells: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    """(n, len(names)) bool matrix of `|`-separated cells."""
    return np.stack([cells.str.contains(n, regex=False).to_numpy() for n in names], axis=1)


def _free_choices(rng, courses, cadres, pref, n_free):
    """(cadre, course) index pairs drawn by Gumbel-top-k, chunk by chunk."""
    m = len(courses)
    start = courses["session_start"].to_numpy("datetime64[s]")
    end = courses["session_end"].to_numpy("datetime64[s]")
    pub = courses["published_at"].to_numpy("datetime64[s]")
    eligible = ~courses["compulsory"].to_numpy() & (pub < DATA_END - DAY)
    eligible &= np.isnat(end) | (end <= DATA_END)
    last = np.where(np.isnat(start), DATA_END, start - DAY)
    avail = np.maximum((last - np.maximum(pub, DATA_START)) / DAY, 1.0)
    rank = rng.permutation(m)
    base = (W_POP * -np.log1p(rank) + np.log(avail / 730.0)).astype(np.float32)
    base[~eligible] = -np.inf
    cohort, n_coh = cohort_of(cadres)
    taste = cohort_taste(rng, n_coh, np.flatnonzero(eligible), m)
    topic = courses["_topic"].to_numpy()
    fmts = tuple(courses["format"].unique())
    fmt_code = pd.Categorical(courses["format"], categories=fmts).codes.astype(np.int64)
    ctype = fmt_code * 4 + np.where(_course_window(start) < 0, 3, _course_window(start))
    # per cadre gain of each (format, window) course type: format fit + window fit
    fmt_gain = W_FMT * _bits(cadres["preferred_formats"], fmts)
    win_pen = np.concatenate(
        [W_WINDOW * ~_bits(cadres["available_windows"], WINDOWS), np.zeros((len(cadres), 1))],
        axis=1,
    )
    gain = (fmt_gain[:, :, None] + win_pen[:, None, :]).reshape(len(cadres), -1).astype(np.float32)
    pairs_i, pairs_j = [], []
    step = max(1, int(2e7 // m))
    for lo in range(0, len(cadres), step):
        hi = min(len(cadres), lo + step)
        k = int(n_free[lo:hi].max(initial=0))
        if k == 0:
            continue
        s = np.take(pref[lo:hi], topic, axis=1)
        s *= np.float32(W_REL)
        s += np.take(taste, cohort[lo:hi], axis=0)
        s += base
        s += np.take(gain[lo:hi], ctype, axis=1)
        s -= np.log(rng.standard_exponential(size=s.shape, dtype=np.float32) + np.float32(1e-12))
        top = np.argpartition(s, m - k, axis=1)[:, m - k :]
        order = np.argsort(-np.take_along_axis(s, top, 1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, 1)
        keep = np.arange(k)[None, :] < n_free[lo:hi, None]
        keep &= np.isfinite(np.take_along_axis(s, top, 1))
        rows = np.broadcast_to(np.arange(lo, hi)[:, None], top.shape)
        pairs_i.append(rows[keep])
        pairs_j.append(top[keep])
    if not pairs_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(pairs_i).astype(np.int64), np.concatenate(pairs_j).astype(np.int64)


def _audience_mask(cadres: pd.DataFrame, audience: str) -> np.ndarray:
    """Cadres a compulsory course's audience names (the assignment rule of the sample)."""
    n = len(cadres)
    out = np.zeros(n, bool)
    band = cadres["rank"].isin(COUNTY_BAND_RANKS).to_numpy()
    for a in audience.split("|"):
        if a == "全体干部":
            out[:] = True
        elif a == "县处级":
            out |= band
        elif a == "乡科级":
            out |= ~band
        elif a == "乡镇":
            out |= (cadres["unit_level"] == "township").to_numpy()
        elif a == "村":
            out |= (cadres["unit_level"] == "village").to_numpy()
        elif a == "年轻干部":
            out |= (cadres["young_cadre"] & (cadres["years_in_post"] < 2)).to_numpy()
        elif a == "新提拔干部":
            out |= cadres["newly_promoted"].to_numpy()
        elif a == "大学生村官":
            out |= cadres["village_official"].to_numpy()
        else:
            out |= (cadres["system"] == a).to_numpy()
    return out


def _assigned(rng, courses, cadres):
    """(cadre, course) pairs of compulsory assignments; one run per cadre for repeated classes."""
    comp = courses.index[courses["compulsory"]].to_numpy()
    groups = courses.loc[comp, "_group"].to_numpy()
    active = ~cadres["_cold"].to_numpy()
    n_sys = courses.loc[comp].query("_group >= 1000")["audience"].value_counts()
    pi, pj = [], []
    for g in np.unique(groups):
        runs = comp[groups == g]
        aud = str(courses.at[runs[0], "audience"])
        who = np.flatnonzero(_audience_mask(cadres, aud) & active)
        p = 0.5 if g < 1000 else min(0.6, 2.0 / n_sys.get(aud, 1))
        who = who[rng.random(len(who)) < p]
        pi.append(who)
        pj.append(runs[rng.integers(len(runs), size=len(who))])
    return np.concatenate(pi).astype(np.int64), np.concatenate(pj).astype(np.int64)


def _series(rng, pairs: pd.DataFrame, prev: np.ndarray) -> pd.DataFrame:
    """Next parts follow taken parts (p=0.6); a part chosen without its predecessor becomes it."""
    nxt = np.full(len(prev), -1)
    nxt[prev[prev >= 0]] = np.flatnonzero(prev >= 0)
    for _ in range(2):
        j = pairs["j"].to_numpy()
        add = (nxt[j] >= 0) & (rng.random(len(j)) < 0.6)
        extra = pd.DataFrame({"i": pairs["i"].to_numpy()[add], "j": nxt[j[add]], "src": 1})
        pairs = pd.concat([pairs, extra], ignore_index=True)
        pairs = pairs.drop_duplicates(["i", "j"], keep="first")
    m = len(prev)
    for _ in range(2):
        i, j = pairs["i"].to_numpy(), pairs["j"].to_numpy()
        pj = prev[j]
        keys = np.sort(i * m + j)
        want = i * m + np.maximum(pj, 0)
        have = keys[np.minimum(np.searchsorted(keys, want), len(keys) - 1)] == want
        missing = (pj >= 0) & ~have
        pairs.loc[missing, "j"] = pj[missing]
        pairs = pairs.drop_duplicates(["i", "j"], keep="first")
    return pairs.reset_index(drop=True)


def simulate(
    rng: np.random.Generator,
    courses: pd.DataFrame,
    cadres: pd.DataFrame,
    needs: list[list[str]],
    *,
    mean_free: float = 14.0,
) -> pd.DataFrame:
    """Completions frame (contract columns, typed) from the latent model."""
    from samplegen.timing import finish

    pref = topic_preferences(cadres, needs)
    pref += personal_interests(rng, len(cadres), pref.shape[1])
    n_free = np.clip(np.round(rng.lognormal(np.log(mean_free), 0.55, len(cadres))), 3, 60)
    n_free = np.where(cadres["_cold"].to_numpy(), 0, n_free).astype(np.int64)
    fi, fj = _free_choices(rng, courses, cadres, pref, n_free)
    ai, aj = _assigned(rng, courses, cadres)
    pairs = pd.concat(
        [pd.DataFrame({"i": ai, "j": aj, "src": 0}), pd.DataFrame({"i": fi, "j": fj, "src": 1})],
        ignore_index=True,
    )
    pairs = pairs.drop_duplicates(["i", "j"], keep="first")
    pairs = _series(rng, pairs, courses["_prev"].to_numpy())
    rel = pref[pairs["i"].to_numpy(), courses["_topic"].to_numpy()[pairs["j"].to_numpy()]]
    pairs["rel"] = rel
    return finish(rng, pairs, courses, cadres)

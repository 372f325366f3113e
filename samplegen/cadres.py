"""Synthetic cadres built on real job profiles (Hubei 2026 civil-service position table)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recommender.data.schema import FORMATS, WINDOWS
from samplegen.vocab import (
    COUNTY_BAND_RANKS,
    DEFAULT_SYSTEM,
    DIGITAL_SYSTEMS,
    DUTIES,
    EMPTYISH,
    FULLWIDTH,
    GAP_NEEDS_DIGITAL,
    GAP_NEEDS_MIND,
    JUNIOR_RANKS,
    LEADER_RANKS,
    LEVEL_SHARE,
    NEED_TEMPLATES,
    NEEDS,
    PROVINCE_UNITS,
    RANKS_BY_LEVEL,
    SYSTEM_KEYWORDS,
    TIME_REMARKS,
    TRADITIONAL,
)

POSITIONS_FILE = Path(__file__).parent / "positions.csv"
_CITY_AGENCIES = (
    "武汉公积金中心",
    "武汉仲裁委办",
    "民建武汉市委",
    "致公党武汉市委",
    "九三学社武汉市委",
    "武汉长江新区管委会",
    "东湖风景区管委会",
    "仙桃",
    "潜江",
    "神农架",
)
_TOWNSHIP_WORDS = ("镇人民", "乡人民", "乡镇", "街道", "办事处", "河口镇")
_VILLAGES = (
    "新华村",
    "红旗村",
    "向阳村",
    "和平社区",
    "幸福村",
    "民主村",
    "团结村",
    "东湖社区",
    "桃园村",
    "建设社区",
    "双河村",
    "白果村",
    "三合村",
    "茶园村",
    "长岭村",
    "龙泉社区",
)
_YOUNG_P = {
    "二级科员": 0.7,
    "一级科员": 0.5,
    "四级主任科员": 0.3,
    "副科": 0.25,
    "三级主任科员": 0.12,
    "正科": 0.08,
}
_WINDOW_P = {"low": (0.2, 0.75, 0.8), "high": (0.7, 0.45, 0.35)}  # daytime, evening, weekend
_FORMAT_W = {"low": (3, 4, 1, 1, 0.6, 0.3), "high": (3, 1.5, 1, 1.5, 2, 1)}


def system_of(employer: str) -> str:
    """The 系统 of an employer, by keywords in its name."""
    for words, system in SYSTEM_KEYWORDS:
        if any(w in employer for w in words):
            return system
    return DEFAULT_SYSTEM


def level_of(employer: str, agency: str) -> str:
    """Unit level (city/county/township/village) of a real position row."""
    if "村（社区）" in agency:
        return "village"
    if any(w in employer for w in _TOWNSHIP_WORDS) or employer.endswith(("乡", "镇")):
        return "township"
    if agency.endswith(("市直", "州直")) or agency.startswith("市") or agency in _CITY_AGENCIES:
        return "city"
    if "内设" in employer or "直属" in employer or "中级人民法院" in employer:
        return "city"
    return "county"


def load_positions(path: Path = POSITIONS_FILE) -> pd.DataFrame:
    """The slim position table with derived ``system`` and ``level`` columns."""
    pos = pd.read_csv(path, dtype=str, keep_default_na=False)
    pos["system"] = [system_of(e) for e in pos["employer"]]
    pos["level"] = [level_of(e, a) for e, a in zip(pos["employer"], pos["agency"], strict=True)]
    return pos


def _position_category(title: str, employer: str) -> str:
    if any(w in title for w in ("执法", "执勤", "监管", "警察", "稽查")) or "执法" in employer:
        return "行政执法类"
    if any(w in title for w in ("技术", "工程", "会计", "财务", "法医", "医", "信息", "统计")):
        return "专业技术类"
    return "综合管理类"


def _pick(rng: np.random.Generator, items: tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def _description(rng: np.random.Generator, base: str, system: str) -> str:
    if rng.random() >= 0.55:
        return base
    pool = DUTIES.get(system, ()) + DUTIES["*"]
    k = 1 + int(rng.random() < 0.4)
    picks = [pool[int(i)] for i in rng.permutation(len(pool))[:k]]
    return base + "；".join(picks) + "。"


def _needs(rng: np.random.Generator, system: str, low_level: bool) -> tuple[str, list[str]]:
    """Survey answer and the phrases it mentions (for the latent model)."""
    if rng.random() >= 0.70:
        return "", []
    if rng.random() < 0.05:
        return _pick(rng, EMPTYISH), []
    phrases: list[str] = []
    if rng.random() < 0.6:
        phrases.append(_pick(rng, NEEDS.get(system, NEEDS["*"])))
    p_digital = 0.6 if system in DIGITAL_SYSTEMS else 0.35
    if rng.random() < p_digital:
        phrases.append(_pick(rng, GAP_NEEDS_DIGITAL))
    if rng.random() < (0.4 if low_level else 0.3):
        phrases.append(_pick(rng, GAP_NEEDS_MIND))
    while len(phrases) < 2:
        phrases.append(_pick(rng, NEEDS["*"]))
    order = rng.permutation(len(phrases))
    x, y = phrases[int(order[0])], phrases[int(order[1])]
    text = _pick(rng, NEED_TEMPLATES).format(x=x, y=y)
    if len(phrases) > 2:
        text += "，另外希望学习" + phrases[int(order[2])]
    phrases = [p for p in phrases if p in text]
    if low_level and rng.random() < 0.3:
        text += _pick(rng, TIME_REMARKS)
    r = rng.random()
    if r < 0.03:
        text = text.translate(TRADITIONAL)
    elif r < 0.06:
        text = text.translate(FULLWIDTH).replace("，", "， ") + "。。"
    elif r < 0.10:
        text = text.replace("，", ",").replace("；", ";") + " "
    return text, phrases


def _multi(rng: np.random.Generator, names: tuple[str, ...], probs: np.ndarray) -> np.ndarray:
    """`|`-joined picks per row (each name kept with its probability; never empty)."""
    picked = rng.random(probs.shape) < probs
    picked[np.flatnonzero(~picked.any(axis=1)), np.argmax(probs, axis=1)[~picked.any(axis=1)]] = (
        True
    )
    codes = picked @ (1 << np.arange(len(names)))
    text = ["|".join(n for b, n in enumerate(names) if c >> b & 1) for c in range(1 << len(names))]
    return np.array(text, dtype=object)[codes]


def _formats(rng: np.random.Generator, low: np.ndarray) -> np.ndarray:
    """1–3 preferred formats per cadre, weighted by unit level (Gumbel-top-k)."""
    w = np.where(low[:, None], np.array(_FORMAT_W["low"]), np.array(_FORMAT_W["high"]))
    keys = np.log(w) + rng.gumbel(size=w.shape)
    order = np.argsort(-keys, axis=1)
    k = rng.integers(1, 4, size=len(low))
    picked = np.zeros(w.shape, bool)
    for r in range(3):
        rows = np.flatnonzero(k > r)
        picked[rows, order[rows, r]] = True
    codes = picked @ (1 << np.arange(len(FORMATS)))
    text = [
        "|".join(n for b, n in enumerate(FORMATS) if c >> b & 1) for c in range(1 << len(FORMATS))
    ]
    return np.array(text, dtype=object)[codes]


def _ranks(rng: np.random.Generator, levels: np.ndarray, cold: np.ndarray) -> np.ndarray:
    rank = np.empty(len(levels), dtype=object)
    for lv, table in RANKS_BY_LEVEL.items():
        rows = np.flatnonzero(levels == lv)
        names, w = zip(*table, strict=True)
        rank[rows] = np.array(names, dtype=object)[
            rng.choice(len(names), size=len(rows), p=np.array(w) / sum(w))
        ]
    rank[cold] = np.where(rng.random(int(cold.sum())) < 0.7, "二级科员", "一级科员")
    return rank


def build_cadres(rng: np.random.Generator, n_cadres: int) -> tuple[pd.DataFrame, list[list[str]]]:
    """Cadres (with hidden ``_cold``) and each cadre's need phrases."""
    pos = load_positions()
    levels = list(LEVEL_SHARE)
    by_level = {lv: np.flatnonzero(pos["level"].to_numpy() == lv) for lv in levels}
    has_dept = pos["system"].isin(list(PROVINCE_UNITS)).to_numpy()
    by_level["province"] = np.flatnonzero((pos["level"].to_numpy() == "city") & has_dept)
    level = np.array(levels, dtype=object)[
        rng.choice(len(levels), size=n_cadres, p=np.array(list(LEVEL_SHARE.values())))
    ]
    row = np.zeros(n_cadres, np.int64)
    for lv in levels:
        at = np.flatnonzero(level == lv)
        row[at] = by_level[lv][rng.integers(len(by_level[lv]), size=len(at))]
    p = {
        c: pos[c].to_numpy(object)[row]
        for c in ("employer", "city", "system", "job_title", "job_description")
    }
    cold = rng.random(n_cadres) < 0.05
    low = np.isin(level, ["township", "village"])
    rank = _ranks(rng, level, cold)
    years = np.clip(rng.gamma(2.0, 1.6, n_cadres), 0.1, 25)
    can_promote = (
        np.isin(rank, list(LEADER_RANKS)) | pd.Series(rank).str.contains("调研员|主任").to_numpy()
    )
    promoted = can_promote & (rng.random(n_cadres) < 0.2)
    years = np.where(promoted, rng.uniform(0.1, 1.5, n_cadres), years)
    years = np.round(np.where(cold, rng.uniform(0.1, 0.6, n_cadres), years), 1)
    young = (rng.random(n_cadres) < np.array([_YOUNG_P.get(r, 0.0) for r in rank])) | cold
    village_off = (
        young
        & np.isin(rank, list(JUNIOR_RANKS))
        & low
        & (rng.random(n_cadres) < np.where(level == "village", 0.55, np.where(low, 0.12, 0.0)))
    )
    budget = np.clip(np.round(rng.gamma(3.0, np.where(low, 0.9, 1.2)) * 2) / 2, 1, 8)
    win_p = np.where(low[:, None], np.array(_WINDOW_P["low"]), np.array(_WINDOW_P["high"]))
    unit = p["employer"].copy()
    unit[level == "province"] = [PROVINCE_UNITS[s] for s in p["system"][level == "province"]]
    region = np.where(level == "province", "武汉市", p["city"])
    texts, descs, needs = [], [], []
    for i in range(n_cadres):
        system = p["system"][i]
        if level[i] == "village":
            unit[i] = unit[i].replace("人民政府", "") + _pick(rng, _VILLAGES)
        descs.append(_description(rng, p["job_description"][i], system))
        text, phrases = _needs(rng, system, bool(low[i]))
        texts.append(text)
        needs.append(phrases)
    frame = pd.DataFrame(
        {
            "cadre_id": [f"G{i + 1:06d}" for i in range(n_cadres)],
            "unit": unit,
            "unit_level": level,
            "system": p["system"],
            "region": region,
            "rank": rank,
            "position_category": [
                _position_category(t, e) for t, e in zip(p["job_title"], p["employer"], strict=True)
            ],
            "job_title": p["job_title"],
            "job_description": descs,
            "declared_needs": texts,
            "years_in_post": years,
            "newly_promoted": promoted,
            "young_cadre": young,
            "village_official": village_off,
            "annual_hours_target": np.where(np.isin(rank, list(COUNTY_BAND_RANKS)), 110.0, 140.0),
            "weekly_hours_budget": budget,
            "preferred_formats": _formats(rng, low),
            "available_windows": _multi(rng, WINDOWS, win_p),
            "_cold": cold,
        }
    )
    # newly recruited / transferred cadres who join late: their whole history falls in the
    # last months, so a temporal split sees them as cold cadres with test interactions
    late = ~cold & (rng.random(n_cadres) < 0.07)
    lo, hi = np.datetime64("2025-08-15", "s"), np.datetime64("2025-11-15", "s")
    span = int((hi - lo).astype(np.int64))
    offsets = rng.integers(0, span, n_cadres).astype("timedelta64[s]")
    frame["_joined"] = np.where(late, lo + offsets, np.datetime64("2024-01-01", "s"))
    frame.loc[late, "years_in_post"] = np.round(rng.uniform(0.1, 0.4, int(late.sum())), 1)
    return frame, needs

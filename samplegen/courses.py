"""Synthetic course catalog: topics, formats, hours, instructors, sessions, series."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data.schema import METHODS
from samplegen.phrases import COMPULSORY, GIVEN, INSTRUCTOR_TITLES, SERIES, SURNAMES
from samplegen.text import compose_description, compose_title
from samplegen.topics import CATEGORY_SHARE, GAP_TOPICS, TOPICS, Topic

#: every topic with its category, in a fixed order (index = topic id)
TOPIC_LIST: list[tuple[str, Topic]] = [(cat, t) for cat, ts in TOPICS.items() for t in ts]
TOPIC_ID: dict[str, int] = {t[0]: i for i, (_, t) in enumerate(TOPIC_LIST)}

DATA_START = np.datetime64("2024-01-01T00:00:00")
DATA_END = np.datetime64("2025-12-31T23:59:59")
LATE_FROM = np.datetime64("2025-10-01")
DAY = np.timedelta64(1, "D")

_FORMAT_P = {
    "video": 0.38,
    "micro": 0.17,
    "article": 0.10,
    "live": 0.11,
    "face_to_face": 0.16,
    "special_class": 0.08,
}
_METHOD_P = {  # lecture, case, research, simulation, experiential
    "video": (0.7, 0.25, 0.03, 0.02, 0.0),
    "micro": (0.8, 0.2, 0, 0, 0),
    "article": (0.85, 0.15, 0, 0, 0),
    "live": (0.6, 0.3, 0.05, 0.05, 0.0),
    "face_to_face": (0.2, 0.3, 0.15, 0.2, 0.15),
    "special_class": (0.15, 0.25, 0.25, 0.15, 0.2),
}
_HOURS = {
    "video": (1, 4),
    "micro": (0.5, 1),
    "article": (0.5, 1),
    "live": (2, 4),
    "face_to_face": (4, 16),
    "special_class": (24, 40),
}


def _hours(rng: np.random.Generator, fmt: str) -> float:
    lo, hi = _HOURS[fmt]
    return float(rng.integers(int(lo * 2), int(hi * 2) + 1)) / 2


def _topic_for(category: str, tags: str, title: str) -> int:
    """The topic of a hand-written course: shared tag, then name in title, then the first."""
    cands = [i for i, (c, _) in enumerate(TOPIC_LIST) if c == category]
    wanted = set(tags.split("|"))
    for i in cands:
        if wanted & set(TOPIC_LIST[i][1][2]):
            return i
    return next((i for i in cands if TOPIC_LIST[i][1][0].strip("《》") in title), cands[0])


def _instructors(rng: np.random.Generator, n_courses: int) -> dict[str, list[tuple[str, float]]]:
    """A pool of (name（title）, rating) per category, about one instructor per 4 courses."""
    pools: dict[str, list[tuple[str, float]]] = {}
    for cat, share in CATEGORY_SHARE.items():
        titles = INSTRUCTOR_TITLES[cat] + INSTRUCTOR_TITLES["*"]
        n = max(4, int(n_courses * max(share, 0.01) / 4))
        pools[cat] = [
            (
                f"{SURNAMES[int(rng.integers(len(SURNAMES)))]}{GIVEN[int(rng.integers(len(GIVEN)))]}"
                f"（{titles[int(rng.integers(len(titles)))]}）",
                round(float(np.clip(rng.normal(4.1, 0.45), 3.0, 5.0)), 1),
            )
            for _ in range(n)
        ]
    return pools


def _session(
    rng: np.random.Generator,
    fmt: str,
    hours: float,
    published: np.datetime64,
    *,
    daytime_only: bool,
) -> tuple[np.datetime64, np.datetime64, int]:
    """(start, end, capacity) of a scheduled course on a weekday daytime/evening or weekend."""
    day = (published + int(rng.integers(10, 200)) * DAY).astype("datetime64[D]")
    if fmt == "live":
        window = rng.choice(["weekday_evening", "weekday_daytime", "weekend"], p=[0.5, 0.3, 0.2])
    elif fmt == "face_to_face" and not daytime_only:
        window = rng.choice(["weekday_daytime", "weekend"], p=[0.6, 0.4])
    else:
        window = "weekday_daytime"
    weekday = (day.astype(int) + 3) % 7  # 0 = Monday
    if window == "weekend":
        day = day + int((5 - weekday) % 7) * DAY
    elif weekday >= 5 or (fmt != "live" and weekday > 2 and hours > 8):
        day = day + int((7 - weekday) % 7) * DAY  # next Monday
    if window == "weekday_evening":
        start, end = day + np.timedelta64(19, "h"), day + np.timedelta64(21, "h")
    elif fmt == "live":
        start = day + np.timedelta64(14 * 60 + 30, "m")
        end = start + np.timedelta64(int(hours * 60), "m")
    else:
        days = int(np.ceil(hours / 8))
        start = day + np.timedelta64(8 * 60 + 30, "m")
        end_h = 17 * 60 + 30 if hours >= 8 else 8 * 60 + 30 + int(hours * 60) + 30
        end = day + (days - 1) * DAY + np.timedelta64(end_h, "m")
    cap = {
        "live": int(rng.integers(6, 21)) * 50,
        "face_to_face": int(rng.integers(4, 13)) * 10,
        "special_class": int(rng.integers(3, 7)) * 10,
    }[fmt]
    return start.astype("datetime64[s]"), end.astype("datetime64[s]"), cap


def _published(rng: np.random.Generator) -> np.datetime64:
    """Spread over 2024-01 .. 2025-12 with about 5% in the last three months (cold courses)."""
    lo, hi = (LATE_FROM, DATA_END) if rng.random() < 0.05 else (DATA_START, LATE_FROM)
    span = int((hi - lo) / np.timedelta64(1, "s"))
    day = (lo + np.timedelta64(int(rng.integers(span)), "s")).astype("datetime64[D]")
    return (day + np.timedelta64(int(rng.integers(9 * 60, 18 * 60)), "m")).astype("datetime64[s]")


def _plan(rng: np.random.Generator, n_courses: int) -> list[int]:
    """Topic ids of the regular courses: category shares, gap topics kept thin."""
    scale = max(1.0, n_courses / 600)
    plan = [TOPIC_ID[name] for name, k in GAP_TOPICS.items() for _ in range(round(k * scale))]
    n_special = n_runs_total() + sum(len(s[1]) for s in SERIES)
    rest = max(0, n_courses - n_special - len(plan))
    cats = list(CATEGORY_SHARE)
    share = np.array([CATEGORY_SHARE[c] for c in cats])
    counts = rng.multinomial(rest, share / share.sum())
    for cat, k in zip(cats, counts, strict=True):
        ids = [i for i, (c, t) in enumerate(TOPIC_LIST) if c == cat and t[0] not in GAP_TOPICS]
        plan.extend(ids[int(j)] for j in rng.integers(len(ids), size=k))
    return plan


def _row(
    rng,
    topic_id,
    fmt,
    method,
    hours,
    taken,
    pools,
    published,
    *,
    title=None,
    compulsory=False,
    audience="",
    tags=None,
    daytime_only=False,
    desc_audience=None,
):
    cat, topic = TOPIC_LIST[topic_id]
    inst, rating = pools[cat][int(rng.integers(len(pools[cat])))]
    start = end = np.datetime64("NaT")
    cap = -1
    if fmt in ("live", "face_to_face", "special_class"):
        start, end, cap = _session(rng, fmt, hours, published, daytime_only=daytime_only)
    if title is None:
        title = compose_title(rng, topic, fmt, taken)
    taken.add(title)
    if tags is None:
        extra = topic[1][int(rng.integers(len(topic[1])))].strip("“”《》")
        tags = "|".join(dict.fromkeys((*topic[2], extra) if len(extra) <= 8 else topic[2]))
    return {
        "title": title,
        "description": compose_description(
            rng,
            topic,
            fmt,
            method,
            audience=desc_audience,
            days=int(np.ceil(hours / 8)) if fmt == "special_class" else 0,
        ),
        "category": cat,
        "tags": tags,
        "credit_hours": hours,
        "format": fmt,
        "method": method,
        "compulsory": compulsory,
        "audience": audience,
        "instructor": inst,
        "instructor_rating": rating,
        "session_start": start,
        "session_end": end,
        "capacity": cap,
        "published_at": published,
        "_topic": topic_id,
        "_prev": -1,
        "_group": -1,
    }


def n_runs_total() -> int:
    """Rows the hand-written compulsory courses take (special classes run three times)."""
    return sum(3 if c[3] == "special_class" else 1 for c in COMPULSORY)


def _mark_compulsory(rng: np.random.Generator, rows: list[dict], k: int) -> None:
    """Make ``k`` system-specific regular courses compulsory for their main system."""
    cands = [
        i
        for i, r in enumerate(rows)
        if TOPIC_LIST[r["_topic"]][1][3] != ("*",) and r["format"] != "special_class"
    ]
    for i in rng.permutation(len(cands))[: max(0, k)]:
        row = rows[cands[int(i)]]
        system = TOPIC_LIST[row["_topic"]][1][3][0]
        row.update(
            compulsory=True,
            audience="乡镇|村" if system == "乡镇综合" else system,
            _group=1000 + cands[int(i)],
        )


def build_courses(rng: np.random.Generator, n_courses: int) -> pd.DataFrame:
    """The catalog; hidden columns ``_topic``, ``_prev`` (series predecessor), ``_group``."""
    pools = _instructors(rng, n_courses)
    taken: set[str] = set()
    rows: list[dict] = []
    fmts, fp = list(_FORMAT_P), np.array(list(_FORMAT_P.values()))
    for topic_id in _plan(rng, n_courses):
        fmt = str(rng.choice(fmts, p=fp))
        if TOPIC_LIST[topic_id][1][0] in GAP_TOPICS:
            fmt = ("video", "micro")[int(rng.integers(2))]
        method = str(rng.choice(METHODS, p=_METHOD_P[fmt]))
        emergency_f2f = TOPIC_LIST[topic_id][0] == "应急管理" and fmt == "face_to_face"
        rows.append(
            _row(
                rng,
                topic_id,
                fmt,
                method,
                _hours(rng, fmt),
                taken,
                pools,
                _published(rng),
                daytime_only=emergency_f2f,
                desc_audience="乡镇（街道）和村（社区）干部" if emergency_f2f else None,
            )
        )
    _mark_compulsory(rng, rows, round(0.05 * n_courses) - n_runs_total())
    for g, (title, cat, aud, fmt, tags, first) in enumerate(COMPULSORY):
        n_runs = 3 if fmt == "special_class" else 1
        for run in range(n_runs):
            pub = np.datetime64(first) + int(rng.integers(0, 10) + 120 * run) * DAY
            pub = (pub + np.timedelta64(9, "h")).astype("datetime64[s]")
            t = f"{title}（第{'一二三'[run]}期）" if n_runs > 1 else title
            rows.append(
                _row(
                    rng,
                    _topic_for(cat, tags, title),
                    fmt,
                    "lecture" if fmt != "special_class" else "research",
                    _hours(rng, fmt),
                    taken,
                    pools,
                    pub,
                    title=t,
                    compulsory=True,
                    audience=aud,
                    tags=tags,
                )
                | {"_group": g}
            )
    for cat, parts, tags, fmt in SERIES:
        pub = _published(rng)
        if pub > LATE_FROM:
            pub = pub - 300 * DAY
        topic_id = _topic_for(cat, tags, parts[0])
        for k, title in enumerate(parts):
            if k:
                pub = pub + int(rng.integers(1, 20)) * DAY
            row = _row(
                rng,
                topic_id,
                fmt,
                "lecture",
                _hours(rng, fmt),
                taken,
                pools,
                pub,
                title=title,
                tags=tags,
            )
            row["_prev"] = len(rows) - 1 if k else -1
            rows.append(row)
    df = pd.DataFrame(rows)
    order = np.argsort(df["published_at"].to_numpy(), kind="stable")
    new_pos = np.empty_like(order)
    new_pos[order] = np.arange(len(order))
    df = df.iloc[order].reset_index(drop=True)
    df["_prev"] = np.where(df["_prev"] >= 0, new_pos[df["_prev"].clip(lower=0)], -1)
    df.insert(0, "course_id", [f"C{i + 1:05d}" for i in range(len(df))])
    ids = df["course_id"].to_numpy()
    df["prerequisites"] = np.where(df["_prev"] >= 0, ids[df["_prev"].clip(lower=0)], "")
    old = (df["published_at"] < np.datetime64("2025-01-01")) & ~df["compulsory"]
    df["active"] = ~(old & (rng.random(len(df)) < 0.05))
    return df

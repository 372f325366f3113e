"""Hard constraints of the menu: which courses can be planned at all, and what that costs.

:func:`build_catalog` records the first hard constraint each course breaks ('' = eligible);
:func:`diagnose` reports every goal a chosen menu misses, splitting an hour shortfall over
the hard constraints that cut the plannable hours below the target.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recommender.data.catalog import Catalog, audience_tags
from recommender.data.cells import VALUE_LABELS
from recommender.data.rules import PART_LABELS
from recommender.data.schema import Columns as C
from recommender.menu.schedule import TOL, Calendar
from recommender.menu.types import PlanCatalog, Request, Unmet

if TYPE_CHECKING:  # pragma: no cover
    from recommender.data.rules import TrainingRules
    from recommender.menu.solver import Selector


def build_catalog(
    courses: pd.DataFrame | Catalog,
    scores: pd.Series | np.ndarray,
    *,
    cadre: Mapping[str, Any],
    completed: Collection[str],
    enrolled_counts: Mapping[str, int],
    cal: Calendar,
    windows: Sequence[str],
    formats: Sequence[str],
    rules: TrainingRules,
) -> PlanCatalog:
    """Arrays of the catalog with the first hard constraint each course breaks.

    ``scores`` is a Series indexed by course id, or an array aligned with a given
    :class:`Catalog` (NaN = no score).
    """
    t = courses if isinstance(courses, Catalog) else Catalog.from_frame(courses, rules)
    fixed = catalog_arrays(t, rules)
    n, hours = len(t.ids), t.hours
    done = {str(c) for c in completed}
    completed_mask = np.zeros(n, bool)
    completed_mask[[t.pos[c] for c in done if c in t.pos]] = True
    tags = audience_tags(dict(cadre), rules.rank_band(str(cadre.get(C.RANK) or "")))
    aud_ok = t.audiences.mask(tags)
    taken = np.array([float(enrolled_counts.get(i, 0)) for i in t.ids]) if enrolled_counts else 0.0
    start_ns, end_ns = fixed.start_ns, fixed.end_ns
    lo, hi = pd.Timestamp(cal.start).value, pd.Timestamp(cal.end).value
    sched, parts = t.scheduled, fixed.parts
    checks = {
        "invalid": ~(hours > 0),
        "inactive": ~t.active,
        "completed": completed_mask,
        "audience": ~aud_ok,
        "no_session": t.needs_session & ~sched,
        "year": sched & ~((start_ns >= lo) & (end_ns <= hi)),
        "windows": sched & ~np.isin(t.windows, list(windows)),
        "capacity": ~np.isnan(t.capacity) & (taken >= t.capacity),
        "weekly_budget": sched & (parts != "centralised") & (hours > cal.budget + TOL),
    }
    reason = np.full(n, "", dtype=object)
    for code, mask in checks.items():
        reason[(reason == "") & mask] = code
    prereqs = _prerequisites(t.prereq_cells, n, t.pos, done, reason)
    deps = [i for i in t.prereq_cells if prereqs[i]]  # ascending: cells are in row order
    _prerequisite_feasibility(prereqs, deps, reason, sched, t.start, t.end)
    raw = _scores(scores, t.ids) if isinstance(scores, pd.Series) else np.asarray(scores, float)
    return PlanCatalog(
        ids=t.ids,
        titles=t.titles,
        categories=t.categories,
        groups=fixed.groups,
        formats=t.formats,
        parts=parts,
        topics=t.topics,
        instructors=fixed.people,
        hours=np.nan_to_num(hours),
        raw=raw,
        rel=_rescale(raw, reason == ""),
        preferred=np.isin(t.formats, list(formats)),
        compulsory=t.compulsory & aud_ok,
        scheduled=sched,
        start=t.start,
        end=t.end,
        week=_weeks(start_ns, sched, cal),
        end_week=_weeks(end_ns - 1, sched, cal),
        prereqs=prereqs,
        reason=reason,
        start_ns=start_ns,
        end_ns=end_ns,
        id_rank=fixed.id_rank,
    )


@dataclass(frozen=True)
class _Fixed:
    """What a plan catalog takes from the catalog and the rules alone, the same for every
    request: worked out once per (catalog, rules) pair instead of per menu."""

    groups: np.ndarray  # the rule group of each course's category
    parts: np.ndarray  # 'centralised', 'online' or ''
    people: np.ndarray  # 授课教师 with organisations blanked
    id_rank: np.ndarray  # position of each id in string order (ties in the selection order)
    start_ns: np.ndarray
    end_ns: np.ndarray


#: id(catalog) → (weak reference to it, the rules, its _Fixed); a few catalogs at most
_FIXED: dict[int, tuple[weakref.ref, TrainingRules, _Fixed]] = {}


def catalog_arrays(t: Catalog, rules: TrainingRules) -> _Fixed:
    """The request-independent arrays of ``t`` under ``rules`` (memoised per pair)."""
    hit = _FIXED.get(id(t))
    if hit is not None and hit[0]() is t and hit[1] is rules:
        return hit[2]
    parts = np.full(len(t.ids), "", dtype=object)
    for part, fmts in rules.format_classes.items():
        parts[np.isin(t.formats, list(fmts))] = part
    out = _Fixed(
        groups=np.array([rules.rule_group(c) for c in t.categories], dtype=object),
        parts=parts,
        people=_people(t.instructors, rules),
        id_rank=np.argsort(np.argsort(t.ids.astype(str), kind="stable"), kind="stable"),
        start_ns=t.start.asi8,
        end_ns=t.end.asi8,
    )
    for a in (out.groups, out.parts, out.id_rank):
        a.setflags(write=False)  # shared by every request on this catalog
    if len(_FIXED) >= 8:  # models replaced by reloads: drop the oldest entries
        for key in list(_FIXED)[:4]:
            _FIXED.pop(key, None)
    _FIXED[id(t)] = (weakref.ref(t), rules, out)
    return out


_DAY_NS = 86_400 * 10**9


def _people(instructors: np.ndarray, rules: TrainingRules) -> np.ndarray:
    """授课教师 cells with organisations and platforms (中国干部网络学院, 县委党校 …) blanked:
    the per-instructor cap counts people, and a blank cell counts toward no cap."""
    names = {str(v) for v in instructors}
    orgs = {v for v in names if rules.is_organisation(v)}
    if not orgs:
        return instructors
    return np.array(["" if str(v) in orgs else v for v in instructors], dtype=object)


def _weeks(ns: np.ndarray, valid: np.ndarray, cal: Calendar) -> np.ndarray:
    """Week bucket of each time (int64 ns, naive) relative to the calendar's first Monday."""
    monday = pd.Timestamp(cal.first_monday).value // _DAY_NS
    days = ns // _DAY_NS - monday
    return np.where(valid, days // 7, -1).astype(np.int64)


def _scores(scores: pd.Series, ids: np.ndarray) -> np.ndarray:
    s = pd.Series(
        pd.to_numeric(scores, errors="coerce").to_numpy(float), index=scores.index.astype(str)
    )
    s = s.groupby(level=0).max()
    return s.reindex(ids).to_numpy(dtype=float)


def _rescale(raw: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Scores to [0.1, 1] over eligible courses; a missing score counts as the lowest (0)."""
    ok = eligible & np.isfinite(raw)
    out = np.zeros(len(raw))
    if ok.any():
        lo, hi = raw[ok].min(), raw[ok].max()
        out[ok] = 1.0 if hi - lo < 1e-12 else 0.1 + 0.9 * (raw[ok] - lo) / (hi - lo)
    return out


def _prerequisites(
    cells: Mapping[int, list[str]], n: int, pos: Mapping[str, int], done: set[str], reason
) -> list[tuple[int, ...]]:
    """Positions of each course's uncompleted prerequisites; unknown ones make it ineligible."""
    out: list[tuple[int, ...]] = [()] * n
    for i, items in cells.items():
        pres = [p for p in items if p not in done]
        found = tuple(pos[p] for p in pres if p in pos and pos[p] != i)
        if len(found) < len(pres) and not reason[i]:
            reason[i] = "prerequisites"
        out[i] = found
    return out


def _prerequisite_feasibility(
    prereqs: list[tuple[int, ...]],
    deps: list[int],
    reason: np.ndarray,
    scheduled: np.ndarray,
    start: pd.DatetimeIndex,
    end: pd.DatetimeIndex,
) -> None:
    """Mark courses whose prerequisites are ineligible, in a cycle, or (both sessions) later."""
    good: set[int] = set()
    bad: set[int] = set()

    def acyclic(i: int, stack: set[int]) -> bool:
        if i in good or i in bad or i in stack:
            return i in good
        stack.add(i)
        ok = all(acyclic(j, stack) for j in prereqs[i])
        stack.discard(i)
        (good if ok else bad).add(i)
        return ok

    for i in deps:
        if not reason[i] and not acyclic(i, set()):
            reason[i] = "prerequisites"
    changed = True
    while changed:
        changed = False
        for i in deps:
            if reason[i]:
                continue
            if any(
                reason[j] or (scheduled[i] and scheduled[j] and end[j] > start[i])
                for j in prereqs[i]
            ):
                reason[i] = "prerequisites"
                changed = True


# ---------------------------------------------------------------- what could not be met

_WHY = {
    "invalid": "学时无效",
    "inactive": "课程已下线",
    "completed": "已学过",
    "audience": "不面向该干部",
    "no_session": "尚未排定开课时间",
    "year": "开课时间不在本年度计划期内",
    "windows": "开课时间不在可学习时段内",
    "capacity": "名额已满",
    "weekly_budget": "单次学时超过每周可学学时",
    "prerequisites": "先修课程无法安排",
    "conflict": "与其他必修课时间冲突、超出每周可学学时或先修顺序无法满足",
}
_CATALOG = ("invalid", "inactive", "completed", "audience", "no_session", "year")


def _h(x: float) -> str:
    """Hours as messages show them (two decimals at most): 4, 2.5, 46.67."""
    return f"{round(float(x), 2) + 0.0:g}"


def diagnose(cat: PlanCatalog, req: Request, sel: Selector, chosen: list[int]) -> list[Unmet]:
    """Every goal the menu misses, with the constraint responsible and the hours short.

    Each message states the figures it rests on, and they add up: shown hours are rounded
    to two decimals."""

    out: list[Unmet] = []
    if req.constraints.compulsory_first:
        picked = set(chosen)
        for i in np.flatnonzero(cat.compulsory & (cat.reason != "completed")):
            if i not in picked and cat.reason[i] != "inactive":
                why = _WHY[cat.reason[i] or "conflict"]
                out.append(
                    Unmet(
                        "compulsory",
                        float(cat.hours[i]),
                        f"必修课《{cat.titles[i]}》（{cat.ids[i]}，{_h(cat.hours[i])} 学时）"
                        f"无法安排：{why}",
                    )
                )
    short = req.remaining - sel.hours(chosen)
    if short > TOL:
        out += _attribute(cat, req, sel, chosen, short)
    return out + [u for code in sel.groups if (u := _goal_unmet(cat, req, sel, chosen, code))]


def _goal_unmet(
    cat: PlanCatalog, req: Request, sel: Selector, chosen: list[int], code: str
) -> Unmet | None:
    """A category minimum or a part of the centralised/online split the menu misses."""
    mask, need = sel.groups[code], sel.need[code]
    have = float(cat.hours[chosen][mask[chosen]].sum()) if chosen else 0.0
    gap = need - have
    if gap <= TOL:
        return None
    pool = float(cat.hours[mask & (cat.reason == "")].sum())
    if pool < need - TOL:
        why = f"可安排的课程共 {_h(pool)} 学时，可选课程不足"
    else:
        why = "受时间冲突、每周学时等其他约束限制"
    earned = req.constraints.credited_by_goal
    r = req.remaining if earned is None else req.target
    whole = "剩余目标" if earned is None else "年度目标"
    if code.startswith("category_minimum:"):
        key = g = code.split(":", 1)[1]
        share = req.minimums[g]
        goal = share * r
        rule = f"{g} 应占{whole} {_h(r)} 学时的 {_h(share * 100)}%，即 {_h(goal)} 学时"
    else:
        key = part = code.removesuffix("_hours")
        total = sum(req.split.values())
        label = f"{PART_LABELS[part]}（{_format_labels(cat, part)}）"
        goal = r * req.split[part] / total
        rule = (
            f"{label}应为{whole} {_h(r)} 学时 × {_h(req.split[part])}/{_h(total)} = {_h(goal)} 学时"
        )
    if earned is not None:  # what the records already credit towards this goal
        rule += f"，已获 {_h(earned.get(key, 0.0))} 学时，尚需 {_h(need)} 学时"
    msg = f"{rule}，已安排 {_h(have)} 学时，还差 {_h(gap)} 学时：{why}"
    return Unmet(code, round(gap, 6), msg)


def _format_labels(cat: PlanCatalog, part: str) -> str:
    """The Chinese names of the catalog's formats that count towards ``part``."""
    fmts = sorted(set(cat.formats[cat.parts == part]))
    return "、".join(VALUE_LABELS.get(f, f) for f in fmts) or "目录中无此类课程"


def _bounds(cat: PlanCatalog, req: Request, sel: Selector) -> list[tuple[str, float, str]]:
    """Upper bounds on plannable hours as the hard constraints are added one group at a time."""
    h, reason, cal = cat.hours, cat.reason, req.calendar
    u = float(h[~np.isin(reason, _CATALOG)].sum())
    out = [("catalog", u, "有效、未学过且在本年度计划期内的课程")]
    for code, text in (
        (
            "windows",
            f"可学习时段（{'、'.join(VALUE_LABELS.get(w, w) for w in req.windows)}）以外的课程除外",
        ),
        ("capacity", "名额已满的课程除外"),
        ("prerequisites", "先修课程无法安排的课程除外"),
    ):
        u -= float(h[reason == code].sum())
        out.append((code, u, text))
    u -= float(h[reason == "weekly_budget"].sum())
    cap = cal.budget * cal.n_weeks
    own = float(h[(reason == "") & sel.budgeted].sum())  # self-study hours, under the budget
    if own > cap:
        central = u - own
        text = (
            f"每周可学 {_h(cal.budget)} 学时 × 剩余 {cal.n_weeks} 周 = {_h(cap)} 学时自学时间"
            + (f"，另有集中培训 {_h(central)} 学时" if central > TOL else "")
        )
        out.append(("weekly_budget", central + cap, text))
    else:
        out.append(("weekly_budget", u, f"单次学时超过每周可学 {_h(cal.budget)} 学时的课程除外"))
    elig = sel.order
    for name, values, limit in (
        ("max_per_topic", cat.topics, sel.cap["topic"]),
        ("max_per_instructor", cat.instructors, sel.cap["instructor"]),
    ):
        taken: dict[str, int] = {}
        bound = 0.0
        for i in elig[np.argsort(-h[elig], kind="stable")]:
            v = values[i]
            if not v or i in sel.fixed or taken.get(v, 0) < limit:
                taken[v] = taken.get(v, 0) + (0 if i in sel.fixed else 1)
                bound += h[i]
        what = "专题" if "topic" in name else "教师"
        out.append((name, bound, f"每个{what}最多 {limit} 门"))
    top = float(np.sort(h[elig])[::-1][: max(sel.n_max, len(sel.fixed))].sum())
    out.append(("max_courses", top, f"课程数上限 {sel.n_max} 门"))
    return out


def _attribute(
    cat: PlanCatalog, req: Request, sel: Selector, chosen: list[int], short: float
) -> list[Unmet]:
    """Split the hour shortfall over the constraints that cut the plannable hours below target.

    Constraints are added one at a time; each one that lowers the most hours any menu could
    reach is charged the difference, and its message shows that arithmetic."""

    r, left, out = req.remaining, short, []
    prev = r
    for name, bound, text in _bounds(cat, req, sel):
        now = max(min(prev, bound), prev - left)  # never charge more than the shortfall
        cut = prev - now
        if cut > TOL:
            left -= cut
            before = f"剩余目标 {_h(r)} 学时" if prev >= r - TOL else f"此前最多 {_h(prev)} 学时"
            out.append(
                Unmet(
                    name,
                    round(cut, 6),
                    f"{text}：最多可安排 {_h(now)} 学时，比{before}少 {_h(cut)} 学时",
                )
            )
        prev = now
    if left > TOL:
        code, text = (
            ("max_courses", f"已达课程数上限 {sel.n_max} 门")
            if len(chosen) >= sel.n_max
            else ("combination", "时间冲突、先修顺序、每周学时分布等约束共同作用")
        )
        planned = sel.hours(chosen)
        out.append(
            Unmet(
                code,
                round(left, 6),
                f"{text}：各项上限内最多 {_h(prev)} 学时，实际安排 {_h(planned)} 学时，"
                f"还差 {_h(left)} 学时",
            )
        )
    return out

"""The candidate policy: which courses a list may hold for one query, and why not the rest.

One :class:`CandidatePolicy` serves the request path, the blend-weight fit and evaluation,
so what is trained on is what is served. Rules are applied in a fixed order and each counts
the courses it removed that were still candidates, so a short list can say why
(:meth:`CandidateSet.shortfall`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recommender.data.catalog import AudienceIndex, audience_tags, open_sessions
from recommender.data.rules import TrainingRules, load_rules
from recommender.data.schema import Columns as C

#: rule code → Chinese label, in the order the rules are applied
RULES: dict[str, str] = {
    "inactive": "已停用",
    "closed": "开课时间已过",
    "audience": "适用对象不含该干部",
    "compulsory": "必修课（由培训计划统一安排，不在选学推荐中）",
    "completed": "已学过或已报名",
    "twin": "已学过同名课程的其他学习形式（如面授课的网络版）",
    "category": "不属于所选课程类别",
    "format": "不属于所选学习形式",
}


#: a trailing note of format in brackets: （网络版）, (直播), 【面授】 …
_FORMAT_NOTE = re.compile(
    r"[（(【\[][^（）()【】\[\]]*(网络|线上|直播|视频|微课|面授|录播|版)[^（）()]*[）)】\]]$"
)
_PUNCT = re.compile(r"[《》“”\"'：:，,。.、·\-—_]")


def title_key(titles: pd.Series) -> pd.Series:
    """Titles compared as people read them: no spaces, brackets or a trailing format note
    (《…》, （网络版）, (直播)), so a 面授 course and its online twin share a key."""
    t = titles.fillna("").astype(str).str.replace(r"\s+", "", regex=True)
    t = t.str.replace(_FORMAT_NOTE, "", regex=True)
    return t.str.replace(_PUNCT, "", regex=True).str.lower()


def twin_matrix(codes: np.ndarray, formats: np.ndarray | None = None) -> sp.csr_matrix:
    """(courses × courses) 1 where two courses share a title key in different formats (a
    面授 course and its 网络 version; two universities' 高等数学 videos are not twins)."""
    n = len(codes)
    counts = np.bincount(codes, minlength=codes.max() + 1 if n else 0)
    dup = np.flatnonzero(counts[codes] > 1)
    order = dup[np.argsort(codes[dup], kind="stable")]
    rows, cols = [], []
    for group in np.split(order, np.flatnonzero(np.diff(codes[order])) + 1):
        if len(group) > 1:
            r, c = np.meshgrid(group, group, indexing="ij")
            keep = r != c if formats is None else formats[r] != formats[c]
            rows.append(r[keep])
            cols.append(c[keep])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n))


def _as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None or (not isinstance(value, str) and not len(value)) or value == "":
        return None
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


@dataclass(frozen=True)
class Filters:
    """What the caller asked for on top of the policy (all optional)."""

    category: tuple[str, ...] | None = None
    format: tuple[str, ...] | None = None
    include_completed: bool = False
    include_compulsory: bool = False

    @classmethod
    def of(
        cls,
        *,
        category: str | Sequence[str] | None = None,
        format: str | Sequence[str] | None = None,
        include_completed: bool = False,
        include_compulsory: bool = False,
    ) -> Filters:
        return cls(_as_tuple(category), _as_tuple(format), include_completed, include_compulsory)


#: the default lists: electives not yet taken, every category and format
ELECTIVES = Filters()
#: what menus plan from: everything a cadre may take, compulsory and completed included
EVERYTHING = Filters(include_completed=True, include_compulsory=True)


@dataclass(frozen=True)
class CandidateSet:
    """The courses a list may hold (``mask``) and how many each rule removed (``removed``,
    counted only when asked: a full list never needs it)."""

    mask: np.ndarray
    rules: tuple[tuple[str, np.ndarray], ...] = ()

    @property
    def count(self) -> int:
        return int(self.mask.sum())

    @property
    def removed(self) -> dict[str, int]:
        """Courses each rule removed that earlier rules had left, in the order applied."""
        left = np.ones(len(self.mask), bool)
        out: dict[str, int] = {}
        for rule, keep in self.rules:
            out[rule] = int((left & ~keep).sum())
            left &= keep
        return out

    def shortfall(self, k: int) -> str | None:
        """Why fewer than ``k`` courses can be listed, in Chinese (``None`` if enough)."""
        n = self.count
        if n >= k:
            return None
        parts = [f"{RULES[r]} {c} 门" for r, c in self.removed.items() if c]
        head = "没有可推荐的课程" if n == 0 else f"只有 {n} 门课程可推荐（要求 {k} 门）"
        return head + ("：" + "，".join(parts) if parts else "：课程目录中的课程不足")

    def to_dict(self, k: int) -> dict[str, Any]:
        removed = {r: c for r, c in self.removed.items() if c}
        return {
            "candidates": self.count,
            "removed": removed,
            "labels": {r: RULES[r] for r in removed},
            "message": self.shortfall(k),
        }


class CandidatePolicy:
    """Active, still open, meant for the cadre (audience), elective unless asked, not taken
    unless asked, and in the asked category/format."""

    def __init__(self, courses: pd.DataFrame, rules: TrainingRules | None = None) -> None:
        self.rules = rules or load_rules()
        c = courses.reset_index(drop=True)
        n = len(c)

        def col(name, default):
            return c[name] if name in c else pd.Series([default] * n, dtype=object)

        self.active = col(C.ACTIVE, True).fillna(True).to_numpy(dtype=bool)
        self.compulsory = col(C.COMPULSORY, False).fillna(False).to_numpy(dtype=bool)
        self.session_start = pd.to_datetime(col(C.SESSION_START, pd.NaT)).to_numpy(
            dtype="datetime64[s]"
        )
        self.categories = col(C.CATEGORY, "").astype(str).to_numpy(dtype=object)
        self.formats = col(C.FORMAT, "").fillna("").astype(str).to_numpy(dtype=object)
        self.audiences = AudienceIndex(col(C.AUDIENCE, ""))
        codes = pd.factorize(title_key(col(C.TITLE, "")))[0]
        self.twins = twin_matrix(codes, self.formats)
        self.has_twin = np.asarray(self.twins.getnnz(axis=1) > 0)
        self.elective = ~self.compulsory
        self.elective.setflags(write=False)
        self._open: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.active)

    def open_at(self, at: np.datetime64) -> np.ndarray:
        """Courses one can still enrol in at ``at`` (memoised, read-only)."""
        key = str(np.datetime64(at, "s"))
        mask = self._open.get(key)
        if mask is None:
            mask = open_sessions(self.session_start, at)
            mask.setflags(write=False)
            if len(self._open) > 64:
                self._open.clear()
            self._open[key] = mask
        return mask

    def audience(self, profile: Mapping[str, Any]) -> np.ndarray:
        """Courses whose audience includes this cadre (read-only)."""
        band = self.rules.rank_band(str(profile.get(C.RANK) or ""))
        return self.audiences.mask(audience_tags(profile, band))

    def _rule_masks(self, profile, history, filters: Filters, at, audience=None):
        """(rule, courses the rule keeps) in the order of :data:`RULES`."""
        yield "inactive", self.active
        yield "closed", self.open_at(at)
        yield "audience", self.audience(profile) if audience is None else audience
        if not filters.include_compulsory:
            yield "compulsory", self.elective
        if not filters.include_completed and len(history):
            taken = np.asarray(history, dtype=np.int64)
            keep = np.ones(len(self), bool)
            keep[taken] = False
            yield "completed", keep
            twinned = taken[self.has_twin[taken]]  # usually none: one gather, no sparse work
            if len(twinned):
                keep = np.ones(len(self), bool)
                for t in twinned.tolist():
                    keep[self.twins.indices[self.twins.indptr[t] : self.twins.indptr[t + 1]]] = (
                        False
                    )
                yield "twin", keep
        if filters.category:
            yield "category", np.isin(self.categories, list(filters.category))
        if filters.format:
            yield "format", np.isin(self.formats, list(filters.format))

    def for_query(
        self,
        profile: Mapping[str, Any],
        history: np.ndarray,
        filters: Filters,
        at: np.datetime64,
        *,
        audience: np.ndarray | None = None,
    ) -> CandidateSet:
        """One cadre's candidates and the count each rule removed; ``audience``: the
        cadre's :meth:`audience` mask when the caller has it memoised."""
        rules = tuple(self._rule_masks(profile, history, filters, at, audience))
        mask = np.ones(len(self), bool)
        for _, keep in rules:
            mask &= keep
        return CandidateSet(mask, rules)

    def for_batch(
        self,
        profiles: Sequence[Mapping[str, Any]],
        history: sp.csr_matrix,
        filters: Filters,
        at: np.datetime64,
        *,
        audiences: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """(cadres × courses) candidate masks: the same rules as :meth:`for_query`, with the
        audience computed once per distinct set of audience tags (or given per cadre in
        ``audiences``, when the caller has them memoised; ``profiles`` are then not read)."""
        history = sp.csr_matrix(history)
        base = np.ones(len(self), bool)
        no_history = np.zeros(0, np.int64)
        everyone = np.ones(len(self), bool)  # the audience is applied per cadre below
        for rule, keep in self._rule_masks({}, no_history, filters, at, everyone):
            if rule != "audience":
                base &= keep
        if audiences is None:
            audiences = [self.audience(profile) for profile in profiles]
        out = np.repeat(base[None, :], history.shape[0], axis=0)
        out &= np.asarray(audiences, dtype=bool).reshape(out.shape)
        if not filters.include_completed:
            rows, cols = history.nonzero()
            out[rows, cols] = False
            if self.twins.nnz:  # another format of a course already taken
                taken = history.copy()
                taken.data[:] = 1.0
                r, c = (taken @ self.twins).nonzero()
                out[r, c] = False
        return out

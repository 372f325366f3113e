"""Instructor signal: "a course by a teacher whose course you took".

Learners follow teachers: in the leave-last validation split of the real icourse163 data,
19% of next courses share a teacher with the learner's previous course, against 0.6% of
course pairs (翁恺's 程序设计入门——C语言 → C语言程序设计进阶).
A course scores the number of courses in the cadre's history that share one of its
instructors; a course nobody took yet scores like any other, so new courses by a known
teacher are reached without behaviour data. A 授课教师 cell naming an organisation or a
platform (中国干部网络学院, 县委党校 …: the training rules' ``[instructors] organisations``) is
nobody: a county catalog gives its platform as the teacher of every online course, and "the
same teacher" would tie them all together.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recommender.data.rules import load_rules
from recommender.data.schema import Columns as C
from recommender.signals.base import ExplainContext, Query, QueryBatch, Reason, Signal, quote
from recommender.signals.content import row_positions

#: separators between the teachers of one course ("陈越、何钦铭", "A, B", "A；B")
_SEPARATORS = re.compile(r"[、,，;；/]")


def instructor_names(value: object) -> set[str]:
    """The teachers named in one ``instructor`` cell (empty for a blank cell)."""
    text = "" if value is None or value != value else str(value)  # value != value: NaN
    return {name.strip() for name in _SEPARATORS.split(text) if name.strip()}


def shared_instructors(
    instructors, is_organisation: Callable[[str], bool] | None = None
) -> sp.csr_matrix:
    """(courses × courses) 1 where two different courses share a teacher, else 0; names for
    which ``is_organisation`` is true (a platform, a school) are no teacher."""
    rows, cols = [], []
    by_name: dict[str, list[int]] = {}
    for course, value in enumerate(instructors):
        for name in instructor_names(value):
            if is_organisation is None or not is_organisation(name):
                by_name.setdefault(name, []).append(course)
    for courses in by_name.values():
        idx = np.asarray(courses, dtype=np.int64)
        rows.append(np.repeat(idx, len(idx)))
        cols.append(np.tile(idx, len(idx)))
    n = len(instructors)
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    off = r != c
    shared = sp.csr_matrix(
        (np.ones(int(off.sum()), np.float32), (r[off], c[off])), shape=(n, n), dtype=np.float32
    )
    shared.data[:] = 1.0  # two teachers in common still count once
    return shared


class InstructorSignal(Signal):
    """How many courses of the cadre's history share a teacher with each course."""

    name = "instructor"
    needs_history = True

    def fit_from_statistics(self, stats, meta) -> InstructorSignal:
        """Catalog side only (no statistics of the records); organisations from the training
        rules (``XUANXUE_RULES`` or the packaged file)."""
        teachers = meta.courses[C.INSTRUCTOR].tolist()
        self.shared_ = shared_instructors(teachers, load_rules().is_organisation)
        self.n_items_ = meta.n_items
        return self

    def score(self, batch: QueryBatch) -> np.ndarray:
        self._check_fitted()
        hist = sp.csr_matrix(batch.history, dtype=np.float32)
        hist.data[:] = 1.0
        return np.asarray((hist @ self.shared_).toarray(), dtype=np.float32)

    def score_one(self, query: Query) -> np.ndarray:
        self._check_fitted()
        if not query.has_history:
            return np.zeros(self.n_items_, dtype=np.float32)
        # the history's rows gathered and summed in order (float32, bit-identical to the
        # sparse row sum, without building sparse objects per request)
        pos, _ = row_positions(self.shared_.indptr, query.history)
        out = np.zeros(self.n_items_, dtype=np.float32)
        np.add.at(out, self.shared_.indices[pos], self.shared_.data[pos])
        return out

    def _block(self, history: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``shared_[history][:, items]`` as a dense array, gathered without sparse objects."""
        pos, lens = row_positions(self.shared_.indptr, history)
        column = np.full(self.n_items_, -1, dtype=np.int64)
        column[items] = np.arange(len(items))
        j = column[self.shared_.indices[pos]]
        hit = j >= 0
        block = np.zeros((len(history), len(items)), dtype=np.float32)
        block[np.repeat(np.arange(len(history)), lens)[hit], j[hit]] = self.shared_.data[pos][hit]
        return block

    def explain(self, query: Query, items: np.ndarray, context: ExplainContext):
        """A taken course sharing a teacher with each course, when this signal counted."""
        if self.name not in context.components or not query.has_history:
            return None
        block = self._block(query.history, np.asarray(items, np.int64))
        out = []
        for j, b in enumerate(block.argmax(axis=0).tolist()):
            if block[b, j] <= 0:
                out.append([])
                continue
            taken = int(query.history[b])
            text = f"与您学过的{quote(context.titles[taken])}是同一位授课教师"
            out.append([Reason("same_instructor", text, {"course_id": context.course_ids[taken]})])
        return out

"""The instructor signal: courses sharing a teacher with the cadre's history."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from recommender.data.schema import Columns as C
from recommender.signals.base import Query
from recommender.signals.instructor import InstructorSignal, instructor_names, shared_instructors

TEACHERS = ["翁恺", "翁恺、陈越", "陈越", "嵩天", None, "嵩天, 黄天羽"]


def _fitted() -> InstructorSignal:
    courses = pd.DataFrame({C.INSTRUCTOR: TEACHERS})
    return InstructorSignal().fit(SimpleNamespace(courses=courses, n_items=len(TEACHERS)))


def test_names_split_on_the_usual_separators():
    assert instructor_names("陈越、何钦铭") == {"陈越", "何钦铭"}
    assert instructor_names(" 嵩天, 黄天羽；礼欣 ") == {"嵩天", "黄天羽", "礼欣"}
    assert instructor_names(None) == set() and instructor_names(float("nan")) == set()


def test_shared_matrix_links_courses_of_one_teacher_once():
    shared = shared_instructors(TEACHERS).toarray()
    np.testing.assert_array_equal(shared, shared.T)
    assert not np.diag(shared).any()
    assert shared[0, 1] == 1 and shared[1, 2] == 1 and shared[0, 2] == 0
    assert shared[3, 5] == 1 and not shared[4].any()


def test_score_counts_history_courses_by_the_same_teacher():
    signal = _fitted()
    scores = signal.score_one(Query(history=np.array([0, 2]), last_item=2))
    # course 1 is taught by both 翁恺 (course 0) and 陈越 (course 2); 0 and 2 share nobody
    np.testing.assert_array_equal(scores, [0, 2, 0, 0, 0, 0])
    assert not signal.score_one(Query()).any()

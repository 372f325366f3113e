"""The instructor signal: courses sharing a teacher with the cadre's history."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from recommender.data.rules import load_rules
from recommender.data.schema import Columns as C
from recommender.ranking.pipeline import TrainConfig, fit_recommender
from recommender.signals.base import Query
from recommender.signals.instructor import InstructorSignal, instructor_names, shared_instructors
from recommender.testing import checkerboard

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


def test_recommendation_names_the_course_taught_by_the_same_teacher():
    courses, cadres, comps, withheld = checkerboard()
    teachers = [f"教师{i}" for i in range(len(courses))]
    teachers[1] = teachers[0] = "翁恺"  # K000 and K001 share a teacher
    courses[C.INSTRUCTOR] = teachers
    cfg = TrainConfig(weights={"instructor": 1.0, "content": 0.1}, cold_weights={"content": 1.0})
    model = fit_recommender(courses, cadres, comps, cfg)
    assert withheld["G001"] == "K001"  # G001 took K000, not K001
    top = model.recommend("G001", k=3)[0]
    assert top.course_id == "K001"
    reason = next(r for r in top.reasons if r.kind == "same_instructor")
    assert reason.detail == {"course_id": "K000"} and "同一位授课教师" in reason.text
    others = model.recommend("G001", k=3)[1:]
    assert not any(r.kind == "same_instructor" for rec in others for r in rec.reasons)


def test_a_platform_or_school_named_as_teacher_links_no_courses():
    # a county catalog names its platform as the teacher of every online course
    teachers = ["中国干部网络学院", "中国干部网络学院", "张明、县委党校", "张明", "县委党校", ""]
    rules = load_rules()
    shared = shared_instructors(teachers, rules.is_organisation).toarray()
    assert shared[0, 1] == 0 and shared[2, 4] == 0  # the platform, the school: nobody
    assert shared[2, 3] == 1 and shared[3, 2] == 1  # 张明 still links his two courses
    assert shared.sum() == 2
    fitted = InstructorSignal().fit(
        SimpleNamespace(courses=pd.DataFrame({C.INSTRUCTOR: teachers}), n_items=len(teachers))
    )
    np.testing.assert_array_equal(fitted.shared_.toarray(), shared)
    # without the rules the platform ties all its courses together (what this guards)
    assert shared_instructors(teachers).toarray()[0, 1] == 1

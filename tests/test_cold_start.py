"""New cadres: the profile shapes the list (real job profiles), and lists are electives.

Real posts: a fixed sample of 200 Hubei 2026 civil-service posts whose duties name exactly
one field (benchmarks/real_posts.py has the rules; tests/fixtures/hubei_field_posts.csv the
sample: 40 per field). The model is the one `make run` trains on the shipped sample.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.real_posts import BY_NAME, duties, field_of, profile
from tests.conftest import ROOT

POSTS = ROOT / "tests" / "fixtures" / "hubei_field_posts.csv"


@pytest.fixture(scope="module")
def lists(sample_model):
    posts = pd.read_csv(POSTS, dtype=str, keep_default_na=False)
    out = []
    for row in posts.to_dict("records"):
        field = field_of(duties(row))
        recs = sample_model.recommend_profile(profile(row), k=10)
        out.append((field, recs))
    return out


def test_every_fixture_post_names_one_field(lists):
    assert len(lists) == 200 and all(field is not None for field, _ in lists)


def test_real_posts_get_courses_of_their_field(lists):
    on_field = np.array(
        [sum(r.category in BY_NAME[f].categories for r in recs) for f, recs in lists]
    )
    assert (on_field > 0).mean() >= 0.95, (on_field > 0).mean()
    assert np.median(on_field) >= 3
    for name in BY_NAME:  # every field, not only the frequent ones
        per_field = on_field[[f == name for f, _ in lists]]
        assert (per_field > 0).mean() >= 0.9, name


def test_lists_differ_by_field(lists):
    """Not one list for everybody: different fields get different top courses."""
    tops = {f: {r.course_id for r in recs[:3]} for f, recs in lists}
    assert len({frozenset(v) for v in tops.values()}) == len(tops)


def test_default_lists_hold_no_compulsory_course(lists, sample_model):
    for _, recs in lists:
        for r in recs:
            assert not sample_model.compulsory[sample_model.course_index(r.course_id)]


def test_explanations_name_the_profile_terms_or_field_that_matched(lists):
    explained = 0
    for _, recs in lists:
        kinds = {x.kind for x in recs[0].reasons}
        explained += bool(kinds & {"profile_terms", "field"})
        for x in recs[0].reasons:
            if x.kind == "profile_terms":
                assert x.detail["terms"] and all(t in x.text for t in x.detail["terms"])
    assert explained == len(lists)


def test_known_cadre_lists_are_electives_unless_asked(sample_model):
    cid = str(sample_model.cadres["cadre_id"].iloc[0])
    default = sample_model.recommend(cid, 30, explain=False)
    assert not any(sample_model.compulsory[sample_model.course_index(r.course_id)] for r in default)
    compulsory = sample_model.compulsory_courses(cid)
    assert compulsory and {c["status"] for c in compulsory} <= {"taken", "open", "closed"}
    wanted = {c["course_id"] for c in compulsory if c["status"] == "open"}
    both = sample_model.recommend(cid, 200, explain=False, include_compulsory=True)
    assert wanted <= {r.course_id for r in both}

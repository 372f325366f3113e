"""Lists that fit each cadre's job, on a county academy's own export (issue 19).

The figures are ``benchmarks.bench_county``'s, computed on the committed fixture
(tests/fixtures/county) as exported: held-out hit@10 against the popular list, on-field
courses for cadres whose 单位/职务/分管工作 name a field, and how different cadres' lists are.
"""

from __future__ import annotations

import pytest

from benchmarks.bench_county import figures


@pytest.fixture(scope="module")
def table():
    return figures().set_index("figure")


def _row(table, start: str):
    return table.loc[next(f for f in table.index if f.startswith(start))]


def test_held_out_electives_beat_the_popular_list(table):
    hit = _row(table, "held-out hit@10")
    assert hit["hybrid"] >= 1.5 * hit["popular list"], hit


def test_cadres_with_a_field_get_on_field_courses(table):
    field = _row(table, "on-field share")
    assert field["hybrid"] >= 2 * field["popular list"], field


def test_lists_differ_between_cadres(table):
    assert _row(table, "mean pairwise Jaccard")["hybrid"] <= 0.35


def test_no_list_shorter_than_five(table):
    assert _row(table, "shortest list")["hybrid"] >= 5

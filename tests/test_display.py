"""Codes reach people with Chinese labels from the one table; hours and shares are rounded."""

from __future__ import annotations

from recommender.data.cells import VALUE_LABELS
from recommender.data.display import half_hours, label, labelled, percent
from recommender.data.schema import FORMATS, WINDOWS


def test_every_code_people_see_has_a_chinese_label():
    codes = [
        *FORMATS,
        *WINDOWS,
        "catalog",
        "weekly_budget",
        "max_per_instructor",
        "max_per_topic",
        "max_courses",
        "combination",
        "centralised_hours",
        "online_hours",
        "compulsory",
        "hours",
        "milp",
        "greedy",
        "exhaustive",
        "courses",
        "cadres",
        "completions",
    ]
    for code in codes:
        assert code in VALUE_LABELS, code
        assert all("\u3400" <= ch <= "\u9fff" or ch in "（）" for ch in label(code)), code


def test_label_forms():
    assert label("weekly_budget") == "每周可学学时"
    assert label("category_minimum:理论教育") == "类别最低学时（理论教育）"
    assert label("greedy") == "贪心算法"
    assert label("政治理论") == "政治理论"  # already Chinese: unchanged
    assert labelled("greedy") == "贪心算法（greedy）"
    assert labelled("政治理论") == "政治理论"


def test_hours_to_the_half_and_shares_to_one_decimal():
    assert half_hours(8.85714) == 9.0
    assert half_hours(32.142857) == 32.0
    assert half_hours(2.25) == 2.5
    assert half_hours(0.2) == 0.0
    assert percent(0.123456) == 12.3
    assert percent(1.0) == 100.0


def test_batch_table_for_people_has_chinese_headers_and_match():
    import pandas as pd

    from recommender.cli import BATCH_HEADERS, people_table

    raw = pd.DataFrame(
        [["G1", 1, "C1", -0.073, "课", "政治理论", "face_to_face", 8.85714, "理由"]],
        columns=[
            "cadre_id",
            "rank",
            "course_id",
            "score",
            "title",
            "category",
            "format",
            "credit_hours",
            "reason",
        ],
    )
    out = people_table(raw)
    assert list(out.columns) == list(BATCH_HEADERS.values())
    row = out.iloc[0]
    assert row["匹配度"] == 49 and row["形式"] == "面授" and row["学时"] == 9.0


def test_evaluation_table_for_analysts_is_chinese():
    import pandas as pd

    from recommender.cli import evaluation_table

    table = pd.DataFrame(
        [
            {"model": "hybrid", "slice": "all", "cadres": 10, "recall@10": 0.28, "ndcg@10": 0.2274},
            {"model": "segment_popularity", "slice": "cold_cadres", "cadres": 3, "recall@10": 0.1,
             "ndcg@10": float("nan")},
        ]
    )  # fmt: skip
    text = evaluation_table(table)
    head = text.splitlines()[0]
    assert "模型" in head and "召回率@10" in head and "NDCG@10" in head
    assert "选学（混合）" in text and "同类干部热门" in text and "新干部" in text
    assert "0.2274" in text and "segment_popularity" not in text

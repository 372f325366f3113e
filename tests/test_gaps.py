"""Demand gaps, catalog health, charts and the Excel report."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.data.schema import CADRES, COMPLETIONS, COURSES
from recommender.data.schema import Columns as C
from recommender.insights import gaps as G
from recommender.insights.topics import fit_topics


def _frame(spec, rows: list[dict]) -> pd.DataFrame:
    """Rows typed like :func:`recommender.data.loading.load_dataset` output."""
    df = pd.DataFrame(rows)
    for f in spec.fields:
        if f.name not in df:
            df[f.name] = f.default if f.default is not None else np.nan
        if f.kind == "datetime":
            df[f.name] = pd.to_datetime(df[f.name])
        elif f.kind == "bool":
            df[f.name] = df[f.name].astype(object).fillna(bool(f.default)).astype(bool)
        elif f.kind in ("float", "int"):
            df[f.name] = pd.to_numeric(df[f.name]).astype(
                "float64" if f.kind == "float" else "Int64"
            )
        else:
            df[f.name] = df[f.name].astype(object).fillna("").astype(str)
    return df[spec.columns]


CATALOG = {
    "乡村振兴": (
        "乡村产业振兴与农村电商",
        "农村集体经济发展",
        "和美乡村建设与人居环境整治",
        "防止返贫监测帮扶",
    ),
    "政治理论": (
        "习近平新时代中国特色社会主义思想",
        "党的二十大精神学习",
        "总体国家安全观",
        "马克思主义基本原理",
    ),
    "信息技术": ("办公软件数据处理", "网络安全意识与电信诈骗防范", "政务新媒体运营"),
}
EMERGENCY = (
    "突发事件应急预案编制与演练",
    "防汛抗旱与自然灾害防治",
    "安全生产隐患排查治理",
    "森林防火与应急救援",
)
PROFILES = {  # system: (job title, 岗位职责, declared needs, head count)
    "农业农村": (
        "乡镇农业干部",
        "负责乡村产业发展、农村集体经济和农村电商工作",
        "希望学习农村电商和集体经济发展",
        40,
    ),
    "宣传": (
        "宣传科员",
        "负责理论学习、党的二十大精神宣讲",
        "希望深入学习习近平新时代中国特色社会主义思想",
        40,
    ),
    "应急管理": (
        "应急管理局科员",
        "负责应急预案编制、防汛抗旱、安全生产隐患排查和应急救援",
        "想学习突发事件应急处置、防汛抗旱和应急救援演练",
        80,
    ),
}
EMERGENCY_WORDS = ("应急", "防汛", "安全生产", "救援", "突发事件", "隐患")


def build(emergency_courses: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Catalog (optionally with emergency courses), cadres, and completions with one dead course."""
    rows = []
    for cat, titles in CATALOG.items():
        for j in range(12):
            t = titles[j % len(titles)]
            rows.append(
                {
                    C.COURSE_ID: f"{cat[:2]}{j:02d}",
                    C.TITLE: f"{t}专题",
                    C.CATEGORY: cat,
                    C.TAGS: t[:4],
                    C.CREDIT_HOURS: 2.0,
                    C.FORMAT: "video",
                    C.PUBLISHED_AT: "2023-06-01",
                    C.INSTRUCTOR_RATING: 4.0,
                }
            )
    for j in range(emergency_courses):
        t = EMERGENCY[j % len(EMERGENCY)]
        rows.append(
            {
                C.COURSE_ID: f"YJ{j:02d}",
                C.TITLE: f"{t}专题",
                C.CATEGORY: "应急管理",
                C.TAGS: t[:4],
                C.CREDIT_HOURS: 2.0,
                C.FORMAT: "face_to_face",
                C.SESSION_START: "2024-05-01 09:00",
                C.SESSION_END: "2024-05-01 17:00",
                C.CAPACITY: 50,
                C.PUBLISHED_AT: "2023-06-01",
            }
        )
    rows.append(
        {
            C.COURSE_ID: "DEAD01",
            C.TITLE: "古典音乐欣赏",
            C.CATEGORY: "文化素养",
            C.CREDIT_HOURS: 1.0,
            C.FORMAT: "video",
            C.PUBLISHED_AT: "2023-01-01",
        }
    )
    cadres = []
    for g, (system, (title, duty, need, n)) in enumerate(PROFILES.items()):
        for i in range(n):
            cadres.append(
                {
                    C.CADRE_ID: f"G{g}{i:03d}",
                    C.SYSTEM: system,
                    C.RANK: "一级科员",
                    C.UNIT_LEVEL: ("county", "township")[i % 2],
                    C.REGION: ("武汉市", "宜昌市")[i % 2],
                    C.JOB_TITLE: title,
                    C.JOB_DESCRIPTION: duty,
                    C.DECLARED_NEEDS: need,
                    C.ANNUAL_HOURS_TARGET: 50.0,
                }
            )
    rng = np.random.default_rng(0)
    taken = [r[C.COURSE_ID] for r in rows if r[C.COURSE_ID] != "DEAD01"]
    comps = []
    for _ in range(400):
        start = pd.Timestamp("2024-01-05") + pd.Timedelta(days=int(rng.integers(0, 540)))
        comps.append(
            {
                C.CADRE_ID: cadres[rng.integers(len(cadres))][C.CADRE_ID],
                C.COURSE_ID: taken[rng.integers(len(taken))],
                C.ENROLLED_AT: start,
                C.COMPLETED_AT: start + pd.Timedelta(days=3),
                C.PROGRESS: 1.0,
                C.CREDIT_HOURS_AWARDED: 2.0,
                C.RATING: 4,
            }
        )
    return _frame(COURSES, rows), _frame(CADRES, cadres), _frame(COMPLETIONS, comps)


def emergency_gap(table: pd.DataFrame) -> float:
    """Summed gap of the topics named by emergency words."""
    hit = table["terms"].map(lambda t: any(w in t for w in EMERGENCY_WORDS))
    return float(table.loc[hit, "gap"].sum())


@pytest.fixture(scope="module")
def lacking():
    courses, cadres, comps = build(0)
    return courses, cadres, comps, fit_topics(courses, cadres)


def test_missing_topic_is_the_top_gap(lacking):
    courses, cadres, comps, topics = lacking
    table = G.gaps(topics, courses, cadres, comps)
    top = table.iloc[0]
    assert any(w in top["terms"] for w in EMERGENCY_WORDS), table[["label", "gap"]]
    assert top["gap"] > 0.2 and top["courses"] < 1
    assert emergency_gap(table) > 0.4  # half the demand, none of the supply
    assert top["cadres"] >= 60  # most of the 80 emergency cadres stand behind it
    assert "应急" in top["example_needs"] or "防汛" in top["example_needs"]


def test_adding_courses_closes_the_gap(lacking):
    courses, cadres, comps, topics = lacking
    before = emergency_gap(G.gaps(topics, courses, cadres, comps))
    courses2, cadres2, comps2 = build(emergency_courses=36)  # about half the catalog, like demand
    after_table = G.gaps(fit_topics(courses2, cadres2), courses2, cadres2, comps2)
    after = emergency_gap(after_table)
    assert before > 0.4
    assert after < 0.1, after_table[["label", "terms", "demand_share", "supply_share", "gap"]]
    assert not any(w in after_table.iloc[0]["label"] for w in EMERGENCY_WORDS), after_table.head(3)


def test_shares_sum_to_one(lacking):
    courses, cadres, comps, topics = lacking
    table = G.gaps(topics, courses, cadres, comps)
    assert table["demand_share"].sum() == pytest.approx(1.0, abs=1e-3)
    assert table["supply_share"].sum() == pytest.approx(1.0, abs=1e-3)
    assert table["urgency"].is_monotonic_decreasing
    floored = table["supply_share"].clip(lower=G.SUPPLY_FLOOR)
    assert np.allclose(table["urgency"], table["gap"] / np.sqrt(floored), atol=2e-3)
    assert np.allclose(topics.course_topics.sum(axis=1).loc[lambda s: s > 0], 1.0)


def test_remaining_hours_subtract_latest_year_credits():
    cadres = _frame(
        CADRES,
        [
            {C.CADRE_ID: "A", C.ANNUAL_HOURS_TARGET: 50.0},
            {C.CADRE_ID: "B", C.ANNUAL_HOURS_TARGET: 10.0},
        ],
    )
    comps = _frame(
        COMPLETIONS,
        [
            {
                C.CADRE_ID: "A",
                C.COURSE_ID: "X",
                C.ENROLLED_AT: "2024-03-01",
                C.COMPLETED_AT: "2024-03-02",
                C.CREDIT_HOURS_AWARDED: 30.0,
            },  # earlier year: ignored
            {
                C.CADRE_ID: "A",
                C.COURSE_ID: "Y",
                C.ENROLLED_AT: "2025-03-01",
                C.COMPLETED_AT: "2025-03-02",
                C.CREDIT_HOURS_AWARDED: 20.0,
            },
            {
                C.CADRE_ID: "B",
                C.COURSE_ID: "Y",
                C.ENROLLED_AT: "2025-03-01",
                C.COMPLETED_AT: "2025-03-02",
                C.CREDIT_HOURS_AWARDED: 12.0,
            },
        ],
    )
    left = G.remaining_hours(cadres, comps)
    assert left.to_dict() == {"A": 30.0, "B": 0.0}


def test_gaps_by_segment_long_and_pivot(lacking):
    courses, cadres, comps, topics = lacking
    long = G.gaps_by(topics, courses, cadres, comps, by="system")
    assert set(long["system"]) == set(PROFILES)
    assert len(long) == len(PROFILES) * topics.n_topics
    per_group = long.groupby("system")["demand_share"].sum()
    assert np.allclose(per_group, 1.0, atol=1e-3)
    pivot = G.gaps_by(topics, courses, cadres, comps, by="unit_level", pivot=True)
    assert pivot.shape == (2, topics.n_topics)
    # the emergency system's largest gap is an emergency topic
    em = long[long["system"] == "应急管理"].sort_values("gap", ascending=False).iloc[0]
    assert any(w in em["label"] for w in EMERGENCY_WORDS)
    with pytest.raises(ValueError, match="by must be"):
        G.gaps_by(topics, courses, cadres, comps, by="unit")


def test_dead_catalog_finds_the_course_nobody_takes(lacking):
    courses, _, comps, _ = lacking
    dead = G.dead_catalog(courses, comps)
    assert dead.iloc[0][C.COURSE_ID] == "DEAD01"
    assert dead.iloc[0]["issue"].startswith("never_taken")
    assert (dead["issue"] != "").all()
    recs = pd.DataFrame(
        {C.CADRE_ID: ["G0000"], "rank": [1], C.COURSE_ID: ["乡村00"], "score": [1.0]}
    )
    with_recs = G.dead_catalog(courses, comps, recs).set_index(C.COURSE_ID)
    assert with_recs.loc["DEAD01", "issue"] == "never_taken,never_recommended"
    assert (
        "乡村00" not in with_recs.index
        or "never_recommended" not in with_recs.loc["乡村00", "issue"]
    )
    flagged = with_recs[with_recs["issue"].str.contains("never_recommended")]
    assert (flagged["enrolments"] <= comps.groupby(C.COURSE_ID).size().median()).all()


def test_dead_catalog_flags_low_rated_popular_course(lacking):
    courses, cadres, comps, _ = lacking
    extra = _frame(
        COMPLETIONS,
        [
            {
                C.CADRE_ID: cadres[C.CADRE_ID].iloc[i],
                C.COURSE_ID: "政治00",
                C.ENROLLED_AT: "2024-06-01",
                C.COMPLETED_AT: "2024-06-02",
                C.RATING: 1,
            }
            for i in range(60)
        ],
    )
    dead = G.dead_catalog(courses, pd.concat([comps, extra], ignore_index=True))
    row = dead[dead[C.COURSE_ID] == "政治00"]
    assert len(row) == 1 and "low_rated_popular" in row.iloc[0]["issue"]


def test_trends_one_row_per_topic_and_quarter(lacking):
    _, cadres, comps, topics = lacking
    table = G.trends(topics, comps, cadres)
    quarters = pd.period_range(comps[C.ENROLLED_AT].min(), comps[C.COMPLETED_AT].max(), freq="Q")
    assert len(table) == topics.n_topics * len(quarters)
    assert not table.duplicated(["quarter", "topic"]).any()
    done = table.groupby("quarter")["completions"].sum()
    assert done.sum() == pytest.approx(comps[C.COMPLETED_AT].notna().sum(), rel=1e-3)


def _render_all(lacking) -> list[str]:
    from recommender.insights import plotting

    courses, cadres, comps, topics = lacking
    table = G.gaps(topics, courses, cadres, comps)
    pivot = G.gaps_by(topics, courses, cadres, comps, by="system", pivot=True)
    trend = G.trends(topics, comps, cadres)
    figs = [plotting.bar_gaps(table), plotting.heatmap(pivot), plotting.trend_lines(trend)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fig in figs:
            assert plotting.to_png(fig).startswith(b"\x89PNG")
    return [str(w.message) for w in caught]


def test_charts_render_chinese_without_missing_glyphs(lacking):
    messages = _render_all(lacking)
    assert not [m for m in messages if "missing from" in m], messages


def test_use_chinese_font_sets_rcparams():
    import matplotlib as mpl

    from recommender.insights import plotting

    with mpl.rc_context():
        name = plotting.use_chinese_font()
        assert mpl.rcParams["font.sans-serif"][0] == name
        assert "CJK" in name or "Hei" in name or "Han" in name
        assert mpl.rcParams["axes.unicode_minus"] is False


def test_importing_gap_modules_does_not_import_matplotlib():
    code = (
        "import sys, recommender.insights.gaps, recommender.insights.report, "
        "recommender.insights.plotting; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def workbook(tiny_data, tmp_path_factory):
    import openpyxl

    from recommender.insights.report import write_gap_report

    path = write_gap_report(tiny_data, tmp_path_factory.mktemp("report") / "gaps.xlsx")
    return openpyxl.load_workbook(path)


def test_report_workbook_sheets_headers_images(workbook):
    from recommender.insights.report import CHART_SHEETS, HEADERS, SHEETS

    expected = [name for key, name in SHEETS.items() if key != "underserved"]
    assert workbook.sheetnames == expected + [name for name, _ in CHART_SHEETS.values()]
    headers = [c.value for c in workbook[SHEETS["top_gaps"]][1]]
    assert headers[:3] == [HEADERS["topic"], HEADERS["label"], HEADERS["category"]]
    assert HEADERS["gap"] in headers and HEADERS["example_needs"] in headers
    assert workbook[SHEETS["gaps_by_system"]]["A1"].value == "系统"
    assert workbook[SHEETS["top_gaps"]].max_row > 2
    assert workbook[SHEETS["top_gaps"]].column_dimensions["B"].width >= 8


def _column(ws, header: str) -> list:
    j = [c.value for c in ws[1]].index(header) + 1
    return [c for (c,) in ws.iter_rows(min_row=2, min_col=j, max_col=j)]


def test_report_shares_are_percent_and_counts_integers(workbook):
    from recommender.insights.report import HEADERS, SHEETS

    ws = workbook[SHEETS["top_gaps"]]
    for key in ("demand_share", "supply_share", "gap"):
        cells = _column(ws, HEADERS[key])
        assert all("%" in c.number_format for c in cells), key
        assert all(isinstance(c.value, int | float) and abs(c.value) <= 1 for c in cells), key
    for key in ("courses", "cadres", "seats"):
        cells = _column(ws, HEADERS[key])
        assert all(type(c.value) is int and c.number_format == "#,##0" for c in cells), key
    trend = workbook[SHEETS["trends"]]
    assert all(type(c.value) is int for c in _column(trend, HEADERS["enrolments"]))
    assert all("%" in c.number_format for c in _column(trend, HEADERS["completion_share"]))


def test_report_prints_landscape_fit_to_width_with_header_rows(workbook):
    from recommender.insights.report import CHART_SHEETS

    charts = {name for name, _ in CHART_SHEETS.values()}
    for ws in workbook.worksheets:
        setup = ws.page_setup
        assert setup.orientation == "landscape" and setup.fitToWidth == 1, ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        if ws.title in charts:
            assert setup.fitToHeight == 1 and len(ws._images) == 1, ws.title
        else:
            assert setup.fitToHeight == 0 and ws.print_title_rows == "$1:$1", ws.title
            assert not ws._images, ws.title


def test_report_charts_fit_one_printed_page(workbook):
    from recommender.insights.report import CHART_SHEETS
    from recommender.insights.workbook import PAGE_PX

    for name, title in CHART_SHEETS.values():
        ws = workbook[name]
        assert ws["A1"].value == title
        ext = ws._images[0].anchor.ext
        width, height = ext.width / 9525, ext.height / 9525  # EMU → pixels
        assert 0 < width <= PAGE_PX[0] and 0 < height <= PAGE_PX[1], name
        assert max(width / PAGE_PX[0], height / PAGE_PX[1]) > 0.99, name  # scaled up to the page


def test_report_matrix_has_values_and_unit_levels_in_hierarchy_order(workbook):
    from recommender.insights.labels import UNIT_LEVELS
    from recommender.insights.report import SHEETS

    ws = workbook[SHEETS["matrix_unit_level"]]
    levels = [c.value for (c,) in ws.iter_rows(min_row=2, max_col=1)]
    order = list(UNIT_LEVELS.values())
    assert levels == [lv for lv in order if lv in levels] and len(levels) >= 3
    values = [c for row in ws.iter_rows(min_row=2, min_col=2) for c in row]
    assert values and all(isinstance(c.value, int | float) for c in values)
    assert all("%" in c.number_format for c in values)
    assert ws.conditional_formatting  # a colour scale over the values
    top = [c.value for c in workbook[SHEETS["top_gaps"]]["B"][1:4]]
    assert [c.value for c in ws[1]][1:4] == top  # columns: the top gaps, in order
    every = [c.value for ws in workbook.worksheets for row in ws.iter_rows() for c in row]
    assert not any(isinstance(v, str) and v in UNIT_LEVELS for v in every)  # no English codes


def test_report_with_model_has_underserved_sheet(tiny_data, tiny_model, tmp_path):
    import openpyxl

    from recommender.insights.report import HEADERS, SHEETS, ReportOptions, write_gap_report

    path = write_gap_report(
        tiny_data,
        tmp_path / "gaps.xlsx",
        model=tiny_model,
        options=ReportOptions(underserved_sample=20, exposure_cadres=50),
    )
    wb = openpyxl.load_workbook(path)
    assert SHEETS["underserved"] in wb.sheetnames
    headers = [c.value for c in wb[SHEETS["underserved"]][1]]
    assert headers[:3] == [HEADERS["unit_level"], HEADERS["goal"], HEADERS["constraint"]]


def test_underserved_groups_by_blocking_constraint(tiny_model):
    per_cadre = G.underserved_cadres(tiny_model, year=2025, sample=15, seed=1)
    assert per_cadre[C.CADRE_ID].nunique() == 15
    summary = G.summarize_underserved(per_cadre)
    blocked = per_cadre[per_cadre["constraint"] != ""]
    assert summary["cadres"].sum() == blocked.groupby("constraint")[C.CADRE_ID].nunique().sum()
    goals = {"hours", "compulsory", "category_minimum", "centralised_hours", "online_hours"}
    assert set(summary["goal"]) <= goals
    assert (summary["mean_shortfall_hours"] >= 0).all()
    assert summary["cadres"].is_monotonic_decreasing


# --- demand topics from the field taxonomy, readable names (issue #13) ---------------------

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


@pytest.fixture(scope="module")
def sample():
    from recommender.data.loading import load_dataset

    return load_dataset(SAMPLE, write_rejects=False)


def _sample_gaps(ds, drop_category: str | None = None) -> pd.DataFrame:
    courses = ds.courses
    if drop_category:
        courses = courses[courses[C.CATEGORY] != drop_category].reset_index(drop=True)
    comps = ds.completions[ds.completions[C.COURSE_ID].isin(courses[C.COURSE_ID])]
    topics = fit_topics(courses, ds.cadres)
    return G.gaps(topics, courses, ds.cadres, comps).merge(topics.topics[["topic", "kind"]])


@pytest.fixture(scope="module")
def sample_table(sample):
    return _sample_gaps(sample)


def test_a_field_the_catalog_dropped_is_a_top_gap(sample, sample_table):
    with_courses = sample_table
    assert "应急管理" not in with_courses["label"].head(3).tolist()  # well supplied: no gap
    table = _sample_gaps(sample, drop_category="应急管理")
    top = table.head(3).set_index("label")
    assert "应急管理" in top.index, table[["label", "gap", "urgency"]].head(6)
    row = top.loc["应急管理"]
    assert row["kind"] == "field" and row["courses"] <= 1 and row["cadres"] >= 50
    assert row["gap"] > 0.01 and row["supply_share"] < 0.005


def test_topic_names_are_fields_categories_tags_or_phrases_cadres_write(sample, sample_table):
    from recommender.text.fields import FieldTaxonomy

    table = sample_table
    assert not table["label"].str.contains("/").any(), table["label"].tolist()
    assert table["label"].is_unique
    fields = set(FieldTaxonomy.load().names)
    by_kind = table.groupby("kind")["label"].apply(set)
    assert by_kind["field"] <= fields and len(by_kind["field"]) >= 8
    assert by_kind["category"] <= set(sample.courses[C.CATEGORY])
    needs = " ".join(sample.cadres[C.DECLARED_NEEDS].fillna(""))
    assert all(label in needs for label in by_kind["demand"]), by_kind["demand"]
    tags = " ".join(sample.courses[C.TAGS].fillna(""))
    assert all(label in tags for label in by_kind["catalog"]), by_kind["catalog"]


def test_field_topic_exists_without_any_course_of_it(lacking):
    _, _, _, topics = lacking
    row = topics.topics.set_index("label").loc["应急管理"]
    assert row["kind"] == "field" and row["course_mass"] == 0 and row["cadre_mass"] > 20


def test_categories_feed_the_field_named_like_them_else_the_first_listing_them():
    from recommender.insights.topic_seeds import claimed_categories
    from recommender.text.fields import FieldTaxonomy

    claims = claimed_categories(
        FieldTaxonomy.load(), {"基层治理", "政治理论", "业务知识", "应急管理"}
    )
    assert claims == {"基层治理": "基层治理", "政治理论": "党的建设", "应急管理": "应急管理"}


def test_need_phrases_take_the_stretch_between_topic_words():
    from recommender.insights.topic_names import need_phrases, unique_names

    texts = ["希望学习大模型辅助办公，另外想学数据安全", "急需大模型辅助办公的培训", "大模型"]
    assert need_phrases(texts, ["大模型", "办公"])[:2] == ["大模型辅助办公", "大模型"]
    assert unique_names([["甲", "乙"], ["甲", "乙"], ["甲"]]) == ["甲", "乙", "甲（2）"]


# --- charts ----------------------------------------------------------------------------------


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_heatmap_writes_values_and_speaks_chinese(lacking):
    from recommender.insights import plotting

    courses, cadres, comps, topics = lacking
    pivot = G.gaps_by(topics, courses, cadres, comps, by="unit_level", pivot=True)
    assert list(pivot.index) == ["county", "township"]  # hierarchy order, not alphabetical
    fig = plotting.heatmap(pivot)
    texts = _texts(fig)
    assert "各单位层级主题缺口（百分点）" in texts
    assert {"县级", "乡镇"} <= set(texts) and not {"county", "township", "unit_level"} & set(texts)
    cells = [t for t in texts if t[:1] in "+-" and t[1:].replace(".", "").isdigit()]
    assert len(cells) == pivot.size
    assert f"{pivot.iloc[0, 0] * 100:+.1f}" in cells


def test_trend_chart_of_the_report_shows_the_top_gaps(lacking):
    from recommender.insights.report import chart_figures

    courses, cadres, comps, topics = lacking
    tables = {
        "top_gaps": G.gaps(topics, courses, cadres, comps),
        "trends": G.trends(topics, comps, cadres),
    }
    for by in ("system", "unit_level"):
        tables[f"gaps_by_{by}"] = G.gaps_by(topics, courses, cadres, comps, by=by)
    figs = chart_figures(tables)
    lines = [ln.get_label() for ln in figs["trend"].axes[0].get_lines()]
    top = tables["top_gaps"]["label"].head(3).tolist()
    assert set(top) <= set(lines), (top, lines)
    assert tables["top_gaps"].iloc[0]["courses"] == 0  # the top gap has no course, yet is drawn


def test_scatter_gives_every_category_its_own_colour_and_names_outliers():
    from matplotlib.colors import to_hex

    from recommender.insights import plotting

    rng = np.random.default_rng(0)
    cats = [f"类别{i}" for i in range(13)]
    stats = pd.DataFrame(
        {
            "title": [f"课程{i}" for i in range(260)],
            "category": [cats[i % 13] for i in range(260)],
            "enrolments": rng.integers(20, 60, 260),
            "ratings": 10,
            "mean_rating": rng.normal(4.2, 0.05, 260).round(2),
        }
    )
    stats.loc[7, ["title", "enrolments", "mean_rating"]] = ["指派必修但评分低", 900, 2.1]
    fig = plotting.rating_vs_enrolment(stats, n_labels=3)
    ax = fig.axes[0]
    looks = {
        (to_hex(c.get_facecolor()[0]), c.get_paths()[0].vertices.tobytes()) for c in ax.collections
    }
    colours = {to_hex(c.get_facecolor()[0]) for c in ax.collections}
    assert len(ax.collections) == 13 and len(colours) == 13 and len(looks) == 13
    notes = [t.get_text() for t in ax.texts]
    assert len(notes) == 3 and "指派必修但评分低" in notes


# --- progress ----------------------------------------------------------------------------------


def test_gap_tables_progress_only_when_asked_or_on_a_terminal(tiny_data, capsys):
    from recommender.data.loading import load_dataset
    from recommender.insights.report import gap_tables

    ds = load_dataset(tiny_data, write_rejects=False)
    gap_tables(ds, progress=True)
    shown = capsys.readouterr()
    assert "缺口分析" in shown.err and "9/9" in shown.err and not shown.out
    gap_tables(ds)  # stderr is not a terminal under pytest
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""

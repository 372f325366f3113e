"""The planners' gap report: every gap table as a sheet of one Excel workbook, Chinese headers,
shares as percentages, landscape print setup, gap matrices with a colour scale and each chart on
a sheet of its own. ``recommender gaps --data DIR [--model PATH] --out FILE.xlsx`` calls
:func:`write_gap_report`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recommender.data.display import half_hours, label, percent
from recommender.data.safe_write import save_workbook
from recommender.data.schema import Columns as C
from recommender.insights import gaps as G
from recommender.insights.labels import (
    FORMATS,
    GROUP_NAMES,
    ISSUE_LABELS,
    WINDOW_LABELS,
    unit_level_name,
)
from recommender.insights.topics import fit_topics
from recommender.insights.workbook import add_chart_sheet, add_matrix_sheet, add_table_sheet

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from recommender.data.loading import Dataset
    from recommender.ranking.model import RecommenderModel

__all__ = [
    "CHART_SHEETS",
    "HEADERS",
    "SHEETS",
    "chart_figures",
    "for_people",
    "gap_tables",
    "translate",
    "write_gap_report",
]

log = logging.getLogger(__name__)

#: table key → sheet name, in workbook order (chart sheets follow: :data:`CHART_SHEETS`)
SHEETS: dict[str, str] = {
    "readme": "说明",
    "top_gaps": "主要缺口",
    "matrix_system": "缺口矩阵（系统）",
    "matrix_unit_level": "缺口矩阵（单位层级）",
    "gaps_by_system": "按系统",
    "gaps_by_unit_level": "按单位层级",
    "gaps_by_rank": "按职级",
    "gaps_by_region": "按地区",
    "underserved": "未满足干部",
    "schedule_fit": "开课时段匹配",
    "dead_catalog": "低效课程",
    "trends": "季度趋势",
}
#: chart key → (sheet name, title above the chart)
CHART_SHEETS: dict[str, tuple[str, str]] = {
    "bars": ("图-主要缺口", "主要缺口：需求占比 − 供给占比（按紧迫度排序）"),
    "heat_system": ("图-系统缺口", "各系统在主要缺口主题上的缺口（百分点）"),
    "heat_unit_level": ("图-层级缺口", "各单位层级在主要缺口主题上的缺口（百分点）"),
    "trend": ("图-季度趋势", "主要缺口主题：每季度完成占比（实线）与需求占比（虚线）"),
}
GROUPS = ("system", "unit_level", "rank", "region")
MATRIX_GROUPS = ("system", "unit_level")
#: topics shown in the gap matrices and heatmaps; in the trend chart
N_MATRIX_TOPICS, N_TREND_TOPICS = 12, 6

#: column → Chinese header
HEADERS: dict[str, str] = {
    "topic": "主题编号",
    "label": "主题",
    "category": "课程类别",
    "terms": "主题词",
    "cadres": "干部人数",
    "demand_hours": "需求学时",
    "demand_share": "需求占比",
    "courses": "课程数",
    "credit_hours": "学时",
    "seats": "面授名额",
    "mean_rating": "平均评分",
    "supply_share": "供给占比",
    "gap": "缺口（需求−供给）",
    "gap_ratio": "需求/供给倍数",
    "urgency": "紧迫度（缺口÷√供给占比）",
    "enrolment_share": "报名占比",
    "recommended_share": "推荐曝光占比",
    "example_needs": "需求示例（调查原话摘录）",
    "group_cadres": "分组干部数",
    **GROUP_NAMES,
    "goal": "未满足的目标",
    "constraint": "受限约束",
    "share": "占抽样干部比例",
    "mean_shortfall_hours": "平均缺口学时",
    "total_shortfall_hours": "缺口学时合计",
    "example": "示例说明",
    "course_id": "课程编号",
    "title": "课程名称",
    "format": "课程形式",
    "published_at": "发布日期",
    "enrolments": "报名人次",
    "completions": "完成人次",
    "completion_rate": "完成率",
    "ratings": "评价数",
    "recommended": "被推荐次数",
    "issue": "问题",
    "quarter": "季度",
    "demand": "需求（活跃干部画像权重）",
    "completion_share": "完成占比",
    "hours_awarded": "获得学时",
    "sessions": "场次",
    "windows": "开课时段（场次）",
    "reachable_share": "时段可参加比例",
    "item": "项目",
    "value": "内容",
    "kind": "类型",
    "table": "表",
    "file": "文件",
    "rows_in": "读入行数",
    "accepted": "接受行数",
    "rejected": "拒收行数",
    "warnings": "警告数",
}
#: topic kind → Chinese (a topic's origin; "catalog" here is not the menu constraint)
TOPIC_KINDS = {
    "field": "领域词表",
    "category": "课程类别",
    "catalog": "目录专题",
    "demand": "干部需求用语",
}


#: hour columns people read: rounded to the half 学时
HOUR_COLUMNS = {
    "demand_hours",
    "credit_hours",
    "mean_shortfall_hours",
    "total_shortfall_hours",
    "hours_awarded",
}


@dataclass(frozen=True)
class ReportOptions:
    """Knobs of the report (kept apart from data)."""

    year: int | None = None  # menu year for under-served cadres; default: the planner's default
    underserved_sample: int = 200
    exposure_cadres: int = 500  # cadres whose top-k recommendations measure exposure
    k: int = 10
    seed: int = 0


def _recommendations(model: RecommenderModel, opts: ReportOptions) -> pd.DataFrame:
    ids = model.cadres[C.CADRE_ID].astype(str).to_numpy()
    if len(ids) > opts.exposure_cadres:
        rng = np.random.default_rng(opts.seed)
        ids = ids[np.sort(rng.choice(len(ids), opts.exposure_cadres, replace=False))]
    return model.recommend_batch(list(ids), opts.k)


def _bar(total: int, desc: str, progress: bool | None) -> tqdm:
    """A step counter on stderr: shown when ``progress`` is True, or when it is None and
    stderr is a terminal (never in a pipe or a log)."""
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, desc=desc, unit="步", file=sys.stderr, disable=not show)


def _step(bar: tqdm, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    bar.set_postfix_str(label)
    out = fn(*args, **kwargs)
    bar.update()
    return out


def gap_tables(
    dataset: Dataset,
    *,
    model: RecommenderModel | None = None,
    options: ReportOptions | None = None,
    progress: bool | None = None,
) -> dict[str, pd.DataFrame]:
    """Every table of the report, keyed like :data:`SHEETS` (English columns; the gap
    matrices are made from ``gaps_by_*`` when the workbook is written).

    ``progress``: a step counter on stderr (None: only when stderr is a terminal).
    """
    opts = options or ReportOptions()
    courses, cadres, comps = dataset.courses, dataset.cadres, dataset.completions
    with _bar(9 + 2 * (model is not None), "缺口分析", progress) as bar:
        topics = _step(bar, "主题", fit_topics, courses, cadres, random_state=opts.seed)
        recs = _step(bar, "推荐曝光", _recommendations, model, opts) if model else None
        tables = {"top_gaps": _step(bar, "主要缺口", G.gaps, topics, courses, cadres, comps, recs)}
        for by in GROUPS:
            tables[f"gaps_by_{by}"] = _step(
                bar, HEADERS[by], G.gaps_by, topics, courses, cadres, comps, by=by
            )
        if model is not None:
            per_cadre = _step(
                bar,
                "选学计划",
                G.underserved_cadres,
                model,
                year=opts.year,
                sample=opts.underserved_sample,
                seed=opts.seed,
                completions=comps,
            )
            tables["underserved"] = G.summarize_underserved(per_cadre, by="unit_level")
        tables["schedule_fit"] = _step(
            bar, "开课时段", G.schedule_fit, courses, cadres, by="unit_level"
        )
        tables["dead_catalog"] = _step(bar, "低效课程", G.dead_catalog, courses, comps, recs)
        tables["trends"] = _step(bar, "季度趋势", G.trends, topics, comps, cadres)
    return tables


def translate(table: pd.DataFrame) -> pd.DataFrame:
    """Chinese headers and Chinese values for codes (unit levels, formats, issues, constraints)."""
    out = table.copy()
    if "unit_level" in out:
        out["unit_level"] = out["unit_level"].map(unit_level_name)
    if "format" in out:
        out["format"] = out["format"].map(lambda v: FORMATS.get(v, v))
    if "issue" in out:
        out["issue"] = out["issue"].map(
            lambda v: "，".join(ISSUE_LABELS.get(c, c) for c in v.split(","))
        )
    if "windows" in out:
        out["windows"] = out["windows"].map(_windows_label)
    if "goal" in out:
        out["goal"] = out["goal"].map(label)
    if "constraint" in out:
        out["constraint"] = out["constraint"].map(_constraint_label)
    for col in HOUR_COLUMNS & set(out.columns):
        out[col] = out[col].map(half_hours)
    return out.rename(columns=lambda c: HEADERS.get(str(c), str(c)))


#: share columns (0–1) people read as percentages with one decimal
SHARE_COLUMNS = {
    "demand_share",
    "supply_share",
    "gap",
    "enrolment_share",
    "recommended_share",
    "share",
    "completion_share",
    "completion_rate",
    "reachable_share",
}


def for_people(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`translate`, and shares as percentages with one decimal (header marked （%）;
    the gap in 百分点) — the tables of the notebooks and the HTML report."""
    out = table.copy()
    if "kind" in out:
        out["kind"] = out["kind"].map(lambda v: TOPIC_KINDS.get(v, v))
    if "table" in out:
        out["table"] = out["table"].map(label)
    shares = [c for c in out.columns if c in SHARE_COLUMNS]
    for col in shares:
        out[col] = out[col].map(percent)
    if "urgency" in out:
        out["urgency"] = out["urgency"].round(2)
    out = translate(out)
    unit = {c: "（百分点）" if c == "gap" else "（%）" for c in shares}
    return out.rename(columns={HEADERS.get(c, c): HEADERS.get(c, c) + u for c, u in unit.items()})


def _windows_label(text: str) -> str:
    for code, name in WINDOW_LABELS.items():
        text = text.replace(code, name)
    return text


def _constraint_label(code: str) -> str:
    return label(code)


def _readme(
    dataset: Dataset, tables: dict[str, pd.DataFrame], model_given: bool, charts: list[str]
) -> pd.DataFrame:
    rows = [
        ("生成时间", pd.Timestamp.now().strftime("%Y-%m-%d %H:%M")),
        (
            "数据",
            (
                f"课程 {len(dataset.courses)} 门，干部 {len(dataset.cadres)} 人，"
                f"报名记录 {len(dataset.completions)} 条"
            ),
        ),
        (
            "缺口",
            (
                "需求占比 − 供给占比。需求：干部岗位职责与需求调查落在该主题上的权重"
                " × 剩余应修学时；供给：该主题上的有效课程数。缺口为正：需求多于课程。"
            ),
        ),
        (
            "紧迫度",
            (
                "缺口 ÷ √供给占比（供给不足 0.5% 按 0.5% 计），“主要缺口”按它排序："
                "同样大的缺口，课程越少越紧迫；干部有需求而目录没有课程的领域排在前面。"
            ),
        ),
        (
            "主题",
            (
                "领域主题来自干部教育培训领域词表（与课程目录无关，目录删掉某领域的全部课程，"
                "该领域仍会出现）；其余主题由课程类别、专题标签、干部岗位职责和需求调查文字学出，"
                "以领域名、课程类别、专题标签或需求调查中的常见说法命名。"
                "“主要课程类别”为空的主题是课程目录里几乎不出现、干部却提出的需求。"
            ),
        ),
        ("需求示例", "摘自需求调查原话，仅供规划参考，请勿外传。"),
        (
            "开课时段匹配",
            "面授/直播/专题班开课时段落在干部可学习时段内的比例，按课程类别和单位层级。",
        ),
        (
            "未满足干部",
            "按个人选学计划抽样测算，显示计划无法满足学时目标的原因。"
            if model_given
            else "未提供模型（--model），本报告不含此表。",
        ),
        ("工作表", "、".join([*(v for k, v in SHEETS.items() if _written(k, tables)), *charts])),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def _written(key: str, tables: dict[str, pd.DataFrame]) -> bool:
    return key in tables or key == "readme" or key.startswith("matrix_")


def _matrix(tables: dict[str, pd.DataFrame], by: str) -> pd.DataFrame:
    """Groups × the report's top topics of ``gap``, groups named in Chinese."""
    top = tables["top_gaps"]["label"].head(N_MATRIX_TOPICS).tolist()
    pivot = G.pivot_gaps(tables[f"gaps_by_{by}"], by, top)
    return pivot.rename(index=unit_level_name).rename_axis(HEADERS[by])


def chart_figures(tables: dict[str, pd.DataFrame]) -> dict[str, Figure]:
    """The report's charts keyed like :data:`CHART_SHEETS`: gap bars, one heatmap per
    :data:`MATRIX_GROUPS`, and the trend of the top gaps (completion against demand share)."""
    from recommender.insights import plotting

    plotting.use_chinese_font()
    top = tables["top_gaps"]
    figs = {"bars": plotting.bar_gaps(top)}
    for by in MATRIX_GROUPS:
        pivot = _matrix(tables, by)
        if pivot.size:
            figs[f"heat_{by}"] = plotting.heatmap(pivot, title=CHART_SHEETS[f"heat_{by}"][1])
    if len(tables["trends"]):
        figs["trend"] = plotting.trend_lines(
            tables["trends"],
            topics=top["label"].head(N_TREND_TOPICS).tolist(),
            value="completion_share",
            compare="demand_share",
        )
    return figs


def _write_charts(book, tables: dict[str, pd.DataFrame], bar: tqdm) -> list[str]:
    """One sheet per chart; a note instead when matplotlib is missing. Returns sheet names."""
    from recommender.insights import plotting

    try:
        figs = _step(bar, "图表", chart_figures, tables)
    except ImportError as exc:  # matplotlib/mplfonts live in the notebooks extra
        log.warning("charts skipped: %s", exc)
        ws = book.create_sheet("图表")
        ws["A1"] = "未安装 matplotlib / mplfonts，图表从略（pip install 'xuanxue[notebooks]'）"
        return ["图表"]
    for key, fig in figs.items():
        name, title = CHART_SHEETS[key]
        add_chart_sheet(book, name, plotting.to_png(fig, dpi=150), title)
    return [CHART_SHEETS[key][0] for key in figs]


def write_gap_report(
    data_dir: str | Path | None,
    out_path: str | Path,
    *,
    model: RecommenderModel | None = None,
    options: ReportOptions | None = None,
    progress: bool | None = None,
    files: Mapping[str, Path | str | None] | None = None,
    sheet: str | Mapping[str, str | None] | None = None,
    columns: str = "zh",
) -> Path:
    """Load ``data_dir`` (or the table ``files``), compute the gap tables (menu-based ones
    need a loaded ``model``), write ``out_path`` (.xlsx).

    ``progress``: step counters on stderr (None: only when stderr is a terminal).
    ``columns="en"``: for programs — sheets named by table key, English headers, codes as
    they are (shares stay 0–1 numbers formatted as %).
    """
    english = columns == "en"
    show = (lambda t: t) if english else translate
    from openpyxl import Workbook

    from recommender.data.loading import load_dataset

    dataset = load_dataset(data_dir, files=files, sheet=sheet, write_rejects=False)
    tables = gap_tables(dataset, model=model, options=options, progress=progress)
    book = Workbook()
    book.remove(book.active)
    with _bar(2, "写入报告", progress) as bar:
        for key, name in SHEETS.items():
            name = key if english else name
            if key.startswith("matrix_"):
                by = key.removeprefix("matrix_")
                add_matrix_sheet(book, name, _matrix(tables, by), by if english else HEADERS[by])
            elif key in tables:
                add_table_sheet(book, name, show(tables[key]), list(tables[key].columns))
        charts = _write_charts(book, tables, bar)
        readme = show(_readme(dataset, tables, model is not None, charts))
        name = "readme" if english else SHEETS["readme"]
        sheet = add_table_sheet(book, name, readme, ["item", "value"])
        book.move_sheet(sheet, offset=-book.index(sheet))
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        _step(bar, "保存", save_workbook, book, out)  # temp file + rename, no symlink followed
    log.info("gap report: %d sheets → %s", len(book.sheetnames), out)
    return out

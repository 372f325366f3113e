"""The planners' gap report: every gap table as a sheet of one Excel workbook, Chinese headers,
charts as images. ``recommender gaps --data DIR [--model PATH] --out FILE.xlsx`` calls
:func:`write_gap_report`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recommender.data.schema import Columns as C
from recommender.insights import gaps as G
from recommender.insights.catalog_health import ISSUES
from recommender.insights.topics import fit_topics

if TYPE_CHECKING:  # pragma: no cover
    from recommender.data.loading import Dataset
    from recommender.ranking.model import RecommenderModel

__all__ = ["HEADERS", "SHEETS", "gap_tables", "translate", "write_gap_report"]

log = logging.getLogger(__name__)

#: table key → sheet name, in workbook order
SHEETS: dict[str, str] = {
    "readme": "说明",
    "top_gaps": "主要缺口",
    "gaps_by_system": "按系统",
    "gaps_by_unit_level": "按单位层级",
    "gaps_by_rank": "按职级",
    "gaps_by_region": "按地区",
    "underserved": "未满足干部",
    "schedule_fit": "开课时段匹配",
    "dead_catalog": "低效课程",
    "trends": "季度趋势",
    "charts": "图表",
}
GROUPS = ("system", "unit_level", "rank", "region")

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
    "enrolment_share": "报名占比",
    "recommended_share": "推荐曝光占比",
    "example_needs": "需求示例（调查原话摘录）",
    "group_cadres": "分组干部数",
    "system": "系统",
    "unit_level": "单位层级",
    "rank": "职级",
    "region": "地区",
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
}
UNIT_LEVELS = {
    "province": "省级",
    "city": "市级",
    "county": "县级",
    "township": "乡镇",
    "village": "村（社区）",
}
ISSUE_LABELS = dict(
    zip(ISSUES, ("从未有人学", "很少有人学", "从未被推荐", "评分低但报名多"), strict=True)
)
CONSTRAINT_LABELS = {
    "compulsory": "必修课无法安排",
    "catalog": "可选课程不足",
    "windows": "开课时间不在可学习时段",
    "capacity": "名额已满",
    "prerequisites": "先修课程无法安排",
    "weekly_budget": "每周可学学时不足",
    "max_per_topic": "同专题课程数上限",
    "max_per_instructor": "同一教师课程数上限",
    "max_courses": "课程数上限",
    "combination": "多项约束共同作用",
}
GOAL_LABELS = {"hours": "学时目标", "compulsory": "必修课", "category_minimum": "类别最低学时"}
WINDOW_LABELS = {
    "weekday_daytime": "工作日白天",
    "weekday_evening": "工作日晚上",
    "weekend": "周末",
}
FORMATS = {
    "video": "视频",
    "micro": "微课",
    "article": "图文",
    "live": "直播",
    "face_to_face": "面授",
    "special_class": "专题班",
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


def gap_tables(
    dataset: Dataset, *, model: RecommenderModel | None = None, options: ReportOptions | None = None
) -> dict[str, pd.DataFrame]:
    """Every table of the report, keyed like :data:`SHEETS` (English columns)."""
    opts = options or ReportOptions()
    courses, cadres, comps = dataset.courses, dataset.cadres, dataset.completions
    topics = fit_topics(courses, cadres, random_state=opts.seed)
    recs = _recommendations(model, opts) if model is not None else None
    tables = {"top_gaps": G.gaps(topics, courses, cadres, comps, recs)}
    for by in GROUPS:
        tables[f"gaps_by_{by}"] = G.gaps_by(topics, courses, cadres, comps, by=by)
    if model is not None:
        per_cadre = G.underserved_cadres(
            model, year=opts.year, sample=opts.underserved_sample, seed=opts.seed, completions=comps
        )
        tables["underserved"] = G.summarize_underserved(per_cadre, by="unit_level")
    tables["schedule_fit"] = G.schedule_fit(courses, cadres, by="unit_level")
    tables["dead_catalog"] = G.dead_catalog(courses, comps, recs)
    tables["trends"] = G.trends(topics, comps, cadres)
    return tables


def translate(table: pd.DataFrame) -> pd.DataFrame:
    """Chinese headers and Chinese values for codes (unit levels, formats, issues, constraints)."""
    out = table.copy()
    if "unit_level" in out:
        out["unit_level"] = out["unit_level"].map(lambda v: UNIT_LEVELS.get(v, v))
    if "format" in out:
        out["format"] = out["format"].map(lambda v: FORMATS.get(v, v))
    if "issue" in out:
        out["issue"] = out["issue"].map(
            lambda v: "，".join(ISSUE_LABELS.get(c, c) for c in v.split(","))
        )
    if "windows" in out:
        out["windows"] = out["windows"].map(_windows_label)
    if "goal" in out:
        out["goal"] = out["goal"].map(lambda v: GOAL_LABELS.get(v, v))
    if "constraint" in out:
        out["constraint"] = out["constraint"].map(_constraint_label)
    return out.rename(columns=lambda c: HEADERS.get(str(c), str(c)))


def _windows_label(text: str) -> str:
    for code, label in WINDOW_LABELS.items():
        text = text.replace(code, label)
    return text


def _constraint_label(code: str) -> str:
    if code.startswith("category_minimum:"):
        return f"类别最低学时：{code.split(':', 1)[1]}"
    return CONSTRAINT_LABELS.get(code, code)


def _readme(dataset: Dataset, tables: dict[str, pd.DataFrame], model_given: bool) -> pd.DataFrame:
    rows = [
        ("生成时间", pd.Timestamp.now().strftime("%Y-%m-%d %H:%M")),
        (
            "数据",
            f"课程 {len(dataset.courses)} 门，干部 {len(dataset.cadres)} 人，"
            f"报名记录 {len(dataset.completions)} 条",
        ),
        (
            "缺口",
            "需求占比 − 供给占比。需求：干部岗位职责与需求调查落在该主题上的权重 × 剩余应修学时；"
            "供给：该主题上的有效课程数。缺口为正：需求多于课程。",
        ),
        (
            "主题",
            "由课程类别、专题标签与课程名称、干部岗位和需求调查文字共同学出；"
            "“主要课程类别”为空的主题是课程目录里几乎不出现、干部却提出的需求。",
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
        ("工作表", "、".join(SHEETS[k] for k in SHEETS if k in tables or k in ("charts",))),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])


def _charts(tables: dict[str, pd.DataFrame], pivots: dict[str, pd.DataFrame]) -> list[bytes]:
    from recommender.insights import plotting

    plotting.use_chinese_font()
    figs = [plotting.bar_gaps(tables["top_gaps"])]
    for by, pivot in pivots.items():
        if pivot.size:
            pivot = pivot.rename(index=lambda v: UNIT_LEVELS.get(v, v))
            pivot.index.name = HEADERS[by]
            figs.append(plotting.heatmap(pivot))
    if len(tables["trends"]):
        figs.append(plotting.trend_lines(tables["trends"]))
    return [plotting.to_png(f) for f in figs]


def _pivot(long: pd.DataFrame, by: str, labels: list[str]) -> pd.DataFrame:
    """Groups × the given topic labels of ``gap`` from a long ``gaps_by`` table."""
    if long.empty:
        return pd.DataFrame()
    table = long.pivot(index=by, columns="label", values="gap")
    rows = long.groupby(by)["group_cadres"].first().sort_values(ascending=False).index
    return table.loc[rows, [lb for lb in labels if lb in table.columns]]


def _display_width(value: object) -> int:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _fit_columns(ws, frame: pd.DataFrame, max_width: int = 60) -> None:
    from openpyxl.utils import get_column_letter

    for j, col in enumerate(frame.columns, start=1):
        sample = [col, *frame[col].head(200).tolist()]
        width = min(max_width, max(_display_width(v) for v in sample) + 2)
        ws.column_dimensions[get_column_letter(j)].width = max(8, width)
    ws.freeze_panes = "A2"


def write_gap_report(
    data_dir: str | Path,
    out_path: str | Path,
    *,
    model: RecommenderModel | None = None,
    options: ReportOptions | None = None,
) -> Path:
    """Load ``data_dir``, compute the gap tables (menu-based ones need a loaded ``model``),
    write ``out_path`` (.xlsx)."""
    from openpyxl.drawing.image import Image

    from recommender.data.loading import load_dataset
    from recommender.data.spreadsheet import write_frame

    dataset = load_dataset(data_dir, write_rejects=False)
    tables = gap_tables(dataset, model=model, options=options)
    top = tables["top_gaps"]["label"].head(12).tolist()
    pivots = {by: _pivot(tables[f"gaps_by_{by}"], by, top) for by in ("system", "unit_level")}
    tables = {"readme": _readme(dataset, tables, model is not None), **tables}
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(out, engine="openpyxl") as writer:
        for key, sheet in SHEETS.items():
            if key == "charts" or key not in tables:
                continue
            frame = translate(tables[key])
            sheet_ws = writer.book.create_sheet(sheet)
            write_frame(sheet_ws, frame)  # explicit text cells: no value becomes a formula
            _fit_columns(sheet_ws, frame)
        ws = writer.book.create_sheet(SHEETS["charts"])
        row = 1
        try:
            images = _charts(tables, pivots)
        except ImportError as exc:  # matplotlib/mplfonts live in the notebooks extra
            log.warning("charts skipped: %s", exc)
            ws["A1"] = "未安装 matplotlib / mplfonts，图表从略（pip install 'xuanxue[notebooks]'）"
            images = []
        for png in images:
            image = Image(io.BytesIO(png))
            ws.add_image(image, f"A{row}")
            row += int(image.height / 20) + 2  # ~20 px per default row
    log.info("gap report: %d sheets → %s", len(writer.book.sheetnames), out)
    return out

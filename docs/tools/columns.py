"""The 准备数据 page's column tables and the template workbook, both from the data contract
(recommender/data/schema.py, recommender/data/cells.py), so the docs cannot drift from the
loader. Used by the MkDocs hook (docs/tools/hooks.py) and docs/tools/make_template.py.
"""

from __future__ import annotations

from recommender.data.cells import ENUM_ALIASES, FALSE_TOKENS, TRUE_TOKENS, VALUE_LABELS
from recommender.data.schema import CADRES, COMPLETIONS, COURSES, Field, TableSpec

TABLES: dict[str, TableSpec] = {"courses": COURSES, "cadres": CADRES, "completions": COMPLETIONS}
TABLE_NAMES = {"courses": "课程表", "cadres": "干部表", "completions": "学习记录表"}
#: file names the loader finds in a data directory (readers.find_table_file)
FILE_NAMES = {
    "courses": "courses.* 或 课程.*",
    "cadres": "cadres.* 或 干部.* / 学员.*",
    "completions": "completions.* 或 学习记录.* / 选课记录.*",
}
KIND_NAMES = {
    "str": "文本",
    "float": "数字",
    "int": "整数",
    "bool": "是/否",
    "datetime": "日期时间",
    "enum": "可选值",
}
#: what a column means, in a line (fields not listed show only their type)
MEANING = {
    "course_id": "课程的唯一编号",
    "title": "课程名称",
    "description": "课程简介；可为空（仍按名称推荐）",
    "category": "课程类别，如 政治理论、党性教育、乡村振兴",
    "tags": "专题标签，多个用 | 或 ； 分隔",
    "credit_hours": "完成后认定的学时，须大于 0",
    "format": "课程形式（空 = 视频）",
    "method": "教学方法",
    "compulsory": "本年度是否为其适用对象的必修课",
    "audience": "适用对象（职级段、单位层级），多个用 | 分隔",
    "instructor": "授课教师",
    "instructor_rating": "教师评分 0–5",
    "session_start": "开课时间（直播、面授、专题班）",
    "session_end": "结课时间",
    "capacity": "名额（人）",
    "prerequisites": "先修课程的课程编号，多个用 | 分隔",
    "published_at": "上线日期",
    "active": "是否在用（空 = 是）",
    "cadre_id": "干部编号（或工号、账号）；用身份证号时见“身份证号”一节",
    "name": "姓名：只供培训科在控制台查找，不写日志",
    "gender": "性别",
    "unit": "工作单位",
    "unit_level": "单位层级",
    "system": "所属系统（条线），如 农业农村、应急管理",
    "region": "所在地区（市）",
    "rank": "职级，如 一级主任科员、正处",
    "position_category": "职位类别：综合管理类、专业技术类、行政执法类",
    "job_title": "岗位（职务）名称",
    "job_description": "岗位职责：推荐最看重的一段文字",
    "declared_needs": "需求调查的回答（原话）",
    "years_in_post": "任现职年限（年）",
    "newly_promoted": "是否新提拔",
    "young_cadre": "是否年轻干部",
    "village_official": "是否大学生村官、选调生",
    "annual_hours_target": "本年度应修学时（空 = 按职级取培训规则中的默认值）",
    "weekly_hours_budget": "每周能学习的学时",
    "preferred_formats": "偏好的课程形式，多个用 | 分隔",
    "available_windows": "可学习时段：工作日白天、工作日晚上、周末（代码 weekday_daytime、"
    "weekday_evening、weekend），多个用 | 分隔",
    "enrolled_at": "报名（选课）时间",
    "completed_at": "完成时间；空 = 未完成",
    "progress": "学习进度 0–1，也可写 85%",
    "credit_hours_awarded": "获得的学时",
    "rating": "学员评价 1–5 分",
    "source": "选课来源",
}


def _values(f: Field) -> str:
    """Each enum value: code, Chinese label, and the other spellings the loader accepts."""
    parts = []
    for v in f.values:
        label = VALUE_LABELS.get(v)
        others = sorted(a for a, code in ENUM_ALIASES.items() if code == v and a != label)
        shown = f"{VALUE_LABELS.get(v, v)}（`{v}`）"
        if others:
            shown += "：也可写 " + "、".join(others[:8]) + ("等" if len(others) > 8 else "")
        parts.append(shown)
    return "；".join(parts)


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def _type(f: Field) -> str:
    text = KIND_NAMES[f.kind]
    bounds = []
    if f.min is not None:
        bounds.append(f"{'>' if f.min_exclusive else '≥'} {_num(f.min)}")
    if f.max is not None:
        bounds.append(f"≤ {_num(f.max)}")
    if bounds:
        text += "，" + " 且 ".join(bounds)
    if f.units:
        text += "；可带单位 " + "、".join(u for u in f.units if not u.isascii())
    return text


def column_rows(table: str) -> list[dict[str, str]]:
    """One row per column a file may hold: English name, Chinese headers, required, type."""
    spec = TABLES[table]
    rows = []
    for f in spec.all_fields:
        if not f.aliases:  # derived columns (id_hash) are never in a file
            continue
        meaning = MEANING.get(f.name, "")
        if f.kind == "enum":
            meaning = (meaning + "。" if meaning else "") + _values(f)
        rows.append(
            {
                "name": f.name,
                "headers": "、".join(f.aliases),
                "required": "必填" if f.required else "",
                "type": _type(f),
                "meaning": meaning,
            }
        )
    return rows


def columns_markdown(table: str) -> str:
    """The Markdown table of :func:`column_rows` for the docs page."""
    lines = [
        "| 列名（English） | 中文表头（任选其一） | 必填 | 类型与单位 | 说明与可选值 |",
        "|---|---|---|---|---|",
    ]
    for r in column_rows(table):
        cells = [f"`{r['name']}`", r["headers"], r["required"], r["type"], r["meaning"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def bool_spellings() -> str:
    order = ["是", "否", "true", "false", "1", "0", "√", "×", "必修", "选修", "有效", "无效"]
    return "、".join(t for t in order if t in TRUE_TOKENS | FALSE_TOKENS)

"""Writes docs/downloads/数据模板.xlsx: a 填表说明 sheet, then 课程, 干部, 学习记录 with the
Chinese headers the loader reads and two example rows each.

    .venv/bin/python docs/tools/make_template.py [OUT.xlsx]

The workbook is committed; tests/test_docs.py regenerates it and checks the committed copy has
the same cells and that the loader reads it without a rejected row.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from columns import MEANING, TABLE_NAMES, TABLES

DOCS = Path(__file__).resolve().parents[1]
OUT = DOCS / "downloads" / "数据模板.xlsx"
SHEETS = {"courses": "课程", "cadres": "干部", "completions": "学习记录"}

#: the template's columns (contract name → header written) and two example rows per table
COLUMNS = {
    "courses": {
        "course_id": "课程编号", "title": "课程名称", "category": "课程类别",
        "credit_hours": "学时", "format": "课程形式", "method": "教学方法",
        "compulsory": "是否必修", "audience": "适用对象",
        "instructor": "授课教师", "session_start": "开课时间", "session_end": "结课时间",
        "capacity": "名额", "tags": "专题", "description": "课程简介", "published_at": "发布日期",
    },
    "cadres": {
        "cadre_id": "干部编号", "unit": "单位", "unit_level": "单位层级", "system": "系统",
        "region": "地区", "rank": "职级", "position_category": "职位类别", "job_title": "岗位",
        "job_description": "岗位职责", "declared_needs": "学习需求", "years_in_post": "任职年限",
        "newly_promoted": "新提拔", "young_cadre": "年轻干部",
        "annual_hours_target": "年度学时要求", "weekly_hours_budget": "每周可学时",
        "preferred_formats": "偏好形式", "available_windows": "可学习时段",
    },
    "completions": {
        "cadre_id": "干部编号", "course_id": "课程编号", "enrolled_at": "报名时间",
        "completed_at": "完成时间", "progress": "学习进度", "credit_hours_awarded": "获得学时",
        "rating": "评价", "source": "来源",
    },
}  # fmt: skip
EXAMPLES = {
    "courses": [
        ["KC2026001", "习近平新时代中国特色社会主义思想专题", "政治理论", "3学时", "视频", "讲授",
         "是", "全体干部", "张教授", "", "", "", "理论武装|党的创新理论",
         "系统讲授党的创新理论的核心要义。", "2026-01-05"],
        ["KC2026002", "乡镇应急管理与防汛抗旱实务", "应急管理", "6学时", "面授", "案例", "否",
         "乡镇|村（社区）", "李处长", "2026-04-10 09:00", "2026-04-10 17:00", "40人",
         "应急管理|防汛抗旱", "结合近年汛情案例讲解乡镇应急预案与处置流程。", "2026-02-01"],
    ],
    "cadres": [
        ["GB0001", "某某县某某镇人民政府", "乡镇", "乡镇综合", "某某市", "一级主任科员",
         "综合管理类", "党委副书记", "负责基层党建、乡村振兴和安全生产工作",
         "希望提升应急处置和群众工作能力", "3年", "否", "是", "140学时", "3学时",
         "视频|微课", "工作日晚上|周末"],
        ["GB0002", "某某县应急管理局", "县级", "应急管理", "某某市", "四级调研员", "综合管理类",
         "副局长", "分管防汛抗旱、森林防火和应急救援队伍建设", "", "1.5年", "是", "否", "",
         "2学时", "面授", "工作日白天"],
    ],
    "completions": [
        ["GB0001", "KC2026001", "2026-03-01 09:00", "2026-03-05 18:30", "100%", "3学时", "5",
         "自主选学"],
        ["GB0002", "KC2026002", "2026-03-20", "", "0", "0", "", "组织调训"],
    ],
}  # fmt: skip
GUIDE_HEAD = ["表", "表头", "必填", "填写说明"]


def guide_rows() -> list[list[str]]:
    rows = [
        ["说明", "", "", "三张表各填一个工作表（或各存一个文件）。表头用本模板的中文名即可，"
         "也可用“准备数据”页列出的其他写法；本页在读取时自动跳过，可保留。"],
        ["说明", "", "", "只有标“必填”的列必须有；其他列没有就不填，整列删去也可以。"
         "学时可写 2、2学时、1.5课时；进度可写 0.85 或 85%；是/否列可写 是/否、√/×。"],
        ["说明", "", "", "检查：recommender validate --courses 数据模板.xlsx "
         "--cadres 数据模板.xlsx --completions 数据模板.xlsx；"
         "有问题的行写入 <表名>.rejects.csv，逐行说明原因。"],
    ]  # fmt: skip
    for table, cols in COLUMNS.items():
        spec = TABLES[table]
        for name, header in cols.items():
            required = "必填" if spec.field(name).required else ""
            rows.append([TABLE_NAMES[table], header, required, MEANING.get(name, "")])
    return rows


def write_template(out: Path = OUT) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    wb = Workbook()
    guide = wb.active
    guide.title = "填表说明"
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    guide.append(GUIDE_HEAD)
    for row in guide_rows():
        guide.append(row)
    for cell in guide[1]:
        cell.font, cell.fill = bold, fill
    for col, width in zip("ABCD", (12, 16, 8, 90), strict=True):
        guide.column_dimensions[col].width = width
    for row in guide.iter_rows(min_row=2):
        row[3].alignment = Alignment(wrap_text=True, vertical="top")
    for table, sheet in SHEETS.items():
        ws = wb.create_sheet(sheet)
        ws.append(list(COLUMNS[table].values()))
        for example in EXAMPLES[table]:
            ws.append([_cell(v) for v in example])
        for cell in ws[1]:
            cell.font, cell.fill = bold, fill
        for i, header in enumerate(COLUMNS[table].values()):
            ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(
                10, 2 * len(header) + 4
            )
        ws.freeze_panes = "A2"
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.properties.creator = "xuanxue"
    wb.save(out)
    return out


def _cell(value: str) -> object:
    """Examples are text as an office would type them (numbers stay text where they have units)."""
    return value


if __name__ == "__main__":
    print(write_template(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))

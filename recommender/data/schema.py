"""Data contract v1: column names, types and header aliases, defined once.

Every other module refers to columns through :class:`Columns` and to the
table specifications through :data:`TABLES`, so renaming a column or adding an
alias happens in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["str", "float", "int", "bool", "datetime", "enum"]


class Columns:
    """Column names of the data contract (English snake_case)."""

    # courses
    COURSE_ID = "course_id"
    TITLE = "title"
    DESCRIPTION = "description"
    CATEGORY = "category"
    TAGS = "tags"
    CREDIT_HOURS = "credit_hours"
    FORMAT = "format"
    METHOD = "method"
    COMPULSORY = "compulsory"
    AUDIENCE = "audience"
    INSTRUCTOR = "instructor"
    INSTRUCTOR_RATING = "instructor_rating"
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    CAPACITY = "capacity"
    PREREQUISITES = "prerequisites"
    PUBLISHED_AT = "published_at"
    ACTIVE = "active"
    # cadres
    CADRE_ID = "cadre_id"
    NAME = "name"
    GENDER = "gender"
    ID_MASKED = "id_masked"
    ID_HASH = "id_hash"
    #: 身份证号 as read: hashed and masked at load, never kept (see data.identity)
    ID_CARD = "id_card"
    UNIT = "unit"
    UNIT_LEVEL = "unit_level"
    SYSTEM = "system"
    REGION = "region"
    RANK = "rank"
    POSITION_CATEGORY = "position_category"
    JOB_TITLE = "job_title"
    JOB_DESCRIPTION = "job_description"
    DECLARED_NEEDS = "declared_needs"
    YEARS_IN_POST = "years_in_post"
    NEWLY_PROMOTED = "newly_promoted"
    YOUNG_CADRE = "young_cadre"
    VILLAGE_OFFICIAL = "village_official"
    ANNUAL_HOURS_TARGET = "annual_hours_target"
    WEEKLY_HOURS_BUDGET = "weekly_hours_budget"
    PREFERRED_FORMATS = "preferred_formats"
    AVAILABLE_WINDOWS = "available_windows"
    # completions
    ENROLLED_AT = "enrolled_at"
    COMPLETED_AT = "completed_at"
    PROGRESS = "progress"
    CREDIT_HOURS_AWARDED = "credit_hours_awarded"
    RATING = "rating"
    SOURCE = "source"


C = Columns

FORMATS = ("video", "micro", "article", "live", "face_to_face", "special_class")
#: formats that have a scheduled session (start/end, capacity)
SCHEDULED_FORMATS = ("live", "face_to_face", "special_class")
METHODS = ("lecture", "case", "research", "simulation", "experiential")
UNIT_LEVELS = ("province", "city", "county", "township", "village")
WINDOWS = ("weekday_daytime", "weekday_evening", "weekend")
SOURCES = ("assigned", "self_selected", "recommended")
CATEGORIES = (
    "政治理论",
    "党性教育",
    "政策法规",
    "领导艺术",
    "业务知识",
    "应急管理",
    "经济金融",
    "乡村振兴",
    "基层治理",
    "心理健康",
    "信息技术",
    "文化素养",
    "文明礼仪",
)
#: unit words of hour columns: '2学时', '1.5 课时', '2小时'
HOUR_UNITS = ("学时", "课时", "小时", "个学时", "个小时", "h", "hr", "hrs", "hours")
#: Chinese names of the tables, for messages
TABLE_LABELS = {"courses": "课程表", "cadres": "干部表", "completions": "学习记录表"}
#: separators accepted inside list-valued cells (tags, audience, formats …)
LIST_SEPARATORS = "|；;，,、"


@dataclass(frozen=True)
class Field:
    """One column of a table: its type, whether it is required, its bounds."""

    name: str
    kind: Kind = "str"
    required: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    default: object = None
    aliases: tuple[str, ...] = ()
    #: unit words accepted after a number in this column ('2学时', '40人'), stripped on parsing
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSpec:
    """A table of the contract: its file stem and fields."""

    name: str
    fields: tuple[Field, ...]
    key: str | None = None
    references: dict[str, str] = field(default_factory=dict)
    #: columns a file may hold that are read only to derive others and never kept
    #: (身份证号 → hashed cadre_id and masked id_masked)
    read_only: tuple[Field, ...] = ()

    @property
    def columns(self) -> list[str]:
        """The columns of a loaded frame."""
        return [f.name for f in self.fields]

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """``fields`` and the read-only ones: every column a file may hold."""
        return self.fields + self.read_only

    @property
    def read_columns(self) -> list[str]:
        """Every column a file may hold, including those only read (身份证号)."""
        return [f.name for f in self.all_fields]

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> Field:
        return next(f for f in self.all_fields if f.name == name)

    def label(self, name: str) -> str:
        """The Chinese name of a column for messages (学时 for credit_hours): its first alias."""
        aliases = self.field(name).aliases if name in self.read_columns else ()
        return aliases[0] if aliases else name


#: a hint at the end of a header, after NFKC (（18位） → (18位)): (小时), [必填], 【选填】
HEADER_HINT = re.compile(r"[(\[【][^()\[\]【】]*[)\]】]$")
#: hints that change what a column holds: a masked 身份证号 is not a 身份证号
MEANINGFUL_HINTS = ("脱敏", "隐藏", "掩码")


def without_hint(key: str) -> str | None:
    """A normalised header without its trailing hint ('学时(小时)' → '学时'), or None when it
    has none (or the hint changes what the column holds, such as (脱敏))."""
    m = HEADER_HINT.search(key)
    if m is None or m.start() == 0 or any(w in m.group() for w in MEANINGFUL_HINTS):
        return None
    return key[: m.start()].rstrip(" _")


def match_header(aliases: Mapping[str, str], key: str, *, loose: bool = True) -> str | None:
    """The canonical name for a normalised header: an exact alias, else (``loose``) the
    header with its trailing hints removed — 公民身份号码（18位）, 学时（小时）, 学分(必填)."""
    hit = aliases.get(key)
    while hit is None and loose and (key := without_hint(key) or ""):
        hit = aliases.get(key)
    return hit


#: catalog headers as county catalogs write them
CATEGORY_ALIASES = (
    "课程类别", "类别", "课程分类", "分类", "课程类型", "教学板块", "课程板块", "板块", "教学模块",
    "课程模块",
)  # fmt: skip
INSTRUCTOR_ALIASES = (
    "授课教师", "主讲人", "教师", "讲师", "授课人", "主讲教师", "主讲", "授课老师", "主讲老师",
    "授课专家",
)  # fmt: skip
SESSION_START_ALIASES = (
    "开课时间", "开始时间", "授课时间", "上课时间", "开课日期", "授课日期", "上课日期",
)  # fmt: skip


COURSES = TableSpec(
    name="courses",
    key=C.COURSE_ID,
    fields=(
        Field(C.COURSE_ID, required=True, unique=True, aliases=("课程编号", "课程ID", "课程代码")),
        Field(C.TITLE, required=True, aliases=("课程名称", "课程标题", "名称")),
        Field(C.DESCRIPTION, default="", aliases=("课程简介", "课程介绍", "简介", "内容简介")),
        Field(C.CATEGORY, required=True, aliases=CATEGORY_ALIASES),
        Field(C.TAGS, default="", aliases=("专题", "标签", "专题标签", "关键词")),
        Field(
            C.CREDIT_HOURS,
            "float",
            required=True,
            min=0,
            min_exclusive=True,
            max=500,
            aliases=("学时", "课程学时", "学分", "课时", "学时数", "课程学分", "课时数"),
            units=HOUR_UNITS,
        ),
        Field(
            C.FORMAT,
            "enum",
            values=FORMATS,
            default="video",
            aliases=("课程形式", "形式", "学习形式", "授课形式", "培训形式"),
        ),
        Field(
            C.METHOD, "enum", values=METHODS, aliases=("教学方法", "教学方式", "方法", "教学形式")
        ),
        Field(C.COMPULSORY, "bool", default=False, aliases=("是否必修", "必修")),
        Field(C.AUDIENCE, default="", aliases=("适用对象", "培训对象", "对象")),
        Field(C.INSTRUCTOR, default="", aliases=INSTRUCTOR_ALIASES),
        Field(
            C.INSTRUCTOR_RATING, "float", min=0, max=5, aliases=("教师评分", "评分"), units=("分",)
        ),
        Field(C.SESSION_START, "datetime", aliases=SESSION_START_ALIASES),
        Field(C.SESSION_END, "datetime", aliases=("结课时间", "结束时间", "结课日期")),
        Field(
            C.CAPACITY,
            "int",
            min=0,
            max=1_000_000,
            aliases=("名额", "容量", "限额", "人数上限", "招生人数"),
            units=("人", "名", "个"),
        ),
        Field(C.PREREQUISITES, default="", aliases=("先修课程", "前置课程")),
        Field(C.PUBLISHED_AT, "datetime", aliases=("发布日期", "上线日期", "发布时间")),
        Field(C.ACTIVE, "bool", default=True, aliases=("是否有效", "在用", "是否上架")),
    ),
)

#: headers of the academy's own person id (besides 身份证号): read as cadre_id as they are
CADRE_ID_ALIASES = (
    "干部编号", "干部ID", "学员编号", "学员ID", "人员编号", "工号", "职工号", "用户名",
    "学员账号", "用户账号", "登录账号", "登录名", "账号",
)  # fmt: skip
#: headers of a 身份证号 column: hashed into cadre_id and masked (data.identity)
ID_CARD_ALIASES = (
    "身份证号", "身份证号码", "公民身份号码", "公民身份证号", "身份证", "证件号码", "证件号",
    "身份证件号码", "id_card_number",
)  # fmt: skip

#: a 身份证号 column: read, hashed and masked, never kept (data.identity)
ID_CARD_FIELD = Field(C.ID_CARD, default="", aliases=ID_CARD_ALIASES)

#: headers of a masked 身份证号 (4291**********3099): shown, never hashed
ID_MASKED_ALIASES = (
    "身份证号（脱敏）", "身份证号(脱敏)", "身份证号码（脱敏）", "公民身份号码（脱敏）",
    "脱敏身份证号",
)  # fmt: skip

CADRES = TableSpec(
    name="cadres",
    key=C.CADRE_ID,
    read_only=(ID_CARD_FIELD,),
    fields=(
        Field(C.CADRE_ID, required=True, unique=True, aliases=CADRE_ID_ALIASES),
        Field(C.NAME, default="", aliases=("姓名", "学员姓名", "干部姓名", "用户姓名", "名字")),
        Field(C.GENDER, default="", aliases=("性别",)),
        Field(C.ID_MASKED, default="", aliases=ID_MASKED_ALIASES),
        Field(C.ID_HASH, default=""),
        Field(C.UNIT, default="", aliases=("单位", "工作单位", "所在单位")),
        Field(C.UNIT_LEVEL, "enum", values=UNIT_LEVELS, aliases=("单位层级", "层级", "单位级别")),
        Field(C.SYSTEM, default="", aliases=("系统", "所属系统", "条线")),
        Field(C.REGION, default="", aliases=("地区", "区域", "所在地", "城市")),
        Field(C.RANK, default="", aliases=("职级", "职务职级")),
        Field(C.POSITION_CATEGORY, default="", aliases=("职位类别", "类别")),
        Field(
            C.JOB_TITLE,
            default="",
            aliases=("岗位", "岗位名称", "职位名称", "职务", "职务名称", "现任职务", "现职务"),
        ),
        Field(
            C.JOB_DESCRIPTION,
            default="",
            aliases=("岗位职责", "职位简介", "工作职责", "分管工作", "分管领域", "主要职责"),
        ),
        Field(C.DECLARED_NEEDS, default="", aliases=("学习需求", "培训需求", "需求调查")),
        Field(
            C.YEARS_IN_POST,
            "float",
            min=0,
            max=60,
            aliases=("任职年限", "现岗年限", "任现职年限"),
            units=("年",),
        ),
        Field(C.NEWLY_PROMOTED, "bool", default=False, aliases=("新提拔", "是否新提拔")),
        Field(C.YOUNG_CADRE, "bool", default=False, aliases=("年轻干部", "是否年轻干部")),
        Field(C.VILLAGE_OFFICIAL, "bool", default=False, aliases=("大学生村官", "选调生")),
        Field(
            C.ANNUAL_HOURS_TARGET,
            "float",
            min=0,
            max=1000,
            aliases=("年度学时要求", "学时要求", "应修学时", "年度应修学时"),
            units=HOUR_UNITS,
        ),
        Field(
            C.WEEKLY_HOURS_BUDGET,
            "float",
            min=0,
            max=80,
            aliases=("每周可学时", "每周学时"),
            units=HOUR_UNITS,
        ),
        Field(C.PREFERRED_FORMATS, default="", aliases=("偏好形式", "学习偏好")),
        Field(C.AVAILABLE_WINDOWS, default="", aliases=("可学习时段", "学习时段")),
    ),
)

COMPLETIONS = TableSpec(
    name="completions",
    read_only=(ID_CARD_FIELD,),
    references={C.CADRE_ID: "cadres", C.COURSE_ID: "courses"},
    fields=(
        Field(C.CADRE_ID, required=True, aliases=CADRE_ID_ALIASES),
        Field(C.COURSE_ID, required=True, aliases=("课程编号", "课程ID", "课程代码")),
        Field(
            C.ENROLLED_AT,
            "datetime",
            required=True,
            aliases=(
                "报名时间",
                "选课时间",
                "报名日期",
                "选课日期",
                "开始学习时间",
                "学习开始时间",
            ),
        ),
        Field(C.COMPLETED_AT, "datetime", aliases=("完成时间", "结业时间", "完成日期", "结业日期")),
        Field(
            C.PROGRESS, "float", min=0, max=1, default=0.0, aliases=("学习进度", "进度", "完成进度")
        ),
        Field(
            C.CREDIT_HOURS_AWARDED,
            "float",
            min=0,
            max=500,
            default=0.0,
            aliases=(
                "获得学时",
                "已获学时",
                "获得学分",
                "认定学时",
                "学时",
                "学分",
                "课程学时",
                "学时数",
            ),
            units=HOUR_UNITS,
        ),
        Field(
            C.RATING,
            "int",
            min=1,
            max=5,
            aliases=("评价", "课程评分", "学员评分"),
            units=("分", "星"),
        ),
        Field(C.SOURCE, "enum", values=SOURCES, aliases=("来源", "选课来源")),
    ),
)

#: cadre columns about the person (from the roster's 姓名, 性别, 身份证号): staff-facing, absent
#: from pseudonymous data such as the shipped sample
PERSONAL_COLUMNS = (C.NAME, C.GENDER, C.ID_MASKED, C.ID_HASH)

TABLES: dict[str, TableSpec] = {t.name: t for t in (COURSES, CADRES, COMPLETIONS)}

"""Request and response bodies (pydantic). Requests forbid unknown fields so typos get a 422."""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from recommender import ENUM_ALIASES, FORMATS, SOURCES, UNIT_LEVELS, WINDOWS
from recommender import HoursRecord as LibHoursRecord
from recommender import Menu as LibMenu
from recommender import MenuItem as LibMenuItem
from recommender import Reason as LibReason
from recommender import Recommendation as LibRecommendation
from recommender import Unmet as LibUnmet


def canonical_enum(value: object) -> object:
    """Chinese or variant spellings → the contract's value, as the loader maps them
    (乡镇 → township, 视频 → video, 'Face-to-face' → face_to_face); others pass through
    to the Literal check, which answers 422 naming the allowed values."""
    if not isinstance(value, str):
        return value
    key = unicodedata.normalize("NFKC", value).strip()
    return ENUM_ALIASES.get(key, "_".join(key.lower().replace("-", " ").split()))


def contract_enum(values: tuple[str, ...]) -> Any:
    """A data-contract enum that also takes the loader's Chinese spellings, and says so in
    the JSON schema (the contract's values first, then each alias that maps to one)."""
    aliases = [alias for alias, value in ENUM_ALIASES.items() if value in values]
    return Annotated[
        Literal[values],  # type: ignore[valid-type]
        BeforeValidator(canonical_enum),
        WithJsonSchema({"type": "string", "enum": [*values, *aliases]}),
    ]


Format = contract_enum(FORMATS)
Window = contract_enum(WINDOWS)
UnitLevel = contract_enum(UNIT_LEVELS)
Source = contract_enum(SOURCES)

#: years a date in a request may name (menus plan 2000–2100; events before 2000 are refused by
#: the library's rules): 0001-01-01 or 9999-12-31 get a 422 here, never an overflow later
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _in_range(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise PydanticCustomError(
            "date_out_of_range",
            "日期应在 {first} 年到 {last} 年之间",
            {"first": FIRST_YEAR, "last": LAST_YEAR},
        )
    return value


Day = Annotated[date, AfterValidator(_in_range)]
Moment = Annotated[datetime, AfterValidator(_in_range)]
Id = Annotated[str, Field(min_length=1, max_length=64)]
#: longest rank / system accepted (real ones are under 12 characters)
SEGMENT_TEXT = 40
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=4000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------ responses
# The shapes of a recommendation and a menu are defined once, by the library's dataclasses;
# the response models below are derived from them (plus ``model_version`` and paging), so
# the API, the CLI's --json and Python callers cannot drift apart.


def _json_type(tp: Any) -> Any:
    """The JSON form of a library field type: non-finite floats become null (to_dict does
    that), datetimes are ISO strings, tuples are lists, dataclasses stay (pydantic reads them)."""
    origin = get_origin(tp)
    if tp is float:
        return float | None
    if tp is datetime:
        return str
    if origin in (tuple, list) and get_args(tp):
        return list[_json_type(get_args(tp)[0])]  # type: ignore[misc]
    if origin in (types.UnionType, Union):
        return Union[tuple(_json_type(a) for a in get_args(tp))]  # noqa: UP007
    if origin in (dict, Mapping, collections.abc.Mapping):
        key, value = get_args(tp) or (str, Any)
        return dict[key, _json_type(value)]  # type: ignore[valid-type]
    if dataclasses.is_dataclass(tp):
        return from_library(tp)
    return tp


def from_library(cls: type, *, name: str | None = None, **extra: Any) -> type[BaseModel]:
    """A response model with the fields of library dataclass ``cls`` (plus ``extra``)."""
    key = (cls, name, tuple(extra))
    if key in _DERIVED:
        return _DERIVED[key]
    hints = get_type_hints(cls)
    fields: dict[str, Any] = dict(extra)
    for f in dataclasses.fields(cls):
        tp = _json_type(hints[f.name])
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            fields[f.name] = (tp, Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (tp, ...)
    model = create_model(name or cls.__name__, __base__=_Out, __doc__=cls.__doc__, **fields)
    _DERIVED[key] = model
    return model


_DERIVED: dict[tuple, type[BaseModel]] = {}

Reason = from_library(LibReason)
Recommendation = from_library(
    LibRecommendation,
    match=(
        int,
        Field(
            ge=0,
            le=100,
            description="匹配度 0–100，给人看（50 = 与目录中的平均课程相当）；"
            "score 为原始得分，只用于排序",
        ),
    ),
)
MenuItem = from_library(LibMenuItem)
Unmet = from_library(LibUnmet)
Menu = from_library(LibMenu, model_version=(str, ...))
HoursRecord = from_library(LibHoursRecord, model_version=(str, ...))


class Shortfall(_Out):
    """Why a list holds fewer than k courses, counted by candidate rule."""

    candidates: int = Field(description="courses this cadre's list could hold (可推荐课程数)")
    removed: dict[str, int] = Field(
        description="courses each rule removed, in the order applied: inactive, closed, "
        "audience, compulsory, completed, twin, category, format"
    )
    labels: dict[str, str] = Field(description="each rule's Chinese label (规则说明)")
    message: str = Field(description="为什么推荐不足 k 门，中文")


class Recommendations(_Out):
    model_version: str
    cadre_id: str | None = None
    count: int
    items: list[Recommendation]  # type: ignore[valid-type]
    shortfall: Shortfall | None = Field(
        None, description="present when fewer than k courses could be listed (and why)"
    )


class CompulsoryCourse(_Out):
    course_id: str
    title: str
    category: str
    format: str
    credit_hours: float
    status: str = Field(description="taken (已选/已学) | open (可选) | closed (已开班未参加)")
    session_start: str | None = None


class CompulsoryCourses(_Out):
    model_version: str
    cadre_id: str
    count: int
    items: list[CompulsoryCourse]


class SimilarCourses(_Out):
    model_version: str
    course_id: str
    count: int
    items: list[Recommendation]  # type: ignore[valid-type]


class EventOutcome(_Out):
    index: int
    event_id: str
    status: Literal["stored", "duplicate"]
    flags: list[str] = []


class CompletionsResult(_Out):
    model_version: str | None
    received: int
    stored: int
    duplicates: int
    flagged: int = 0
    events: list[EventOutcome]


class ModelInfo(_Out):
    model_version: str
    trained_at: str | None = None
    loaded_at: str
    artifact: str
    format_version: int | None = None
    collaborative: str | None = None
    data: dict[str, Any] = {}
    evaluation: dict[str, Any] = {}
    weights: Any = None
    params: dict[str, Any] = {}
    library_versions: dict[str, Any] = {}
    events_merged: int | None = None
    catalog: dict[str, Any] = {}


class ReloadResult(_Out):
    model_version: str
    previous_version: str | None
    changed: bool
    loaded_at: str


class Health(_Out):
    status: str
    model_version: str | None = None
    reason: str | None = None


# ------------------------------------------------------------------- requests
class ProfileRequest(_In):
    """A cadre the model has not seen (cold start): profile, history, what to return."""

    job_title: ShortText = Field("", description="岗位", examples=["乡镇党委副书记"])
    job_description: LongText = Field(
        "", description="岗位职责", examples=["负责基层党建、乡村振兴和安全生产工作"]
    )
    declared_needs: LongText = Field("", description="需求调查", examples=["提升应急处置能力"])
    unit_level: UnitLevel | None = Field(
        None,
        description="单位层级: province|city|county|township|village or 省/市/县/乡镇/村…",
        examples=["township", "乡镇"],
    )
    system: str = Field(
        "",
        max_length=SEGMENT_TEXT,
        description="系统; a value the model never saw counts as unknown",
        examples=["农业农村"],
    )
    rank: str = Field(
        "",
        max_length=SEGMENT_TEXT,
        description="职级; a value neither the model nor the rules know counts as unknown",
        examples=["一级主任科员"],
    )
    position_category: ShortText = ""
    unit: ShortText = ""
    newly_promoted: bool = False
    young_cadre: bool = False
    village_official: bool = False
    completed: list[Id] = Field([], max_length=2000, description="course ids already taken")
    k: int = Field(
        10,
        ge=1,
        description="how many courses (at most the service's max_k, 100 unless configured)",
    )
    include_compulsory: bool = Field(
        False, description="also list compulsory courses (default: electives only)"
    )
    category: list[ShortText] | None = Field(None, max_length=20)
    format: list[Format] | None = Field(None, max_length=len(FORMATS))
    explain: bool = True

    def profile(self) -> dict[str, Any]:
        return self.model_dump(
            exclude={"completed", "k", "category", "format", "explain", "include_compulsory"}
        )


class MenuRequest(_In):
    """Constraints for a menu; each one left out comes from the cadre profile, then the rules."""

    year: int | None = Field(
        None,
        ge=2000,
        le=2100,
        description="plan this whole year (default: the rest of this year; from the rules' "
        "next_year_from day, 1 October, next year whole)",
    )
    as_of: Day | None = Field(
        None, description="plan as if today were this day, to 31 December (default: today)"
    )
    start: Moment | None = Field(None, description="plan from this moment (default: as_of)")
    target_hours: float | None = Field(None, ge=0, le=1000, description="学时 goal for the year")
    hours_credited: float | None = Field(
        None,
        ge=0,
        le=1000,
        description="学时 already credited this year (default: counted from the cadre's records, "
        "as `hours_earned` in the answer)",
    )
    weekly_hours_budget: float | None = Field(None, ge=0, le=80)
    windows: list[Window] | None = Field(None, max_length=len(WINDOWS))
    formats: list[Format] | None = Field(None, max_length=len(FORMATS))
    category_minimums: dict[ShortText, Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, max_length=30, description='share of hours per category, e.g. {"政治理论": 0.3}'
    )
    format_split: (
        dict[Literal["centralised", "online"], Annotated[float, Field(ge=0, le=1000)]] | None
    ) = Field(
        None,
        description="学时 a year in centralised (面授/专题班) and online formats, e.g. "
        '{"centralised": 90, "online": 50} (default: the rules for the cadre\'s rank)',
    )
    max_per_topic: int = Field(2, ge=0, le=50)
    max_per_instructor: int = Field(2, ge=0, le=50)


class CompletionEvent(_In):
    """One enrolment/completion from the portal (the completions contract)."""

    event_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        None, description="portal's id; a resend with the same id is a duplicate"
    )
    cadre_id: Id
    course_id: Id
    enrolled_at: Moment
    completed_at: Moment | None = None
    progress: float | None = Field(None, ge=0, le=1)
    credit_hours_awarded: float | None = Field(None, ge=0, le=500)
    rating: int | None = Field(None, ge=1, le=5)
    source: Source | None = None

    @model_validator(mode="after")
    def _order(self) -> CompletionEvent:
        if self.completed_at is not None:
            a, b = self.enrolled_at, self.completed_at
            if (a.tzinfo is None) == (b.tzinfo is None) and b < a:
                raise ValueError("completed_at is before enrolled_at")
        return self

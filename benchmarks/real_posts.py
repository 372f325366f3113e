"""Real civil-service posts (``../shared/data/hubei_2026_positions.csv``) whose duties clearly
name one field, as cold-start profiles with the course categories that are on-field for them.

The rules are deliberately plain keyword lists over the post's title and duty text: a post
is kept only when exactly one field's keywords occur there, so every kept post has an
unambiguous expected answer. A test can reuse :func:`field_posts` and :data:`FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

POSITIONS = Path(__file__).resolve().parents[2] / "shared" / "data" / "hubei_2026_positions.csv"


@dataclass(frozen=True)
class Field:
    """A field of work: the duty keywords that name it and the course categories on it."""

    name: str
    keywords: tuple[str, ...]
    categories: frozenset[str]


FIELDS: tuple[Field, ...] = (
    Field("信息技术", ("信息化", "数据", "网络安全", "计算机", "软件"), frozenset({"信息技术"})),
    Field(
        "经济金融",
        ("财务", "会计", "财政", "审计", "金融", "统计"),
        frozenset({"经济金融"}),
    ),
    Field("乡村振兴", ("乡镇", "农村", "农业", "乡村"), frozenset({"乡村振兴", "基层治理"})),
    Field("应急管理", ("应急", "消防", "安全生产", "防灾"), frozenset({"应急管理"})),
    Field("政策法规", ("法律", "法院", "检察", "执法", "法治"), frozenset({"政策法规"})),
)
BY_NAME = {f.name: f for f in FIELDS}


def duties(row: dict | pd.Series) -> str:
    """The text the field is read from: job title and duty description."""
    return " ".join(str(row.get(c) or "") for c in ("job_title", "job_description"))


def field_of(text: str) -> str | None:
    """The one field whose keywords occur in ``text``; ``None`` for none or several."""
    hits = [f.name for f in FIELDS if any(k in text for k in f.keywords)]
    return hits[0] if len(hits) == 1 else None


def profile(row: dict | pd.Series) -> dict[str, str]:
    """A cold-start cadre profile of a post: job title, duties, agency, employer, majors."""
    rest = [row.get(c) for c in ("job_description", "agency", "employer", "majors")]
    return {
        "job_title": str(row.get("job_title") or ""),
        "job_description": " ".join(str(p) for p in rest if isinstance(p, str) and p),
    }


def load_positions(path: Path | str = POSITIONS) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def field_posts(positions: pd.DataFrame) -> pd.DataFrame:
    """The posts whose duties name exactly one field, with a ``field`` column."""
    fields = [field_of(duties(r)) for r in positions.to_dict("records")]
    out = positions.assign(field=fields)
    return out[out["field"].notna()].reset_index(drop=True)

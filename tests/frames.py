"""Tiny in-memory data frames with a known answer, for model tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.data.schema import CADRES, COMPLETIONS, COURSES
from recommender.data.schema import Columns as C

TOPICS = {
    "应急管理": ("应急管理", "突发事件先期处置与应急预案演练", "安全生产"),
    "乡村振兴": ("乡村振兴", "农村集体经济发展与产业振兴", "乡村振兴"),
}


def _frame(spec, rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for f in spec.fields:
        if f.name not in df:
            df[f.name] = f.default if f.default is not None else np.nan
    df = df[spec.columns]
    for f in spec.fields:
        if f.kind == "datetime":
            df[f.name] = pd.to_datetime(df[f.name])
        elif f.kind == "bool":
            df[f.name] = df[f.name].fillna(bool(f.default)).astype(bool)
        elif f.kind in ("float", "int"):
            df[f.name] = pd.to_numeric(df[f.name]).astype(
                "float64" if f.kind == "float" else "Int64"
            )
        else:
            df[f.name] = df[f.name].astype(object).where(df[f.name].notna(), "").astype(str)
    return df


def checkerboard(n_per_block: int = 6, cadres_per_group: int = 8):
    """Two groups × two course blocks: each group takes its own block, one course withheld.

    Returns (courses, cadres, completions, withheld) where ``withheld`` maps a
    cadre_id to the one course of its block it has not taken (the known answer).
    """
    courses, cadres, comps, withheld = [], [], [], {}
    for b, (cat, (term, desc, tag)) in enumerate(TOPICS.items()):
        for j in range(n_per_block):
            courses.append(
                {
                    C.COURSE_ID: f"K{b}{j:02d}",
                    C.TITLE: f"{term}专题第{j + 1}讲",
                    C.DESCRIPTION: f"围绕{desc}开展{term}能力提升培训。",
                    C.CATEGORY: cat,
                    C.TAGS: tag,
                    C.CREDIT_HOURS: 2.0,
                    C.FORMAT: "video",
                    C.PUBLISHED_AT: "2024-01-01",
                }
            )
    t0 = pd.Timestamp("2024-02-01")
    for g, (term, desc, _) in enumerate(TOPICS.values()):
        for i in range(cadres_per_group):
            cid = f"G{g}{i:02d}"
            cadres.append(
                {
                    C.CADRE_ID: cid,
                    C.UNIT_LEVEL: "county",
                    C.SYSTEM: f"系统{g}",
                    C.RANK: "一级科员",
                    C.JOB_TITLE: f"{term}岗",
                    C.JOB_DESCRIPTION: f"从事{desc}等工作。",
                }
            )
            held = f"K{g}{(i % n_per_block):02d}"
            withheld[cid] = held
            for j in range(n_per_block):
                course = f"K{g}{j:02d}"
                if course != held:
                    comps.append(
                        {
                            C.CADRE_ID: cid,
                            C.COURSE_ID: course,
                            C.ENROLLED_AT: t0 + pd.Timedelta(days=i * 7 + j),
                            C.COMPLETED_AT: t0 + pd.Timedelta(days=i * 7 + j + 1),
                            C.PROGRESS: 1.0,
                            C.CREDIT_HOURS_AWARDED: 2.0,
                        }
                    )
    return _frame(COURSES, courses), _frame(CADRES, cadres), _frame(COMPLETIONS, comps), withheld

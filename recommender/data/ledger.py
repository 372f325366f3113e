"""The hours ledger: each cadre's completed records, compact, kept in the trained model.

Menus and the 学时档案 count the 学时 a cadre already earned in the plan year from it, so
a served model needs no enrolment table. One row per completed record of the recent years
(the data's newest year and the one before): the cadre's row, the course's catalog position
(or a negative code for a course outside the catalog, a platform 专题网班), the completion
day and the hours credited — the record's awarded hours, else the course's 学时. Category and
format come from the catalog; a course outside it has neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.data.features import IdMap
from recommender.data.schema import Columns as C

#: years kept before the data's newest one (plans are for this year or the next)
LEDGER_YEARS = 1


@dataclass
class HoursLedger:
    """Completed records sorted by cadre row.

    ``records``: columns ``cadre`` (int32 row of the cadre table), ``course`` (int32 catalog
    position; ``-1 - k`` for row ``k`` of ``outside``), ``completed_at`` (datetime64[s]),
    ``hours`` (float64). ``outside``: ``course_id`` and ``title`` of courses outside the
    catalog.
    """

    records: pd.DataFrame
    outside: pd.DataFrame

    @classmethod
    def build(
        cls,
        completions: pd.DataFrame,
        courses: pd.DataFrame,
        cadre_ids: IdMap,
        course_ids: IdMap,
        external: pd.DataFrame | None = None,
        *,
        years: int = LEDGER_YEARS,
    ) -> HoursLedger:
        """The ledger of ``completions`` (catalog courses) and ``external`` (others)."""
        hours = pd.to_numeric(courses[C.CREDIT_HOURS], errors="coerce").to_numpy(np.float64)
        parts, outside = [], pd.DataFrame({C.COURSE_ID: [], C.TITLE: []}, dtype=object)
        for frame in (completions, external):
            if frame is None or not len(frame) or C.COMPLETED_AT not in frame:
                continue
            done = frame[frame[C.COMPLETED_AT].notna()]
            rows = cadre_ids.lookup(done[C.CADRE_ID])
            cols = course_ids.lookup(done[C.COURSE_ID])
            if frame is external:
                outside = _outside(done[cols < 0])
                codes = pd.Index(outside[C.COURSE_ID]).get_indexer(done[C.COURSE_ID].astype(str))
                cols = np.where(cols < 0, -1 - codes, cols)
            keep = (rows >= 0) & ((cols >= 0) | (frame is external))
            awarded = pd.to_numeric(done[C.CREDIT_HOURS_AWARDED], errors="coerce").to_numpy(float)
            own = np.where(cols >= 0, hours[np.maximum(cols, 0)], np.nan)
            credited = np.where(awarded > 0, awarded, own)
            parts.append(
                pd.DataFrame(
                    {
                        "cadre": rows.astype(np.int32),
                        "course": cols.astype(np.int32),
                        "completed_at": done[C.COMPLETED_AT].to_numpy("datetime64[s]"),
                        "hours": np.nan_to_num(credited),
                    }
                )[keep]
            )
        records = pd.concat(parts, ignore_index=True) if parts else _empty()
        if len(records):
            newest = records["completed_at"].max().year
            records = records[records["completed_at"].dt.year >= newest - years]
        records = records.sort_values(["cadre", "completed_at"], kind="stable")
        return cls(records.reset_index(drop=True), outside.reset_index(drop=True))

    def of(self, row: int) -> pd.DataFrame:
        """The records of cadre row ``row`` (a slice: the rows are sorted by cadre)."""
        cadres = self.records["cadre"].to_numpy()
        # keys of the column's own dtype: Python ints would cast the whole column (2.5 ms)
        lo, hi = np.searchsorted(cadres, np.array([row, row + 1], dtype=cadres.dtype))
        return self.records.iloc[lo:hi]


def _outside(done: pd.DataFrame) -> pd.DataFrame:
    """Distinct courses outside the catalog with their title (first one seen)."""
    title = done[C.TITLE] if C.TITLE in done else pd.Series("", index=done.index)
    frame = pd.DataFrame({C.COURSE_ID: done[C.COURSE_ID].astype(str), C.TITLE: title.astype(str)})
    return frame.drop_duplicates(C.COURSE_ID).astype(object)


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cadre": np.zeros(0, np.int32),
            "course": np.zeros(0, np.int32),
            "completed_at": np.zeros(0, "datetime64[s]"),
            "hours": np.zeros(0, np.float64),
        }
    )

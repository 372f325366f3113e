"""开课时间 cells as catalogs write them: ranges, parts of a day, weekdays, no year.

:func:`read_sessions` reads the cells of an 开课时间 column that :func:`cells.parse_datetime`
cannot: ``3月5日-3月7日``, ``2026年3月5日-7日``, ``2026.3.5-3.7``, ``2026-03-05 至 2026-03-07``,
``2026年3月5日14:30-17:30``, ``2026年3月5日（周四）``, ``2026年3月5日上午`` and a date without a
year (the catalog's year). It returns cells the typed validation reads as they are: the start,
and the end a range or a part of a day gives. What it cannot read is left as it was, so the
validation clears it with the usual reason.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from typing import NamedTuple

import pandas as pd

from recommender.data.cells import clock_hour, parse_datetime

#: parts of a day a session may be given as, beside 上午 … before a clock time
_PARTS = "上午|下午|中午|晚上|早上|全天"
_WEEKDAY = r"(?:\(\s*(?:周|星期|礼拜)[一二三四五六日天]\s*\)|(?:周|星期|礼拜)[一二三四五六日天])?"
_SEP = r"\s*(?:-|~|至|到|—|–)\s*"
#: the year of a dated cell: 2026-…, 2026年…, 2026/…, 2026.…, 20260305
_YEAR = re.compile(r"\s*(\d{4})(?:\s*[-/.年]|\d{4}$)")


def _date(p: str) -> str:
    return (
        rf"(?:(?P<{p}y>\d{{4}})\s*[-/.年]\s*)?(?P<{p}m>\d{{1,2}})\s*(?P<{p}sep>[-/.月])\s*"
        rf"(?P<{p}d>\d{{1,2}})\s*日?"
    )


def _time(p: str) -> str:
    return (
        rf"(?P<{p}part>{_PARTS})?\s*(?:(?P<{p}h>\d{{1,2}})\s*"
        rf"(?::\s*(?P<{p}mi>\d{{1,2}})|[时点]\s*(?:(?P<{p}mi2>\d{{1,2}})\s*分?)?))?"
    )


_SESSION = re.compile(
    _date("a") + r"\s*" + _WEEKDAY + r"\s*" + _time("a")
    + rf"(?P<range>{_SEP}(?:(?:{_date('b')}|(?P<bday>\d{{1,2}})\s*日)\s*{_WEEKDAY}\s*)?"
    + _time("b") + ")?"
)  # fmt: skip


class Session(NamedTuple):
    """One 开课时间 cell read: its start, its end (None: not given), whether it is one date
    with no time of day (the rules' full day), whether it had no year."""

    start: dt.datetime
    end: dt.datetime | None
    whole_day: bool
    yearless: bool


def part_spans(day: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """Hours of 上午 / 下午 / 晚上 / 全天 under the rules' (day start, evening start):
    上午 day start–12:00, 下午 14:00–evening, 晚上 evening–21:00 (2 hours when later)."""
    start, evening = day
    return {
        "上午": (start, 12.0),
        "下午": (14.0, evening),
        "晚上": (evening, max(21.0, evening + 2.0)),
        "全天": (start, evening),
    }


def parse_session(text: str, *, year: int, day: tuple[float, float] = (8.0, 18.0)) -> Session:
    """A session cell read as a :class:`Session`; ``year`` for a date written without one,
    ``day`` the rules' (day start, evening start) hours. ValueError otherwise (also an end
    before the start, a day that does not exist)."""
    t = " ".join(unicodedata.normalize("NFKC", text).split())
    m = _SESSION.fullmatch(t)
    if not m or (m["ay"] is None and m["asep"] != "月"):  # '3.5' is no date without a year
        raise ValueError(text)
    g = m.groupdict()
    spans = part_spans(day)
    first = dt.date(int(g["ay"] or year), int(g["am"]), int(g["ad"]))
    start = _at(first, g, "a", spans, 0)
    if not g["range"]:
        end = _at(first, g, "a", spans, 1) if g["apart"] and not g["ah"] else None
        whole = not (g["apart"] or g["ah"])
        return Session(start, end, whole, g["ay"] is None)
    if g["bm"]:
        last = dt.date(int(g["by"] or first.year), int(g["bm"]), int(g["bd"]))
        if not g["by"] and first.month == 12 and last.month == 1:  # 12月30日-1月2日
            last = last.replace(year=first.year + 1)
    elif g["bday"]:
        last = first.replace(day=int(g["bday"]))
    elif g["bpart"] or g["bh"]:
        last = first
    else:
        raise ValueError(text)
    g["bpart"] = g["bpart"] or (g["apart"] if g["bh"] else None)  # 下午2:30-5:00
    end = _at(last, g, "b", spans, 1)
    if end <= start:
        raise ValueError(text)
    return Session(start, end, False, g["ay"] is None)


def _at(date: dt.date, g: dict, p: str, spans: dict, side: int) -> dt.datetime:
    """The time of one end of a session: its clock time, else the start (``side`` 0) or end
    (1) of its part of the day, else of the rules' day."""
    part = g[f"{p}part"]
    if g[f"{p}h"]:
        hour = clock_hour(part, int(g[f"{p}h"]))
        return dt.datetime.combine(date, dt.time(hour, int(g[f"{p}mi"] or g[f"{p}mi2"] or 0)))
    if part and part not in spans:  # 中午 / 早上 without a clock time: no span to read
        raise ValueError(part)
    hours = spans[part or "全天"][side]
    return dt.datetime.combine(date, dt.time()) + dt.timedelta(hours=hours)


class SessionCells(NamedTuple):
    """An 开课时间 column after :func:`read_sessions`: the cells rewritten (``starts``), the
    ends they give ('' for none), how many were read so, and the year a cell without one took."""

    starts: pd.Series
    ends: pd.Series
    read: int
    example: str
    yearless: int
    yearless_example: str
    year: int
    catalog_year: bool


def catalog_year(starts: pd.Series, today: dt.date | None = None) -> tuple[int, bool]:
    """The year most dated cells of the column give (the later on a tie) and True, or this
    year and False when no cell has one."""
    years: Counter[int] = Counter()
    for text, n in starts.value_counts().items():
        if m := _YEAR.match(unicodedata.normalize("NFKC", str(text))):
            years[int(m.group(1))] += int(n)
    if years:
        return max(years.items(), key=lambda kv: (kv[1], kv[0]))[0], True
    return (today or dt.date.today()).year, False


def read_sessions(
    starts: pd.Series, *, day: tuple[float, float], today: dt.date | None = None
) -> SessionCells:
    """Rewrite the 开课时间 cells that :func:`parse_datetime` cannot read but
    :func:`parse_session` can: one date → 'YYYY-MM-DD' (a full day, as a date-only cell), else
    the start as 'YYYY-MM-DD HH:MM:SS' and the end beside it. Each distinct cell is read once."""
    year, from_catalog = catalog_year(starts, today)
    done: dict[str, tuple[str, str, bool]] = {}
    for text in starts.unique():
        if not text:
            continue
        try:
            parse_datetime(text)
            continue  # read as it is
        except (ValueError, OverflowError):
            pass
        try:
            s = parse_session(text, year=year, day=day)
        except ValueError:
            continue  # cleared by the validation, with its reason
        start = s.start.date().isoformat() if s.whole_day else s.start.isoformat(sep=" ")
        end = s.end.isoformat(sep=" ") if s.end is not None and not s.whole_day else ""
        done[text] = (start, end, s.yearless)
    hit = starts.isin(list(done)).to_numpy()
    if not hit.any():
        empty = pd.Series("", index=starts.index)
        return SessionCells(starts, empty, 0, "", 0, "", year, from_catalog)
    new = starts.copy()
    ends = pd.Series("", index=starts.index, dtype=object)
    new[hit] = starts[hit].map(lambda v: done[v][0])
    ends[hit] = starts[hit].map(lambda v: done[v][1])
    no_year = starts[hit][starts[hit].map(lambda v: done[v][2]).to_numpy(bool)]
    ranged = starts[hit][(ends[hit] != "").to_numpy()]  # an example with an end says most
    example = str((ranged if len(ranged) else starts[hit]).iloc[0])
    return SessionCells(
        new,
        ends,
        int(hit.sum()),
        example,
        len(no_year),
        str(next(iter(no_year), "")),
        year,
        from_catalog,
    )

"""How numbers and codes are shown to people: Chinese labels from the one table
(:data:`recommender.data.cells.VALUE_LABELS`), hours to the half 学时, shares to one decimal.

Machines keep the codes and the exact numbers; these are for messages, workbooks and pages.
"""

from __future__ import annotations

import math

from recommender.data.cells import VALUE_LABELS

__all__ = ["half_hours", "label", "labelled", "percent"]


def label(code: object) -> str:
    """The Chinese label of a code: ``weekly_budget`` → 每周可学学时,
    ``category_minimum:理论教育`` → 类别最低学时（理论教育）; an unknown code is returned as is."""
    text = "" if code is None else str(code)
    head, sep, tail = text.partition(":")
    if sep and head in VALUE_LABELS:
        return f"{VALUE_LABELS[head]}（{tail}）"
    return VALUE_LABELS.get(text, text)


def labelled(code: object) -> str:
    """The label with the code after it for people who also talk to machines:
    ``每周可学学时（weekly_budget）``; unknown codes as they are."""
    text = "" if code is None else str(code)
    shown = label(text)
    return text if shown == text else f"{shown}（{text}）"


def half_hours(hours: float) -> float:
    """Hours rounded to the nearest half 学时 (8.857 → 9.0, 32.14 → 32.0, 2.25 → 2.5)."""
    if hours is None or not math.isfinite(float(hours)):
        return hours
    return math.floor(float(hours) * 2 + 0.5) / 2


def percent(share: float) -> float:
    """A share (0–1) as a percentage with one decimal: 0.12345 → 12.3."""
    if share is None or not math.isfinite(float(share)):
        return share
    return round(float(share) * 100, 1)

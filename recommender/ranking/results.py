"""What the ranking hands back: recommendations, lists that know why they are short, and
the error for an id the model does not know."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from recommender.ranking.candidates import CandidateSet
from recommender.signals.base import Reason


class UnknownIdError(KeyError):
    """An id the model does not know; ``kind`` is 'cadre' or 'course'."""

    def __init__(self, kind: str, value: str, hint: str = "") -> None:
        super().__init__(value)
        self.kind, self.value, self.hint = kind, value, hint

    def __str__(self) -> str:
        return f"unknown {self.kind} {self.value!r}" + (f"; {self.hint}" if self.hint else "")


def match_percent(score: float) -> int:
    """The 0–100 匹配度 shown to people for a blended score (a logistic of the z-score sum:
    0 → 50, +2 → 73, +4 → 88; monotone, so the order is the score's)."""
    return round(100.0 / (1.0 + float(np.exp(-float(score) / 2.0))))


@dataclass(frozen=True)
class Recommendation:
    """One recommended course with its score and reasons."""

    course_id: str
    title: str
    category: str
    format: str
    credit_hours: float
    score: float
    rank: int
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, course_id, title, category, format, credit_hours, score, rank, reasons):
        """The same object as ``Recommendation(...)``, built without the frozen dataclass's
        eight ``object.__setattr__`` calls (~2.5 µs an item; lists are built per request)."""
        rec = object.__new__(cls)
        rec.__dict__.update(course_id=course_id, title=title, category=category, format=format,
                            credit_hours=credit_hours, score=score, rank=rank,
                            reasons=reasons)  # fmt: skip
        return rec

    @property
    def reason_text(self) -> str:
        return "；".join(r.text for r in self.reasons)

    @property
    def match(self) -> int:
        """匹配度 0–100 (see :func:`match_percent`)."""
        return match_percent(self.score)

    def to_dict(self) -> dict:
        # built by hand: dataclasses.asdict deep-copies and costs ~0.1 ms an item
        return {
            "course_id": self.course_id,
            "title": self.title,
            "category": self.category,
            "format": self.format,
            "credit_hours": self.credit_hours,
            "score": self.score,
            "match": self.match,
            "rank": self.rank,
            "reasons": [r.to_dict() for r in self.reasons],
        }


class Ranked(list):
    """A list of :class:`Recommendation` that knows its candidates, so a short list says
    why (:attr:`shortfall`, in Chinese, counted by rule)."""

    def __init__(self, items=(), *, candidates: CandidateSet | None = None, k: int = 0) -> None:
        super().__init__(items)
        self.candidates, self.k = candidates, k

    @property
    def shortfall(self) -> str | None:
        """Why fewer than ``k`` courses are listed, in Chinese (``None`` if enough)."""
        return None if self.candidates is None else self.candidates.shortfall(self.k)

    def shortfall_dict(self) -> dict | None:
        """The shortfall for machines: candidates, courses removed by rule, labels, message."""
        if self.candidates is None or self.shortfall is None:
            return None
        return self.candidates.to_dict(self.k)

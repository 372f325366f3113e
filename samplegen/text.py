"""Composition of synthetic course titles and descriptions from the phrase pools."""

from __future__ import annotations

import numpy as np

from samplegen.phrases import (
    AUDIENCE_SENTENCES,
    AUDIENCES,
    CONTENTS,
    FORMAT_SENTENCES,
    FORMAT_TITLE_SUFFIX,
    METHOD_SENTENCES,
    OPENINGS,
    OUTCOMES,
    PLACES,
    TITLE_FORMS,
)
from samplegen.topics import Topic

DESC_MIN, DESC_MAX = 60, 200


def _pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _slots(rng: np.random.Generator, topic: Topic) -> dict[str, str]:
    aspects = topic[1]
    a, b, c = (aspects[i] for i in rng.permutation(len(aspects))[:3])
    return {
        "t": topic[0],
        "a": a,
        "b": b,
        "c": c,
        "place": _pick(rng, PLACES),
        "aud": _pick(rng, AUDIENCES),
        "n": str(int(rng.integers(3, 13))),
    }


def compose_title(rng: np.random.Generator, topic: Topic, fmt: str, taken: set[str]) -> str:
    """A title for a course on ``topic`` not yet in ``taken`` (which it is added to)."""
    for attempt in range(40):
        s = _slots(rng, topic)
        suffix = _pick(rng, FORMAT_TITLE_SUFFIX[fmt])
        if fmt == "special_class":
            title = f"{s['a'] if attempt % 2 == 0 else s['t']}{suffix}"
        else:
            title = _pick(rng, TITLE_FORMS).format(**s) + suffix
        if title not in taken:
            taken.add(title)
            return title
    k = 2
    while f"{title}（第{k}期）" in taken:
        k += 1
    title = f"{title}（第{k}期）"
    taken.add(title)
    return title


def _close(text: str) -> str:
    return text[:-1] + "。" if text.endswith("，") else text


def compose_description(
    rng: np.random.Generator,
    topic: Topic,
    fmt: str,
    method: str,
    *,
    audience: str | None = None,
    days: int = 0,
) -> str:
    """A 课程简介 of 60–200 characters with a varied sentence structure."""
    s = _slots(rng, topic)
    if audience:
        s["aud"] = audience
    if days:
        s["n"] = str(days)
    opening = _pick(rng, OPENINGS).format(**s)
    content = _pick(rng, CONTENTS).format(**s)
    method_s = _pick(rng, METHOD_SENTENCES[method]).format(**s)
    fmt_s = _pick(rng, FORMAT_SENTENCES[fmt]).format(**s)
    aud_s = _pick(rng, AUDIENCE_SENTENCES).format(**s)
    out_s = _pick(rng, OUTCOMES).format(**s)
    core = [content, method_s] if rng.random() < 0.6 else [method_s, content]
    tail = [x for x in (fmt_s, aud_s, out_s) if x and rng.random() < 0.7]
    rng.shuffle(tail)
    parts = ([opening] if rng.random() < 0.8 else []) + core + tail
    text = _close("".join(parts))
    extras = [out_s, aud_s, fmt_s, opening]
    while len(text) < DESC_MIN and extras:
        extra = extras.pop(0)
        if extra and extra not in text:
            text = _close(text + extra) if text.endswith("。") else _close(text + "。" + extra)
    while len(text) > DESC_MAX and len(parts) > 1:
        parts.pop()
        text = _close("".join(parts))
    if len(text) > DESC_MAX:
        text = text[: DESC_MAX - 1] + "。"
    return (
        text if len(text) >= DESC_MIN else _close(text + "课程注重理论联系实际，帮助学员学以致用。")
    )

"""Charts for the gap analysis, with a packaged CJK font (no downloads, no system fonts needed).

Importing this module does not import matplotlib or touch its settings; call
:func:`use_chinese_font` once (notebooks do, first thing) to make Chinese the default for all
figures. The chart helpers also set the CJK font on every text they draw, so they render
Chinese without missing-glyph warnings even when the caller forgot.
Helpers build a bare :class:`matplotlib.figure.Figure` (no pyplot state, safe in servers and
tests) and return it; notebooks display a returned Figure like any other.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "bar_gaps",
    "bars",
    "chinese_font",
    "heatmap",
    "rating_vs_enrolment",
    "to_png",
    "trend_lines",
    "use_chinese_font",
]

#: preferred fonts shipped inside the mplfonts package, best first
FONT_FILES = ("NotoSansCJKsc-Regular.otf", "SourceHanSerifSC-Regular.otf", "SimHei.ttf")


class FontNotFoundError(RuntimeError):
    """No CJK font file was found in the mplfonts package."""


def _font_path() -> Path:
    try:
        fonts = resources.files("mplfonts") / "fonts"
    except ModuleNotFoundError as exc:  # pragma: no cover - it is a declared dependency
        raise FontNotFoundError("install mplfonts (pip install 'xuanxue[notebooks]')") from exc
    for name in FONT_FILES:
        path = Path(str(fonts / name))
        if path.is_file():
            return path
    raise FontNotFoundError(f"none of {', '.join(FONT_FILES)} found in {fonts}")


@cache
def chinese_font() -> str:
    """Register the packaged CJK font with matplotlib's font manager; return its family name."""
    from matplotlib import font_manager

    path = _font_path()
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


def use_chinese_font() -> str:
    """Make the packaged CJK font matplotlib's default sans-serif; returns the family name.

    Also turns off ``axes.unicode_minus`` (the CJK font's minus sign is the ASCII one).
    Changes global rcParams on purpose: call it explicitly (notebooks, the report), never at
    import time.
    """
    import matplotlib as mpl

    name = chinese_font()
    rest = [f for f in mpl.rcParams["font.sans-serif"] if f != name]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["font.sans-serif"] = [name, *rest]
    mpl.rcParams["axes.unicode_minus"] = False
    return name


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _apply_font(fig: Figure) -> Figure:
    """Put the CJK font (then DejaVu Sans as fallback) on every text of ``fig``."""
    from matplotlib.text import Text

    family = [chinese_font(), "DejaVu Sans"]
    for text in fig.findobj(Text):
        text.set_fontfamily(family)
    for ax in fig.axes:  # tick labels made at draw time copy these
        ax.tick_params(labelfontfamily=family)
    return fig


def bar_gaps(gaps_df: pd.DataFrame, ax: Axes | None = None, *, top: int = 15) -> Figure:
    """Horizontal bars of ``gap`` per topic label (largest at the top; shortfalls red)."""
    data = gaps_df.head(top).iloc[::-1]
    fig, ax = _new_axes(ax, (8, 0.4 * len(data) + 1.5))
    colors = np.where(data["gap"].to_numpy() > 0, "#c0392b", "#7f8c8d")
    ax.barh(data["label"].astype(str), data["gap"] * 100, color=colors)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("缺口（需求占比 − 供给占比，百分点）")
    ax.set_title("课程供需缺口（主题）")
    return _apply_font(fig)


def heatmap(pivot_df: pd.DataFrame, ax: Axes | None = None, *, title: str = "") -> Figure:
    """Groups × topics heatmap of a pivot table (e.g. ``gaps_by(..., pivot=True)``), values in
    percentage points, diverging around 0."""
    values = pivot_df.to_numpy(dtype=float) * 100
    fig, ax = _new_axes(
        ax, (max(6.0, 0.55 * pivot_df.shape[1] + 3), max(3.0, 0.4 * pivot_df.shape[0] + 2))
    )
    finite = np.abs(values[np.isfinite(values)])
    limit = (
        float(np.percentile(finite, 98)) if finite.size else 1.0
    )  # one tiny group must not wash out the rest
    limit = limit or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(
        range(pivot_df.shape[1]), [str(c) for c in pivot_df.columns], rotation=60, ha="right"
    )
    ax.set_yticks(range(pivot_df.shape[0]), [str(i) for i in pivot_df.index])
    ax.set_title(title or f"各{pivot_df.index.name or '分组'}主题缺口（百分点）")
    fig.colorbar(image, ax=ax, label="缺口（百分点）")
    return _apply_font(fig)


def trend_lines(
    trends_df: pd.DataFrame,
    ax: Axes | None = None,
    *,
    topics: list[str] | None = None,
    value: str = "completions",
    top: int = 6,
) -> Figure:
    """One line per topic label of ``value`` by quarter (default: the ``top`` topics by total)."""
    table = trends_df.pivot_table(index="quarter", columns="label", values=value, aggfunc="sum")
    if topics is None:
        topics = table.sum().sort_values(ascending=False).index[:top].tolist()
    fig, ax = _new_axes(ax, (9, 4.5))
    for label in topics:
        ax.plot(table.index.astype(str), table[label].to_numpy(), marker="o", label=str(label))
    ax.set_xlabel("季度")
    ax.set_ylabel(
        {
            "completions": "完成人次（按主题权重）",
            "enrolments": "报名人次（按主题权重）",
            "demand": "需求（活跃干部画像权重）",
        }.get(value, value)
    )
    ax.set_title("主题学习趋势")
    ax.legend(loc="upper left", fontsize="small")
    ax.tick_params(axis="x", labelrotation=45)
    return _apply_font(fig)


def bars(
    table: pd.DataFrame,
    label: str,
    value: str,
    ax: Axes | None = None,
    *,
    title: str = "",
    xlabel: str = "",
) -> Figure:
    """Horizontal bars of ``value`` per ``label`` (e.g. ``supply_by`` output), largest on top."""
    data = table.sort_values(value).tail(25)
    fig, ax = _new_axes(ax, (8, 0.35 * len(data) + 1.5))
    ax.barh(data[label].astype(str), data[value].to_numpy(dtype=float), color="#2c7fb8")
    ax.set_xlabel(xlabel or value)
    ax.set_title(title)
    return _apply_font(fig)


def rating_vs_enrolment(
    stats: pd.DataFrame, ax: Axes | None = None, *, hue: str = "category"
) -> Figure:
    """Scatter of mean learner rating against enrolments, one colour per ``hue`` value."""
    fig, ax = _new_axes(ax, (9, 5.5))
    for name, part in stats.dropna(subset=["mean_rating"]).groupby(hue):
        ax.scatter(part["enrolments"], part["mean_rating"], s=14, alpha=0.7, label=str(name))
    ax.set_xscale("symlog")
    ax.set_xlabel("报名人次")
    ax.set_ylabel("学员平均评分")
    ax.set_title("课程评分与报名人次")
    ax.legend(loc="lower right", fontsize="x-small", ncols=2)
    return _apply_font(fig)


def to_png(fig: Figure, *, dpi: int = 120) -> bytes:
    """PNG bytes of a figure (for the Excel report)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()

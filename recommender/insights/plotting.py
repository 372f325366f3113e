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

from recommender.insights.labels import GROUP_NAMES, unit_level_name

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "bar_gaps",
    "bars",
    "chinese_font",
    "heatmap",
    "outliers",
    "rating_vs_enrolment",
    "to_png",
    "trend_lines",
    "use_chinese_font",
]

#: qualitative colours, the dark half of tab20 first: 20 distinct before any repeats
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
#: markers cycled with a period prime to the palette's, so no two groups share both
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
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
    ax.set_title("课程供需缺口（主题，按紧迫度排序）")
    return _apply_font(fig)


def heatmap(pivot_df: pd.DataFrame, ax: Axes | None = None, *, title: str = "") -> Figure:
    """Groups × topics heatmap of a pivot table (e.g. ``gaps_by(..., pivot=True)``), values in
    percentage points written in every cell, diverging around 0 on a scale set by the largest
    value (nothing saturates). Group names and unit levels are shown in Chinese."""
    values = pivot_df.to_numpy(dtype=float) * 100
    fig, ax = _new_axes(
        ax, (max(6.0, 0.7 * pivot_df.shape[1] + 3), max(3.0, 0.45 * pivot_df.shape[0] + 2))
    )
    finite = np.abs(values[np.isfinite(values)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(
        range(pivot_df.shape[1]), [str(c) for c in pivot_df.columns], rotation=60, ha="right"
    )
    ax.set_yticks(range(pivot_df.shape[0]), [str(unit_level_name(i)) for i in pivot_df.index])
    _annotate_cells(ax, values, limit)
    group = GROUP_NAMES.get(str(pivot_df.index.name), pivot_df.index.name or "分组")
    ax.set_title(title or f"各{group}主题缺口（百分点）")
    fig.colorbar(image, ax=ax, label="缺口（百分点）")
    return _apply_font(fig)


def _annotate_cells(ax: Axes, values: np.ndarray, limit: float) -> None:
    """Each cell's value (one decimal), white on dark cells."""
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            color = "white" if abs(v) > 0.6 * limit else "black"
            ax.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize="x-small", color=color)


_TREND_LABELS = {
    "completions": "完成人次（按主题权重）",
    "enrolments": "报名人次（按主题权重）",
    "demand": "需求（活跃干部画像权重）",
    "completion_share": "占比",
    "demand_share": "占比",
}


def trend_lines(
    trends_df: pd.DataFrame,
    ax: Axes | None = None,
    *,
    topics: list[str] | None = None,
    value: str = "completions",
    compare: str | None = None,
    top: int = 6,
) -> Figure:
    """One line per topic label of ``value`` by quarter (default topics: the ``top`` by total).

    With ``compare`` (e.g. ``"demand_share"`` next to ``value="completion_share"``) each topic
    also gets a dashed line of that column in the same colour: need against uptake.
    """
    table = trends_df.pivot_table(index="quarter", columns="label", values=value, aggfunc="sum")
    if topics is None:
        topics = table.sum().sort_values(ascending=False).index[:top].tolist()
    topics = [t for t in topics if t in table.columns]  # a topic with no trend rows is skipped
    other = (
        trends_df.pivot_table(index="quarter", columns="label", values=compare, aggfunc="sum")
        if compare
        else None
    )
    fig, ax = _new_axes(ax, (10, 5))
    quarters = table.index.astype(str)
    for i, label in enumerate(topics):
        color = PALETTE[i % len(PALETTE)]
        ax.plot(quarters, table[label].to_numpy(), marker="o", color=color, label=str(label))
        if other is not None:
            ax.plot(quarters, other[label].to_numpy(), linestyle="--", color=color)
    ax.set_xlabel("季度")
    ax.set_ylabel(_TREND_LABELS.get(value, value))
    if value.endswith("_share"):
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title("主题学习趋势" + ("（实线：完成占比；虚线：需求占比）" if compare else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
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
    stats: pd.DataFrame,
    ax: Axes | None = None,
    *,
    hue: str = "category",
    label: str = "title",
    n_labels: int = 8,
) -> Figure:
    """Scatter of mean learner rating against enrolments, one colour and marker per ``hue``
    value (20 distinct colours before any repeats, with a different marker), the ``n_labels``
    most unusual courses (:func:`outliers`) named by their ``label`` column."""
    rated = stats.dropna(subset=["mean_rating"])
    fig, ax = _new_axes(ax, (10, 6))
    for i, (name, part) in enumerate(rated.groupby(hue)):
        ax.scatter(
            part["enrolments"],
            part["mean_rating"],
            s=18,
            alpha=0.75,
            color=PALETTE[i % len(PALETTE)],
            marker=MARKERS[i % len(MARKERS)],
            label=str(name),
        )
    if label in rated:
        middle = rated["enrolments"].median()
        for _, row in rated.loc[outliers(rated, n_labels)].iterrows():
            right = row["enrolments"] > middle  # label towards the inside of the axes
            ax.annotate(
                _short(str(row[label])),
                (row["enrolments"], row["mean_rating"]),
                xytext=(-4 if right else 4, 4),
                textcoords="offset points",
                ha="right" if right else "left",
                fontsize="x-small",
            )
    ax.set_xscale("symlog")
    ax.set_xlabel("报名人次")
    ax.set_ylabel("学员平均评分")
    ax.set_title("课程评分与报名人次（标注：最偏离常态的课程）")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="x-small")
    return _apply_font(fig)


def outliers(stats: pd.DataFrame, n: int, *, min_ratings: int = 5) -> pd.Index:
    """Index of the ``n`` courses farthest from the typical (rating, log enrolments), in robust
    z-scores (median and median absolute deviation). Only courses rated ``min_ratings`` times
    or more count (when a ``ratings`` column says so): one 5-star rating is not news. Courses
    at the same spot as one already chosen are skipped, so labels do not pile up."""
    rated = stats[stats["ratings"] >= min_ratings] if "ratings" in stats else stats
    rating = rated["mean_rating"].to_numpy(float)
    enrol = np.log1p(rated["enrolments"].to_numpy(float))
    distance = np.hypot(_robust_z(rating), _robust_z(enrol))
    chosen: list[int] = []
    spots: set[tuple[float, float]] = set()
    for i in np.argsort(-distance, kind="stable"):
        spot = (round(float(enrol[i]), 1), round(float(rating[i]), 1))
        if spot not in spots:
            chosen.append(int(i))
            spots.add(spot)
        if len(chosen) == n:
            break
    return rated.index[chosen]


def _robust_z(values: np.ndarray) -> np.ndarray:
    mad = float(np.median(np.abs(values - np.median(values)))) * 1.4826
    return (values - np.median(values)) / (mad or float(np.std(values)) or 1.0)


def _short(text: str, width: int = 12) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_png(fig: Figure, *, dpi: int = 120) -> bytes:
    """PNG bytes of a figure (for the Excel report)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()

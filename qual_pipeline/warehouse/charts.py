"""Pictures of the warehouse a person reads at a glance, as PNG files.

- `score_distribution.png`: one panel per qualification type (the 12 with the most scored
  workers), each on the axis of its own scale (`score_scales`): a binary type as two bars (0 and
  1), a percent type on 0-100 in bins of 5, a points type over its own range in at most 40 bins of
  whole scores. Types of different scales never share an axis.
- `over_time.png`: once the history holds changes after a type's first load (a later load saw
  a score, status or locale change, a new, gone or returning worker, or a push changed a score),
  the changes per UTC day by kind, one panel per type. Before that, on a first load, when MTurk
  granted each type to its workers (grant_time, per month): the only time series a first load
  can already show.

The data behind each chart comes from `score_panels` and `over_time` (plain values, testable); the
functions `render_*` only draw it. The load asset attaches both PNGs to its metadata and publishes
them in the chart store (`<data_dir>/charts/`, or PREFIX/charts/ on object storage).

matplotlib is imported on the first drawing only (commands that draw nothing, such as push or sql,
never import it), with its config and font cache in a temporary folder removed when the process
exits unless MPLCONFIGDIR names one: a run leaves nothing in HOME (~/.cache, ~/.config).
"""

from __future__ import annotations

import atexit
import bisect
import os
import shutil
import tempfile
import textwrap
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from qual_pipeline.warehouse.sql_files import sql_text

if TYPE_CHECKING:
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import MaxNLocator

MAX_TYPES = 12
SCORE_DISTRIBUTION_PNG = "score_distribution.png"
OVER_TIME_PNG = "over_time.png"
PANEL_WIDTH_IN, PANEL_HEIGHT_IN = 3.6, 3.0
DPI = 90
# Three panels a row: 3 x 3.6 in x 90 dpi = 972 px, shown whole (no scrolling) in the Dagster UI's
# metadata dialog, whose content is 1080 px wide in a 1400 px window (the browser test checks it).
MIN_FIGURE_WIDTH_IN = 7.0  # room for the figure's title above a single panel
SUPTITLE_IN = 0.6  # the figure's title, above the panels
TITLE_IN = 0.45  # a panel's title (two lines at 9 pt) above its axes
BOTTOM_IN = 0.5  # below a panel's axes: tick labels, axis label, a date axis' offset (the year)
LEFT_IN, RIGHT_IN = 0.6, 0.15  # beside a panel's axes: its axis label and tick labels; a margin
TITLE_CHARS = 32  # characters of a panel title per line at its font size
TITLE_Y = 1.0
"""A panel title's height (axes fraction) given, as matplotlib's own would place it (no tick
labels above the panels): left to matplotlib, it measured every panel's tick labels at each
drawing to check (a quarter of the charts' time)."""
KINDS = ("new", "returned", "score", "status", "locale", "gone")
"""Kinds of change, in the order they are stacked (as in worker_qualification_history.change)."""
KIND_COLOURS = dict(
    zip(KINDS, ("#59a14f", "#8cd17d", "#4e79a7", "#e15759", "#f28e2b", "#79706e"), strict=True)
)


@dataclass(frozen=True)
class ScorePanel:
    """The current scores of one type's granted workers: `workers[i]` hold `scores[i]`."""

    type_id: str
    name: str
    scale: str  # binary, percent or points (the score_scales view)
    scores: list[int]
    workers: list[int]

    def bins(self) -> list[float]:
        """Histogram bin edges on the scale's own axis."""
        if self.scale == "binary":
            return [-0.5, 0.5, 1.5]
        if self.scale == "percent":
            return [float(edge) for edge in range(0, 105, 5)]
        return integer_bins(self.scores)

    def histogram(self) -> list[int]:
        """Granted workers per bin of `bins()` (a bin holds its left edge; the last, both)."""
        edges = self.bins()
        counts = [0] * (len(edges) - 1)
        for score, workers in zip(self.scores, self.workers, strict=True):
            index = bisect.bisect_right(edges, score) - 1
            counts[min(max(index, 0), len(counts) - 1)] += workers
        return counts

    def median(self) -> int:
        """The score the middle worker holds (the lower middle one of an even count)."""
        middle, seen = (sum(self.workers) + 1) // 2, 0
        for score, workers in zip(self.scores, self.workers, strict=True):
            seen += workers
            if seen >= middle:
                return score
        raise ValueError("a score panel without workers has no median")

    def axis_label(self) -> str:
        if self.scale == "binary":
            return "score (binary: 0 or 1)"
        if self.scale == "percent":
            return "score (percent, 0-100)"
        return f"score (points, {min(self.scores)}-{max(self.scores)})"


@dataclass(frozen=True)
class TimePanel:
    """One type's counts over time: kind of count -> [(day or month, workers)]."""

    type_id: str
    name: str
    series: dict[str, list[tuple[date, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class OverTime:
    """What `over_time.png` shows: 'changes_per_day' once the history holds changes after a
    type's first load, else 'grants_per_month'."""

    shows: str
    title: str
    ylabel: str
    panels: list[TimePanel]


def integer_bins(scores: Sequence[int]) -> list[float]:
    """Bin edges between whole scores, each bin the same whole number of scores wide (at most
    40 bins over the range of `scores`)."""
    low, high = min(scores), max(scores)
    width = max(1, -(-(high - low + 1) // 40))
    return [low - 0.5 + i * width for i in range((high - low) // width + 2)]


def panel_title(name: str) -> str:
    """A type's name on at most two lines that fit a panel, shortened with '…' beyond that."""
    lines = textwrap.wrap(name, TITLE_CHARS) or [""]
    if len(lines) > 2:
        lines = [lines[0], textwrap.shorten(" ".join(lines[1:]), TITLE_CHARS, placeholder=" …")]
    return "\n".join(lines)


def _type_names(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "SELECT qualification_type_id, coalesce(any_value(name), qualification_type_id) "
        "FROM qualification_types GROUP BY qualification_type_id"
    ).fetchall()
    return {type_id: str(name) for type_id, name in rows}


def score_panels(con: duckdb.DuckDBPyConnection) -> tuple[list[ScorePanel], int]:
    """The score panels of the MAX_TYPES types with the most scored granted workers, and how
    many types hold scores in all."""
    scales = con.execute(
        "SELECT s.qualification_type_id, s.scale FROM score_scales AS s "
        "JOIN score_distribution AS d USING (qualification_type_id) "
        "WHERE d.integer_value IS NOT NULL GROUP BY ALL ORDER BY sum(d.workers) DESC, 1"
    ).fetchall()
    names = _type_names(con)
    panels = []
    for type_id, scale in scales[:MAX_TYPES]:
        rows = con.execute(
            "SELECT integer_value, workers FROM score_distribution "
            "WHERE qualification_type_id = ? AND integer_value IS NOT NULL ORDER BY 1",
            [type_id],
        ).fetchall()
        panels.append(
            ScorePanel(
                type_id=type_id,
                name=names.get(type_id, type_id),
                scale=scale,
                scores=[score for score, _ in rows],
                workers=[workers for _, workers in rows],
            )
        )
    return panels, len(scales)


def over_time(con: duckdb.DuckDBPyConnection, type_ids: Sequence[str]) -> OverTime:
    """What happened over time to these types: changes per day after the first load, when there
    are any; else grants per month."""
    names = _type_names(con)
    changes = [
        row
        for row in con.execute(sql_text("charts/changes_after_first_load")).fetchall()
        if row[0] in type_ids
    ]
    if changes:
        panels = _time_panels(type_ids, names, changes)
        return OverTime(
            shows="changes_per_day",
            title="Changes per UTC day after the first load, by kind",
            ylabel="workers changed",
            panels=panels,
        )
    grants = [
        (type_id, month, "granted", workers)
        for type_id, month, workers in con.execute(sql_text("charts/grants_per_month")).fetchall()
        if type_id in type_ids
    ]
    return OverTime(
        shows="grants_per_month",
        title="When MTurk granted each type to its current workers (per month)",
        ylabel="workers granted",
        panels=_time_panels(type_ids, names, grants),
    )


def _time_panels(
    type_ids: Sequence[str], names: dict[str, str], rows: Sequence[tuple[str, date, str, int]]
) -> list[TimePanel]:
    panels = {t: TimePanel(type_id=t, name=names.get(t, t)) for t in type_ids}
    for type_id, day, kind, workers in rows:
        panels[type_id].series.setdefault(kind, []).append((day, workers))
    return [panel for panel in panels.values() if panel.series]


def _grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    """A figure of `count` panels, three a row, laid out with fixed margins (inches): every
    panel reserves room for a two-line title above it, its tick labels and axis label below and
    beside it. A fixed layout costs nothing to compute, where matplotlib's constrained layout
    measured every text of the figure before drawing it (about half of a refresh's chart time)."""
    cols = min(3, max(count, 1))
    rows = -(-max(count, 1) // cols)
    width = max(PANEL_WIDTH_IN * cols, MIN_FIGURE_WIDTH_IN)
    height = PANEL_HEIGHT_IN * rows + SUPTITLE_IN
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    axes_width = (width - LEFT_IN - RIGHT_IN - (cols - 1) * (LEFT_IN + RIGHT_IN)) / cols
    axes_height = (
        height - SUPTITLE_IN - TITLE_IN - BOTTOM_IN - (rows - 1) * (TITLE_IN + BOTTOM_IN)
    ) / rows
    fig.subplots_adjust(
        left=LEFT_IN / width,
        right=1 - RIGHT_IN / width,
        top=1 - (SUPTITLE_IN + TITLE_IN) / height,
        bottom=BOTTOM_IN / height,
        wspace=(LEFT_IN + RIGHT_IN) / axes_width,
        hspace=(TITLE_IN + BOTTOM_IN) / axes_height,
    )
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_axis_off()
    return fig, flat


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def prepare() -> None:
    """Import matplotlib now, as the first drawing would (1.5-1.9 s of a refresh on this machine
    under load, its font cache built in the temporary folder): for a caller that has other work
    to overlap it with (`defs.assets.warehouse.prepare_charts`). Thread-safe."""
    with _IMPORTING:
        _import_matplotlib()


_IMPORTING = threading.Lock()


def _import_matplotlib() -> None:
    """Bind `plt`, `mdates` and `MaxNLocator` on first use: the Agg backend (no display), the
    config and font cache in a temporary folder removed at exit unless MPLCONFIGDIR is set."""
    global plt, mdates, MaxNLocator, PolyCollection
    if "plt" in globals():
        return
    if "MPLCONFIGDIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="qual_pipeline-matplotlib-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["MPLCONFIGDIR"] = folder
    import matplotlib

    matplotlib.use("Agg")  # chosen before pyplot loads
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.ticker import MaxNLocator


def render_score_distribution(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    """Draw `score_panels` into `path` (PNG); returns `path`."""
    prepare()
    panels, total = score_panels(con)
    fig, axes = _grid(len(panels))
    if not panels:
        _empty(axes[0], "No scored workers yet")
    for ax, panel in zip(axes, panels, strict=False):
        ax.stairs(panel.histogram(), panel.bins(), fill=True, color="#4e79a7")
        if panel.scale == "binary":
            ax.set_xticks([0, 1])
            ax.set_xlim(-0.8, 1.8)
        elif panel.scale == "percent":
            ax.set_xlim(0, 100)
        ax.set_title(panel_title(panel.name), fontsize=9, y=TITLE_Y)
        ax.set_xlabel(panel.axis_label(), fontsize=8)
        ax.set_ylabel("granted workers", fontsize=8)
        ax.tick_params(labelsize=7)
    shown = f" ({len(panels)} of {total} types)" if total > len(panels) else ""
    fig.suptitle(f"Score distribution per type, each on its own scale{shown}", fontsize=11)
    return _save(fig, path)


def render_over_time(
    con: duckdb.DuckDBPyConnection, path: Path, type_ids: Sequence[str] | None = None
) -> Path:
    """Draw `over_time` for `type_ids` (default: the types of the score chart, else every
    type) into `path` (PNG); returns `path`."""
    prepare()
    if type_ids is None:
        type_ids = [p.type_id for p in score_panels(con)[0]] or list(_type_names(con))[:MAX_TYPES]
    chart = over_time(con, type_ids)
    fig, axes = _grid(len(chart.panels))
    if not chart.panels:
        _empty(axes[0], "No workers yet")
    daily = chart.shows == "changes_per_day"
    width = 0.8 if daily else 27.0  # days: a bar covers its day, or its month
    for ax, panel in zip(axes, chart.panels, strict=False):
        ax.xaxis_date()
        totals: dict[date, int] = {}
        for kind in sorted(panel.series, key=lambda k: KINDS.index(k) if k in KINDS else 99):
            # A kind's bars as one collection of rectangles (stacked on the kinds before it),
            # not one artist per bar: a first load's grants per month are hundreds of bars, and
            # `bar` made and drew each alone (most of the charts' time).
            boxes = []
            for day, workers in panel.series[kind]:
                left, bottom = mdates.date2num(day), totals.get(day, 0)
                top = bottom + workers
                boxes.append([(left, bottom), (left + width, bottom), (left + width, top),
                              (left, top)])  # fmt: skip
                totals[day] = top
            bars = PolyCollection(
                boxes, facecolors=KIND_COLOURS.get(kind, "#4e79a7"), linewidths=0, label=kind
            )
            bars.sticky_edges.y.append(0)  # as `bar`'s: no margin below zero
            ax.add_collection(bars)
        ax.autoscale_view()
        first, last = min(totals), max(totals)
        if daily and (last - first).days <= 14:  # a few days: one tick per day or two
            ax.set_xlim(first - timedelta(days=1), last + timedelta(days=2))
            interval = max(1, ((last - first).days + 3) // 5)
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=interval))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
        else:
            locator = date_locator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel_title(panel.name), fontsize=9, y=TITLE_Y)
        ax.set_ylabel(chart.ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        if daily:
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(chart.title, fontsize=11)
    return _save(fig, path)


def date_locator() -> mdates.AutoDateLocator:
    """A date axis' ticks for a span of days to decades: 2 to 6 ticks, on whole days, months or
    years.

    matplotlib's AutoDateLocator starts a unit at 5 ticks by default (months from 5 months, years
    from 5 years) and steps months by at most 6; with at most 6 ticks, months reach only 30
    months, so a span of 31 months to 5 years had no step: it warned 'AutoDateLocator was unable
    to pick an appropriate interval' on the refresh's output and drew a tick every 6 months (up to
    9, beyond the 6 asked). From 3 ticks a unit, and a step of 12 months (every January), every
    span has one (checked from 15 days to 109 years: no warning, 2 to 6 ticks).
    """
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)
    locator.intervald[mdates.MONTHLY] = [1, 2, 3, 4, 6, 12]
    return locator


def render_charts(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[Path]:
    """Write score_distribution.png and over_time.png into out_dir; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        render_score_distribution(con, out_dir / SCORE_DISTRIBUTION_PNG),
        render_over_time(con, out_dir / OVER_TIME_PNG),
    ]

"""Pictures of the warehouse: score distributions per type and scores over time, as PNG images.

People read a histogram faster than a table; the load asset attaches these to its metadata and
publishes them in the chart store (`<data_dir>/charts/`, or PREFIX/charts/ on object storage).
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
from types import ModuleType
from typing import TYPE_CHECKING, BinaryIO

import duckdb

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

MAX_TYPES = 12
SCORE_DISTRIBUTION_PNG = "score_distribution.png"
SCORES_OVER_TIME_PNG = "scores_over_time.png"


def _pyplot() -> ModuleType:
    """matplotlib's pyplot on the Agg backend (no display), imported on first use only.

    matplotlib keeps a font cache and a config folder under HOME (~/.cache/matplotlib,
    ~/.config/matplotlib) on import. Unless MPLCONFIGDIR names a folder, they go to a temporary
    folder removed when the process exits: a run leaves nothing on its machine, and commands that
    draw no chart (push, sql) never import matplotlib at all.
    """
    if "MPLCONFIGDIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="qual_pipeline-matplotlib-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ["MPLCONFIGDIR"] = folder
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def _largest_types(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT qualification_type_id, coalesce(any_value(qualification_type_name), "
        "qualification_type_id) FROM score_distribution WHERE integer_value IS NOT NULL "
        f"GROUP BY qualification_type_id ORDER BY sum(workers) DESC, 1 LIMIT {MAX_TYPES}"
    ).fetchall()
    return [(type_id, str(name)) for type_id, name in rows]


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _grid(count: int) -> tuple[plt.Figure, list[plt.Axes]]:
    cols = min(3, max(count, 1))
    rows = -(-max(count, 1) // cols)
    fig, axes = _pyplot().subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.set_axis_off()
    return fig, flat


def _integer_bins(scores: list[int]) -> list[float]:
    """Bin edges between integers, each bin the same whole number of scores wide (at most 40)."""
    low, high = min(scores), max(scores)
    width = max(1, -(-(high - low + 1) // 40))
    return [low - 0.5 + i * width for i in range((high - low) // width + 2)]


def render_score_distribution(con: duckdb.DuckDBPyConnection, out: BinaryIO) -> None:
    types = _largest_types(con)
    fig, axes = _grid(len(types))
    if not types:
        _empty(axes[0], "No scored workers yet")
    for ax, (type_id, name) in zip(axes, types, strict=False):
        values = con.execute(
            "SELECT integer_value, workers FROM score_distribution "
            "WHERE qualification_type_id = ? AND integer_value IS NOT NULL ORDER BY 1",
            [type_id],
        ).fetchall()
        scores = [v for v, _ in values]
        counts = [c for _, c in values]
        ax.hist(scores, weights=counts, bins=_integer_bins(scores), color="#3b75af")
        ax.set_title(name[:40], fontsize=9)
        ax.set_xlabel("score", fontsize=8)
        ax.set_ylabel("workers", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Score distribution of granted workers per qualification type", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=90, format="png")
    _pyplot().close(fig)


def render_scores_over_time(con: duckdb.DuckDBPyConnection, out: BinaryIO) -> None:
    types = dict(_largest_types(con))
    rows = con.execute(
        "SELECT qualification_type_id, day, mean_score FROM daily_scores "
        "WHERE mean_score IS NOT NULL AND qualification_type_id IN (SELECT unnest(?)) "
        "ORDER BY qualification_type_id, day",
        [list(types)],
    ).fetchall()
    series: dict[str, tuple[list, list]] = {}
    for type_id, day, mean in rows:
        days, means = series.setdefault(type_id, ([], []))
        days.append(day)
        means.append(mean)
    fig, ax = _pyplot().subplots(figsize=(8, 4))
    for type_id, (days, means) in series.items():
        ax.plot(days, means, marker="." if len(days) < 60 else None, label=types[type_id][:30])
    if series:
        ax.set_ylabel("mean score of granted workers")
        ax.set_title("Scores over time (end of each UTC day)", fontsize=11)
        ax.legend(fontsize=7, loc="best")
        fig.autofmt_xdate()
    else:
        _empty(ax, "No score history yet")
    fig.tight_layout()
    fig.savefig(out, dpi=90, format="png")
    _pyplot().close(fig)


def render_charts(con: duckdb.DuckDBPyConnection) -> dict[str, bytes]:
    """score_distribution.png and scores_over_time.png, by file name, as PNG bytes."""
    charts: dict[str, bytes] = {}
    for name, render in (
        (SCORE_DISTRIBUTION_PNG, render_score_distribution),
        (SCORES_OVER_TIME_PNG, render_scores_over_time),
    ):
        buffer = io.BytesIO()
        render(con, buffer)
        charts[name] = buffer.getvalue()
    return charts

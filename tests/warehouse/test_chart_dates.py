"""The over-time chart's date axis of a warehouse of hundreds of types, over days to years: no
matplotlib warning reaches the user's output, and every panel's ticks are few and readable."""

from __future__ import annotations

import itertools
import logging
import warnings
from datetime import timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from support.stores import read_warehouse, stores_of
from warehouse_lake import GRANTED_AT, T1, worker, write_worker_qualifications

from qual_pipeline.warehouse import load_warehouse
from qual_pipeline.warehouse.charts import render_over_time

# The 12 charted types (the most workers) and how many days their grants span: from weeks to
# a decade, the 31 months to 5 years where matplotlib's AutoDateLocator found no step included.
SPANS = [20, 40, 120, 300, 400, 900, 1000, 1200, 1500, 1800, 2500, 4000]
CHARTED = [f"3CHART{n:0>24}" for n in range(len(SPANS))]
OTHERS = [f"3OTHER{n:0>24}" for n in range(300)]


def charted_workers(type_index: int, score: int = 10) -> list[dict]:
    """Six workers of a charted type, granted over its span (newest at GRANTED_AT)."""
    span = SPANS[type_index]
    return [
        worker(f"W{i}", score + i, grant_time=GRANTED_AT - timedelta(days=span * i // 5))
        for i in range(6)
    ]


def drawn(con: object, path: Path) -> plt.Figure:
    """The figure render_over_time draws (kept open to inspect), with what it warned: a
    UserWarning, or a warning on matplotlib's logger (e.g. 'Locator attempting to generate ...
    ticks')."""
    figures: list[plt.Figure] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt, "close", figures.append)
        render_over_time(con, path)  # type: ignore[arg-type]
    (figure,) = figures
    return figure


def assert_readable_date_axes(figure: plt.Figure, chart: str) -> None:
    """Every panel's date axis has 2 to 7 ticks, their labels side by side without overlapping."""
    renderer = figure.canvas.get_renderer()
    panels = [ax for ax in figure.axes if ax.axison]
    assert len(panels) == len(CHARTED), chart
    for ax in panels:
        low, high = ax.get_xlim()
        labels = [
            label
            for tick, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)
            if low <= tick <= high and label.get_text()
        ]
        title = ax.get_title().replace("\n", " ")
        assert 2 <= len(labels) <= 7, (chart, title, [label.get_text() for label in labels])
        boxes = sorted((label.get_window_extent(renderer) for label in labels), key=lambda b: b.x0)
        for left, right in itertools.pairwise(boxes):
            assert left.x1 <= right.x0, (chart, title, [label.get_text() for label in labels])


@pytest.mark.slow(6)
def test_date_axes_of_300_types_over_days_to_years_warn_nothing_and_stay_readable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    for index, type_id in enumerate(CHARTED):
        write_worker_qualifications(data_dir, type_id, charted_workers(index), T1)
    for type_id in OTHERS:
        write_worker_qualifications(data_dir, type_id, [worker("W0"), worker("W1")], T1)
    load_warehouse(stores_of(data_dir))
    charts: dict[str, plt.Figure] = {}
    caplog.set_level(logging.WARNING, logger="matplotlib")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        con = read_warehouse(data_dir)
        try:
            charts["grants per month"] = drawn(con, tmp_path / "grants.png")
        finally:
            con.close()
        # Later loads 100, 220 and 1,000 days after the first: each charted type's scores change
        # at two of them, so its changes per day span 120, 780 or 900 days.
        later = {100: (0, 1), 220: (0, 2), 1000: (1, 2)}
        for days, groups in later.items():
            for index, type_id in enumerate(CHARTED):
                if index % 3 in groups:
                    rows = charted_workers(index, score=10 + days)
                    write_worker_qualifications(data_dir, type_id, rows, T1 + timedelta(days=days))
            load_warehouse(stores_of(data_dir))
        con = read_warehouse(data_dir)
        try:
            charts["changes per day"] = drawn(con, tmp_path / "changes.png")
        finally:
            con.close()
    # Before: 'AutoDateLocator was unable to pick an appropriate interval for this date range'
    # for the spans of 31 months to 5 years, on the refresh's output.
    # ResourceWarnings are left out: the garbage collector may finalise another test's object in
    # this block ("Implicitly cleaning up <TemporaryDirectory ...>" once in make test).
    assert [str(w.message) for w in caught if not issubclass(w.category, ResourceWarning)] == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("matplotlib")] == []
    try:
        for chart, figure in charts.items():
            assert_readable_date_axes(figure, chart)
    finally:
        for figure in charts.values():
            plt.close(figure)

"""The analysis views answer the scenario's questions; the charts render as PNG files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from support.stores import read_warehouse, stores_of
from warehouse_lake import (
    OTHER,
    SKILL,
    T1,
    T2,
    T3,
    load_three_refreshes,
    worker,
    write_qualification_types,
    write_worker_qualifications,
)

from qual_pipeline.warehouse import load_warehouse, render_charts
from qual_pipeline.warehouse.charts import (
    TITLE_CHARS,
    over_time,
    panel_title,
    render_over_time,
    render_score_distribution,
    score_panels,
)
from qual_pipeline.warehouse.sql_files import sql_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def query(data_dir: Path, sql: str) -> list[tuple]:
    con = read_warehouse(data_dir)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_views_answer_the_scenario(data_dir: Path) -> None:
    write_qualification_types(data_dir, [{"qualification_type_id": SKILL, "name": "Skill"}], T3)
    load_three_refreshes(data_dir)

    assert query(
        data_dir,
        "SELECT qualification_type_name, integer_value, workers, share FROM score_distribution "
        "WHERE qualification_type_id = '3SKILL0000000000000000000000' ORDER BY integer_value",
    ) == [
        ("Skill", 15, 1, 0.25),
        ("Skill", 20, 1, 0.25),
        ("Skill", 40, 1, 0.25),
        ("Skill", 50, 1, 0.25),
    ]

    assert query(
        data_dir,
        "SELECT day, kind, workers FROM changes_per_day "
        f"WHERE qualification_type_id = '{SKILL}' ORDER BY day, kind",
    ) == [
        (date(2025, 3, 1), "new", 4),
        (date(2025, 3, 2), "score", 1),
        (date(2025, 3, 2), "status", 1),
        (date(2025, 3, 3), "gone", 1),
        (date(2025, 3, 3), "locale", 1),
        (date(2025, 3, 3), "new", 1),
        (date(2025, 3, 3), "status", 1),
    ]

    assert query(
        data_dir,
        "SELECT worker_id, revoked_at, integer_value_before, regranted_at FROM revocations",
    ) == [("B", T2, 20, T3)]

    assert query(
        data_dir,
        "SELECT change, previous_integer_value, integer_value, previous_status, status "
        "FROM worker_qualification_changes WHERE worker_id = 'C' ORDER BY changed_at",
    ) == [("new", None, 30, None, "Granted"), ("gone", 30, None, "Granted", None)]

    assert query(
        data_dir,
        "SELECT qualification_type_id, country, subdivision, workers FROM workers_by_location "
        "ORDER BY ALL",
    ) == [(OTHER, None, None, 1), (SKILL, "US", "US-WA", 1), (SKILL, None, None, 3)]

    # End of each day: 1 Mar A10 B20 C30 D40; 2 Mar A15 C30 D40 (B revoked); 3 Mar A15 B20 D40 E50.
    assert query(
        data_dir,
        "SELECT day, granted_workers, scored_workers, mean_score FROM daily_scores "
        f"WHERE qualification_type_id = '{SKILL}' AND day <= DATE '2025-03-04' ORDER BY day",
    ) == [
        (date(2025, 3, 1), 4, 4, 25.0),
        (date(2025, 3, 2), 3, 3, 85 / 3),
        (date(2025, 3, 3), 4, 4, 31.25),
        (date(2025, 3, 4), 4, 4, 31.25),
    ]
    before = datetime.now(UTC).date()
    ((last_day,),) = query(
        data_dir, f"SELECT max(day) FROM daily_scores WHERE qualification_type_id = '{SKILL}'"
    )
    assert last_day in {before, datetime.now(UTC).date()}  # the series runs up to today


def test_charts_render_as_png(data_dir: Path, tmp_path: Path) -> None:
    load_three_refreshes(data_dir)
    con = read_warehouse(data_dir)
    paths = render_charts(con, tmp_path / "charts")
    con.close()
    assert [p.name for p in paths] == ["score_distribution.png", "over_time.png"]
    for path in paths:
        assert path.read_bytes().startswith(PNG_SIGNATURE)
        assert path.stat().st_size > 5_000  # axes, bars and labels, not an empty canvas


def test_charts_of_an_empty_warehouse_say_so(data_dir: Path, tmp_path: Path) -> None:
    load_warehouse(stores_of(data_dir))
    con = read_warehouse(data_dir)
    paths = render_charts(con, tmp_path / "charts")
    con.close()
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in paths)


BINARY, PERCENT, POINTS = (f"3{kind.upper():0<29}" for kind in ("binary", "percent", "points"))
LONG_NAME = "Image labelling for the autumn 2025 wildlife survey, second round (experts only)"


def three_scales(data_dir: Path) -> None:
    """A binary type (0/1), a percent type (0-100) and a points type (250-900), loaded once;
    grants in January and March 2024."""
    write_qualification_types(
        data_dir,
        [
            {"qualification_type_id": BINARY, "name": "Approved for audio"},
            {"qualification_type_id": PERCENT, "name": LONG_NAME},
            {"qualification_type_id": POINTS, "name": "Chess rating"},
        ],
        T1,
    )
    january, march = datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)
    write_worker_qualifications(
        data_dir,
        BINARY,
        [worker(f"B{i}", i % 2, grant_time=january) for i in range(6)],
        T1,
    )
    write_worker_qualifications(
        data_dir,
        PERCENT,
        [worker(f"P{i}", 40 + 10 * i, grant_time=march) for i in range(7)],
        T1,
    )
    write_worker_qualifications(
        data_dir,
        POINTS,
        [worker(f"Q{i}", 250 + 130 * i, grant_time=january if i else march) for i in range(6)],
        T1,
    )
    load_warehouse(stores_of(data_dir))


def test_each_scale_gets_its_own_axis(data_dir: Path) -> None:
    three_scales(data_dir)
    con = read_warehouse(data_dir)
    try:
        panels, total = score_panels(con)
        scales = con.execute("SELECT * FROM score_scales ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert total == 3
    assert scales == [
        (BINARY, "binary", 0, 1, 0, 6),
        (PERCENT, "percent", 40, 100, 70, 7),
        (POINTS, "points", 250, 900, 575, 6),
    ]
    by_type = {p.type_id: p for p in panels}
    assert [by_type[t].scale for t in (BINARY, PERCENT, POINTS)] == ["binary", "percent", "points"]
    assert by_type[BINARY].bins() == [-0.5, 0.5, 1.5]
    assert by_type[BINARY].histogram() == [3, 3]
    assert (by_type[PERCENT].bins()[0], by_type[PERCENT].bins()[-1]) == (0, 100)
    assert sum(by_type[PERCENT].histogram()) == 7
    assert by_type[PERCENT].histogram()[-1] == 1  # 100 lands in the last bin, not beyond
    points = by_type[POINTS].bins()
    assert points[0] < 250 < points[1] and points[-2] < 900 < points[-1]  # its own range
    assert by_type[POINTS].axis_label() == "score (points, 250-900)"
    assert by_type[POINTS].median() == 510


def test_over_time_shows_grants_on_a_first_load_then_changes_per_day(data_dir: Path) -> None:
    three_scales(data_dir)
    con = read_warehouse(data_dir)
    try:
        first = over_time(con, [BINARY, PERCENT, POINTS])
    finally:
        con.close()
    assert first.shows == "grants_per_month"
    months = {p.type_id: p.series["granted"] for p in first.panels}
    assert months[BINARY] == [(date(2024, 1, 1), 6)]
    assert months[POINTS] == [(date(2024, 1, 1), 5), (date(2024, 3, 1), 1)]

    # A second load a day later: one score changed, one worker new. The first load's 3 x 6-7
    # first sightings are where the history starts, not changes.
    write_worker_qualifications(
        data_dir,
        PERCENT,
        [worker(f"P{i}", 45 if i == 0 else 40 + 10 * i) for i in range(7)] + [worker("P9", 90)],
        T2,
    )
    load_warehouse(stores_of(data_dir))
    con = read_warehouse(data_dir)
    try:
        later = over_time(con, [BINARY, PERCENT, POINTS])
    finally:
        con.close()
    assert later.shows == "changes_per_day"
    assert [(p.type_id, p.series) for p in later.panels] == [
        (PERCENT, {"new": [(T2.date(), 1)], "score": [(T2.date(), 1)]})
    ]


def test_changes_over_time_count_the_events_of_worker_qualification_changes(
    data_dir: Path,
) -> None:
    """The chart's count reads the history directly (no window over it), yet counts exactly the
    events of the view worker_qualification_changes after each type's first load: a score, a
    revocation, a grant again, a move, a new worker, and a worker gone (at its version's end)."""
    load_three_refreshes(data_dir)
    from_view = query(
        data_dir,
        "WITH first_load AS (SELECT qualification_type_id, min(valid_from) AS loaded_at "
        "FROM worker_qualification_history GROUP BY ALL) "
        "SELECT c.qualification_type_id, CAST(c.changed_at AT TIME ZONE 'UTC' AS DATE), kind, "
        "count(*) FROM worker_qualification_changes AS c JOIN first_load USING "
        "(qualification_type_id) CROSS JOIN unnest(string_split(c.change, ',')) AS k(kind) "
        "WHERE c.changed_at > loaded_at GROUP BY ALL ORDER BY ALL",
    )
    kinds = {kind for _, _, kind, _ in from_view}
    assert {"score", "status", "locale", "new", "gone"} <= kinds
    con = read_warehouse(data_dir)
    try:
        charted = con.execute(sql_text("charts/changes_after_first_load")).fetchall()
    finally:
        con.close()
    assert charted == from_view


def test_chart_titles_fit_their_figure(data_dir: Path, tmp_path: Path) -> None:
    """Every title and label lies inside the picture: a single-type chart included, and a long
    type name wrapped on at most two lines."""
    three_scales(data_dir)
    con = read_warehouse(data_dir)
    try:
        for type_ids in ([PERCENT], [BINARY, PERCENT, POINTS]):
            for render in (render_score_distribution, render_over_time):
                figures: list[plt.Figure] = []
                with pytest.MonkeyPatch.context() as patch:
                    patch.setattr(plt, "close", figures.append)  # keep the figure to inspect
                    if render is render_over_time:
                        render(con, tmp_path / "chart.png", type_ids)
                    else:
                        render(con, tmp_path / "chart.png")
                (figure,) = figures
                assert_text_inside(figure)
                plt.close(figure)
    finally:
        con.close()
    assert panel_title(LONG_NAME).count("\n") == 1
    assert all(len(line) <= TITLE_CHARS for line in panel_title(LONG_NAME).splitlines())
    three_lines = LONG_NAME + " and some more words that need a third line"
    assert panel_title(three_lines).count("\n") == 1 and panel_title(three_lines).endswith(" …")


def assert_text_inside(figure: plt.Figure) -> None:
    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    texts = [figure._suptitle] if figure._suptitle is not None else []
    for ax in figure.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    for text in texts:
        if not text.get_text():
            continue
        extent = text.get_window_extent(renderer)
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()


def test_days_are_utc_days_whatever_the_session_time_zone(data_dir: Path) -> None:
    load_three_refreshes(data_dir)  # changes at 06:00 UTC: the previous day in Los Angeles
    con = read_warehouse(data_dir)
    try:
        con.execute("SET TimeZone = 'America/Los_Angeles'")
        days = con.execute("SELECT DISTINCT day FROM changes_per_day ORDER BY day").fetchall()
        revoked = con.execute("SELECT revoked_at FROM revocations").fetchall()
    finally:
        con.close()
    assert days == [(date(2025, 3, 1),), (date(2025, 3, 2),), (date(2025, 3, 3),)]
    assert revoked == [(T2,)]


def test_readme_examples_run_sorted(data_dir: Path) -> None:
    """Every query under the README's "Examples" runs on a loaded warehouse, each with an ORDER
    BY, and gives the same rows in the same order twice (a type id and a worker id of the data
    stand in for the README's placeholders)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("### Examples\n\n```sql\n", 1)[1].split("```", 1)[0]
    statements = [s.strip() for s in block.split(";") if s.strip()]
    assert len(statements) >= 7
    write_qualification_types(data_dir, [{"qualification_type_id": SKILL, "name": "Skill"}], T3)
    load_three_refreshes(data_dir)
    ((some_worker,),) = query(
        data_dir,
        f"SELECT min(worker_id) FROM worker_qualifications WHERE qualification_type_id = '{SKILL}'",
    )
    answered = 0
    for statement in statements:
        sql = statement.replace("'3ABC...'", f"'{SKILL}'").replace("A1B2C3D4E5F6G7", some_worker)
        assert "ORDER BY" in sql, f"unsorted example:\n{statement}"
        rows = query(data_dir, sql)
        assert rows == query(data_dir, sql), sql
        answered += bool(rows)
    # Who holds which score, a worker's history, where workers are: the placeholders found data
    # (the others ask about recent days, and the fixture's loads are dated 2025).
    assert answered >= 3

"""The analysis views answer the scenario's questions; the charts render as PNG files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from support.stores import read_warehouse, stores_of
from warehouse_lake import (
    OTHER,
    SKILL,
    T2,
    T3,
    load_three_refreshes,
    write_qualification_types,
)

from qual_pipeline.warehouse import load_warehouse, render_charts

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
    charts = render_charts(con)
    con.close()
    assert list(charts) == ["score_distribution.png", "scores_over_time.png"]
    for png in charts.values():
        assert png.startswith(PNG_SIGNATURE)
        assert len(png) > 5_000  # axes, bars and labels, not an empty canvas


def test_charts_of_an_empty_warehouse_say_so(data_dir: Path, tmp_path: Path) -> None:
    load_warehouse(stores_of(data_dir))
    con = read_warehouse(data_dir)
    charts = render_charts(con)
    con.close()
    assert all(png.startswith(PNG_SIGNATURE) for png in charts.values())


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

"""``telcotwin sql``: SQL over a run directory, the state in twin.sqlite and the time series in
Parquet, answering what the query API answers."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import single_cell
from twin.cli import main
from twin.notebook import open_run
from twin.run import run_scenario

pytest.importorskip("duckdb")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    # one cell and link for 3 hours, hourly PM: 3 cell_pm and 3 link_pm rows, 1000 usage rows
    out = tmp_path_factory.mktemp("sql") / "run"
    run_scenario(single_cell(duration="3h", seed=7, sessions_per_hour=2.0), out)
    return out


def _sql(capsys, *args):
    status = main(["sql", *map(str, args)])
    captured = capsys.readouterr()
    return status, list(csv.reader(io.StringIO(captured.out))), captured.err


def test_the_time_series_read_by_sql_as_the_query_api_reads_them(small_run, capsys):
    status, rows, _ = _sql(
        capsys,
        small_run,
        "select cell_id, start_s, voice_offered, voice_blocked from cell_pm order by start_s",
    )
    assert status == 0
    with open_run(small_run) as run:
        pm = run.table("cell_pm")
    assert rows[0] == ["cell_id", "start_s", "voice_offered", "voice_blocked"]
    assert rows[1:] == [
        [r.cell_id, repr(r.start_s), str(r.voice_offered), str(r.voice_blocked)]
        for r in pm.itertuples()
    ]
    assert [r[0] for r in rows[1:]] == ["t1/1"] * 3


def test_sql_joins_the_time_series_to_the_state(small_run, capsys):
    # usage joined to subscribers (both Parquet files, the cell id joined back from twin.sqlite):
    # every one of the 1000 subscribers is on t1/1
    status, rows, _ = _sql(
        capsys,
        small_run,
        "select s.cell_id, count(*), min(u.status) from usage u "
        "join subscribers s on s.subscriber = u.subscriber group by s.cell_id",
    )
    assert status == 0
    assert rows[1:] == [["t1/1", "1000", "received"]]


def test_a_bad_query_is_one_line_of_bad_input(small_run, capsys):
    status, rows, err = _sql(capsys, small_run, "select * from no_such_table")
    assert status == 2 and rows == []
    assert err.startswith("QUERY: Catalog Error: Table with name no_such_table does not exist")
    assert err.count("\n") == 1


def test_sql_on_a_folder_that_is_no_run_is_bad_input(tmp_path, capsys):
    status, _, err = _sql(capsys, tmp_path, "select 1")
    assert status == 2
    assert err == f"{tmp_path}: not a run directory (no run.json): give one `telcotwin run` made\n"

"""The store of the bulk time series (twin.bulk, twin.timeseries): Parquet files in a run
directory, integer-keyed rows in a --store database, the same information as before either way.

The fixtures tests/data/store-digest-*.json were made with the store as it was before (every
table in twin.sqlite, ids and status as text on every row; tests/data/README.md): a run of the
same scenario must give the same digest of every table through the public query API
(``Run.table``), whatever now holds the rows.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from sim.scenario import parse_scenario
from tests.conftest import DATA, EXAMPLE, single_cell
from tests.store_digest import table_digest
from twin.bulk import ROW_GROUP_ROWS, ParquetSeries, SqlSeries, run_key
from twin.notebook import open_run
from twin.readback import StoredRun
from twin.run import run_scenario
from twin.store import SERIES_TABLES, open_engine
from twin.timeseries import columns_of, read_columns, read_frame


def _metro():
    return parse_scenario(yaml.safe_load(EXAMPLE.read_text()), "metro.yaml")


def _single():
    # as tests/data/README.md says the single-cell fixture was made
    return single_cell(duration="3h", seed=7, sessions_per_hour=2.0)


SCENARIOS = {"metro": _metro, "single-cell": _single}


def _assert_same_digests(out: Path, fixture: str, store_url: str | None = None) -> None:
    before = json.loads((DATA / f"store-digest-{fixture}.json").read_text())
    with open_run(out, store_url) as run:
        for name, digest in before.items():
            assert table_digest(run.table(name), digest["columns"]) == digest, name


@pytest.mark.parametrize("fixture", sorted(SCENARIOS))
def test_a_run_directory_holds_the_same_tables_as_the_store_before(tmp_path, fixture):
    out = tmp_path / "run"
    run_scenario(SCENARIOS[fixture](), out)
    assert (out / "timeseries" / "cell_pm.parquet").is_file()
    _assert_same_digests(out, fixture)


@pytest.mark.parametrize("fixture", sorted(SCENARIOS))
def test_a_store_url_holds_the_same_tables_as_the_store_before(tmp_path, store_url, fixture):
    out = tmp_path / "run"
    run_scenario(SCENARIOS[fixture](), out, store_url=store_url)
    assert not (out / "timeseries").exists() and not (out / "twin.sqlite").exists()
    _assert_same_digests(out, fixture, store_url)


def test_a_store_url_run_and_a_run_directory_read_back_identically(tmp_path, store_url):
    directory, shared = tmp_path / "dir", tmp_path / "shared"
    run_scenario(_metro(), directory)
    run_scenario(_metro(), shared, store_url=store_url)
    with open_run(directory) as a, open_run(shared, store_url) as b:
        for table in ("cell_pm", "link_pm", "usage"):
            left, right = a.table(table), b.table(table)
            assert list(left.columns) == list(right.columns) == columns_of(table)
            assert len(left) == len(right) > 0
            for column in left.columns:  # same values, same order, same kinds of values
                assert left[column].tolist() == right[column].tolist(), (table, column)
        # a filter by id reads one cell's rows from either store
        where = {"cell_id": "t-n3/1"}
        one = read_frame(a._stored, "cell_pm", ["start_s", "voice_offered"], where)
        other = read_frame(b._stored, "cell_pm", ["start_s", "voice_offered"], where)
        assert len(one) == 192 and one.equals(other)


def test_the_bulk_rows_hold_no_text(tmp_path):
    out = tmp_path / "run"
    run_scenario(_metro(), out)
    for table in ("cell_pm", "link_pm", "usage"):
        schema = pq.read_schema(out / "timeseries" / f"{table}.parquet")
        texts = [f.name for f in schema if str(f.type) in ("string", "large_string")]
        assert texts == [], table
    # usage's one text, its status, is dictionary-encoded: three values, not one per row
    usage = pq.ParquetFile(out / "timeseries" / "usage.parquet")
    status = usage.schema_arrow.field("status").type
    assert (str(status.index_type), str(status.value_type)) == ("int8", "string")
    assert usage.metadata.num_rows == 12300  # 6150 subscribers x 2 daily usage periods
    # the per-subscriber tables: texts dictionary-encoded, one row per subscriber (6,000 at the
    # start and the 150 ordered: tests/test_store.py) and per subscription billed (the one
    # cycle bills each of the 6,150 once: tests/test_bss_end_to_end.py)
    for table, rows in (("subscribers", 6150), ("invoice_charges", 6150)):
        ledger = pq.ParquetFile(out / "timeseries" / f"{table}.parquet")
        texts = [f.name for f in ledger.schema_arrow if str(f.type) == "string"]
        assert (texts, ledger.metadata.num_rows) == ([], rows), table
    # and twin.sqlite no longer has them
    with sqlite3.connect(out / "twin.sqlite") as db:
        names = {n for (n,) in db.execute("select name from sqlite_master where type='table'")}
    assert not names & {"subscribers", "invoice_charges", "cell_pm", "link_pm", "usage"}


def test_usage_rated_and_rejected_rows_read_back_the_same_from_parquet_sqlite_and_postgresql(
    tmp_path, store_url
):
    # five usage records of one period: subscribers 1 and 4 rejected (no subscription), the
    # others rated; the rating columns of a rejected record are empty (NULL)
    rated = np.array([True, False, True, True, False])
    columns = {
        "start_s": np.zeros(5),
        "end_s": np.full(5, 86400.0),
        "subscriber": np.arange(5, dtype=np.int64),
        "voice_seconds": np.array([61.0, 5.0, 0.0, 120.5, 1.0]),
        "data_mb": np.array([0.5, 0.0, 10.0, 2.25, 3.0]),
        "status": np.where(rated, 1, 2).astype(np.int8),
        "cycle": np.zeros(5, dtype=np.int64),
        "subscription_number": np.array([1, 0, 3, 4, 0], dtype=np.int64),
        "billed_minutes": np.array([2, 0, 0, 3, 0], dtype=np.int64),
        "minutes_over": np.array([0, 0, 0, 1, 0], dtype=np.int64),
        "voice_nano": np.array([0, 0, 0, 90_000_000, 0], dtype=np.int64),
        "billed_mb": np.array([1, 0, 10, 3, 0], dtype=np.int64),
        "mb_over": np.zeros(5, dtype=np.int64),
        "data_nano": np.zeros(5, dtype=np.int64),
    }
    run_id = "0123456789abcdef0123456789abcdef"
    parquet = ParquetSeries(tmp_path)
    parquet.write("usage", columns, rated)
    parquet.close()
    engine = open_engine(store_url)
    try:
        with engine.begin() as connection:
            SqlSeries(connection, SERIES_TABLES, run_key(run_id)).write("usage", columns, rated)
        runs = [
            StoredRun(tmp_path, engine, run_id, "", 0.0, tmp_path / "timeseries"),
            StoredRun(tmp_path, engine, run_id, "", 0.0, None),
        ]
        read = [read_columns(run, "usage") for run in runs]
        rejected = [read_columns(run, "usage", where={"status": "rejected"}) for run in runs]
    finally:
        engine.dispose()
    for got in read:
        assert got["status"].tolist() == ["rated", "rejected", "rated", "rated", "rejected"]
        assert got["subscription"].tolist() == ["SUB-1", None, "SUB-3", "SUB-4", None]
        assert np.isnan(got["billed_minutes"][[1, 4]]).all()
        assert got["billed_minutes"][[0, 2, 3]].tolist() == [2, 0, 3]
        assert got["voice_nano"][3] == 90_000_000
        assert got["voice_seconds"].tolist() == [61.0, 5.0, 0.0, 120.5, 1.0]
    for got in rejected:
        assert got["subscriber"].tolist() == [1, 4]


def test_a_run_directory_of_an_older_telcotwin_is_refused_in_one_line(tmp_path, capsys):
    from twin.cli import main

    out = tmp_path / "out"
    run_scenario(_single(), out)
    assert main(["kpis", str(out)]) == 0
    # before the store kept runs.run_key (the time series in twin.sqlite's tables)
    with sqlite3.connect(out / "twin.sqlite") as connection:
        connection.execute("ALTER TABLE runs DROP COLUMN run_key")
    capsys.readouterr()
    assert main(["kpis", str(out)]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith(
            "written by an older telcotwin, before timeseries/ (docs/store.md): "
            "run its scenario again to read it"
        )
    )
    # before subscribers moved to Parquet
    (out / "timeseries" / "subscribers.parquet").unlink()
    assert main(["sla", str(out)]) == 2
    assert "written by an older telcotwin" in capsys.readouterr().err


def test_parquet_row_groups_are_large_and_bounded(tmp_path):
    # three slices of 300,000 rows: one row group of 600,000 once past ROW_GROUP_ROWS
    # (524,288), the rest when closed
    series = ParquetSeries(tmp_path)
    n = 300_000
    for interval in range(3):
        series.write(
            "link_pm",
            {
                "start_s": np.full(n, 900.0 * interval),
                "end_s": np.full(n, 900.0 * (interval + 1)),
                "link_index": np.arange(n, dtype=np.int32),
                "demand_mb": np.ones(n),
                "carried_mb": np.ones(n),
                "utilization": np.full(n, 0.5),
                "seconds_in_service": np.full(n, 900.0),
            },
        )
    series.close()
    meta = pq.ParquetFile(tmp_path / "timeseries" / "link_pm.parquet").metadata
    assert ROW_GROUP_ROWS == 524_288
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [600_000, 300_000]


def test_a_failed_run_leaves_no_parquet_files(tmp_path, monkeypatch):
    import time

    import twin.bulk
    from sim.engine import Simulation

    # a row group of one row: every PM batch is written at once, so the Parquet files exist
    # (in the folder built aside) before the run fails
    monkeypatch.setattr(twin.bulk, "ROW_GROUP_ROWS", 1)
    seen: list[Path] = []

    def explode(self):
        deadline = time.monotonic() + 10.0  # the store writes on its own thread
        while not seen and time.monotonic() < deadline:
            seen.extend(tmp_path.rglob("*.parquet"))
            time.sleep(0.01)
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Simulation, "_close_usage", explode)
    with pytest.raises(RuntimeError):
        run_scenario(_single(), tmp_path / "out")
    assert seen, "no Parquet file was written before the failure: the test tests nothing"
    assert list(tmp_path.iterdir()) == []


def test_a_count_too_large_for_its_32_bit_column_is_refused_not_wrapped():
    import pyarrow as pa

    from twin.bulk import arrow_array

    assert arrow_array(np.array([0, 2**31 - 1]), pa.int32()).to_pylist() == [0, 2**31 - 1]
    with pytest.raises(OverflowError, match="does not fit int32"):
        arrow_array(np.array([2**31]), pa.int32())  # would have been stored as -2**31

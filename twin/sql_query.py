"""``telcotwin sql RUN_DIR "QUERY"``: SQL over a whole run directory, state and time series in
one place, on DuckDB (the ``sql`` extra: ``pip install -e '.[sql]'``).

A run directory keeps the twin's state in ``twin.sqlite`` and the bulk time series in Parquet
files (docs/store.md); DuckDB reads the Parquet files where they are and takes the state
tables the query names from ``twin.sqlite`` through Python (its own SQLite extension would be
a download). The time series appear as they always did, with the ids joined back: ``cell_pm``
and ``link_pm`` with ``cell_id`` / ``link_id``, ``usage`` with ``status`` and ``subscription``;
their stored layout is ``cell_pm_stored`` etc. The answer is CSV on stdout.

A run written to ``--store`` has everything in that database already: query it with its own
SQL client.
"""

from __future__ import annotations

import argparse
import csv
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

from sim.scenario import Problem, ScenarioError
from twin.bulk import BULK_TABLES, LEDGER_SCHEMAS, LEDGER_TABLES, SCHEMAS, series_path
from twin.store import SERIES_TABLES, metadata

__all__ = ["add_arguments", "command", "connect"]

# the time series as readers know them: ids and texts joined back onto the stored numbers
_VIEWS = {
    "cell_pm": "SELECT s.start_s, s.end_s, c.cell_id, {rest} FROM cell_pm_stored s "
    "JOIN cells c ON c.cell_index = s.cell_index",
    "link_pm": "SELECT s.start_s, s.end_s, l.link_id, {rest} FROM link_pm_stored s "
    "JOIN links l ON l.link_index = s.link_index",
    "usage": "SELECT {usage} FROM usage_stored s",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory written by `telcotwin run`")
    parser.add_argument("query", help='one SQL statement, e.g. "select count(*) from cell_pm"')


def command(args: argparse.Namespace) -> int:
    connection = connect(args.run_dir, args.query)
    try:
        import duckdb

        try:
            result = connection.execute(args.query)
        except duckdb.Error as error:
            first = str(error).splitlines()[0]
            raise ScenarioError([Problem("QUERY", "", first)]) from None
        out = csv.writer(sys.stdout, lineterminator="\n")
        if result.description is not None:
            out.writerow([d[0] for d in result.description])
            while rows := result.fetchmany(10_000):
                out.writerows(rows)
    finally:
        connection.close()
    return 0


def connect(run_dir: Path, query: str = "") -> Any:
    """A DuckDB connection (in memory) with the run's tables: the time series as views over
    its Parquet files, and the state tables ``query`` names (all when it is empty)."""
    shown = str(run_dir)
    if not (run_dir / "run.json").is_file():
        raise ScenarioError(
            [Problem(shown, "", "not a run directory (no run.json): give one `telcotwin run` made")]
        )
    if not series_path(run_dir, "cell_pm").is_file():
        raise ScenarioError(
            [Problem(shown, "", "the run wrote to --store: query that database with its own SQL")]
        )
    try:
        import duckdb
    except ImportError:
        raise ScenarioError(
            [Problem("telcotwin sql", "", "needs DuckDB: pip install -e '.[sql]'")]
        ) from None
    connection = duckdb.connect()
    words = {w.lower() for w in re.findall(r"[A-Za-z_]+", query)}
    in_files = {*SERIES_TABLES, *LEDGER_TABLES}
    wanted = {t for t in metadata.tables if t not in in_files and (not query or t in words)}
    wanted |= {"cells", "links"}  # the time series' views join them
    state = sqlite3.connect(f"file:{run_dir / 'twin.sqlite'}?mode=ro", uri=True)
    try:
        for name in sorted(wanted):
            connection.register(name, _arrow_table(state, name))
    finally:
        state.close()
    for table in BULK_TABLES:
        path = str(series_path(run_dir, table)).replace("'", "''")
        connection.execute(f"CREATE VIEW {table}_stored AS SELECT * FROM read_parquet('{path}')")
        names = SCHEMAS[table].names
        rest = ", ".join(f"s.{n}" for n in names[3:])
        usage = ", ".join(
            "CAST(s.status AS VARCHAR) AS status"
            if n == "status"
            else "CASE WHEN s.subscription_number IS NULL THEN NULL "
            "ELSE 'SUB-' || s.subscription_number END AS subscription"
            if n == "subscription_number"
            else f"s.{n}"
            for n in names
        )
        connection.execute(
            f"CREATE VIEW {table} AS " + _VIEWS[table].format(rest=rest, usage=usage)
        )
    for table in LEDGER_TABLES:  # invoice_charges: its texts as text, SUB-<n> as before
        path = str(series_path(run_dir, table)).replace("'", "''")
        connection.execute(f"CREATE VIEW {table}_stored AS SELECT * FROM read_parquet('{path}')")
        shown = ", ".join(
            "'SUB-' || s.subscription_number AS subscription"
            if f.name == "subscription_number"
            else "c.cell_id"
            if f.name == "cell_index"
            else f"s.{f.name}"
            for f in LEDGER_SCHEMAS[table]
        )
        cells = " JOIN cells c USING (cell_index)" if table == "subscribers" else ""
        connection.execute(f"CREATE VIEW {table} AS SELECT {shown} FROM {table}_stored s{cells}")
    return connection


def _arrow_table(state: sqlite3.Connection, name: str) -> Any:
    """A state table of ``twin.sqlite`` as an Arrow table, typed by the store's schema."""
    import pyarrow as pa

    table = metadata.tables[name]
    cursor = state.execute(f'SELECT * FROM "{name}"')
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for column_name, values in zip(names, columns, strict=True):
        kind = table.c[column_name].type.python_type if column_name in table.c else str
        if kind is bool:
            values = tuple(None if v is None else bool(v) for v in values)
        arrow_type = {bool: pa.bool_(), int: pa.int64(), float: pa.float64()}.get(kind, pa.string())
        arrays.append(pa.array(values, type=arrow_type))
    return pa.Table.from_arrays(arrays, names=names)

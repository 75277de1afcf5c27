"""The bulk time series of a finished run (``cell_pm``, ``link_pm``, ``usage``), read back: the
one query API every reader uses, whatever holds them.

A run directory holds them as Parquet files (``timeseries/<table>.parquet``, :mod:`twin.bulk`),
read with pyarrow, its filters skipping row groups by their statistics; a run written to a
``--store`` database holds them in its tables, keyed by the run's ``run_key``. Either way the
rows come back in the order written (start time, then cell, link or subscriber) with the
stored numbers turned back into what they stand for: ``cell_id`` and ``link_id`` (joined from
``cells`` and ``links``), ``status`` (received, rated, rejected) and ``subscription``
(``SUB-<n>``, None where not rated). So the columns are those the store always had::

    run = twin.readback.open_run(Path("runs/metro"))
    read_frame(run, "cell_pm", ["start_s", "offered_erlangs"], where={"cell_id": "t-n3/1"})

Integer columns with a missing value come back as floats with NaN (as pandas reads them from
SQL), the others in their stored integer type; strings as object arrays. The stored keys themselves
(``cell_index``, ``link_index``, ``subscription_number``) may be asked for too.

The per-subscriber tables a run directory also keeps as Parquet (``subscribers``,
``invoice_charges``; a ``--store`` database keeps them in SQL) are read with
:func:`read_subscribers` and :func:`read_ledger`, with the SQL tables' columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select

from twin.bulk import (
    BULK_TABLES,
    LEDGER_SCHEMAS,
    LEDGER_TABLES,
    NUMPY_TYPES,
    SCHEMAS,
    USAGE_STATUS,
    series_path,
)
from twin.store import SERIES_TABLES, cells, links, subscribers

if TYPE_CHECKING:
    import pandas as pd

    from twin.readback import StoredRun

__all__ = [
    "BULK_TABLES",
    "LEDGER_TABLES",
    "columns_of",
    "ledger_in_files",
    "read_columns",
    "read_frame",
    "read_ledger",
    "read_subscribers",
    "resource_ids",
]

# a column readers know, and the stored column it comes from
_JOINED = {"cell_id": "cell_index", "link_id": "link_index", "subscription": "subscription_number"}
_ID_TABLES = {"cell_index": (cells, "cell_id"), "link_index": (links, "link_id")}


def columns_of(table: str) -> list[str]:
    """The columns of ``table`` as readers see them, in the store's order."""
    reverse = {stored: shown for shown, stored in _JOINED.items()}
    return [reverse.get(f.name, f.name) for f in SCHEMAS[_known(table)]]


def read_frame(
    run: StoredRun,
    table: str,
    columns: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """:func:`read_columns` as a pandas DataFrame."""
    import pandas as pd

    names = list(columns or columns_of(table))
    return pd.DataFrame(read_columns(run, table, names, where), columns=names)


def read_columns(
    run: StoredRun,
    table: str,
    columns: Sequence[str] | None = None,
    where: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Columns of the run's rows of ``table`` (default: all of :func:`columns_of`) as numpy
    arrays, in the order written; ``where`` keeps the rows whose columns equal the values
    given (``{"cell_id": "c1"}``, ``{"status": "rated"}``, ``{"start_s": 0.0}``)."""
    _known(table)
    names = list(columns or columns_of(table))
    stored_names = SCHEMAS[table].names
    for name in [*names, *(where or {})]:
        if _JOINED.get(name, name) not in stored_names:
            raise KeyError(f"{table} has no column '{name}'; it has {columns_of(table)}")
    ids = {
        key: _ids(run, *_ID_TABLES[key])
        for key in {_JOINED.get(n, n) for n in [*names, *(where or {})]} & set(_ID_TABLES)
    }
    filters: dict[str, Any] = {}
    for name, value in (where or {}).items():
        stored = _JOINED.get(name, name)
        code = _stored_value(name, value, ids.get(stored))
        if code is None:  # a value the table cannot hold: no rows
            return {n: _empty(table, n) for n in names}
        filters[stored] = code
    wanted = list(dict.fromkeys(_JOINED.get(n, n) for n in names))
    if run.series_dir is not None:
        stored_columns = _from_parquet(run, table, wanted, filters)
    else:
        stored_columns = _from_sql(run, table, wanted, filters)
    return {n: _shown(n, stored_columns[_JOINED.get(n, n)], ids) for n in names}


def resource_ids(run: StoredRun, table: str) -> np.ndarray:
    """The ids of the cells (``cell_pm``) or links (``link_pm``) of the run, by their index:
    what ``cell_index`` or ``link_index`` of a row stands for."""
    key = {"cell_pm": "cell_index", "link_pm": "link_index"}[_known(table)]
    return _ids(run, *_ID_TABLES[key])


def _known(table: str) -> str:
    if table not in BULK_TABLES:
        raise KeyError(f"no time series '{table}'; known: {', '.join(BULK_TABLES)}")
    return table


def _ids(run: StoredRun, table: Any, id_column: str) -> np.ndarray:
    """The run's ids of cells or links, by their index (``cell_index``, ``link_index``)."""
    index_column = "cell_index" if id_column == "cell_id" else "link_index"
    query = select(table.c[id_column], table.c[index_column]).where(table.c.run_id == run.run_id)
    with run.engine.connect() as connection:
        rows = list(connection.execute(query))
    out = np.empty(len(rows), dtype=object)
    for name, index in rows:
        out[index] = name
    return out


def _stored_value(name: str, value: Any, ids: np.ndarray | None) -> Any:
    """A filter's value as stored, or None when no stored value matches it."""
    if ids is not None and name in _JOINED:  # cell_id or link_id
        found = np.flatnonzero(ids == value)
        return int(found[0]) if len(found) else None
    if name == "status":
        return USAGE_STATUS.index(value) if value in USAGE_STATUS else None
    if name == "subscription":
        text = str(value)
        return int(text[4:]) if text.startswith("SUB-") and text[4:].isdigit() else None
    return value


def _shown(name: str, values: np.ndarray, ids: dict[str, np.ndarray]) -> np.ndarray:
    """A stored column as readers see it."""
    stored = _JOINED.get(name, name)
    if name != stored and stored in ids:
        return ids[stored][values.astype(np.int64)]
    if name == "subscription":
        return np.array(
            [None if v != v else f"SUB-{int(v)}" for v in values.tolist()], dtype=object
        )
    if name == "status":
        return np.array(USAGE_STATUS, dtype=object)[values.astype(np.int64)]
    return values


def _empty(table: str, name: str) -> np.ndarray:
    stored = _JOINED.get(name, name)
    if name != stored or name == "status":
        return np.empty(0, dtype=object)
    return np.empty(0, dtype=NUMPY_TYPES[SCHEMAS[table].field(stored).type])


def _from_parquet(
    run: StoredRun, table: str, names: list[str], filters: dict[str, Any]
) -> dict[str, np.ndarray]:
    assert run.series_dir is not None
    path = series_path(run.series_dir.parent, table)
    data = pq.read_table(
        path,
        columns=names,
        # the status column is dictionary-encoded text: compared by its text
        filters=[(k, "==", USAGE_STATUS[v] if k == "status" else v) for k, v in filters.items()]
        or None,
    )
    out: dict[str, np.ndarray] = {}
    for name in names:
        column = data.column(name)
        if pa.types.is_dictionary(column.type):  # status: its index is the code
            codes = pc.cast(
                pa.chunked_array([c.indices for c in column.chunks], pa.int8()), pa.int64()
            )
            out[name] = codes.to_numpy()
        else:
            out[name] = column.to_numpy()
    return out


def _from_sql(
    run: StoredRun, table: str, names: list[str], filters: dict[str, Any]
) -> dict[str, np.ndarray]:
    sql_table = SERIES_TABLES[table]

    def sql_name(name: str) -> str:
        return "status_code" if name == "status" else name

    key = SCHEMAS[table].names[2]  # cell_index, link_index or subscriber
    query = (
        select(*(sql_table.c[sql_name(n)] for n in names))
        .where(sql_table.c.run_key == run.run_key)
        .where(*(sql_table.c[sql_name(k)] == v for k, v in filters.items()))
        .order_by(sql_table.c.start_s, sql_table.c[key])
    )
    with run.engine.connect() as connection:
        rows = connection.execute(query).all()
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        values = [r[i] for r in rows]
        dtype: np.dtype[Any] = np.dtype(
            np.int64 if name == "status" else NUMPY_TYPES[SCHEMAS[table].field(name).type]
        )
        if dtype.kind == "i" and None in values:
            dtype = np.dtype(float)  # NaN where missing, as Arrow and pandas give
        out[name] = np.array(values, dtype=dtype)
    return out


def ledger_in_files(run: StoredRun) -> bool:
    """Whether the run holds the per-subscriber tables (``invoice_charges``) as Parquet files
    (a run directory) rather than SQL tables (a ``--store`` database)."""
    return run.series_dir is not None


def read_ledger(run: StoredRun, table: str, invoice: str | None = None) -> dict[str, np.ndarray]:
    """The rows of a per-subscriber table held as Parquet (:data:`twin.bulk.LEDGER_SCHEMAS`),
    in the order written, with the columns of its SQL table (``run_id`` apart): texts as
    object arrays, ``subscription`` as ``SUB-<n>``; ``invoice`` keeps one invoice's rows."""
    if table not in LEDGER_TABLES or run.series_dir is None:
        raise KeyError(f"no per-subscriber table '{table}' in files; known: {LEDGER_TABLES}")
    if table == "subscribers":
        return read_subscribers(run)
    data = pq.read_table(series_path(run.series_dir.parent, table))
    if invoice is not None:
        data = data.filter(pc.equal(data.column("invoice_id").cast(pa.string()), invoice))
    out: dict[str, np.ndarray] = {}
    for field in LEDGER_SCHEMAS[table]:
        column = data.column(field.name)
        if pa.types.is_dictionary(field.type):
            out[field.name] = _texts(column)
        elif field.name == "subscription_number":
            out["subscription"] = np.array(
                [f"SUB-{n}" for n in column.to_numpy().tolist()], dtype=object
            )
        else:
            out[field.name] = column.to_numpy().astype(np.int64)
    return out


SUBSCRIBER_COLUMNS = ("subscriber", "cell_id", "product", "since_s", "subscription", "account")


def read_subscribers(run: StoredRun) -> dict[str, np.ndarray]:
    """The run's subscribers by subscriber index, with the columns of the ``subscribers``
    table (:data:`SUBSCRIBER_COLUMNS`; ``subscription`` and ``account`` None without one):
    from the run directory's Parquet file, or the database's table."""
    out: dict[str, np.ndarray] = {}
    if run.series_dir is None:
        query = (
            select(*(subscribers.c[n] for n in SUBSCRIBER_COLUMNS))
            .where(subscribers.c.run_id == run.run_id)
            .order_by(subscribers.c.subscriber)
        )
        with run.engine.connect() as connection:
            rows = connection.execute(query).all()
        for i, name in enumerate(SUBSCRIBER_COLUMNS):
            values = [r[i] for r in rows]
            kind = {"subscriber": np.int64, "since_s": np.float64}.get(name, object)
            out[name] = np.array(values, dtype=kind)
        return out
    data = pq.read_table(series_path(run.series_dir.parent, "subscribers"))
    out["subscriber"] = data.column("subscriber").to_numpy().astype(np.int64)
    cell_index = data.column("cell_index").to_numpy().astype(np.int64)
    out["cell_id"] = _ids(run, cells, "cell_id")[cell_index]
    out["product"] = _texts(data.column("product"))
    out["since_s"] = data.column("since_s").to_numpy()
    numbers = data.column("subscription_number").to_pylist()
    out["subscription"] = np.array(
        [None if n is None else f"SUB-{n}" for n in numbers], dtype=object
    )
    out["account"] = _texts(data.column("account"))
    by_subscriber = np.argsort(out["subscriber"], kind="stable")  # admitted ones come in order
    if (by_subscriber != np.arange(len(by_subscriber))).any():
        out = {name: values[by_subscriber] for name, values in out.items()}
    return out


def _texts(column: Any) -> np.ndarray:
    """A dictionary-encoded text column as an object array of str (None where null)."""
    values = column.cast(pa.string()).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=object)

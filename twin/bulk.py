"""The bulk time series of a run (``cell_pm``, ``link_pm``, ``usage``): their stored columns and
their writers, Parquet files in a run directory or rows of a SQL database.

These three tables are the store's volume (cells x PM intervals, links x PM intervals,
subscribers x usage periods: about four million rows for a national day), so their rows hold
numbers only: the cell or link by its integer index (``cells.cell_index``, ``links.link_index``,
its place in the run's inventory), the usage status by a small code (:data:`USAGE_STATUS`), the
subscription ``SUB-<n>`` by its number ``n``. In a run directory the run is the directory; in a
SQL database each row carries the run's integer ``run_key`` (:func:`run_key`). The query API
(:mod:`twin.timeseries`) joins the ids back, so readers see ``cell_id``, ``status`` and
``subscription`` as before. docs/store.md says why and what it measured.

A writer takes columnar slices (one feed batch each) as numpy arrays:

- :class:`ParquetSeries` buffers them into row groups of :data:`ROW_GROUP_ROWS` rows and writes
  ``timeseries/<table>.parquet`` with pyarrow, so memory stays bounded whatever the run's length;
- :class:`SqlSeries` writes them into the SQL tables: COPY in PostgreSQL's binary format, built
  with numpy (no Python object per value), and ``executemany`` of tuples elsewhere (SQLite).
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "BULK_TABLES",
    "LEDGER_GROUP_ROWS",
    "LEDGER_SCHEMAS",
    "LEDGER_TABLES",
    "NUMPY_TYPES",
    "PARQUET_COMPRESSION",
    "ROW_GROUP_ROWS",
    "SCHEMAS",
    "SQL_SLICE",
    "USAGE_STATUS",
    "ParquetSeries",
    "SqlSeries",
    "arrow_array",
    "run_key",
    "series_path",
    "text_array",
    "text_column",
]

BULK_TABLES = ("cell_pm", "link_pm", "usage")
USAGE_STATUS = ("received", "rated", "rejected")  # TMF635 status; stored as its index
SERIES_DIR = "timeseries"
ROW_GROUP_ROWS = 1 << 19  # 524,288 rows a row group (docs/store.md: measured)
PARQUET_COMPRESSION = "lz4"  # docs/store.md: measured against none, snappy and zstd

_F8, _I8, _I4 = pa.float64(), pa.int64(), pa.int32()
# The stored columns of each table, in order: what the Parquet files and the SQL tables hold.
# Counts are 32-bit where the SQL tables always had INTEGER (smaller files, faster writes),
# amounts in 10**-9 of the currency 64-bit (BIGINT).
SCHEMAS: dict[str, pa.Schema] = {
    "cell_pm": pa.schema(
        [
            ("start_s", _F8),
            ("end_s", _F8),
            ("cell_index", _I4),
            ("voice_offered", _I4),
            ("voice_carried", _I4),
            ("voice_blocked", _I4),
            ("voice_failed", _I4),
            ("voice_dropped", _I4),
            ("offered_erlangs", _F8),
            ("carried_erlangs", _F8),
            ("data_sessions", _I4),
            ("data_demand_mb", _F8),
            ("data_served_mb", _F8),
            ("utilization", _F8),
            ("seconds_in_service", _F8),
        ]
    ),
    "link_pm": pa.schema(
        [
            ("start_s", _F8),
            ("end_s", _F8),
            ("link_index", _I4),
            ("demand_mb", _F8),
            ("carried_mb", _F8),
            ("utilization", _F8),
            ("seconds_in_service", _F8),
        ]
    ),
    "usage": pa.schema(
        [
            ("start_s", _F8),
            ("end_s", _F8),
            ("subscriber", _I4),
            ("voice_seconds", _F8),
            ("data_mb", _F8),
            # dictionary-encoded in Parquet (its index is the code); status_code in SQL
            ("status", pa.dictionary(pa.int8(), pa.string())),
            # what rating made of the record (twin.bss.rating); null when not rated
            ("cycle", _I4),
            ("subscription_number", _I4),  # n of SUB-<n>
            ("billed_minutes", _I4),
            ("minutes_over", _I4),
            ("voice_nano", _I8),
            ("billed_mb", _I4),
            ("mb_over", _I4),
            ("data_nano", _I8),
        ]
    ),
}
_TEXT = pa.dictionary(pa.int32(), pa.string())
# Per-subscriber tables a run directory also holds as Parquet (a --store database keeps them as
# SQL state tables): their columns, the texts dictionary-encoded (docs/store.md).
LEDGER_SCHEMAS: dict[str, pa.Schema] = {
    "subscribers": pa.schema(
        [
            ("subscriber", _I4),
            ("cell_index", _I4),  # cells.cell_index
            ("product", _TEXT),  # dictionary: the inventory's product names
            ("since_s", _F8),
            ("subscription_number", _I4),  # n of SUB-<n>; null without a subscription
            ("account", _TEXT),  # null without a subscription
        ]
    ),
    "invoice_charges": pa.schema(
        [
            ("invoice_id", _TEXT),  # dictionary: the cycle's invoice ids
            ("charge", _I4),
            ("subscription_number", _I4),  # n of SUB-<n>
            ("product", _TEXT),
            ("days", _I4),
            ("monthly_fee", _TEXT),
            ("recurring_minor", _I8),
            ("minutes_over", _I8),
            ("voice_minor", _I8),
            ("mb_over", _I8),
            ("data_minor", _I8),
        ]
    ),
}
LEDGER_TABLES = tuple(LEDGER_SCHEMAS)
LEDGER_GROUP_ROWS = 1 << 18

# the usage columns that are null for a record that was not rated
RATING_COLUMNS = frozenset(
    {
        "cycle",
        "subscription_number",
        "billed_minutes",
        "minutes_over",
        "voice_nano",
        "billed_mb",
        "mb_over",
        "data_nano",
    }
)


def run_key(run_id: str) -> int:
    """The run's integer key on bulk SQL rows: the top 63 bits of its uuid4 (hex ``run_id``),
    positive in a signed 64-bit column. Random like the id, so no sequence is needed; two of a
    database's runs share one with probability about n**2 / 2**64. An id that is not hex (a
    test's or a benchmark's own) is hashed to 63 bits instead.

    >>> run_key("ffffffffffffffff0000000000000000")
    9223372036854775807
    """
    try:
        return int(run_id[:16], 16) >> 1
    except ValueError:
        digest = hashlib.blake2b(run_id.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "big") >> 1


def series_path(directory: Path, table: str) -> Path:
    """Where a run directory holds ``table``'s Parquet file."""
    return directory / SERIES_DIR / f"{table}.parquet"


Columns = Mapping[str, np.ndarray]


class ParquetSeries:
    """Writes the bulk tables as Parquet files under ``directory/timeseries``.

    Slices are kept as Arrow record batches (zero-copy views of the numpy arrays) until a table
    holds :data:`ROW_GROUP_ROWS` rows, then written as one row group. :meth:`close` writes what
    is left, and an empty file for a table that got no rows, so every run has all three.
    """

    def __init__(self, directory: Path, *, compression: str = PARQUET_COMPRESSION):
        self.directory = directory / SERIES_DIR
        self.compression = compression
        self._pending: dict[str, list[pa.RecordBatch]] = {t: [] for t in BULK_TABLES}
        self._pending_rows = dict.fromkeys(BULK_TABLES, 0)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows = dict.fromkeys(BULK_TABLES, 0)
        self._ledgers: dict[str, pq.ParquetWriter] = {}
        # called first by close: a table written once at the end (the store's subscribers)
        self.before_close: list[Callable[[], None]] = []

    def write_ledger(self, table: str, columns: Mapping[str, pa.Array]) -> None:
        """Add rows of a per-subscriber table (:data:`LEDGER_SCHEMAS`) in row groups of
        :data:`LEDGER_GROUP_ROWS` (a billing cycle's rows are a million on the national day:
        encoded a group at a time, the writer's buffers stay small)."""
        schema = LEDGER_SCHEMAS[table]
        batch = pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)
        writer = self._ledgers.get(table)
        if writer is None:
            self.directory.mkdir(exist_ok=True)
            writer = self._ledgers[table] = pq.ParquetWriter(
                series_path(self.directory.parent, table),
                schema,
                compression=self.compression,
                use_dictionary=[f.name for f in schema if f.type == _TEXT],
                write_statistics=False,
            )
        # invoice_charges come in groups already, each with its own invoices' dictionary
        rows = LEDGER_GROUP_ROWS if table == "subscribers" else max(batch.num_rows, 1)
        writer.write_table(batch, rows)

    def write(self, table: str, columns: Columns, rated: np.ndarray | None = None) -> None:
        """Add rows; ``rated`` (usage only) marks the rows whose rating columns hold values."""
        schema = SCHEMAS[table]
        arrays: list[pa.Array] = []
        for field in schema:
            values = columns[field.name]
            if field.name == "status":
                codes = arrow_array(values, pa.int8())
                arrays.append(pa.DictionaryArray.from_arrays(codes, _STATUS_TEXT))
            elif rated is not None and field.name in RATING_COLUMNS:
                arrays.append(arrow_array(values, field.type, rated))
            else:
                arrays.append(arrow_array(values, field.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        self._pending[table].append(batch)
        self._pending_rows[table] += batch.num_rows
        self.rows[table] += batch.num_rows
        if self._pending_rows[table] >= ROW_GROUP_ROWS:
            self._flush(table)

    def _flush(self, table: str) -> None:
        batches, self._pending[table] = self._pending[table], []
        rows, self._pending_rows[table] = self._pending_rows[table], 0
        writer = self._writers.get(table)
        if writer is None:
            self.directory.mkdir(exist_ok=True)
            writer = self._writers[table] = pq.ParquetWriter(
                series_path(self.directory.parent, table),
                SCHEMAS[table],
                compression=self.compression,
                # dictionaries only where values repeat: tried on every float column, they
                # cost time and fall back to plain anyway; the measured floats byte-split,
                # which compresses them better and faster (docs/store.md)
                use_dictionary=["start_s", "end_s", "status", "cycle"],
                use_byte_stream_split=[
                    f.name
                    for f in SCHEMAS[table]
                    if f.type == _F8 and f.name not in ("start_s", "end_s")
                ],
                write_statistics=["start_s", "end_s", "cell_index", "link_index", "subscriber"],
            )
        if rows:
            writer.write_table(pa.Table.from_batches(batches, SCHEMAS[table]), rows)

    def close(self) -> None:
        """Write the rows still buffered and close the files."""
        for call in self.before_close:
            call()
        self.before_close = []
        for table in BULK_TABLES:
            self._flush(table)
            self._writers.pop(table).close()
        for table in LEDGER_TABLES:  # every run directory has them, empty without the BSS
            if table not in self._ledgers:
                empty = pa.Table.from_batches([], LEDGER_SCHEMAS[table])
                self.write_ledger(table, {f.name: empty.column(f.name) for f in empty.schema})
            self._ledgers.pop(table).close()


def arrow_array(values: np.ndarray, kind: pa.DataType, valid: np.ndarray | None = None) -> pa.Array:
    """A numpy column as an Arrow array over the same memory (a copy only to change its
    type), null where ``valid`` is False. Built from buffers: ``pa.array`` would import pandas
    (0.5 s) on a numpy argument."""
    data = np.ascontiguousarray(values, dtype=NUMPY_TYPES[kind])
    if data.dtype.kind == "i" and data.dtype.itemsize < values.dtype.itemsize and len(values):
        limits = np.iinfo(data.dtype)  # narrowed (int64 to int32): no value may wrap around
        if values.min() < limits.min or values.max() > limits.max:
            raise OverflowError(f"a value of a {values.dtype} column does not fit {data.dtype}")
    bitmap = None
    nulls = 0
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
        nulls = len(valid) - int(np.count_nonzero(valid))
    return pa.Array.from_buffers(kind, len(data), [bitmap, pa.py_buffer(data)], null_count=nulls)


NUMPY_TYPES = {
    pa.float64(): np.float64,
    pa.int64(): np.int64,
    pa.int32(): np.int32,
    pa.int8(): np.int8,
}


def text_column(indices: np.ndarray, texts: Any) -> pa.DictionaryArray:
    """A dictionary-encoded text column: ``texts[indices]`` without a string per row. The
    dictionary is ``texts`` when it is an Arrow array already (a cycle's invoice ids, made by
    Arrow from numbers), else built from buffers (a few product names or fees): pyarrow's own
    conversion of Python objects imports pandas, half a second of every run."""
    dictionary = texts if isinstance(texts, pa.Array) else text_array(tuple(texts))
    return pa.DictionaryArray.from_arrays(arrow_array(indices, pa.int32()), dictionary)


def text_array(values: tuple[str, ...]) -> pa.Array:
    """Short texts as an Arrow string array (offsets and bytes: see :func:`arrow_array`)."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.cumsum([0, *(len(e) for e in encoded)], dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    return pa.Array.from_buffers(pa.string(), len(values), buffers)


_STATUS_TEXT = text_array(USAGE_STATUS)


class SqlSeries:
    """Writes the bulk tables into SQL tables over ``connection`` (SQLAlchemy), each row keyed
    by the run's ``run_key``: PostgreSQL by binary COPY, other databases by ``executemany``."""

    def __init__(self, connection: Any, tables: Mapping[str, Any], key: int):
        self.connection = connection
        self.tables = tables
        self.key = key
        self.rows = dict.fromkeys(BULK_TABLES, 0)
        self._copy = connection.dialect.name == "postgresql"

    def write(self, table: str, columns: Columns, rated: np.ndarray | None = None) -> None:
        n = len(next(iter(columns.values())))
        if n == 0:
            return
        self.rows[table] += n
        names = _sql_names(table)
        values = [np.full(n, self.key, dtype=np.int64)]
        for field in SCHEMAS[table]:  # the SQL column's width (PostgreSQL's COPY needs it)
            dtype = np.int8 if field.name == "status" else NUMPY_TYPES[field.type]
            values.append(np.asarray(columns[field.name], dtype=dtype))
        if self._copy:
            self._copy_rows(table, names, values, rated)
        else:
            self._insert_rows(table, names, values, rated)

    def _insert_rows(
        self, table: str, names: list[str], values: list[np.ndarray], rated: np.ndarray | None
    ) -> None:
        sql = str(self.tables[table].insert().compile(dialect=self.connection.dialect))
        n = len(values[0])
        none_rated = rated is not None and not rated.any()
        for first in range(0, n, SQL_SLICE):  # a slice at a time: never every row as tuples
            last = min(first + SQL_SLICE, n)
            lists: list[Any] = []
            for name, column in zip(names, values, strict=True):
                if rated is None or name not in RATING_COLUMNS or rated[first:last].all():
                    lists.append(column[first:last].tolist())
                elif none_rated:
                    lists.append(itertools.repeat(None, last - first))
                else:  # NULL where not rated
                    pairs = zip(
                        column[first:last].tolist(), rated[first:last].tolist(), strict=True
                    )
                    lists.append([v if ok else None for v, ok in pairs])
            self.connection.exec_driver_sql(sql, list(zip(*lists, strict=True)))

    def _copy_rows(
        self, table: str, names: list[str], values: list[np.ndarray], rated: np.ndarray | None
    ) -> None:
        if rated is None or rated.all():
            parts = [_binary_rows(values, [True] * len(names))]
        else:  # two layouts: rated rows with every column, the others with the rating null
            parts = [
                _binary_rows([v[rated] for v in values], [True] * len(names)),
                _binary_rows(
                    [v[~rated] for v in values], [name not in RATING_COLUMNS for name in names]
                ),
            ]
        cursor = self.connection.connection.driver_connection.cursor()
        statement = f"COPY {_quoted(self.tables[table])} ({', '.join(names)}) FROM STDIN BINARY"
        with cursor.copy(statement) as copy:
            copy.write(_PG_HEADER)
            for part in parts:
                copy.write(part)
            copy.write(_PG_TRAILER)

    def close(self) -> None:
        pass


SQL_SLICE = 100_000  # rows per executemany
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_PG_TRAILER = struct.pack(">h", -1)


def _sql_names(table: str) -> list[str]:
    """The SQL table's columns in order: ``run_key``, then the stored columns."""
    return ["run_key", *("status_code" if f.name == "status" else f.name for f in SCHEMAS[table])]


def _quoted(table: Any) -> str:
    schema = f'"{table.schema}".' if table.schema else ""
    return f'{schema}"{table.name}"'


def _binary_rows(values: list[np.ndarray], present: list[bool]) -> bytes:
    """Rows in PostgreSQL's binary COPY format, built as one numpy record array: a field count,
    then each field's length and big-endian value (length -1 and no value for a null). The
    widths follow the SQL types: int64 and float64 as 8 bytes, cell/link index as int4,
    status code as int2."""
    n = len(values[0]) if values else 0
    if n == 0:
        return b""
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for i, (column, here) in enumerate(zip(values, present, strict=True)):
        fields.append((f"l{i}", ">i4"))
        if here:
            fields.append((f"v{i}", _PG_TYPE[column.dtype.kind, column.dtype.itemsize]))
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["count"] = len(values)
    for i, (column, here) in enumerate(zip(values, present, strict=True)):
        if here:
            kind = rows.dtype.fields[f"v{i}"][0]  # type: ignore[index]
            rows[f"l{i}"] = kind.itemsize
            rows[f"v{i}"] = column
        else:
            rows[f"l{i}"] = -1
    return rows.tobytes()


# numpy (kind, itemsize) to the big-endian binary type of the SQL column that holds it
_PG_TYPE = {
    ("f", 8): ">f8",
    ("i", 8): ">i8",
    ("i", 4): ">i4",
    ("i", 2): ">i2",
    ("i", 1): ">i2",
}

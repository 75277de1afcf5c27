"""The twin's store: every feed record, in SQL tables, through SQLAlchemy Core.

By default each run writes a SQLite file in its run directory; any SQLAlchemy URL (PostgreSQL)
may be given instead. A run is written in one transaction, so a failed run leaves nothing
behind in a shared database either. Every state row carries the ``run_id``, a uuid4 drawn
for the run, so runs of many directories can share one database; the ``runs`` row also records
the run directory's absolute path (``directory``, what ``--force`` replaces) and its folder name
(``label``, for people). Directories of the same name in different places never collide.

The bulk time series (``cell_pm``, ``link_pm``, ``usage``: cells x intervals, links x intervals,
subscribers x usage periods) are written by :mod:`twin.bulk`: Parquet files beside the SQLite
file in a run directory, or the tables below in a ``--store`` database (binary COPY on
PostgreSQL), their rows numbers only, keyed by the run's integer ``run_key`` and the cell's or
link's index (docs/store.md). Everything else, the twin's state, is written with
``executemany`` of plain tuples. On PostgreSQL (psycopg 3, the ``postgres`` extra) the driver's
``executemany`` pipelines the rows, and every value is a Python one (numpy scalars are
converted), as the driver needs.

The fault-management tables: ``notifications`` holds every :class:`~twin.feed.AlarmNotification`
as it reached the twin (duplicates included); ``alarm_history`` one row per
:class:`~twin.oss.records.AlarmChange`, in the order published (``seq``); ``alarms`` the latest
state of each alarm of the run, keyed by ``run_id`` and ``alarm_id``, written when the run ends.
Tuples of alarm ids or resources are JSON arrays in text columns.

The ordering tables (:mod:`twin.bss.ordering`, TMF622): ``product_orders`` one row per order
in its final state, written when it gets there; ``product_order_transitions`` every state
change of an order with its time, in the order published (``seq``); ``product_order_items``
each item's outcome; ``product_order_steps`` every attempt of a saga step or compensation.
``subscriber_releases`` holds the network's releases (:class:`~twin.feed.SubscriptionReleased`).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    create_engine,
    event,
    insert,
    select,
)

from twin.bss.ordering import OrderItemChange, OrderStateChange, SagaStep
from twin.bss.records import (
    CustomerBase,
    InvoiceBatch,
    RatedUsage,
    SlaCredits,
    subscription_id,
)
from twin.bulk import (
    BULK_TABLES,
    LEDGER_GROUP_ROWS,
    LEDGER_TABLES,
    RATING_COLUMNS,
    SCHEMAS,
    SQL_SLICE,
    ParquetSeries,
    SqlSeries,
    arrow_array,
    run_key,
    text_array,
    text_column,
)
from twin.bus import Bus
from twin.feed import (
    AlarmNotification,
    BusinessEvent,
    CellPmBatch,
    FeedRecord,
    Inventory,
    LinkPmBatch,
    ResourceStateChange,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
    SubscriptionReleased,
    UsageBatch,
)
from twin.oss.records import AlarmChange, SlaBreaches

__all__ = ["BackgroundStore", "Store", "StoreError", "check_store", "metadata", "open_engine"]

RECORD_TYPES = (
    SubscriptionAdmitted,
    RunStarted,
    Inventory,
    ResourceStateChange,
    CellPmBatch,
    LinkPmBatch,
    UsageBatch,
    BusinessEvent,
    AlarmNotification,
    AlarmChange,
    SlaBreaches,
    RatedUsage,
    InvoiceBatch,
    SlaCredits,
    CustomerBase,
    RunEnded,
    SubscriptionReleased,
    OrderStateChange,
    OrderItemChange,
    SagaStep,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String, primary_key=True),
    # the run's key on the bulk SQL rows (twin.bulk.run_key): numbers, not the id's text
    Column("run_key", BigInteger),
    Column("label", String, nullable=False),
    Column("directory", String, nullable=False, index=True),
    Column("scenario", String, nullable=False),
    Column("seed", String, nullable=False),
    Column("start", String, nullable=False),
    Column("duration_s", Float, nullable=False),
    Column("pm_interval_s", Float, nullable=False),
    Column("usage_interval_s", Float, nullable=False),
    Column("currency", String),
)
nodes = Table(
    "nodes",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("node_id", String, nullable=False),
    Column("role", String, nullable=False),
    Column("lat", Float),
    Column("lon", Float),
)
links = Table(
    "links",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("link_id", String, nullable=False),
    Column("link_index", Integer),  # its place in the inventory: link_pm's key
    Column("a", String, nullable=False),
    Column("b", String, nullable=False),
    Column("capacity_mbps", Float, nullable=False),
    Column("latency_ms", Float, nullable=False),
)
cells = Table(
    "cells",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("cell_id", String, nullable=False),
    Column("cell_index", Integer),  # its place in the inventory: cell_pm's key
    Column("tower", String, nullable=False),
    Column("voice_channels", Integer, nullable=False),
    Column("data_mbps", Float, nullable=False),
)
resource_states = Table(
    "resource_states",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("time_s", Float, nullable=False),
    Column("resource", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("operational_state", String, nullable=False),
    Column("cause", String, nullable=False),
    Column("fault_id", Integer, nullable=False),
)


def _series_table(name: str) -> Table:
    """A bulk table in SQL: the run's integer ``run_key``, then the columns of
    :data:`twin.bulk.SCHEMAS` (the cell or link by its index, the usage status by its code)."""
    columns: list[Column[Any]] = [Column("run_key", BigInteger, nullable=False, index=True)]
    for field in SCHEMAS[name]:
        if field.name == "status":
            columns.append(Column("status_code", SmallInteger, nullable=False))  # USAGE_STATUS
            continue
        kind: Any = (
            Float
            if field.type == pa.float64()
            else Integer
            if field.type == pa.int32()
            else BigInteger
        )
        columns.append(Column(field.name, kind, nullable=field.name in RATING_COLUMNS))
    return Table(name, metadata, *columns)


# The bulk time series (twin.bulk): in a run directory they are Parquet files beside
# twin.sqlite and these tables are not created there; in a --store database they are these.
cell_pm = _series_table("cell_pm")
link_pm = _series_table("link_pm")
usage = _series_table("usage")
SERIES_TABLES = {name: metadata.tables[name] for name in BULK_TABLES}  # the SQL tables by name

business_events = Table(
    "business_events",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("time_s", Float, nullable=False),
    Column("event_index", Integer, nullable=False),
    Column("action", String, nullable=False),
    Column("product", String, nullable=False),
    Column("count", Integer, nullable=False),
    Column("tower", String, nullable=False),
    Column("monthly_fee", String),
)
subscribers = Table(
    "subscribers",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("subscriber", Integer, nullable=False),
    Column("cell_id", String, nullable=False),
    Column("product", String, nullable=False),
    Column("since_s", Float, nullable=False),
    # the BSS's customer (twin.bss.customers), when it runs: the subscriber's subscription and
    # the account holding it (an account holds several); NULL for a subscriber with none
    Column("subscription", String),
    Column("account", String),
)

notifications = Table(
    "notifications",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("notification_id", Integer, nullable=False),
    Column("time_s", Float, nullable=False),
    Column("event_time_s", Float, nullable=False),
    Column("alarmed_object", String, nullable=False),
    Column("alarmed_object_type", String, nullable=False),
    Column("source", String, nullable=False),
    Column("alarm_type", String, nullable=False),
    Column("perceived_severity", String, nullable=False),
    Column("probable_cause", String, nullable=False),
    Column("specific_problem", String, nullable=False),
    Column("planned_outage", Boolean, nullable=False),
)


def _alarm_columns() -> list[Column[Any]]:
    """The columns of an :class:`AlarmChange` (TMF642 ``Alarm`` fields in snake case)."""
    return [
        Column("alarmed_object", String, nullable=False),
        Column("alarmed_object_type", String, nullable=False),
        Column("source", String, nullable=False),
        Column("alarm_type", String, nullable=False),
        Column("perceived_severity", String, nullable=False),
        Column("probable_cause", String, nullable=False),
        Column("specific_problem", String, nullable=False),
        Column("raised_time_s", Float, nullable=False),
        Column("cleared_time_s", Float),
        Column("ack_state", String, nullable=False),
        Column("count", Integer, nullable=False),
        Column("last_event_time_s", Float, nullable=False),
        Column("planned_outage", Boolean, nullable=False),
        Column("is_root_cause", Boolean, nullable=False),
        Column("parent_alarm", Integer),
        Column("correlated_alarms", String, nullable=False),  # JSON array of alarm ids
        Column("root_candidates", String, nullable=False),  # JSON array of resources
        # a threshold alarm's X.733 crossedThresholdInformation, a JSON object; else NULL
        Column("crossed_threshold", String),
    ]


alarm_history = Table(
    "alarm_history",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # order of publication within the run
    Column("time_s", Float, nullable=False),
    Column("change", String, nullable=False),
    Column("alarm_id", Integer, nullable=False),
    *_alarm_columns(),
)
alarms = Table(
    "alarms",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("alarm_id", Integer, primary_key=True),
    Column("time_s", Float, nullable=False),  # of the alarm's last change
    Column("change", String, nullable=False),  # its last change
    *_alarm_columns(),
)

subscriber_releases = Table(
    "subscriber_releases",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("subscriber", Integer, nullable=False),
    Column("cell_id", String, nullable=False),
    Column("product", String, nullable=False),
    Column("time_s", Float, nullable=False),
)
product_orders = Table(
    "product_orders",
    metadata,
    Column("run_id", String, primary_key=True),
    Column("order_id", String, primary_key=True),
    Column("state", String, nullable=False),  # final: completed, failed, partial, rejected
    Column("reason", String, nullable=False),
    Column("account", String, nullable=False),
    Column("product", String, nullable=False),
    Column("tower", String, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("completed", Integer, nullable=False),
    Column("failed", Integer, nullable=False),
    Column("source", String, nullable=False),  # event or api
    Column("event_index", Integer, nullable=False),
    Column("time_s", Float, nullable=False),  # of the final state
)
product_order_transitions = Table(
    "product_order_transitions",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("seq", Integer, nullable=False),  # order of publication within the run
    Column("time_s", Float, nullable=False),
    Column("order_id", String, nullable=False),
    Column("state", String, nullable=False),
    Column("previous", String),
    Column("reason", String, nullable=False),
)
product_order_items = Table(
    "product_order_items",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("order_id", String, nullable=False),
    Column("item", Integer, nullable=False),
    Column("state", String, nullable=False),
    Column("subscriber", Integer, nullable=False),  # -1 unless completed
    Column("subscription", String, nullable=False),
    Column("reason", String, nullable=False),
    Column("time_s", Float, nullable=False),
)
product_order_steps = Table(
    "product_order_steps",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("time_s", Float, nullable=False),
    Column("order_id", String, nullable=False),
    Column("item", Integer, nullable=False),
    Column("step", String, nullable=False),
    Column("action", String, nullable=False),  # do or undo
    Column("outcome", String, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("detail", String, nullable=False),
)
# Service assurance: one row per SLA breach, as published (twin.oss.sla: SlaBreaches).
sla_breaches = Table(
    "sla_breaches",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("time_s", Float, nullable=False),
    Column("subscriber", Integer, nullable=False),
    Column("product", String, nullable=False),
    Column("cycle_start_s", Float, nullable=False),
    Column("cycle_end_s", Float, nullable=False),
    Column("availability", Float, nullable=False),
    Column("target", Float, nullable=False),
)
# --- the BSS (twin.bss): customers, rated usage, invoices, credits -----------------------------
# Amounts: rated usage in 10**-9 of the currency unit (``*_nano``), invoices in its minor unit
# (``*_minor``) beside the decimal string a person reads.

invoices = Table(
    "invoices",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("invoice_id", String, nullable=False),
    Column("account_id", String, nullable=False),
    Column("cycle", Integer, nullable=False),  # its period: billing_cycles
    Column("total_minor", BigInteger, nullable=False),
)
billing_cycles = Table(
    "billing_cycles",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("period_start_s", Float, nullable=False),
    Column("period_end_s", Float, nullable=False),
    Column("days", Integer, nullable=False),  # of the whole month, the proration base
    Column("currency", String, nullable=False),
    Column("minor_digits", Integer, nullable=False),  # of the currency's minor unit
)
invoice_charges = Table(
    # one row per subscription per invoice: its recurring fee and its usage beyond allowances,
    # the recurring, voice_overage and data_overage lines of the bill (docs/bss.md)
    "invoice_charges",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("invoice_id", String, nullable=False),
    Column("charge", Integer, nullable=False),  # order within the cycle's charges
    Column("subscription", String, nullable=False),
    Column("product", String, nullable=False),
    Column("days", Integer, nullable=False),  # billed, of the cycle's (billing_rates)
    Column("monthly_fee", String, nullable=False),  # the fee in force (docs/bss.md)
    Column("recurring_minor", BigInteger, nullable=False),
    Column("minutes_over", BigInteger, nullable=False),  # at billing_rates.minute_price
    Column("voice_minor", BigInteger, nullable=False),
    Column("mb_over", BigInteger, nullable=False),  # at billing_rates.mb_price
    Column("data_minor", BigInteger, nullable=False),
)
billing_rates = Table(
    # what a cycle's charges are made of, per product: the cycle's days, the overage rates
    "billing_rates",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("cycle", Integer, nullable=False),
    Column("cycle_days", Integer, nullable=False),
    Column("product", String, nullable=False),
    Column("product_name", String, nullable=False),
    Column("minute_price", String, nullable=False),
    Column("mb_price", String, nullable=False),
)
invoice_adjustments = Table(
    # an invoice's other lines: SLA credits, credit brought and carried forward, tax
    "invoice_adjustments",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("invoice_id", String, nullable=False),
    Column("line", Integer, nullable=False),  # order among the invoice's adjustments
    Column("subscription", String, nullable=False),  # empty for the invoice's own
    Column("kind", String, nullable=False),
    Column("description", String, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("unit_price", String, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
)
credits = Table(
    "credits",
    metadata,
    Column("run_id", String, nullable=False, index=True),
    Column("time_s", Float, nullable=False),
    Column("subscription", String, nullable=False),
    Column("account_id", String, nullable=False),
    Column("product", String, nullable=False),
    Column("cycle", Integer, nullable=False),
    Column("cycle_start_s", Float, nullable=False),
    Column("cycle_end_s", Float, nullable=False),
    Column("availability", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("credit_percent", String, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("invoice_id", String, nullable=False),
)


def open_engine(url: str, *, scratch: bool = False, series: bool = True) -> Engine:
    """Return an engine for ``url`` with the tables created (without the bulk time series'
    unless ``series``: a run directory holds those in Parquet files).

    ``scratch`` says the database is a new file of this run's own that is thrown away if the
    run fails: SQLite then writes without a journal, which roughly halves the time to store a
    large run. A database given by the user keeps its journal, so a failed run rolls back.
    """
    engine = create_engine(url)
    if scratch and engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # The run directory is built aside and renamed when complete, so a crash can
            # only lose a file nobody sees: the journal buys nothing here.
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    # a run directory holds the bulk tables and the ledgers (invoice_charges) as Parquet files
    in_files = set(SERIES_TABLES) | set(LEDGER_TABLES)
    tables = [t for t in metadata.sorted_tables if series or t.name not in in_files]
    metadata.create_all(engine, tables)  # only the tables missing: a shared one keeps its rows
    if scratch:
        # A run's own file holds one run: the run_id indexes, there for shared databases,
        # would only slow the load by a third.
        for table in tables:
            for index in table.indexes:
                index.drop(engine)
    return engine


def _rows(*columns: Any) -> list[tuple[Any, ...]]:
    return list(
        zip(*(c.tolist() if isinstance(c, np.ndarray) else c for c in columns), strict=True)
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value drivers know (sqlite3 does; psycopg does not)."""
    return value.item() if isinstance(value, np.generic) else value


def _alarm_values(a: AlarmChange) -> tuple[Any, ...]:
    """The values of :func:`_alarm_columns` for one alarm change."""
    return (
        a.alarmed_object,
        a.alarmed_object_type,
        a.source,
        a.alarm_type,
        a.perceived_severity,
        a.probable_cause,
        a.specific_problem,
        _plain(a.raised_time_s),
        _plain(a.cleared_time_s),
        a.ack_state,
        _plain(a.count),
        _plain(a.last_event_time_s),
        bool(a.planned_outage),
        bool(a.is_root_cause),
        _plain(a.parent_alarm),
        json.dumps([_plain(x) for x in a.correlated_alarms]),
        json.dumps(list(a.root_candidates)),
        None if a.crossed_threshold is None else json.dumps(asdict(a.crossed_threshold)),
    )


class Store:
    """Writes the feed into the tables above, over one connection and one transaction.

    :meth:`write` takes any feed record; :class:`BackgroundStore` runs it on its own thread.
    """

    def __init__(
        self,
        connection: Connection,
        run_id: str,
        *,
        directory: str,
        label: str,
        series: ParquetSeries | SqlSeries | None = None,
    ):
        self.connection = connection
        self.run_id = run_id
        self.run_key = run_key(run_id)
        # the bulk time series: Parquet files of a run directory, or this database's tables
        self.series = series or SqlSeries(connection, SERIES_TABLES, self.run_key)
        self.directory = directory
        self.label = label
        self._sql: dict[str, str] = {}  # compiled INSERT per table
        self._cell_ids: tuple[str, ...] = ()
        self._link_ids: tuple[str, ...] = ()
        self._alarm_seq = 0
        self._order_seq = 0
        self._step_seq = 0
        self._latest_alarms: dict[int, AlarmChange] = {}  # not yet in the alarms table
        self._alarms_written: set[int] = set()
        # records written a row at a time in volume (alarm changes and notifications): kept
        # and written in one executemany per table by finish
        self._pending: dict[str, list[tuple[Any, ...]]] = {
            notifications.name: [],
            alarm_history.name: [],
        }
        self._rated_usage: dict[float, RatedUsage] = {}
        self._customers_first: CustomerBase | None = None
        self._subscribers: _Subscribers | None = None  # a run directory's, written at its end
        self._inventory_written = False

    def attach(self, bus: Bus) -> None:
        for kind in RECORD_TYPES:
            bus.subscribe(kind, self.write)

    def write(self, record: FeedRecord) -> None:
        handlers: dict[type, Callable[[Any], None]] = {
            RunStarted: self._run_started,
            Inventory: self._inventory,
            ResourceStateChange: self._state,
            CellPmBatch: self._cell_pm,
            LinkPmBatch: self._link_pm,
            UsageBatch: self._usage,
            BusinessEvent: self._business,
            SubscriptionAdmitted: self._admitted,
            AlarmNotification: self._notification,
            AlarmChange: self._alarm_change,
            SlaBreaches: self._sla_breaches,
            RunEnded: self._run_ended,
            SubscriptionReleased: self._released,
            OrderStateChange: self._order_change,
            OrderItemChange: self._order_item,
            SagaStep: self._saga_step,
            RatedUsage: self._rated,
            InvoiceBatch: self._invoices,
            SlaCredits: self._credits,
            CustomerBase: self._customers,
        }
        handler = handlers.get(type(record))
        if handler is not None:
            handler(record)

    def finish(self) -> None:
        """Write the alarms' latest states and the alarm rows not yet written (the run's end
        does it too)."""
        for table in (notifications, alarm_history):
            rows, self._pending[table.name] = self._pending[table.name], []
            self._insert(table, rows)
        latest, self._latest_alarms = self._latest_alarms, {}
        if not latest:
            return
        again = [alarm_id for alarm_id in latest if alarm_id in self._alarms_written]
        if again:  # changed after an earlier write: the new state replaces the row
            self.connection.execute(
                alarms.delete().where(alarms.c.run_id == self.run_id, alarms.c.alarm_id.in_(again))
            )
        self._insert(
            alarms,
            [
                (self.run_id, alarm_id, _plain(a.time_s), a.change, *_alarm_values(a))
                for alarm_id, a in latest.items()
            ],
        )
        self._alarms_written.update(latest)

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        dialect = self.connection.dialect
        if dialect.paramstyle in ("qmark", "format", "numeric"):
            # Positional driver (sqlite3): hand the tuples to executemany as they are; building
            # a dict per row through SQLAlchemy's compiler costs five times the insert itself.
            sql = self._sql.get(table.name)
            if sql is None:
                sql = self._sql[table.name] = str(insert(table).compile(dialect=dialect))
            result = self.connection.exec_driver_sql(sql, rows)
        else:
            # Named-parameter drivers (psycopg 3, whose executemany pipelines the rows). Columnar
            # values are Python ones already (tolist); scalars from records may be numpy's.
            keys = [c.name for c in table.columns]
            result = self.connection.execute(
                insert(table),
                [{k: _plain(v) for k, v in zip(keys, row, strict=True)} for row in rows],
            )
        if result.rowcount not in (-1, len(rows)):  # -1: the driver does not say
            raise StoreError(f"{table.name}: {result.rowcount} rows written of {len(rows)}")

    def _run_started(self, r: RunStarted) -> None:
        self._insert(
            runs,
            [
                (
                    self.run_id,
                    self.run_key,
                    self.label,
                    self.directory,
                    r.scenario,
                    str(r.seed),
                    r.start.isoformat(),
                    r.duration_s,
                    r.pm_interval_s,
                    r.usage_interval_s,
                    r.currency,
                )
            ],
        )

    def _inventory(self, inv: Inventory) -> None:
        run = [self.run_id] * len(inv.node_ids)
        self._insert(
            nodes,
            _rows(
                run,
                inv.node_ids,
                inv.node_roles,
                [None if np.isnan(x) else x for x in inv.node_lat.tolist()],
                [None if np.isnan(x) else x for x in inv.node_lon.tolist()],
            ),
        )
        self._insert(
            links,
            _rows(
                [self.run_id] * len(inv.link_ids),
                inv.link_ids,
                range(len(inv.link_ids)),
                inv.link_a,
                inv.link_b,
                inv.link_capacity_mbps,
                inv.link_latency_ms,
            ),
        )
        self._insert(
            cells,
            _rows(
                [self.run_id] * len(inv.cell_ids),
                inv.cell_ids,
                range(len(inv.cell_ids)),
                inv.cell_tower,
                inv.cell_voice_channels,
                inv.cell_data_mbps,
            ),
        )
        self._cell_ids, self._link_ids = inv.cell_ids, inv.link_ids
        cell_ids = np.array(inv.cell_ids, dtype=object)
        products = np.array(inv.product_names, dtype=object)
        n = inv.subscribers
        # The BSS publishes the start inventory's customers as it takes the inventory, before
        # the store (attached after the twin's functions) gets it: written in the same rows.
        customers, self._customers_first = self._customers_first, None
        ids = None if customers is None else _CustomerIds(n, customers)
        if isinstance(self.series, ParquetSeries):  # a run directory: Parquet at the end
            self._subscribers = _Subscribers(inv, ids)
            self.series.before_close.append(self._write_subscribers)
        else:
            subscription: Any = _Same(None)
            account: Any = _Same(None)
            if ids is not None:
                subscription = _Lazy.subscriptions(ids.subscription)
                account = _Lazy.texts(account_texts(ids.account, ids.labels))
            self._insert_columns(
                subscribers,
                [
                    _Same(self.run_id),
                    np.arange(n),
                    cell_ids[inv.subscriber_cell],
                    products[inv.subscriber_product],
                    _Same(0.0),
                    subscription,
                    account,
                ],
            )
        self._inventory_written = True

    def _admitted(self, r: SubscriptionAdmitted) -> None:
        if self._subscribers is not None:
            self._subscribers.admitted.append((r.subscriber, r.cell, r.product, r.time_s))
            return
        self._insert(
            subscribers, [(self.run_id, r.subscriber, r.cell, r.product, r.time_s, None, None)]
        )

    def _released(self, r: SubscriptionReleased) -> None:
        self._insert(
            subscriber_releases, [(self.run_id, r.subscriber, r.cell, r.product, r.time_s)]
        )

    def _order_change(self, c: OrderStateChange) -> None:
        self._order_seq += 1
        self._insert(
            product_order_transitions,
            [
                (
                    self.run_id,
                    self._order_seq,
                    c.time_s,
                    c.order_id,
                    c.state,
                    c.previous,
                    c.reason,
                )
            ],
        )
        if c.final:
            self._insert(
                product_orders,
                [
                    (
                        self.run_id,
                        c.order_id,
                        c.state,
                        c.reason,
                        c.account,
                        c.product,
                        c.tower,
                        c.quantity,
                        c.completed,
                        c.failed,
                        c.source,
                        c.event_index,
                        c.time_s,
                    )
                ],
            )

    def _order_item(self, i: OrderItemChange) -> None:
        self._insert(
            product_order_items,
            [
                (
                    self.run_id,
                    i.order_id,
                    i.item,
                    i.state,
                    _plain(i.subscriber),
                    i.subscription,
                    i.reason,
                    i.time_s,
                )
            ],
        )

    def _saga_step(self, s: SagaStep) -> None:
        self._step_seq += 1
        self._insert(
            product_order_steps,
            [
                (
                    self.run_id,
                    self._step_seq,
                    s.time_s,
                    s.order_id,
                    s.item,
                    s.step,
                    s.action,
                    s.outcome,
                    s.attempt,
                    s.detail,
                )
            ],
        )

    def _state(self, r: ResourceStateChange) -> None:
        self._insert(
            resource_states,
            [(self.run_id, r.time_s, r.resource, r.kind, r.operational_state, r.cause, r.fault_id)],
        )

    def _cell_pm(self, b: CellPmBatch) -> None:
        n = len(self._cell_ids)
        self.series.write(
            "cell_pm",
            {
                "start_s": np.full(n, b.start_s),
                "end_s": np.full(n, b.end_s),
                "cell_index": np.arange(n, dtype=np.int32),
                **{name: getattr(b, name) for name in _CELL_COUNTERS},
            },
        )

    def _link_pm(self, b: LinkPmBatch) -> None:
        n = len(self._link_ids)
        self.series.write(
            "link_pm",
            {
                "start_s": np.full(n, b.start_s),
                "end_s": np.full(n, b.end_s),
                "link_index": np.arange(n, dtype=np.int32),
                **{name: getattr(b, name) for name in _LINK_COUNTERS},
            },
        )

    def _usage(self, b: UsageBatch) -> None:
        n = len(b.subscriber)
        rated = self._rated_usage.pop(b.start_s, None)
        if rated is None:
            is_rated = np.zeros(n, dtype=bool)
            status = np.zeros(n, dtype=np.int8)  # received
            none = np.zeros(n, dtype=np.int64)  # masked: null
            rating = dict.fromkeys(RATING_COLUMNS, none)
        else:
            # the rated records are the batch's rows in order, less those rejected
            at = np.searchsorted(b.subscriber, rated.subscriber)
            is_rated = np.zeros(n, dtype=bool)
            is_rated[at] = True
            status = np.where(is_rated, 1, 2).astype(np.int8)  # rated, rejected

            def column(values: np.ndarray) -> np.ndarray:
                if len(values) == n:
                    return values
                out = np.zeros(n, dtype=np.int64)  # masked where not rated: null
                out[at] = values
                return out

            rating = {
                "cycle": np.full(n, rated.cycle, dtype=np.int64),
                "subscription_number": column(rated.subscription + 1),  # SUB-<n>
                **{name: column(getattr(rated, field)) for name, field in _RATING_FIELDS.items()},
            }
        self.series.write(
            "usage",
            {
                "start_s": np.full(n, b.start_s),
                "end_s": np.full(n, b.end_s),
                "subscriber": b.subscriber,
                "voice_seconds": b.voice_seconds,
                "data_mb": b.data_mb,
                "status": status,
                **rating,
            },
            rated=is_rated,
        )

    def _notification(self, n: AlarmNotification) -> None:
        self._pending[notifications.name].append(
            (
                self.run_id,
                _plain(n.notification_id),
                _plain(n.time_s),
                _plain(n.event_time_s),
                n.alarmed_object,
                n.alarmed_object_type,
                n.source,
                n.alarm_type,
                n.perceived_severity,
                n.probable_cause,
                n.specific_problem,
                bool(n.planned_outage),
            )
        )

    def _alarm_change(self, a: AlarmChange) -> None:
        self._alarm_seq += 1
        self._pending[alarm_history.name].append(
            (
                self.run_id,
                self._alarm_seq,
                _plain(a.time_s),
                a.change,
                _plain(a.alarm_id),
                *_alarm_values(a),
            )
        )
        self._latest_alarms[_plain(a.alarm_id)] = a

    def _sla_breaches(self, b: SlaBreaches) -> None:
        self._insert_columns(
            sla_breaches,
            [
                _Same(self.run_id),
                _Same(b.time_s),
                b.subscriber,
                np.array(b.product_names, dtype=object)[b.product],
                _Same(b.cycle_start_s),
                _Same(b.cycle_end_s),
                b.availability,
                b.target,
            ],
        )

    def _run_ended(self, _r: RunEnded) -> None:
        self.finish()

    def _rated(self, r: RatedUsage) -> None:
        # The BSS rates a usage batch as it is published, before the store (attached after the
        # twin's functions) gets the batch: kept here, written with the batch's rows.
        self._rated_usage[r.start_s] = r

    def _insert_columns(self, table: Table, columns: list[Any]) -> None:
        """Insert columnar rows in slices, so a million rows never sit in memory as tuples."""
        n = max((len(c) for c in columns if not isinstance(c, _Same)), default=0)
        for first in range(0, n, SQL_SLICE):
            last = min(first + SQL_SLICE, n)
            self._insert(
                table,
                _rows(
                    *(
                        [c.value] * (last - first) if isinstance(c, _Same) else c[first:last]
                        for c in columns
                    )
                ),
            )

    def _invoices(self, b: InvoiceBatch) -> None:
        # made by Arrow from the account numbers: no Python text per invoice at the run's end
        ids = account_texts(b.invoice_account, b.account_labels, prefix=f"INV-{b.cycle + 1}-")
        if self.connection.dialect.name == "sqlite":
            self._sqlite_invoices(b)
        else:
            self._insert_columns(
                invoices,
                [
                    _Same(self.run_id),
                    _Lazy.texts(ids),
                    _Lazy.texts(account_texts(b.invoice_account, b.account_labels)),
                    _Same(b.cycle),
                    b.invoice_total,
                ],
            )
        self._insert(
            billing_cycles,
            [
                (
                    self.run_id,
                    b.cycle,
                    b.period_start_s,
                    b.period_end_s,
                    b.cycle_days,
                    b.currency,
                    b.digits,
                )
            ],
        )
        if isinstance(self.series, ParquetSeries):  # a run directory: Parquet (docs/store.md)
            self._invoice_charges(self.series, b, ids)
        else:
            charges = len(b.charge_invoice)
            self._insert_columns(
                invoice_charges,
                [
                    _Same(self.run_id),
                    _Lazy(charges, lambda i, j: ids.take(b.charge_invoice[i:j]).to_pylist()),
                    np.arange(charges),
                    _Lazy.subscriptions(b.charge_subscription),
                    np.array(b.product_ids, dtype=object)[b.charge_product],
                    b.charge_days,
                    np.array(b.fees or ("",), dtype=object)[b.charge_fee],
                    b.charge_recurring,
                    b.charge_voice_overage,
                    b.charge_voice_amount,
                    b.charge_data_overage,
                    b.charge_data_amount,
                ],
            )
        self._insert(
            billing_rates,
            [
                (self.run_id, b.cycle, b.cycle_days, product, name, minute, megabyte)
                for product, name, minute, megabyte in zip(
                    b.product_ids,
                    b.product_names,
                    b.voice_minute_price,
                    b.data_mb_price,
                    strict=True,
                )
            ],
        )
        lines: dict[int, int] = {}
        rows: list[tuple[Any, ...]] = []
        for x in b.adjustments:
            if len(rows) == SQL_SLICE:  # an SLA credit each: 300,000 at a national month's end
                self._insert(invoice_adjustments, rows)
                rows = []
            lines[x.invoice] = lines.get(x.invoice, 0) + 1
            rows.append(
                (
                    self.run_id,
                    b.invoice_id(x.invoice),
                    lines[x.invoice],
                    "" if x.subscription < 0 else f"SUB-{x.subscription + 1}",
                    x.kind,
                    x.description,
                    x.quantity,
                    x.unit_price,
                    x.amount,
                )
            )
        self._insert(invoice_adjustments, rows)

    def _sqlite_invoices(self, b: InvoiceBatch) -> None:
        """The invoices' rows on SQLite, whose ``||`` makes the ids' texts from the account
        numbers: integers bound instead of texts made in Python, many rows a statement (a
        national day's 625,000 invoices took 0.9 s, on the run's critical path). The accounts
        the saga named go the general way, each in its place, so the rows keep the batch's
        order."""
        account, total = b.invoice_account, b.invoice_total
        # the run id (hex) and the cycle (an int) written into the statement: nothing to quote;
        # _ROWS_PER_INSERT rows a statement (one executemany step each)
        row = f"('{self.run_id}', 'INV-{b.cycle + 1}-ACC-' || ?, 'ACC-' || ?, {b.cycle}, ?)"
        head = "INSERT INTO invoices (run_id, invoice_id, account_id, cycle, total_minor) VALUES "
        by_number = {k: head + ",".join([row] * k) for k in (1, _ROWS_PER_INSERT)}
        named = np.flatnonzero(np.isin(account, list(b.account_labels))).tolist()
        first = 0
        for last in [*named, len(account)]:
            for lo in range(first, last, SQL_SLICE):
                hi = min(lo + SQL_SLICE, last)
                numbers = account[lo:hi] + 1
                values = np.column_stack([numbers, numbers, total[lo:hi]])
                whole = (hi - lo) // _ROWS_PER_INSERT * _ROWS_PER_INSERT
                for k, part in ((_ROWS_PER_INSERT, values[:whole]), (1, values[whole:])):
                    if len(part):
                        params = list(map(tuple, part.reshape(-1, 3 * k).tolist()))
                        result = self.connection.exec_driver_sql(by_number[k], params)
                        if result.rowcount not in (-1, len(part)):
                            raise StoreError(
                                f"invoices: {result.rowcount} rows written of {len(part)}"
                            )
            if last < len(account):  # a named account's invoice
                named_row = (self.run_id, b.invoice_id(last), b.account_id(int(account[last])))
                self._insert(invoices, [(*named_row, b.cycle, int(total[last]))])
            first = last + 1

    @staticmethod
    def _invoice_charges(series: ParquetSeries, b: InvoiceBatch, ids: pa.Array) -> None:
        """A run directory's invoice charges, in row groups of :data:`LEDGER_GROUP_ROWS`: the
        charges come in invoice order, so each group's invoice-id dictionary is its own
        invoices' ids (a cycle in one group held a million charges at once; docs/store.md)."""
        charges = len(b.charge_invoice)
        for first in range(0, max(charges, 1), LEDGER_GROUP_ROWS):
            last = min(first + LEDGER_GROUP_ROWS, charges)
            invoice = b.charge_invoice[first:last]
            lo, hi = 0, len(ids)
            if len(invoice) and bool((invoice[1:] >= invoice[:-1]).all()):
                lo, hi = int(invoice[0]), int(invoice[-1]) + 1
            series.write_ledger(
                "invoice_charges",
                {
                    "invoice_id": text_column(invoice - lo, ids.slice(lo, hi - lo)),
                    "charge": arrow_array(np.arange(first, last), pa.int32()),
                    "subscription_number": arrow_array(
                        b.charge_subscription[first:last] + 1, pa.int32()
                    ),
                    "product": text_column(b.charge_product[first:last], b.product_ids),
                    "days": arrow_array(b.charge_days[first:last], pa.int32()),
                    "monthly_fee": text_column(b.charge_fee[first:last], b.fees or ("",)),
                    "recurring_minor": arrow_array(b.charge_recurring[first:last], pa.int64()),
                    "minutes_over": arrow_array(b.charge_voice_overage[first:last], pa.int64()),
                    "voice_minor": arrow_array(b.charge_voice_amount[first:last], pa.int64()),
                    "mb_over": arrow_array(b.charge_data_overage[first:last], pa.int64()),
                    "data_minor": arrow_array(b.charge_data_amount[first:last], pa.int64()),
                },
            )

    def _credits(self, c: SlaCredits) -> None:
        self._insert_columns(
            credits,
            [
                _Same(self.run_id),
                c.time_s,
                _Lazy.subscriptions(c.subscription),
                _Lazy.texts(account_texts(c.account, c.account_labels)),
                np.array(c.product_ids, dtype=object)[c.product],
                c.breached_cycle,
                c.cycle_start_s,
                c.cycle_end_s,
                c.availability,
                c.target,
                np.array(c.credit_percent, dtype=object)[c.product],
                c.amount,
                _Lazy(len(c), c.invoice_ids),
            ],
        )

    def _customers(self, c: CustomerBase) -> None:
        if not self._inventory_written:  # the start inventory's: written with it
            self._customers_first = c
            return
        # the saga's, at the end: the network admitted them already (SubscriptionAdmitted)
        if self._subscribers is not None:
            self._subscribers.customers.append(c)
            return
        for subscriber, subscription, account in zip(
            c.subscriber.tolist(),
            c.subscription_ids(),
            [c.account_id(a) for a in c.subscription_account.tolist()],
            strict=True,
        ):
            self.connection.execute(
                subscribers.update()
                .where(subscribers.c.run_id == self.run_id, subscribers.c.subscriber == subscriber)
                .values(subscription=subscription, account=account)
            )

    def _write_subscribers(self) -> None:
        held, self._subscribers = self._subscribers, None
        if held is not None and isinstance(self.series, ParquetSeries):
            held.write(self.series)

    def _business(self, e: BusinessEvent) -> None:
        self._insert(
            business_events,
            [
                (
                    self.run_id,
                    e.time_s,
                    e.event_index,
                    e.action,
                    e.product,
                    e.count,
                    e.tower,
                    None if e.monthly_fee is None else str(e.monthly_fee),
                )
            ],
        )


_CELL_COUNTERS = tuple(f.name for f in SCHEMAS["cell_pm"])[3:]
_LINK_COUNTERS = tuple(f.name for f in SCHEMAS["link_pm"])[3:]
# usage's rating columns and the RatedUsage fields they hold (cycle and subscription apart)
_RATING_FIELDS = {
    "billed_minutes": "voice_minutes",
    "minutes_over": "voice_overage",
    "voice_nano": "voice_nano",
    "billed_mb": "data_mb",
    "mb_over": "data_overage",
    "data_nano": "data_nano",
}

_DONE = object()
_ROWS_PER_INSERT = 256  # rows of one multi-row INSERT (3 parameters each; SQLite allows 32,766)
_HANDOFF = 512  # small records handed to the store's thread at a time
# Records that carry arrays: handed over at once, each alone at the end of its list.
_BULK_RECORDS = (
    Inventory,
    CellPmBatch,
    LinkPmBatch,
    UsageBatch,
    RatedUsage,
    InvoiceBatch,
    CustomerBase,
)


class _Subscribers:
    """A run directory's subscribers, kept until the run's end and written as one Parquet
    table: the start inventory's (columns as they came), those admitted since, and the
    saga's customers (their subscription and account) published at the end."""

    def __init__(self, inv: Inventory, ids: _CustomerIds | None):
        self.inv = inv
        self.ids = ids
        self.start = inv.subscribers
        self.admitted: list[tuple[int, str, str, float]] = []
        self.customers: list[CustomerBase] = []

    def write(self, series: ParquetSeries) -> None:
        """Write the rows a slice at a time: the texts of a million subscribers never sit in
        memory as Python lists and Arrow strings at once, at the run's end."""
        columns = self.columns()
        total = self.start + len(self.admitted)
        for first in range(0, max(total, 1), _SUBSCRIBER_SLICE):
            series.write_ledger(
                "subscribers",
                {
                    name: values(first, first + _SUBSCRIBER_SLICE)
                    for name, values in columns.items()
                },
            )

    def columns(self) -> dict[str, Callable[[int, int], pa.Array]]:
        inv, n = self.inv, self.start
        cell_of = {c: i for i, c in enumerate(inv.cell_ids)}
        names = list(inv.product_names)
        product_of = {p: i for i, p in enumerate(names)}
        for _, _, name, _ in self.admitted:
            if name not in product_of:
                product_of[name] = len(names)
                names.append(name)
        total = n + len(self.admitted)
        # the start inventory's rows read from its arrays a slice at a time (no copies of a
        # million rows at the run's end); the admitted ones from arrays of their own
        added = self.admitted
        added_subscriber = np.array([a[0] for a in added], dtype=np.int64)
        added_cell = np.array([cell_of[a[1]] for a in added], dtype=np.int64)
        added_product = np.array([product_of[a[2]] for a in added], dtype=np.int64)
        added_since = np.array([a[3] for a in added], dtype=np.float64)

        def rows(start: np.ndarray | None, later: np.ndarray, first: int, last: int) -> np.ndarray:
            head = np.arange(first, min(last, n)) if start is None else start[first:last]
            if last <= n:
                return np.asarray(head)
            return np.concatenate([head, later[max(first - n, 0) : last - n]])

        def subscriber(i: int, j: int) -> np.ndarray:
            return rows(None, added_subscriber, i, j)

        def cell(i: int, j: int) -> np.ndarray:
            return rows(inv.subscriber_cell, added_cell, i, j)

        def product(i: int, j: int) -> np.ndarray:
            return rows(inv.subscriber_product, added_product, i, j)

        def since(i: int, j: int) -> np.ndarray:  # the start inventory's: from the start
            head = np.zeros(max(min(j, n) - i, 0))
            return head if j <= n else np.concatenate([head, added_since[max(i - n, 0) : j - n]])

        customers = [c for c in self.customers if len(c.subscriber)]
        if self.ids is not None and total == n and not customers:
            ids = self.ids  # the start inventory's, as they came: no copy
        else:
            ids = _CustomerIds(total)
            if self.ids is not None:
                ids.subscription[:n] = self.ids.subscription
                ids.account[:n] = self.ids.account
                ids.labels.update(self.ids.labels)
        if customers:
            # a subscriber's row: its last admission's, else its index in the start inventory
            admitted = {sub: row for row, (sub, *_) in enumerate(self.admitted, start=n)}

            def row_of(s: int) -> int:
                if s in admitted:
                    return admitted[s]
                if 0 <= s < n:
                    return s
                raise KeyError(f"subscriber {s} is not in the inventory nor admitted")

            for c in customers:
                ids.add(np.array([row_of(s) for s in c.subscriber.tolist()], int), c)

        def numbers(first: int, last: int) -> pa.Array:
            part = ids.subscription[first:last]
            return arrow_array(part + 1, pa.int32(), part >= 0)

        def accounts(first: int, last: int) -> pa.Array:
            return account_texts(ids.account[first:last], ids.labels).dictionary_encode()

        def since_s(first: int, last: int) -> pa.Array:
            part = np.ascontiguousarray(since(first, last), dtype=np.float64)
            return pa.Array.from_buffers(pa.float64(), len(part), [None, pa.py_buffer(part)])

        return {
            "subscriber": lambda i, j: arrow_array(subscriber(i, j), pa.int32()),
            "cell_index": lambda i, j: arrow_array(cell(i, j), pa.int32()),
            "product": lambda i, j: text_column(product(i, j), names),
            "since_s": since_s,
            "subscription_number": numbers,
            "account": accounts,
        }


class _CustomerIds:
    """Each subscriber row's subscription and account, by number (-1: none); the texts
    (``SUB-<n+1>``, ``ACC-<n+1>`` or the saga's name) are made only as they are written."""

    def __init__(self, rows: int, customers: CustomerBase | None = None):
        self.subscription = np.full(rows, -1, dtype=np.int64)
        self.account = np.full(rows, -1, dtype=np.int64)
        self.labels: dict[int, str] = {}
        if customers is not None:  # the start inventory's: subscriber index = row
            self.add(customers.subscriber, customers)

    def add(self, rows: np.ndarray, customers: CustomerBase) -> None:
        self.subscription[rows] = customers.subscription
        self.account[rows] = customers.subscription_account
        self.labels.update(customers.account_labels)


def account_texts(ordinals: np.ndarray, labels: Mapping[int, str], *, prefix: str = "") -> pa.Array:
    """``prefix`` and each account's id (:func:`~twin.bss.records.account_id`) as Arrow
    strings, null where the ordinal is -1: made by Arrow from the numbers, with no Python
    text per row."""
    numbers = pc.cast(arrow_array(ordinals + 1, pa.int64(), ordinals >= 0), pa.string())
    start, nothing = text_array((prefix + "ACC-", ""))  # Arrow scalars: no pandas (bulk.py)
    texts = pc.binary_join_element_wise(start, numbers, nothing)
    named = np.flatnonzero(np.isin(ordinals, list(labels))) if labels else np.zeros(0, int)
    if len(named):  # the saga's names, appended and taken in their rows' places
        given = text_array(tuple(prefix + labels[a] for a in ordinals[named].tolist()))
        rows = np.arange(len(ordinals))
        rows[named] = len(ordinals) + np.arange(len(named))
        texts = pa.concat_arrays([texts, given]).take(arrow_array(rows, pa.int64()))
    return texts


@dataclass(frozen=True)
class _Lazy:
    """A column for :meth:`Store._insert_columns` made a slice at a time by ``make(first,
    last)``: a million texts never sit in memory at once."""

    length: int
    make: Callable[[int, int], list[Any]]

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, rows: slice) -> list[Any]:
        return self.make(rows.start, rows.stop)

    @classmethod
    def texts(cls, array: pa.Array) -> _Lazy:
        """An Arrow array's values as Python ones, a slice at a time."""
        return cls(len(array), lambda first, last: array[first:last].to_pylist())

    @classmethod
    def subscriptions(cls, ordinals: np.ndarray) -> _Lazy:
        """Subscription ids (``SUB-<n+1>``) of ``ordinals``, None for -1."""

        def make(first: int, last: int) -> list[str | None]:
            part = ordinals[first:last].tolist()
            return [None if n < 0 else subscription_id(n) for n in part]

        return cls(len(ordinals), make)


_SUBSCRIBER_SLICE = 1 << 18  # rows of subscribers built and written at a time


@dataclass(frozen=True)
class _Same:
    """One value for every row of a column."""

    value: Any


def _delete_runs_of(connection: Connection, directory: str) -> None:
    """Delete every row of the runs recorded for ``directory``, and no other run's."""
    query = select(runs.c.run_id).where(runs.c.directory == directory)
    replaced = list(connection.execute(query).scalars())
    if replaced:
        keys = [run_key(run_id) for run_id in replaced]
        for table in metadata.sorted_tables:
            if table.name in SERIES_TABLES:
                connection.execute(table.delete().where(table.c.run_key.in_(keys)))
            else:
                connection.execute(table.delete().where(table.c.run_id.in_(replaced)))


class StoreError(RuntimeError):
    """Writing the twin's store failed; the run is rolled back."""


def check_store(url: str, directory: str, *, replace: bool) -> str | None:
    """Return why ``url`` cannot take a run of ``directory``, or None when it can.

    Opens the database, creates the tables if needed and looks for an earlier run of the same
    directory (which ``replace`` allows), so that a bad ``--store`` stops before the simulation
    starts.
    """
    try:
        engine = open_engine(url)
    except Exception as error:  # SQLAlchemy raises several kinds for a bad URL
        return f"cannot open it: {str(error).splitlines()[0]}"
    try:
        with engine.connect() as connection:
            taken = connection.execute(runs.select().where(runs.c.directory == directory)).first()
    except Exception as error:
        return f"cannot use it: {str(error).splitlines()[0]}"
    finally:
        engine.dispose()
    if taken is not None and not replace:
        return f"it already holds a run of {directory}; choose another --out or add --force"
    return None


class BackgroundStore:
    """A :class:`Store` on its own thread, so writing overlaps with simulating.

    The thread owns the engine, the connection and the one transaction, and the bulk time
    series' writer: Parquet files under ``series_dir`` when given (a run directory being built
    aside, removed whole if the run fails), else the database's tables. Records are queued
    as they are published (they are immutable); :meth:`close` waits for the queue to drain and
    commits, or rolls back when the run failed. An error on the writer's side is raised in the
    simulating thread at the next record or at :meth:`close`.
    """

    def __init__(
        self,
        url: str,
        run_id: str,
        *,
        directory: str,
        label: str,
        scratch: bool = False,
        replace: bool = False,
        backlog: int = 64,
        series_dir: Path | None = None,
    ):
        self.url = url
        self.series_dir = series_dir
        self.scratch = scratch
        self.replace = replace
        self.run_id = run_id
        self.directory = directory
        self.label = label
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=backlog)
        self._pending: list[FeedRecord] = []
        self._error: BaseException | None = None
        self._commit = False
        self._thread = threading.Thread(target=self._work, name="telcotwin-store", daemon=True)
        self._thread.start()

    def attach(self, bus: Bus) -> None:
        for kind in RECORD_TYPES:
            bus.subscribe(kind, self.write)

    def write(self, record: FeedRecord) -> None:
        self._raise_if_failed()
        self._pending.append(record)
        if len(self._pending) >= _HANDOFF or isinstance(record, _BULK_RECORDS):
            self._hand_over()

    def _hand_over(self) -> None:
        # Small records go over in lists: a handoff per record costs the two threads a GIL
        # switch each, about 0.1 ms, which made the 36,000 SLA breaches at a national day's end
        # take 4 s (docs/national-month.md). A bulk record goes at once, so that a list never
        # holds more than one.
        pending, self._pending = self._pending, []
        if pending:
            self._queue.put(pending)

    def close(self, *, commit: bool) -> None:
        self._commit = commit
        self._hand_over()
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _work(self) -> None:
        try:
            in_files = self.series_dir is not None
            engine = open_engine(self.url, scratch=self.scratch, series=not in_files)
            try:
                with engine.connect() as connection:
                    transaction = connection.begin()
                    if self.replace:  # --force: the new run replaces the old in one transaction
                        _delete_runs_of(connection, self.directory)
                    series = None if self.series_dir is None else ParquetSeries(self.series_dir)
                    store = Store(
                        connection,
                        self.run_id,
                        directory=self.directory,
                        label=self.label,
                        series=series,
                    )
                    while (records := self._queue.get()) is not _DONE:
                        for record in records:
                            store.write(record)
                    if self._commit:
                        store.finish()
                        store.series.close()
                        transaction.commit()
                    else:
                        transaction.rollback()
            finally:
                engine.dispose()
        except BaseException as error:  # handed to the simulating thread, as one line
            self._error = StoreError(f"{type(error).__name__}: {error}".splitlines()[0])
            while self._queue.get() is not _DONE:  # let the producer finish without blocking
                pass

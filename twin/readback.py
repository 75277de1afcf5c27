"""A finished run read back from its store, for the commands that inspect a run afterwards
(``telcotwin alarms``, ``impact``, ``n1``) and for notebooks.

A run directory names its run by ``run.json``; its rows are in ``twin.sqlite`` beside it (the
bulk time series in ``timeseries/*.parquet``, read through :mod:`twin.timeseries`), or in the
database given with ``--store`` when the run wrote there. Only the store is read, never
the run's ground truth: these commands show what the operator's OSS knows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from sqlalchemy import Engine, create_engine, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from sim.scenario import Problem, ScenarioError
from twin.bulk import SERIES_DIR, run_key
from twin.feed import Inventory
from twin.store import (
    alarm_history,
    business_events,
    cells,
    links,
    nodes,
    runs,
    subscriber_releases,
)
from twin.timeseries import read_subscribers

__all__ = ["StoredRun", "alarms_at", "monthly_fees", "open_run"]


@dataclass(frozen=True)
class StoredRun:
    """A run's store and its id, with what ``runs`` records of it. ``series_dir`` is the
    folder of its bulk time series' Parquet files, None when they are in the database."""

    directory: Path
    engine: Engine
    run_id: str
    start: str
    duration_s: float
    series_dir: Path | None = None

    @property
    def run_key(self) -> int:
        """The run's key on the bulk rows of a SQL store (:func:`twin.bulk.run_key`)."""
        return run_key(self.run_id)

    def close(self) -> None:
        self.engine.dispose()

    def inventory(self) -> Inventory:
        """The network as the run's inventory export gave it (nodes, links, cells and the
        subscribers homed on them), ids in sorted order."""
        with self.engine.connect() as connection:

            def rows(table: Any, *columns: str) -> list[Any]:
                query = select(*(table.c[c] for c in columns)).where(table.c.run_id == self.run_id)
                return list(connection.execute(query.order_by(table.c[columns[0]])))

            node_rows = rows(nodes, "node_id", "role", "lat", "lon")
            link_rows = rows(links, "link_id", "a", "b", "capacity_mbps", "latency_ms")
            cell_rows = rows(cells, "cell_id", "tower", "voice_channels", "data_mbps")
            released = _released(connection, self.run_id)
        held = read_subscribers(self)
        subscriber_rows = [
            SimpleNamespace(subscriber=s, cell_id=c, product=p)
            for s, c, p in zip(
                held["subscriber"].tolist(),
                held["cell_id"].tolist(),
                held["product"].tolist(),
                strict=True,
            )
        ]
        if released:  # the network released them: they hold no place any more
            subscriber_rows = [r for r in subscriber_rows if r.subscriber not in released]
        cell_index = {row.cell_id: i for i, row in enumerate(cell_rows)}
        products = sorted({row.product for row in subscriber_rows}) or [""]
        product_index = {name: i for i, name in enumerate(products)}

        def floats(values: list[Any]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        return Inventory(
            node_ids=tuple(r.node_id for r in node_rows),
            node_roles=tuple(r.role for r in node_rows),
            node_lat=floats([r.lat for r in node_rows]),
            node_lon=floats([r.lon for r in node_rows]),
            link_ids=tuple(r.link_id for r in link_rows),
            link_a=tuple(r.a for r in link_rows),
            link_b=tuple(r.b for r in link_rows),
            link_capacity_mbps=floats([r.capacity_mbps for r in link_rows]),
            link_latency_ms=floats([r.latency_ms for r in link_rows]),
            cell_ids=tuple(r.cell_id for r in cell_rows),
            cell_tower=tuple(r.tower for r in cell_rows),
            cell_voice_channels=np.array([r.voice_channels for r in cell_rows], dtype=np.int64),
            cell_data_mbps=floats([r.data_mbps for r in cell_rows]),
            subscriber_cell=np.array(
                [cell_index[r.cell_id] for r in subscriber_rows], dtype=np.int64
            ),
            product_names=tuple(products),
            subscriber_product=np.array(
                [product_index[r.product] for r in subscriber_rows], dtype=np.int64
            ),
        )


def _released(connection: Any, run_id: str) -> set[int]:
    """The subscribers the network released in the run (none in a store made before releases
    were stored)."""
    query = select(subscriber_releases.c.subscriber).where(subscriber_releases.c.run_id == run_id)
    try:
        return set(connection.execute(query).scalars())
    except SQLAlchemyError:
        return set()


def monthly_fees(run: StoredRun, catalog_fees: dict[str, Decimal]) -> dict[str, Decimal]:
    """Each product's monthly fee at the end of the run: the catalog's, changed by the run's
    price changes in the order they happened."""
    fees = dict(catalog_fees)
    query = (
        select(business_events.c.product, business_events.c.monthly_fee)
        .where(business_events.c.run_id == run.run_id)
        .where(business_events.c.action == "price_change")
        .order_by(business_events.c.time_s, business_events.c.event_index)
    )
    with run.engine.connect() as connection:
        for product, fee in connection.execute(query):
            if fee is not None:
                fees[product] = Decimal(fee)
    return fees


def open_run(directory: Path, store_url: str | None = None) -> StoredRun:
    """Open the store of the run in ``directory``, or raise :class:`ScenarioError` with one
    line saying why it cannot be read (not a run directory, no store, the run not in it)."""
    shown = str(directory)
    try:
        run_id = json.loads((directory / "run.json").read_text(encoding="utf-8"))["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ScenarioError(
            [Problem(shown, "", "not a run directory (no run.json): give one `telcotwin run` made")]
        ) from None
    series_dir = None
    where = "" if store_url is None else "--store"
    if store_url is None:
        # Parquet files, or (a store written by a Store of one's own) twin.sqlite's tables
        series_dir = directory / SERIES_DIR if (directory / SERIES_DIR).is_dir() else None
        database = directory / "twin.sqlite"
        if not database.is_file():
            raise ScenarioError(
                [Problem(shown, "", "has no twin.sqlite: the run wrote to --store; give its URL")]
            )
        store_url = f"sqlite:///{database}"
    older = (
        f"written by an older telcotwin, before {SERIES_DIR}/ (docs/store.md): "
        "run its scenario again to read it"
    )
    if series_dir is not None and not (series_dir / "subscribers.parquet").is_file():
        raise ScenarioError([Problem(shown, "", older)])
    try:
        engine = create_engine(store_url)  # read only: no tables created
        with engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("runs")}
            if columns and "run_key" not in columns:
                engine.dispose()
                raise ScenarioError([Problem(shown, where, older)])
            row = connection.execute(select(runs).where(runs.c.run_id == run_id)).first()
    except SQLAlchemyError as error:
        raise ScenarioError(
            [Problem(shown, "--store", f"cannot read the store: {error.__class__.__name__}")]
        ) from None
    if row is None:
        engine.dispose()
        raise ScenarioError([Problem(shown, "--store", f"the store holds no run {run_id}")])
    return StoredRun(directory, engine, run_id, row.start, row.duration_s, series_dir)


def alarms_at(
    run: StoredRun, at_s: float | None = None, *, everything: bool = False
) -> list[dict[str, Any]]:
    """The alarm list as an operator saw it at ``at_s`` (default: the end of the run).

    Each alarm as it was after its last change at or before that time. By default only the
    active alarms that are not children of a root cause, each with ``children``: how many
    active alarms it explains. With ``everything``, cleared alarms and children too.
    """
    query = (
        select(alarm_history)
        .where(alarm_history.c.run_id == run.run_id)
        .order_by(alarm_history.c.seq)
    )
    if at_s is not None:
        query = query.where(alarm_history.c.time_s <= at_s)
    latest: dict[int, dict[str, Any]] = {}
    with run.engine.connect() as connection:
        for row in connection.execute(query):
            alarm = row._asdict()
            del alarm["run_id"], alarm["seq"]
            alarm["correlated_alarms"] = json.loads(alarm["correlated_alarms"])
            alarm["root_candidates"] = json.loads(alarm["root_candidates"])
            if alarm["crossed_threshold"] is not None:
                alarm["crossed_threshold"] = json.loads(alarm["crossed_threshold"])
            latest[alarm["alarm_id"]] = alarm
    active = {i: a for i, a in latest.items() if a["cleared_time_s"] is None}
    children: dict[int, int] = {}
    for alarm in active.values():
        if alarm["parent_alarm"] is not None:
            children[alarm["parent_alarm"]] = children.get(alarm["parent_alarm"], 0) + 1
    shown = latest if everything else active
    out = []
    for alarm_id in sorted(shown):
        alarm = shown[alarm_id]
        if not everything and alarm["parent_alarm"] is not None:
            continue
        out.append({**alarm, "children": children.get(alarm_id, 0)})
    return out

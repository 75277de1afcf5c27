"""The notebook API: runs as pandas DataFrames, scenarios run from Python, figures to show.

For Jupyter (``pip install -e '.[notebooks]'``: pandas and ipykernel; matplotlib is core).
Open a run directory that ``telcotwin run`` made, or run a scenario with overrides, and read
what the twin knows as tables: the inventory, KPIs over time (recomputed from the stored PM
counters by the formulas the run used, :data:`twin.oss.performance.KPIS`), alarms, orders,
SLA breaches, invoices, credits and revenue, and the capacity plan. Like every
command that reads a run, only the store is read, never the simulator's truth.

>>> import tempfile
>>> from twin import notebook as tt
>>> folder = tempfile.TemporaryDirectory()
>>> tmp = folder.name
>>> run = tt.run(EXAMPLE, out=f"{tmp}/tiny")  # EXAMPLE: a two-tower scenario (module end)
>>> run.cells[["cell_id", "tower", "voice_channels"]]
  cell_id tower  voice_channels
0   t-a/1   t-a              10
1   t-b/1   t-b              10
>>> kpis = run.cell_kpis(by="network")  # or by="cell", by="tower"
>>> kpis.attrs["units"]["RRU.CellUnavailableTime"]
's'
>>> kpis["RRU.CellUnavailableTime"].tolist()  # t-b down from 20 to 50 min: 10, 15, 5 min
[0.0, 600.0, 900.0, 300.0]
>>> int(kpis["ERAB.EstabInitAttNbr.QCI1"].sum()) == run.summary["voice"]["offered"]
True

The operator's alarm list half an hour in: the tower's alarm, with the four it explains.

>>> active = run.alarms(at_s=1800, everything=False)
>>> active[["alarmed_object", "perceived_severity", "probable_cause", "children"]]
  alarmed_object perceived_severity    probable_cause  children
0            t-b           critical  equipmentFailure         4

The same scenario with overrides (``--set``'s dotted keys) and another seed:

>>> bigger = tt.run(EXAMPLE, overrides={"subscribers.count": 400}, seed=7, out=f"{tmp}/big")
>>> bigger.summary["subscribers"], bigger.summary["seed"]
(400, 7)
>>> run.close(); bigger.close(); folder.cleanup()

Plot helpers return a :class:`matplotlib.figure.Figure` (titled, with units on the axes), and
import matplotlib only when called.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from sqlalchemy import Table, select

from sim.scenario import Problem, ScenarioError, apply_overrides, parse_scenario, read_yaml
from twin.bss.catalog import decimal_from_minor
from twin.bss.readback import invoice_lines
from twin.kpi_report import STORED_RADIO_COUNTERS, link_counters, radio_counters
from twin.oss.performance import KPIS
from twin.readback import StoredRun, alarms_at, monthly_fees
from twin.readback import open_run as _open_stored
from twin.store import metadata
from twin.timeseries import (
    BULK_TABLES,
    LEDGER_TABLES,
    ledger_in_files,
    read_frame,
    read_ledger,
    read_subscribers,
)

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from twin.planning.capacity import CapacityPlan

__all__ = [
    "Comparison",
    "Run",
    "compare",
    "open_run",
    "plot_alarms",
    "plot_busy_hours",
    "plot_comparison",
    "plot_exhaustion",
    "plot_kpi",
    "run",
]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:  # pragma: no cover - the message is the point
        raise ImportError("the notebook API needs pandas: pip install -e '.[notebooks]'") from None
    return pandas


class Run:
    """A finished run, read back from its store as DataFrames.

    Get one from :func:`open_run` (a run directory) or :func:`run` (a scenario run now).
    ``summary`` and ``scenario`` are the run's ``summary.json`` and ``scenario.json``.
    """

    def __init__(self, stored: StoredRun):
        self._stored = stored
        self.directory = stored.directory
        self.run_id = stored.run_id
        self.start = datetime.fromisoformat(stored.start.replace("Z", "+00:00"))
        self.duration_s = stored.duration_s
        self.summary: dict[str, Any] = json.loads(
            (self.directory / "summary.json").read_text(encoding="utf-8")
        )
        self.scenario: dict[str, Any] = json.loads(
            (self.directory / "scenario.json").read_text(encoding="utf-8")
        )

    def __repr__(self) -> str:
        return f"<Run {self.summary['scenario']} seed {self.summary['seed']} in {self.directory}>"

    def close(self) -> None:
        """Let go of the store's connections (a notebook may simply drop the object)."""
        self._stored.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- tables ------------------------------------------------------------------------------

    def table(self, name: str) -> pd.DataFrame:
        """Any table of the store (``cell_pm``, ``usage``, ``product_order_steps`` ...) as the
        run wrote it, its ``run_id`` column dropped; the bulk time series (``cell_pm``,
        ``link_pm``, ``usage``) through :func:`twin.timeseries.read_frame`, with ``cell_id``,
        ``link_id``, ``status`` and ``subscription`` as always."""
        if name not in metadata.tables:
            known = ", ".join(sorted(metadata.tables))
            raise ScenarioError(
                [Problem(str(self.directory), "table", f"no table '{name}'; known: {known}")]
            )
        if name in BULK_TABLES:
            return read_frame(self._stored, name)
        if name in LEDGER_TABLES and ledger_in_files(self._stored):
            pd = _pandas()
            return pd.DataFrame(read_ledger(self._stored, name))
        return self._select(metadata.tables[name])

    def _series(self, name: str, order_by: list[str]) -> pd.DataFrame:
        frame = read_frame(self._stored, name)
        return frame.sort_values(order_by, kind="stable", ignore_index=True)

    def _select(self, table: Table, order_by: tuple[str, ...] = ()) -> pd.DataFrame:
        pd = _pandas()
        query = select(table).where(table.c.run_id == self.run_id)
        if order_by:
            query = query.order_by(*(table.c[c] for c in order_by))
        with self._stored.engine.connect() as connection:
            result = connection.execute(query)
            frame = pd.DataFrame(list(result), columns=list(result.keys()))
        return frame.drop(columns="run_id")

    def _time(self, seconds: Any) -> Any:
        """Simulation seconds as UTC timestamps."""
        pd = _pandas()
        return pd.Timestamp(self.start) + pd.to_timedelta(seconds, unit="s")

    @property
    def nodes(self) -> pd.DataFrame:
        """Every node: ``node_id``, ``role`` (core, aggregation, tower), ``lat``, ``lon``."""
        return self._select(metadata.tables["nodes"], ("node_id",))

    @property
    def cells(self) -> pd.DataFrame:
        """Every cell: ``cell_id``, ``tower``, ``voice_channels``, ``data_mbps``."""
        return self._select(metadata.tables["cells"], ("cell_id",))

    @property
    def links(self) -> pd.DataFrame:
        """Every link: ``link_id``, ``a``, ``b``, ``capacity_mbps``, ``latency_ms``."""
        return self._select(metadata.tables["links"], ("link_id",))

    def cell_kpis(self, by: Literal["cell", "tower", "network"] = "cell") -> pd.DataFrame:
        """The radio KPIs per PM interval, one row per interval and cell (or tower, or the
        whole network): ``time`` (UTC), ``start_s``, ``end_s``, the key, one column per KPI.
        A tower's or the network's KPI is the formula over its cells' summed counters, as
        performance management aggregates. Units in ``frame.attrs["units"]``."""
        pd = _pandas()
        pm = self._series("cell_pm", ["start_s", "cell_id"])
        cells = self.cells.set_index("cell_id")
        pm["tower"] = cells["tower"].reindex(pm["cell_id"]).to_numpy()
        pm["data_mbps"] = cells["data_mbps"].reindex(pm["cell_id"]).to_numpy()
        keys = {"cell": ["cell_id"], "tower": ["tower"], "network": []}[by]
        # sum the counters (and the capacity) over the group, then apply the formulas
        pm["cells"] = 1
        summed = pm.groupby(["start_s", "end_s", *keys], sort=True, as_index=False)[
            [*STORED_RADIO_COUNTERS, "data_mbps", "cells"]
        ].sum()
        columns = {
            c: summed[c].to_numpy(dtype=float) for c in ("start_s", "end_s", *STORED_RADIO_COUNTERS)
        }
        counters = radio_counters(columns, summed["data_mbps"].to_numpy(dtype=float))
        counters["cell_seconds"] = summed["cells"].to_numpy(dtype=float) * counters["interval_s"]
        return self._kpi_frame(pd, summed, keys, "radio", counters)

    def link_kpis(self) -> pd.DataFrame:
        """The link KPIs per PM interval, one row per interval and link: ``time`` (UTC),
        ``start_s``, ``end_s``, ``link_id``, one column per KPI; units in
        ``frame.attrs["units"]``."""
        pd = _pandas()
        pm = self._series("link_pm", ["start_s", "link_id"])
        capacity = self.links.set_index("link_id")["capacity_mbps"]
        columns = {c: pm[c].to_numpy(dtype=float) for c in ("start_s", "end_s", "carried_mb")}
        columns["seconds_in_service"] = pm["seconds_in_service"].to_numpy(dtype=float)
        counters = link_counters(columns, capacity.reindex(pm["link_id"]).to_numpy(dtype=float))
        return self._kpi_frame(pd, pm, ["link_id"], "link", counters)

    def _kpi_frame(
        self, pd: Any, rows: Any, keys: list[str], over: str, counters: dict[str, np.ndarray]
    ) -> pd.DataFrame:
        chosen = [k for k in KPIS if k.over == over]
        frame = pd.DataFrame(
            {
                "time": self._time(rows["start_s"].to_numpy()),
                "start_s": rows["start_s"].to_numpy(dtype=float),
                "end_s": rows["end_s"].to_numpy(dtype=float),
                **{key: rows[key].to_numpy() for key in keys},
                **{k.name: np.asarray(k.compute(counters), dtype=float) for k in chosen},
            }
        )
        frame.attrs["units"] = {k.name: k.unit for k in chosen}
        return frame

    def alarms(self, at_s: float | None = None, *, everything: bool = True) -> pd.DataFrame:
        """The alarm list (X.733 / TMF642 fields) as it stood at ``at_s`` (default: the end of
        the run): every alarm, cleared ones and children included, or with
        ``everything=False`` only the active root alarms an operator's list shows. Adds
        ``raised_time`` and ``cleared_time`` as UTC timestamps."""
        pd = _pandas()
        found = alarms_at(self._stored, at_s, everything=everything)
        frame = pd.DataFrame(found)
        if frame.empty:
            columns = ["alarm_id", "alarmed_object", "perceived_severity", "probable_cause"]
            columns += ["raised_time_s", "cleared_time_s", "raised_time", "cleared_time"]
            return pd.DataFrame(columns=columns)
        frame["raised_time"] = self._time(frame["raised_time_s"].to_numpy(dtype=float))
        cleared = frame["cleared_time_s"].to_numpy(dtype=float)  # None as NaN
        frame["cleared_time"] = self._time(cleared)
        return frame

    def orders(self) -> pd.DataFrame:
        """Every product order (TMF622) with its final state, one row per order; its
        transitions, items and saga steps are ``table("product_order_transitions")`` etc."""
        frame = self._select(metadata.tables["product_orders"], ("order_id",))
        frame["time"] = self._time(frame["time_s"].to_numpy(dtype=float))
        return frame

    def sla_breaches(self) -> pd.DataFrame:
        """Every SLA breach service assurance found: ``subscriber``, ``product``, the billing
        cycle, the ``availability`` measured and its ``target``; ``time`` in UTC."""
        frame = self._select(metadata.tables["sla_breaches"], ("time_s", "subscriber"))
        frame["time"] = self._time(frame["time_s"].to_numpy(dtype=float))
        return frame

    def subscriptions(self) -> pd.DataFrame:
        """Subscribers and monthly recurring revenue per product at the end of the run:
        ``product``, ``subscribers``, ``monthly_fee`` (the catalog's, after the run's price
        changes) and ``monthly_revenue``, both exact :class:`~decimal.Decimal` in
        ``frame.attrs["currency"]``. Empty without a catalog."""
        pd = _pandas()
        columns = ["product", "subscribers", "monthly_fee", "monthly_revenue"]
        catalog = self.scenario.get("catalog")
        if not catalog:
            return pd.DataFrame(columns=columns)
        fees = {p["id"]: Decimal(p["monthly_fee"]) for p in catalog["products"]}
        fees = monthly_fees(self._stored, fees)
        released = metadata.tables["subscriber_releases"]
        query = select(released.c.subscriber).where(released.c.run_id == self.run_id)
        with self._stored.engine.connect() as connection:
            gone = set(connection.execute(query).scalars())
        held = read_subscribers(self._stored)
        counts = Counter(
            product
            for subscriber, product in zip(
                held["subscriber"].tolist(), held["product"].tolist(), strict=True
            )
            if subscriber not in gone
        )
        rows = [
            (product, counts.get(product, 0), fee, fee * counts.get(product, 0))
            for product, fee in sorted(fees.items())
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame.attrs["currency"] = catalog["currency"]
        return frame

    # --- billing and revenue (twin.bss) --------------------------------------------------------

    def _cycles(self) -> dict[int, Any]:
        table = metadata.tables["billing_cycles"]
        with self._stored.engine.connect() as connection:
            rows = connection.execute(select(table).where(table.c.run_id == self.run_id))
            return {row.cycle: row for row in rows}

    def invoices(self) -> pd.DataFrame:
        """Every invoice (TMF678 customer bill), one row each: ``invoice_id``, ``account``,
        ``cycle``, ``period_start`` and ``period_end`` (UTC), ``currency`` and ``total``, an
        exact :class:`~decimal.Decimal`. Their lines: :meth:`invoice_lines`."""
        pd = _pandas()
        cycles = self._cycles()
        frame = self._select(metadata.tables["invoices"], ("cycle", "invoice_id"))
        columns = ["invoice_id", "account", "cycle", "period_start", "period_end", "currency"]
        if frame.empty:
            return pd.DataFrame(columns=[*columns, "total"])
        of = [cycles[c] for c in frame["cycle"]]
        return pd.DataFrame(
            {
                "invoice_id": frame["invoice_id"],
                "account": frame["account_id"],
                "cycle": frame["cycle"],
                "period_start": self._time(np.array([c.period_start_s for c in of])),
                "period_end": self._time(np.array([c.period_end_s for c in of])),
                "currency": [c.currency for c in of],
                "total": [
                    decimal_from_minor(int(m), c.minor_digits)
                    for m, c in zip(frame["total_minor"], of, strict=True)
                ],
            }
        )

    def invoice_lines(self) -> pd.DataFrame:
        """Every line of every invoice, as ``telcotwin bills`` prints them: ``invoice_id``,
        ``subscription``, ``kind`` (recurring, voice_overage, data_overage, sla_credit, ...),
        ``description``, ``quantity``, ``unit_price`` as printed (``"0.09"``, ``"-10.0%"``) and
        ``amount``, an exact Decimal."""
        pd = _pandas()
        with self._stored.engine.connect() as connection:
            rows = [
                {"invoice_id": invoice, **line, "amount": Decimal(line["amount"])}
                for invoice, line in invoice_lines(connection, self._stored)
            ]
        columns = ["invoice_id", "subscription", "kind", "description", "quantity"]
        return pd.DataFrame(rows, columns=[*columns, "unit_price", "amount"])

    def credits(self) -> pd.DataFrame:
        """Every SLA credit billing gave: the breached ``subscription``, its ``account`` and
        ``product``, the cycle, the ``availability`` against the ``target``,
        ``credit_percent``, the ``amount`` (an exact Decimal) and the invoice it is on."""
        frame = self._select(metadata.tables["credits"], ("time_s", "subscription"))
        cycles = self._cycles()
        amounts = [
            decimal_from_minor(int(m), cycles[c].minor_digits)
            for m, c in zip(frame["amount_minor"], frame["cycle"], strict=True)
        ]
        frame = frame.assign(amount=np.array(amounts, dtype=object))
        frame["time"] = self._time(frame["time_s"].to_numpy(dtype=float))
        return frame.drop(columns="amount_minor")

    def revenue(self, by: Literal["product", "tower", "day"] = "product") -> pd.DataFrame:
        """What the run earned, as billing and revenue management computed it (summary.json's
        ``revenue``): invoiced fees and usage less SLA credits by product or home tower, or
        recurring and usage accrued by day; exact Decimals in ``frame.attrs["currency"]``.
        Empty when the run had no billing (no catalog)."""
        pd = _pandas()
        revenue = self.summary.get("revenue")
        if not revenue:
            return pd.DataFrame(columns=[by, "revenue"])
        if by == "day":
            frame = pd.DataFrame(
                [
                    (day, Decimal(v["recurring"]), Decimal(v["usage"]))
                    for day, v in revenue["by_day"].items()
                ],
                columns=["day", "recurring", "usage"],
            )
            frame["revenue"] = frame["recurring"] + frame["usage"]
        else:
            frame = pd.DataFrame(
                [(k, Decimal(v)) for k, v in revenue[f"by_{by}"].items()],
                columns=[by, "revenue"],
            )
        frame.attrs["currency"] = revenue["currency"]
        return frame

    def revenue_at_risk(self) -> dict[str, Any]:
        """summary.json's ``revenue.at_risk``: SLA credits plus the usage the network lost,
        priced at the overage rates (an upper bound), money as exact Decimals."""
        revenue = self.summary.get("revenue") or {}
        risk = dict(revenue.get("at_risk") or {})
        for key in ("total", "sla_credits", "lost_voice", "lost_data"):
            if key in risk:
                risk[key] = Decimal(risk[key])
        return risk

    # --- planning ----------------------------------------------------------------------------

    def plan(self, horizon_months: int = 24) -> CapacityPlan:
        """The capacity plan ``telcotwin report`` draws, ``horizon_months`` after the run."""
        from twin.planning.capacity import capacity_plan, read_pm_history, read_settings

        inventory = self._stored.inventory()
        history = read_pm_history(self._stored, inventory)
        return capacity_plan(history, inventory, read_settings(self._stored), horizon_months)

    def plan_cells(self, horizon_months: int = 24) -> pd.DataFrame:
        """The plan's cells, one row each (the columns of :class:`CellPlan`, with
        ``exhaustion_date`` and ``upgrade`` as capacity_plan.csv has them)."""
        pd = _pandas()
        plan = self.plan(horizon_months)
        rows = [
            {**asdict(c), "exhaustion_date": c.exhaustion_date, "upgrade": c.upgrade}
            for c in plan.cells
        ]
        return pd.DataFrame(rows)

    def plan_links(self, horizon_months: int = 24) -> pd.DataFrame:
        """The plan's links, one row each (the columns of :class:`LinkPlan`)."""
        pd = _pandas()
        return pd.DataFrame([asdict(k) for k in self.plan(horizon_months).links])


def open_run(directory: str | Path, store_url: str | None = None) -> Run:
    """Open the run in ``directory`` (its twin.sqlite, or the database at ``store_url`` when
    the run wrote to ``--store``); :class:`ScenarioError` if it is not a run directory."""
    return Run(_open_stored(Path(directory), store_url))


def _raw(
    scenario: str | Path | dict[str, Any], overrides: dict[str, Any] | list[str] | None
) -> tuple[Any, Path, str]:
    """The parsed YAML with the overrides applied, the folder its data files are relative to,
    and the name shown in messages."""
    if isinstance(scenario, dict):
        raw: Any = json.loads(json.dumps(scenario))  # a copy the overrides may change
        base_dir, file = Path("."), "<scenario>"
    else:
        path = Path(scenario)
        raw, base_dir, file = read_yaml(path), path.parent, path.name
    if overrides:
        items = (
            list(overrides)
            if isinstance(overrides, list)
            else [
                f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                for key, value in overrides.items()
            ]
        )
        raw = apply_overrides(raw, items, file)
    return raw, base_dir, file


def _out(out: str | Path | None, name: str) -> Path:
    if out is not None:
        return Path(out)
    return Path(tempfile.mkdtemp(prefix="telcotwin-")) / name


def run(
    scenario: str | Path | dict[str, Any],
    *,
    overrides: dict[str, Any] | list[str] | None = None,
    variant: str | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
) -> Run:
    """Run a scenario (a YAML file, or a dict shaped like one) and open the run.

    ``overrides`` are ``telcotwin run --set``'s: a dict of dotted key paths to values, or
    ``"key=value"`` strings. ``variant`` runs one of the scenario's ``variants:`` instead of
    the base. ``out`` is the run directory (default: a new temporary folder); an existing one
    is refused unless ``force``. Bad input raises :class:`ScenarioError`, nothing written.
    """
    from sim.variants import scenario_variants
    from twin.run import run_scenario

    raw, base_dir, file = _raw(scenario, overrides)
    if variant is None:
        parsed = parse_scenario(raw, file)
    else:
        found = {name: s for name, _, s in scenario_variants(raw, file)}
        if variant not in found:
            known = ", ".join(found)
            raise ScenarioError(
                [Problem(file, "variants", f"no variant '{variant}'; known: {known}")]
            )
        parsed = found[variant]
    directory = _out(out, parsed.name if variant is None else f"{parsed.name}-{variant}")
    result = run_scenario(parsed, directory, base_dir=base_dir, seed=seed, file=file, force=force)
    return open_run(result.out_dir)


@dataclass(frozen=True)
class Comparison:
    """A scenario and its variants run with one seed: ``table`` has one row per variant and
    the ``telcotwin compare`` figures as columns; ``runs`` opens each run by variant name."""

    table: pd.DataFrame
    runs: dict[str, Run]


def compare(
    scenario: str | Path | dict[str, Any],
    *,
    overrides: dict[str, Any] | list[str] | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
) -> Comparison:
    """Run the scenario and every one of its ``variants:`` with the same seed (the
    scenario's, unless given), each into ``out/<variant>`` (default: a temporary folder),
    with ``overrides`` applied to all of them; the figures side by side."""
    from reports.compare import METRICS, run_metrics
    from sim.variants import scenario_variants
    from twin.run import run_scenario

    pd = _pandas()
    raw, base_dir, file = _raw(scenario, overrides)
    variants = scenario_variants(raw, file)
    base = variants[0][2]
    seed = base.seed if seed is None else seed
    folder = _out(out, f"{base.name}-compare")
    rows, runs = [], {}
    for name, description, parsed in variants:
        result = run_scenario(parsed, folder / name, base_dir=base_dir, seed=seed, file=file)
        rows.append({"variant": name, "description": description, **run_metrics(result.out_dir)})
        runs[name] = open_run(result.out_dir)
    table = pd.DataFrame(rows, columns=["variant", "description", *(k for k, _ in METRICS)])
    return Comparison(table.set_index("variant"), runs)


# --- figures -----------------------------------------------------------------------------------


def plot_kpi(
    frame: pd.DataFrame, kpi: str, *, key: str | None = None, title: str | None = None
) -> Figure:
    """A KPI over time from :meth:`Run.cell_kpis` or :meth:`Run.link_kpis`, one line per
    ``key`` value (the frame's cell, tower or link column; one line for the network)."""
    from matplotlib.figure import Figure

    if kpi not in frame.columns:
        raise ValueError(f"the frame has no KPI '{kpi}'")
    unit = frame.attrs.get("units", {}).get(kpi, "")
    if key is None:
        key = next((c for c in ("cell_id", "tower", "link_id") if c in frame.columns), None)
    figure = Figure(figsize=(9, 3.6))
    axes = figure.subplots()
    groups = [(kpi, frame)] if key is None else list(frame.groupby(key, sort=True))
    for name, part in groups:
        axes.plot(part["time"], part[kpi], label=str(name), linewidth=1.2)
    if key is not None and len(groups) <= 12:
        axes.legend(fontsize=7, ncols=min(4, len(groups)))
    axes.set_title(title or f"{kpi} per PM interval")
    axes.set_xlabel("time (UTC)")
    axes.set_ylabel(f"{kpi} ({unit})" if unit else kpi)
    axes.grid(alpha=0.3)
    figure.autofmt_xdate()
    return figure


_SEVERITY_COLOURS = {
    "critical": "#b2182b",
    "major": "#ef8a62",
    "minor": "#fddbc7",
    "warning": "#92c5de",
    "indeterminate": "#bbbbbb",
}


def plot_alarms(run: Run, *, title: str | None = None) -> Figure:
    """The run's alarms as a timeline: one bar per alarm from raised to cleared (to the end
    of the run while still active), by alarmed object, coloured by perceived severity."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    alarms = run.alarms(everything=True)
    history = run.table("alarm_history").sort_values("seq")
    # the severity an alarm was raised with (its latest is "cleared" once it clears)
    raised_as = history.groupby("alarm_id")["perceived_severity"].first().to_dict()
    objects = sorted(set(alarms["alarmed_object"]))
    figure = Figure(figsize=(9, 0.8 + 0.35 * max(3, len(objects))))
    axes = figure.subplots()
    position = {name: i for i, name in enumerate(objects)}
    end_h = run.duration_s / 3600.0
    raised_h = alarms["raised_time_s"].to_numpy(dtype=float) / 3600.0
    cleared_h = np.nan_to_num(alarms["cleared_time_s"].to_numpy(dtype=float) / 3600.0, nan=end_h)
    severities = [str(raised_as.get(a, "indeterminate")) for a in alarms["alarm_id"]]
    for i, name in enumerate(alarms["alarmed_object"]):
        axes.barh(
            position[name],
            max(float(cleared_h[i] - raised_h[i]), end_h / 400),
            left=float(raised_h[i]),
            height=0.6,
            color=_SEVERITY_COLOURS.get(severities[i], "#bbbbbb"),
            edgecolor="#333333",
            linewidth=0.4,
        )
    axes.set_yticks(range(len(objects)), objects)
    axes.set_xlim(0, end_h)
    axes.set_xlabel("time since the start of the run (h)")
    axes.set_ylabel("alarmed object")
    axes.set_title(title or f"Alarms: {len(alarms)} raised (bar: raised to cleared)")
    seen = [s for s in _SEVERITY_COLOURS if s in set(severities)]
    if seen:
        axes.legend(handles=[Patch(color=_SEVERITY_COLOURS[s], label=s) for s in seen], fontsize=7)
    axes.grid(axis="x", alpha=0.3)
    return figure


def plot_comparison(
    comparison: Comparison, metric: str, *, unit: str = "", title: str | None = None
) -> Figure:
    """One compared figure (a column of :attr:`Comparison.table`) as a bar per variant."""
    from matplotlib.figure import Figure

    # a figure is a number, or money as "84120.00 EUR"; None or NaN is a run without it
    shown = [
        None if v is None or v != v else float(str(v).split()[0]) for v in comparison.table[metric]
    ]
    figure = Figure(figsize=(6, 3.2))
    axes = figure.subplots()
    names = [str(n) for n in comparison.table.index]
    bars = axes.bar(names, [0.0 if v is None else v for v in shown], color="#4477aa")
    labels = ["n/a" if v is None else f"{v:,.4g}" for v in shown]
    axes.bar_label(bars, labels=labels, fontsize=8)
    axes.set_ylabel(f"{metric} ({unit})" if unit else metric)
    axes.set_xlabel("variant")
    axes.set_title(title or f"{metric} by variant")
    return figure


def plot_busy_hours(plan: CapacityPlan) -> Figure:
    """The report's busy-hour heat map: offered erlangs per cell and hour of the day (UTC)
    over the cell's voice channels, the cells nearest exhaustion first."""
    from reports.figures import heat_map_figure

    return heat_map_figure(plan)


def plot_exhaustion(plan: CapacityPlan) -> Figure:
    """The report's exhaustion timeline: when each cell's voice blocking passes the GoS and
    its data utilisation the threshold, against the plan's horizon."""
    from reports.figures import exhaustion_figure

    return exhaustion_figure(plan)


# A two-tower network for the examples above: one run of 1 h takes well under a second.
EXAMPLE: dict[str, Any] = {
    "name": "two-towers",
    "seed": 1,
    "start": "2027-03-01T18:00:00Z",
    "duration": "1h",
    "pm_interval": "15m",
    "network": {
        "defaults": {"cells": 1, "voice_channels": 10, "data_mbps": 50},
        "nodes": [
            {"id": "core", "role": "core"},
            {"id": "t-a", "role": "tower"},
            {"id": "t-b", "role": "tower"},
        ],
        "links": [
            {"id": "l-a", "a": "t-a", "b": "core", "capacity_mbps": 1000, "latency_ms": 1},
            {"id": "l-b", "a": "t-b", "b": "core", "capacity_mbps": 1000, "latency_ms": 1},
        ],
    },
    "subscribers": {"count": 200},
    "traffic": {
        "daily_profile": [1.0] * 24,  # flat: every hour the busy hour
        "voice": {"busy_hour_calls": 1.0, "mean_duration": "120s"},
        "data": {"busy_hour_sessions": 1.0, "mean_volume_mb": 20},
    },
    "events": [{"at": "20m", "action": "fail", "target": "t-b", "repair_after": "30m"}],
}

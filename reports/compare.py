"""``telcotwin compare``: a scenario and its what-if variants, run with one seed, side by side.

Each run (the base, then every variant in the file's order) is a whole run directory inside
the comparison's folder, so any of them can be inspected or reported on afterwards
(``telcotwin report DIR/<variant> --out ...``). The figures compared are the run summary's and,
for money, the twin's: the monthly recurring revenue at the end of the run is every
subscription's monthly fee from the catalog as changed by the run's price changes, read from
the store as ``telcotwin impact`` reads fees. SLA breaches, credits and billed revenue come from
``summary.json``'s ``sla`` and ``revenue`` sections when a run has them, and are "n/a" before
the BSS side writes them.

The folder is built aside and renamed into place: bad input or an error leaves nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from sim.scenario import Problem, ScenarioError, read_yaml
from twin.folders import built_aside

__all__ = ["METRICS", "check_variant_networks", "compare", "format_table"]

# (key, label): the figures of each run, in the table's order
METRICS = (
    ("voice_blocking", "voice blocking"),
    ("dropped_calls", "dropped calls"),
    ("failed_calls", "failed calls (cell out of service)"),
    ("availability", "availability (subscriber-weighted)"),
    ("subscriber_hours_out", "subscriber-hours out of service"),
    ("data_unserved", "data demand unserved"),
    ("alarms", "alarms raised (network)"),
    ("qos_alarms", "threshold alarms raised (KPIs)"),
    ("root_causes", "root causes"),
    ("sla_breaches", "SLA breaches"),
    ("sla_credits", "SLA credits"),
    ("revenue", "revenue billed"),
    ("monthly_recurring_revenue", "monthly recurring revenue at end"),
)


def _count(value: Any) -> Any:
    return len(value) if isinstance(value, list) else value


def _business(summary: dict[str, Any], section: str, *keys: str) -> Any:
    """The first of ``keys`` in ``summary[section]``, or None while the run has no such part."""
    part = summary.get(section)
    if not isinstance(part, dict):
        return None
    for key in keys:
        if part.get(key) is not None:
            return _count(part[key])
    return None


def run_metrics(run_dir: Path) -> dict[str, Any]:
    """The compared figures of one run directory (its summary and its store)."""
    from twin.readback import monthly_fees, open_run
    from twin.timeseries import read_subscribers

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    scenario = json.loads((run_dir / "scenario.json").read_text(encoding="utf-8"))
    voice, data, service = summary["voice"], summary["data"], summary["service"]
    hours = summary["duration_s"] / 3600.0
    out_hours = service["subscriber_hours_out_of_service"]
    alarms = summary.get("alarms") or {}
    mrr = None
    catalog = scenario.get("catalog")
    if catalog:
        fees = {p["id"]: Decimal(p["monthly_fee"]) for p in catalog["products"]}
        run = open_run(run_dir)
        try:
            fees = monthly_fees(run, fees)
            counts: dict[str, int] = Counter(read_subscribers(run)["product"].tolist())
        finally:
            run.close()
        total = sum((fees[p] * n for p, n in counts.items() if p in fees), Decimal(0))
        mrr = str(total)
    demand = data["demand_mb"]
    return {
        "voice_blocking": voice["blocking"],
        "dropped_calls": voice["dropped"],
        "failed_calls": voice["failed"],
        "availability": round(1.0 - out_hours / (service["subscribers"] * hours), 6)
        if service["subscribers"]
        else None,
        "subscriber_hours_out": out_hours,
        "data_unserved": round(1.0 - data["served_mb"] / demand, 6) if demand else 0.0,
        "alarms": alarms.get("raised"),
        "qos_alarms": (summary.get("thresholds") or {}).get("raised"),
        "root_causes": _count(alarms.get("root_causes")),
        "sla_breaches": _business(summary, "sla", "breaches", "breach_count"),
        "sla_credits": _business(summary, "billing", "credits"),
        "revenue": _business(summary, "billing", "total"),
        "monthly_recurring_revenue": mrr,
        "currency": catalog["currency"] if catalog else None,
    }


MONEY = ("sla_credits", "revenue", "monthly_recurring_revenue")


def _shown(key: str, value: Any, currency: str | None = None) -> str:
    if value is None:
        return "n/a"
    if key in MONEY:
        return f"{value} {currency or ''}".strip()
    if key in ("voice_blocking", "data_unserved"):
        return f"{100 * value:.2f} %"
    if key == "availability":
        return f"{100 * value:.4f} %"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def format_table(runs: list[dict[str, Any]]) -> str:
    """The side-by-side table: one row per figure, one column per run."""
    names = [r["variant"] for r in runs]
    label_width = max(len(label) for _, label in METRICS)
    widths = [
        max(
            len(n), *(len(_shown(k, r["metrics"][k], r["metrics"]["currency"])) for k, _ in METRICS)
        )
        for n, r in zip(names, runs, strict=True)
    ]
    lines = [" " * label_width + "".join(f"  {n:>{w}}" for n, w in zip(names, widths, strict=True))]
    for key, label in METRICS:
        cells = [_shown(key, r["metrics"][key], r["metrics"]["currency"]) for r in runs]
        lines.append(
            f"{label:<{label_width}}"
            + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)


def _csv(runs: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["variant", "description", *(k for k, _ in METRICS), "currency"])
    for r in runs:
        writer.writerow(
            [
                r["variant"],
                r["description"],
                *("" if r["metrics"][k] is None else r["metrics"][k] for k, _ in METRICS),
                r["metrics"]["currency"] or "",
            ]
        )
    return buffer.getvalue()


def check_variant_networks(variants: list[tuple[str, str, Any]], file: Path) -> None:
    """Build every variant's network before anything runs: a variant that leaves a tower with
    no path to a core is bad input, named with the variant."""
    from sim.engine import Simulation
    from twin.feed import RecordingSink

    problems: list[Problem] = []
    for index, (name, _, scenario) in enumerate(variants):
        try:
            Simulation(scenario, RecordingSink(), base_dir=file.parent, file=file.name)
        except ScenarioError as error:
            where = "" if index == 0 else f"in variant '{name}' (variants[{index - 1}]): "
            problems += [Problem(p.file, p.path, where + p.message) for p in error.problems]
    if problems:
        raise ScenarioError(problems)


def compare(
    file: Path,
    out: Path | None = None,
    *,
    seed: int | None = None,
    force: bool = False,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run the scenario in ``file`` and each of its variants with the same seed; write
    ``out`` (default ``runs/<name>-compare``): compare.json, compare.csv and one run directory
    per variant. :class:`ScenarioError` for bad input, with nothing written."""
    from sim.variants import scenario_variants
    from twin.run import run_scenario

    variants = scenario_variants(read_yaml(file), file.name)
    base = variants[0][2]
    if len(variants) == 1:
        raise ScenarioError(
            [Problem(file.name, "variants", "the scenario has no variants to compare")]
        )
    seed = base.seed if seed is None else seed
    check_variant_networks(variants, file)
    shown = out or Path("runs") / f"{base.name}-compare"
    out = Path(os.path.abspath(shown))
    if out.exists() and not force:
        raise ScenarioError(
            [Problem(str(shown), "", "already exists; choose another --out or add --force")]
        )
    if out.exists() and not (out / "compare.json").is_file():
        raise ScenarioError(
            [Problem(str(shown), "--out", "is not a comparison; --force only replaces one")]
        )
    with built_aside(out) as building:
        runs = []
        for name, description, scenario in variants:
            run_scenario(scenario, building / name, base_dir=file.parent, seed=seed, file=file.name)
            runs.append(
                {
                    "variant": name,
                    "description": description,
                    "metrics": run_metrics(building / name),
                }
            )
        document = {"scenario": base.name, "seed": seed, "runs": runs}
        (building / "compare.json").write_text(
            json.dumps(document, indent=2) + "\n", encoding="utf-8"
        )
        (building / "compare.csv").write_text(_csv(runs), encoding="utf-8")
    return shown, runs

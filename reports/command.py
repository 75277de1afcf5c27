"""``telcotwin report``: a scenario or a finished run into a capacity report directory.

A scenario file is run first (its run directory goes inside the report, as ``run/``, for
``telcotwin alarms`` and the like afterwards); a run directory is read back from its store.
The report directory is built aside, as a hidden folder beside it, and renamed into place when
complete: an error or Ctrl-C leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sim.scenario import Problem, ScenarioError, load_scenario
from twin.folders import built_aside

__all__ = ["MAX_HORIZON_MONTHS", "REPORT_FILES", "make_report"]

MAX_HORIZON_MONTHS = 240  # 20 years: past that a traffic forecast says nothing
REPORT_FILES = frozenset({"capacity_report.html", "capacity_plan.csv", "run"})


def _check(source: Path, out: Path, horizon_months: int, force: bool) -> None:
    problems = []
    if not 1 <= horizon_months <= MAX_HORIZON_MONTHS:
        problems.append(
            Problem(
                "--horizon-months",
                "",
                f"must be from 1 to {MAX_HORIZON_MONTHS} (20 years), got {horizon_months}",
            )
        )
    if not source.exists():
        problems.append(Problem(str(source), "", "no such scenario file or run directory"))
    if out.exists():
        if not force:
            problems.append(
                Problem(str(out), "", "already exists; choose another --out or add --force")
            )
        elif not out.is_dir() or not {p.name for p in out.iterdir()} <= REPORT_FILES:
            problems.append(
                Problem(str(out), "--out", "is not a report directory; --force only replaces one")
            )
    if problems:
        raise ScenarioError(problems)


def make_report(
    source: Path,
    out: Path,
    *,
    horizon_months: int = 24,
    store_url: str | None = None,
    force: bool = False,
    seed: int | None = None,
) -> Path:
    """Write ``out`` (capacity_report.html, capacity_plan.csv, and run/ for a scenario) and
    return it; :class:`ScenarioError` for bad input, with nothing written."""
    _check(source, out, horizon_months, force)
    scenario = None
    if source.is_file():
        scenario = load_scenario(source)  # bad input stops here, before anything is written
    else:
        from twin.readback import open_run

        open_run(source, store_url).close()  # not a run directory: one line, nothing written
    out = Path(os.path.abspath(out))
    with built_aside(out) as building:
        if scenario is not None:
            from twin.run import run_scenario

            run_dir = building / "run"
            run_scenario(
                scenario,
                run_dir,
                base_dir=source.parent,
                seed=seed,
                file=source.name,
                store_url=store_url,
            )
        else:
            run_dir = source
        _build(run_dir, building, horizon_months, store_url)
        if scenario is not None and store_url is None:
            # the run's store records where it was written: the folder it now ends up in
            _relocate(building / "run", out / "run")
    return out


def _relocate(run_dir: Path, final: Path) -> None:
    from sqlalchemy import create_engine, update

    from twin.store import runs

    engine = create_engine(f"sqlite:///{run_dir / 'twin.sqlite'}")
    try:
        with engine.begin() as connection:
            connection.execute(update(runs).values(directory=str(final)))
    finally:
        engine.dispose()


def _build(run_dir: Path, out: Path, horizon_months: int, store_url: str | None) -> None:
    from reports.capacity_report import write_report
    from twin.planning.capacity import capacity_plan, read_pm_history, read_settings
    from twin.readback import alarms_at, open_run

    run = open_run(run_dir, store_url)
    try:
        summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text("utf-8"))
        inventory = run.inventory()
        history = read_pm_history(run, inventory)
        plan = capacity_plan(history, inventory, read_settings(run), horizon_months)
        alarms = None if summary.get("alarms") is None else alarms_at(run, everything=True)
    finally:
        run.close()
    write_report(out, plan, inventory, summary, alarms)

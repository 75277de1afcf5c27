"""One scenario run end to end: simulate, feed the twin, and write the run directory atomically.

The run directory is built beside its final place under a hidden temporary name and renamed
when complete, so a run either leaves a whole directory or nothing: an error, a crash or
Ctrl-C removes the temporary directory. The twin's store writes in one transaction for the
same reason when it is an external database.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine import Simulation
from sim.scenario import Problem, Scenario, ScenarioError
from twin.bus import Bus
from twin.store import BackgroundStore, Store, check_store
from twin.summary import SummaryBuilder

__all__ = ["RunResult", "run_scenario", "simulate"]


@dataclass(frozen=True)
class RunResult:
    out_dir: Path
    summary: dict[str, Any]


def simulate(
    scenario: Scenario,
    *,
    base_dir: Path | str = ".",
    seed: int | None = None,
    file: str = "<scenario>",
    store: Store | BackgroundStore | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Run a scenario in memory and return its summary (the store is optional)."""
    simulation, builder, bus = _wire(scenario, base_dir, seed, file, progress)
    if store is not None:
        store.attach(bus)
    simulation.run()
    return builder.summary()


def _wire(
    scenario: Scenario,
    base_dir: Path | str,
    seed: int | None,
    file: str,
    progress: Callable[[float], None] | None,
) -> tuple[Simulation, SummaryBuilder, Bus]:
    """Build the simulation publishing to a bus with the summary listening. Building validates
    the network, so bad input stops here, before anything is written."""
    bus = Bus()
    builder = SummaryBuilder()
    builder.attach(bus)
    simulation = Simulation(
        scenario, bus, base_dir=base_dir, seed=seed, file=file, progress=progress
    )
    return simulation, builder, bus


RUN_FILES = frozenset({"summary.json", "scenario.json", "twin.sqlite", "run.json"})


def is_run_directory(path: Path) -> bool:
    """True for a directory that holds a run's files and nothing else."""
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    return "summary.json" in names and names <= RUN_FILES


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=False, allow_nan=False) + "\n"


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    *,
    base_dir: Path | str = ".",
    seed: int | None = None,
    file: str = "<scenario>",
    store_url: str | None = None,
    force: bool = False,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Run a scenario and write ``out_dir`` (summary.json, twin.sqlite, scenario.json, run.json)
    atomically.

    ``out_dir`` must not exist unless ``force`` is set, in which case it is replaced only once
    the new run is complete. The run gets a new id (run.json, and every row in the store); in a
    shared store ``force`` replaces the runs recorded for the same directory, by absolute path.
    """
    shown = str(out_dir)
    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.exists() and not force:
        raise FileExistsError(f"{out_dir} already exists (use --force to replace it)")
    if out_dir.exists() and not is_run_directory(out_dir):
        # --force replaces a previous run, never a folder of other things (., a scenario folder)
        raise ScenarioError(
            [Problem(shown, "--out", "is not a run directory; --force only replaces runs")]
        )
    simulation, builder, bus = _wire(scenario, base_dir, seed, file, progress)
    # Symbolic links in the parents resolved, so one directory has one key however it is named.
    directory = str(Path(os.path.realpath(out_dir.parent)) / out_dir.name)
    run_id = uuid.uuid4().hex  # random, not derived: it must never reach summary.json
    if store_url is not None:
        problem = check_store(store_url, directory, replace=force)
        if problem is not None:
            raise ScenarioError([Problem(store_url, "--store", problem)])
    created = [p for p in [out_dir.parent, *out_dir.parent.parents] if not p.exists()]
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        building = Path(
            tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent)
        )
    except OSError as error:
        raise ScenarioError(
            [Problem(shown, "--out", f"cannot create it: {error.strerror}")]
        ) from None
    umask = os.umask(0)
    os.umask(umask)
    building.chmod(0o777 & ~umask)  # mkdtemp makes it private; a run directory is not
    try:
        url = store_url or f"sqlite:///{building / 'twin.sqlite'}"
        store = BackgroundStore(
            url,
            run_id,
            directory=directory,
            label=out_dir.name,
            scratch=store_url is None,
            replace=force,
        )
        store.attach(bus)
        try:
            simulation.run()
            summary = builder.summary()
        except BaseException:
            store.close(commit=False)
            raise
        store.close(commit=True)
        (building / "summary.json").write_text(summary_json(summary), encoding="utf-8")
        # The scenario as run, after --set overrides, with every default spelled out.
        effective = scenario.model_copy(update={"seed": simulation.seed}).model_dump(mode="json")
        (building / "scenario.json").write_text(
            json.dumps(effective, indent=2) + "\n", encoding="utf-8"
        )
        # The key to this run's rows in a shared store, kept apart from summary.json so that
        # same scenario and seed still give a byte-identical summary.
        (building / "run.json").write_text(
            json.dumps({"run_id": run_id}, indent=2) + "\n", encoding="utf-8"
        )
        if out_dir.exists():
            retired = out_dir.with_name(f".{out_dir.name}.replaced")
            os.replace(out_dir, retired)
            os.replace(building, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(building, out_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        for folder in created:  # nearest first: leave no folder this run made
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return RunResult(out_dir, summary)

"""One scenario run end to end: simulate, feed the twin, and write the run directory atomically.

The run directory is built beside its final place as ``.<name>.partial`` and renamed when
complete, so a run either leaves a whole directory or nothing: an error, Ctrl-C or SIGTERM
removes the partial folder. The twin's store writes in one transaction for the same reason when
it is an external database.

Before building, a run claims its directory with a lock beside it, held until the directory is
in place, so two runs into one directory cannot both write it. A run killed outright (SIGKILL,
a lost machine) cannot clean up; the next run into the same parent removes what it left, as
only a run holding that name's claim would (see docs/runs.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.engine import Simulation
from sim.scenario import Problem, Scenario, ScenarioError
from sim.truth import AnomalyTruth, FaultTruth, OutageAttribution, TruthLog, TruthRecord
from twin.anomaly_scoring import AnomalyScorer
from twin.bss.business import BusinessSupport
from twin.bss.contracts import Charging, Profiles
from twin.bss.ordering import Ordering, attach_ordering
from twin.bss.readback import EXPORT_FILES, check_exports, export_run
from twin.bus import Bus
from twin.feed import ResourceStateChange
from twin.folders import swap_in
from twin.oss.anomalies import AnomalyDetection
from twin.oss.fault import FaultManagement
from twin.oss.inventory import impact
from twin.oss.performance import PerformanceManagement
from twin.oss.sla import ServiceAssurance
from twin.oss.thresholds import ThresholdMonitor, scenario_thresholds
from twin.scoring import AlarmScorer
from twin.sla_scoring import score_sla
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
    participants: tuple[Profiles, Charging] | None = None,
) -> dict[str, Any]:
    """Run a scenario in memory and return its summary (the store is optional; ordering runs
    when ``participants``, the customers and billing systems it activates in, are given)."""
    wiring = _wire(scenario, base_dir, seed, file, progress, participants)
    if store is not None:
        _attach_store(store, wiring.bus, wiring.truth)
    wiring.simulation.run()
    return wiring.summary()


@dataclass(frozen=True)
class _Wiring:
    """One run's parts: the simulation publishing the feed to the bus and the truth to its
    log; on the bus the twin's functions (fault management) and the summary's listeners."""

    simulation: Simulation
    bus: Bus
    truth: TruthLog
    builder: SummaryBuilder
    fault: FaultManagement | None  # None when the scenario turns it off
    scorer: AlarmScorer
    performance: PerformanceManagement | None  # None when the scenario turns it off
    ordering: Ordering | None = None  # None without its participants (customers, billing)
    assurance: _Assurance | None = None  # anomaly detection and SLA (_wire always sets it)
    thresholds: ThresholdMonitor | None = None  # None without performance management
    business: BusinessSupport | None = None  # None without a catalog, or turned off

    def summary(self) -> dict[str, Any]:
        """The run's summary, with fault management scored against the truth (``alarms``)."""
        summary = self.builder.summary()
        summary["kpis"] = None if self.performance is None else self.performance.summary()
        summary["orders"] = None if self.ordering is None else self.ordering.counts()
        if self.assurance is not None:
            summary.update(self.assurance.summary(self.truth, self.simulation.scenario.duration))
        summary["thresholds"] = None if self.thresholds is None else self.thresholds.summary()
        summary.update(
            {"billing": None, "revenue": None} if self.business is None else self.business.summary()
        )
        if self.fault is None:
            summary["alarms"] = None
            return summary
        mirror = self.fault.mirror
        summary["alarms"] = self.scorer.score(
            self.truth.of_type(FaultTruth),
            self.truth.of_type(OutageAttribution),
            None if mirror is None else lambda resource: impact(mirror, [resource]).subscribers,
        )
        return summary


def _wire(
    scenario: Scenario,
    base_dir: Path | str,
    seed: int | None,
    file: str,
    progress: Callable[[float], None] | None,
    participants: tuple[Profiles, Charging] | None = None,
) -> _Wiring:
    """Build the simulation publishing the feed to a bus and the truth to a log, with fault
    management on the bus and the summary listening to both. Building validates the network,
    so bad input stops here, before anything is written."""
    bus = Bus()
    truth = TruthLog()
    builder = SummaryBuilder()
    builder.attach(bus)
    truth.listeners.append(builder.on_truth)
    # The management system's own settings are the operator's to know: its heartbeat timeout,
    # and how late notifications usually are.
    notifications = scenario.faults.notifications
    fault = (
        FaultManagement(
            bus,
            mean_delay_s=notifications.mean_delay,
            heartbeat_timeout_s=notifications.heartbeat_timeout,
        )
        if scenario.twin.fault_management
        else None
    )
    performance = PerformanceManagement(bus) if scenario.twin.performance_management else None
    thresholds = (
        None if performance is None else ThresholdMonitor(bus, scenario_thresholds(scenario.twin))
    )
    scorer = AlarmScorer()
    scorer.attach(bus)
    assurance = _Assurance.wire(scenario, bus)
    # the BSS last of the twin's functions: its billing takes service assurance's breaches
    business = (
        BusinessSupport(bus, scenario.catalog, scenario.customers)
        if scenario.twin.business and scenario.catalog is not None
        else None
    )
    simulation = Simulation(
        scenario, bus, base_dir=base_dir, seed=seed, file=file, progress=progress, truth=truth
    )
    # ordering activates subscriptions in the network, the customers and billing: the BSS's
    # own systems, or the ones a test gives
    if participants is None and business is not None:
        participants = (business.profiles, business.charging)
    ordering = None
    if participants is not None:
        products = None if scenario.catalog is None else [p.id for p in scenario.catalog.products]
        ordering = attach_ordering(bus, simulation, *participants, products=products)
    return _Wiring(
        simulation,
        bus,
        truth,
        builder,
        fault,
        scorer,
        performance,
        ordering,
        assurance,
        thresholds,
        business,
    )


@dataclass(frozen=True)
class _Assurance:
    """Anomaly detection and service assurance on the bus, with their scorers (the truth is
    read only at the end, for summary.json)."""

    anomalies: AnomalyDetection | None
    anomaly_scorer: AnomalyScorer
    sla: ServiceAssurance | None  # None when turned off or the scenario has no catalog

    @classmethod
    def wire(cls, scenario: Scenario, bus: Bus) -> _Assurance:
        """Subscribe them to the bus, detection first: the SLA counts what it found asleep."""
        settings = scenario.twin.anomalies
        anomalies = AnomalyDetection(bus, settings) if settings.enabled else None
        scorer = AnomalyScorer()
        scorer.attach(bus)
        sla = None
        if scenario.twin.service_assurance and scenario.catalog is not None:
            # the catalog is the operator's own data: its SLA targets are the twin's to know
            targets = {p.id: p.sla.availability for p in scenario.catalog.products if p.sla}
            sla = ServiceAssurance(bus, targets)
        return cls(anomalies, scorer, sla)

    def summary(self, truth: TruthLog, duration_s: float) -> dict[str, Any]:
        """summary.json's ``anomalies`` and ``sla``, scored against the truth (each null when
        turned off)."""
        anomalies = None
        if self.anomalies is not None:
            anomalies = self.anomaly_scorer.score(
                truth.of_type(AnomalyTruth), self.anomalies.findings, duration_s
            )
        sla = None
        if self.sla is not None:
            sla = self.sla.summary()
            sla.update(
                score_sla(
                    self.sla,
                    truth.of_type(OutageAttribution),
                    truth.of_type(FaultTruth),
                    truth.of_type(AnomalyTruth),
                    duration_s,
                )
            )
        return {"anomalies": anomalies, "sla": sla}


def _attach_store(store: Store | BackgroundStore, bus: Bus, truth: TruthLog) -> None:
    """The store takes the feed from the bus, and its ``resource_states`` table from the truth:
    the state changes with their causes are the simulator's view, kept for scoring."""
    store.attach(bus)

    def state_changes(record: TruthRecord) -> None:
        if isinstance(record, ResourceStateChange):
            store.write(record)

    truth.listeners.append(state_changes)


RUN_FILES = frozenset(
    {"summary.json", "scenario.json", "twin.sqlite", "timeseries", "run.json", "truth.json"}
    | EXPORT_FILES
)


def is_run_directory(path: Path) -> bool:
    """True for a directory that holds a run's files and nothing else."""
    names = {p.name for p in path.iterdir()} if path.is_dir() else set()
    return "summary.json" in names and names <= RUN_FILES


_JSON_FORMAT: dict[str, Any] = {"indent": 2, "sort_keys": False, "allow_nan": False}


def summary_json(summary: dict[str, Any]) -> str:
    return json.dumps(summary, **_JSON_FORMAT) + "\n"


def _write_json(path: Path, value: Any) -> None:
    """``value`` as :func:`summary_json` gives it, streamed to ``path``: the national day's
    summary is 7 MB of text, otherwise built as one string at the run's peak."""
    with path.open("w", encoding="utf-8") as file:
        json.dump(value, file, **_JSON_FORMAT)
        file.write("\n")


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    *,
    base_dir: Path | str = ".",
    seed: int | None = None,
    file: str = "<scenario>",
    store_url: str | None = None,
    force: bool = False,
    numbered: bool = False,
    progress: Callable[[float], None] | None = None,
    notice: Callable[[str], None] | None = None,
    participants: tuple[Profiles, Charging] | None = None,
    exports: list[str] | None = None,
) -> RunResult:
    """Run a scenario and write ``out_dir`` (summary.json, twin.sqlite, timeseries/,
    scenario.json, run.json, truth.json) atomically; the result names the directory written.

    ``out_dir`` must not exist unless ``force`` is set, in which case it is replaced only once
    the new run is complete. With ``numbered``, a taken ``out_dir`` (there, or being written by
    another run) gives way to the first free of ``<out_dir>-2``, ``-3`` ... The run gets a new
    id (run.json, and every row in the store); in a shared store ``force`` replaces the runs
    recorded for the same directory, by absolute path.

    What killed runs left in the parent is removed first; ``notice`` gets one line for each.
    ``exports`` names CSV exports of the BSS (``usage``, ``invoices``) written beside them.
    """
    shown = Path(out_dir)
    check_exports(scenario, exports or [], file)
    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.exists() and not force and not numbered:
        raise ScenarioError([Problem(str(shown), "", _ALREADY_EXISTS)])
    if out_dir.exists() and force and not is_run_directory(out_dir):
        # --force replaces a previous run, never a folder of other things (., a scenario folder)
        raise ScenarioError(
            [Problem(str(shown), "--out", "is not a run directory; --force only replaces runs")]
        )
    wiring = _wire(scenario, base_dir, seed, file, progress, participants)
    created = [p for p in [out_dir.parent, *out_dir.parent.parents] if not p.exists()]
    try:
        claim = _claim_run_directory(
            out_dir, shown, force=force, numbered=numbered, notice=notice or _silent
        )
        try:
            out_dir = claim.out_dir
            _remove_leftovers(out_dir.parent, out_dir, shown.parent, notice or _silent)
            summary = _write_run_directory(
                scenario,
                wiring,
                out_dir,
                store_url=store_url,
                force=force,
                exports=exports or [],
            )
        finally:
            claim.release()
    except BaseException:
        for folder in created:  # nearest first: leave no folder this run made
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return RunResult(out_dir, summary)


def _write_run_directory(
    scenario: Scenario,
    wiring: _Wiring,
    out_dir: Path,
    *,
    store_url: str | None,
    force: bool,
    exports: list[str] | None = None,
) -> dict[str, Any]:
    """Simulate into ``.<name>.partial`` beside ``out_dir`` and rename it into place; called
    with the directory claimed, so the partial folder's name is this run's alone."""
    # Symbolic links in the parents resolved, so one directory has one key however it is named.
    directory = str(Path(os.path.realpath(out_dir.parent)) / out_dir.name)
    run_id = uuid.uuid4().hex  # random, not derived: it must never reach summary.json
    if store_url is not None:
        problem = check_store(store_url, directory, replace=force)
        if problem is not None:
            raise ScenarioError([Problem(store_url, "--store", problem)])
    building = _partial(out_dir)
    building.mkdir()
    try:
        url = store_url or f"sqlite:///{building / 'twin.sqlite'}"
        store = BackgroundStore(
            url,
            run_id,
            directory=directory,
            label=out_dir.name,
            scratch=store_url is None,
            replace=force,
            series_dir=building if store_url is None else None,  # timeseries/*.parquet
        )
        _attach_store(store, wiring.bus, wiring.truth)
        try:
            wiring.simulation.run()
            summary = wiring.summary()
            # The files that do not need the store, written while its thread finishes the
            # run's last rows (on the national day, the invoices: over a second).
            _write_json(building / "summary.json", summary)
            # What really happened, for scoring: beside the run, never on the bus the twin reads.
            _write_json(building / "truth.json", wiring.truth.to_json())
            # The scenario as run, after --set overrides, with every default spelled out.
            effective = scenario.model_copy(update={"seed": wiring.simulation.seed}).model_dump(
                mode="json"
            )
            (building / "scenario.json").write_text(
                json.dumps(effective, indent=2) + "\n", encoding="utf-8"
            )
            # The key to this run's rows in a shared store, kept apart from summary.json so that
            # same scenario and seed still give a byte-identical summary.
            (building / "run.json").write_text(
                json.dumps({"run_id": run_id}, indent=2) + "\n", encoding="utf-8"
            )
        except BaseException:
            store.close(commit=False)
            raise
        store.close(commit=True)
        if exports:
            export_run(url, run_id, scenario.start, building, exports)
        swap_in(building, out_dir, _retired(out_dir) if out_dir.exists() else None)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return summary


# --- claiming a run directory ------------------------------------------------------------------
#
# A run holds an exclusive flock on ``.<name>.lock`` beside its directory from before it builds
# until its directory is in place: a second run into the same directory finds the lock taken. The
# kernel drops a flock when its process dies, however it dies, so a lock that can be taken means
# no live run of that name, whatever PID is written in it (PIDs are reused; the PID is only for
# messages). ``.<name>.partial`` and ``.<name>.replaced`` are touched only under the claim on
# ``<name>``, so whoever takes the claim and finds them knows their run is gone.

_ALREADY_EXISTS = "already exists; choose another --out or add --force to replace it"
_OWNER = re.compile(rb"telcotwin run, pid (\d+)\n")


def _silent(_line: str) -> None:
    pass


def _lock(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.lock")


def _partial(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.partial")


def _retired(out_dir: Path) -> Path:
    return out_dir.with_name(f".{out_dir.name}.replaced")


@dataclass(frozen=True)
class _Claim:
    """The exclusive right to build ``out_dir``: a flock held on the lock file beside it."""

    out_dir: Path
    descriptor: int
    previous_pid: int | None  # written by a run that died holding it and left the file behind

    @classmethod
    def take(cls, out_dir: Path) -> _Claim | None:
        """Return the claim on ``out_dir``, or None while another live process holds it."""
        lock = _lock(out_dir)
        while True:
            descriptor = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return None
            # A holder removes the file before it lets go: if we opened it just before, our lock
            # is on a file no longer named, and another run may hold the one that now is.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(lock).st_ino == os.fstat(descriptor).st_ino:
                    break
            os.close(descriptor)
        owner = _OWNER.match(os.pread(descriptor, 100, 0))
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"telcotwin run, pid {os.getpid()}\n".encode())
        return cls(out_dir, descriptor, int(owner[1]) if owner else None)

    def release(self) -> None:
        os.unlink(_lock(self.out_dir))  # while still holding it: see take
        os.close(self.descriptor)


def _claim_run_directory(
    out_dir: Path,
    shown: Path,
    *,
    force: bool,
    numbered: bool,
    notice: Callable[[str], None],
) -> _Claim:
    """Claim ``out_dir`` (with ``numbered``, the first free of it, ``-2``, ``-3`` ...) and undo
    what a killed run of it left; bad input when it is taken."""
    try:
        for candidate in _numbered(out_dir) if numbered else [out_dir]:
            if numbered and candidate.exists():
                continue  # the usual case, told without touching a lock
            candidate.parent.mkdir(parents=True, exist_ok=True)
            claim = _Claim.take(candidate)
            if claim is None:
                if numbered:
                    continue
                pid = _owner(_lock(candidate))
                writer = "another run is writing it" + (f" (pid {pid})" if pid else "")
                raise ScenarioError([Problem(str(shown), "", f"{writer}; choose another --out")])
            try:
                _clear(candidate, shown.parent, claim.previous_pid, notice)
            except BaseException:
                claim.release()
                raise
            # Checked again under the claim: another run may have completed it since we looked.
            if not candidate.exists() or force:
                return claim
            claim.release()
            if not numbered:
                raise ScenarioError([Problem(str(shown), "", _ALREADY_EXISTS)])
    except OSError as error:
        raise ScenarioError(
            [Problem(str(shown), "--out", f"cannot create it: {error.strerror}")]
        ) from None
    raise AssertionError("unreachable: the numbered names never run out")


def _numbered(out_dir: Path) -> Iterator[Path]:
    yield out_dir
    for number in itertools.count(2):
        yield out_dir.with_name(f"{out_dir.name}-{number}")


def _owner(lock: Path) -> int | None:
    """The PID a telcotwin run wrote in ``lock``, or None if it holds none (not ours, empty)."""
    try:
        with lock.open("rb") as file:
            owner = _OWNER.match(file.read(100))
    except OSError:
        return None
    return int(owner[1]) if owner else None


def _ours(folder: Path) -> bool:
    """True for a folder holding nothing but run files: what a run builds or retires. A hidden
    folder of the same name holding anything else is someone else's, and is left alone."""
    return folder.is_dir() and {p.name for p in folder.iterdir()} <= RUN_FILES


def _clear(
    out_dir: Path, shown_parent: Path, pid: int | None, notice: Callable[[str], None]
) -> None:
    """Under the claim on ``out_dir``: remove what a killed run of it left, and give back the
    previous run if it was killed between retiring that run and renaming its own into place."""
    retired, partial = _retired(out_dir), _partial(out_dir)
    gone = "left by a run that is gone" + (f" (pid {pid})" if pid else "")
    if _ours(retired) and not out_dir.exists():
        os.replace(retired, out_dir)
        notice(
            f"{shown_parent / out_dir.name}: restored: "
            "the run replacing it was stopped before it completed"
        )
    for leftover in (retired, partial):
        if _ours(leftover):
            shutil.rmtree(leftover)
            notice(f"{shown_parent / leftover.name}: removed: {gone}")


def _remove_leftovers(
    parent: Path, own: Path, shown_parent: Path, notice: Callable[[str], None]
) -> None:
    """Remove what killed runs left in ``parent`` (partial folders, retired runs, locks) for
    every name no live run holds. Best effort: what cannot be removed stays for the next run."""
    names: set[str] = set()
    for entry in parent.iterdir():
        if not entry.name.startswith("."):
            continue
        name, _, kind = entry.name[1:].rpartition(".")  # .<name>.partial and the like
        ours = kind in ("partial", "replaced") or (kind == "lock" and _owner(entry) is not None)
        if ours and name not in ("", ".", "..", own.name):
            names.add(name)
    for name in sorted(names):
        with contextlib.suppress(OSError):
            claim = _Claim.take(parent / name)
            if claim is not None:  # None: a live run holds it, and its partial folder
                try:
                    _clear(parent / name, shown_parent, claim.previous_pid, notice)
                finally:
                    claim.release()

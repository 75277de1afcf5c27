"""Sweeps: many replications of a scenario over parameter sets, on Dask distributed, with
confidence intervals.

A sweep is the product of ``--set key=v1,v2`` value lists (each combination a *parameter set*)
times N replications. Replication ``i`` of every parameter set runs with the same seed, made
from child ``i`` of the scenario's ``SeedSequence`` (common random numbers), so that parameter
sets are compared on the same random draws and their differences are paired.

Each replication is a task on a Dask cluster (a ``LocalCluster`` by default, or a running
scheduler); a worker runs it in memory (:func:`twin.run.simulate`) and sends back the run's
summary metrics, never its store. Finished replications are written one small file each
(``DIR/rows/``), atomically, as they arrive, so a killed sweep resumes where it stopped; the
rows are merged into ``DIR/sweep.csv`` and the statistics into ``DIR/sweep.json`` at the end.
Rules and formulas: docs/sweeps.md.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import hashlib
import itertools
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.scenario import (
    Problem,
    Scenario,
    ScenarioError,
    apply_overrides,
    parse_scenario,
    read_yaml,
)
from sim.variants import variant_sources

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ParameterSet",
    "SweepResult",
    "flatten_metrics",
    "interval",
    "parameter_sets",
    "replication_seed",
    "run_replication",
    "run_sweep",
    "sweep",
]

CONFIDENCE = 0.95
CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "telcotwin sweep needs Dask and pandas: pip install -e '.[sweep]'"
COMMON_RANDOM_NUMBERS = (
    "replication i of every parameter set runs with the same seed (child i of the scenario's "
    "SeedSequence): parameter sets are compared on common random numbers, and their differences "
    "are paired by replication"
)
_NOT_IN_SCENARIO = "--set names a key path that is not in the scenario"  # sim.scenario's words
# Summary keys that are not metrics of the run: the seed is a column of its own.
_NOT_METRICS = frozenset({"seed"})


# --- parameter sets and seeds -------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterSet:
    """One combination of ``--set`` values: its place in the sweep, the ``key=value`` overrides
    as given, their values as read, and the scenario they make."""

    index: int
    overrides: tuple[str, ...]
    values: tuple[tuple[str, Any], ...]
    scenario: Scenario = field(repr=False)

    @property
    def label(self) -> str:
        return ", ".join(self.overrides) if self.overrides else "scenario as written"


def split_values(text: str) -> list[str]:
    """Split ``v1,v2`` on the commas outside brackets and quotes, so a YAML list or mapping
    (``[1, 2]``) stays one value."""
    values, current, depth, quote = [], "", 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    values.append(current.strip())
    return values


def parse_set_options(items: Sequence[str], file: str) -> list[tuple[str, list[str]]]:
    """Return ``(key, [value texts])`` per ``--set key=v1,v2``; bad input for a missing ``=``,
    a key given twice or an empty value in the list."""
    problems: list[Problem] = []
    lists: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(file, "--set", f"'{item}' is not key=v1,v2,..."))
            continue
        values = split_values(text)
        if any(not value for value in values):
            problems.append(
                Problem(file, key, f"--set {item}: the value list is empty or has an empty value")
            )
            continue
        if key in [k for k, _ in lists]:
            problems.append(Problem(file, key, "--set gives this key twice; list its values once"))
            continue
        lists.append((key, values))
    if problems:
        raise ScenarioError(problems)
    return lists


def parameter_sets(
    raw: Mapping[str, Any],
    lists: Sequence[tuple[str, Sequence[str]]],
    file: str,
    *,
    variants: bool = False,
) -> list[ParameterSet]:
    """Return every combination of the value lists (the first key varying slowest), each
    validated as a whole scenario; bad input for every problem of every combination.

    With ``variants``, the combinations are made on the scenario as written (``base``) and then
    on each of its ``variants:`` (:mod:`sim.variants`), in that order: the variant's name is the
    first parameter, ``variant``, so each variant is compared with the base on common random
    numbers like any other parameter set."""
    sources: list[tuple[str | None, Mapping[str, Any]]] = [(None, raw)]
    if variants:
        if not raw.get("variants"):
            raise ScenarioError(
                [Problem(file, "variants", "--variants: the scenario has no variants to sweep")]
            )
        sources = [(name, source) for name, _, source in variant_sources(raw, file)]
    sets: list[ParameterSet] = []
    problems: list[Problem] = []
    keys = [key for key, _ in lists]
    combinations = list(itertools.product(*(values for _, values in lists)))
    for name, source in sources:
        for combination in combinations:
            overrides = tuple(
                f"{key}={value}" for key, value in zip(keys, combination, strict=True)
            )
            try:
                scenario = parse_scenario(
                    apply_overrides(copy.deepcopy(dict(source)), list(overrides), file), file
                )
            except ScenarioError as error:
                # which combination, when there are several: the value, not only the key, is wrong
                where = f" (with --set {', '.join(overrides)})" if overrides else ""
                where += f" in variant '{name}'" if name is not None else ""
                for problem in error.problems:
                    named = Problem(problem.file, problem.path, problem.message + where)
                    if problem.message in ("unknown key", _NOT_IN_SCENARIO) or not where:
                        named = problem  # the key itself is wrong, whatever its value
                    if named not in problems:
                        problems.append(named)
                continue
            # each value as the override reads it (YAML 1.2), through the same reader
            values = tuple(
                (key, apply_overrides({"value": None}, [f"value={text}"], file)["value"])
                for key, text in zip(keys, combination, strict=True)
            )
            if name is not None:
                overrides = (f"variant={name}", *overrides)
                values = (("variant", name), *values)
            sets.append(ParameterSet(len(sets), overrides, values, scenario))
    if problems:
        raise ScenarioError(problems)
    return sets


def replication_seed(scenario_seed: int, replication: int) -> int:
    """Return the run seed of replication ``replication`` (from 0): the first 63 bits of child
    ``replication`` of ``SeedSequence(scenario_seed)``, so ``telcotwin run --seed`` repeats it.

    The child is ``SeedSequence(scenario_seed).spawn(n)[replication]`` for any ``n`` greater than
    ``replication``: the seed does not depend on how many replications the sweep has.

    >>> replication_seed(7, 0) == replication_seed(7, 0) != replication_seed(7, 1)
    True
    """
    child = np.random.SeedSequence(scenario_seed, spawn_key=(replication,))
    return int(child.generate_state(1, np.uint64)[0]) >> 1


# --- one replication, on a worker ---------------------------------------------------------------


def flatten_metrics(summary: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Return the numeric leaves of a run's summary by dotted name (``voice.blocking``,
    ``cells.t1/1.voice_offered``): numbers inside mappings, not inside lists (outages, root
    causes), not booleans, not ``seed``; a null leaf (a score with nothing to score) is left out.

    >>> flatten_metrics({"seed": 3, "voice": {"blocking": 0.1, "busy_hour_start": "18:00"}})
    {'voice.blocking': 0.1}
    """
    metrics: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if not prefix and key in _NOT_METRICS:
            continue
        if isinstance(value, Mapping):
            metrics.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[name] = float(value)
    return metrics


def _selected(metrics: dict[str, float], patterns: Sequence[str]) -> dict[str, float]:
    if not patterns:
        return metrics
    return {k: v for k, v in metrics.items() if any(fnmatchcase(k, p) for p in patterns)}


@dataclass(frozen=True)
class ReplicationResult:
    """What a worker sends back: the metrics, and how long the run took on the worker (wall
    time, and the worker process's CPU time: less when it waited for a core)."""

    metrics: dict[str, float]
    run_s: float
    cpu_s: float = 0.0


def run_replication(
    scenario: Scenario,
    seed: int,
    *,
    base_dir: str,
    file: str,
    metrics: tuple[str, ...] = (),
    keep_dir: str | None = None,
) -> ReplicationResult:
    """Run one replication and return its summary metrics; with ``keep_dir``, also write its
    run directory there (replacing what a killed earlier attempt left)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    if keep_dir is None:
        from twin.run import simulate

        summary = simulate(scenario, base_dir=base_dir, seed=seed, file=file)
    else:
        from twin.run import is_run_directory, run_scenario

        force = is_run_directory(Path(keep_dir))
        summary = run_scenario(
            scenario, Path(keep_dir), base_dir=base_dir, seed=seed, file=file, force=force
        ).summary
    return ReplicationResult(
        _selected(flatten_metrics(summary), metrics),
        time.perf_counter() - started,
        time.process_time() - cpu_started,
    )


# --- statistics ---------------------------------------------------------------------------------


def interval(values: Sequence[float], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Return n, mean, sd (n - 1 in the denominator) and the Student t interval of the mean,
    ``mean ± t(1 - (1 - confidence)/2, n - 1) · sd / √n``, with its full ``width``; the sd
    and interval are null below two values.

    >>> interval([1.0, 2.0, 3.0])["ci_high"]  # 2 + 4.302653 · 1 / √3
    4.484138
    """
    from scipy import stats  # here, not at import: every telcotwin command imports this module

    data = np.asarray(values, dtype=float)
    n = len(data)
    out: dict[str, Any] = {"n": n, "mean": None, "sd": None}
    out |= {"ci_low": None, "ci_high": None, "width": None}
    if n == 0:
        return out
    mean = float(data.mean())
    out["mean"] = _round(mean)
    if n < 2:
        return out
    sd = float(data.std(ddof=1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    out |= {
        "sd": _round(sd),
        "ci_low": _round(mean - half),
        "ci_high": _round(mean + half),
        "width": _round(2 * half),
    }
    return out


def _round(x: float) -> float:
    return float(f"{x:.7g}") if math.isfinite(x) else x


def statistics(
    rows: Sequence[Mapping[str, Any]], sets: Sequence[ParameterSet], replications: int
) -> dict[str, Any]:
    """Per metric: each parameter set's interval, and each set's difference from the first set,
    paired by replication (the replications both have)."""
    by_set: dict[int, dict[int, dict[str, float]]] = {s.index: {} for s in sets}
    for row in rows:
        if row["replication"] < replications:
            by_set[row["set"]][row["replication"]] = row["metrics"]
    names = sorted({name for per_rep in by_set.values() for m in per_rep.values() for name in m})
    reference = sets[0].index
    out: dict[str, Any] = {}
    for name in names:
        series = {
            index: {rep: m[name] for rep, m in per_rep.items() if name in m}
            for index, per_rep in by_set.items()
        }
        entry: dict[str, Any] = {
            "sets": [{"set": s.index, **interval(list(series[s.index].values()))} for s in sets]
        }
        differences = []
        for s in sets[1:]:
            common = sorted(series[s.index].keys() & series[reference].keys())
            paired = [series[s.index][rep] - series[reference][rep] for rep in common]
            differences.append({"set": s.index, "against": reference, **interval(paired)})
        entry["differences"] = differences
        out[name] = entry
    return out


# --- the sweep directory ------------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _row_path(out: Path, set_index: int, replication: int) -> Path:
    return out / "rows" / f"set{set_index}-rep{replication}.json"


def _plan(sets: Sequence[ParameterSet], file: str, metrics: Sequence[str]) -> dict[str, Any]:
    """What makes two sweeps the same sweep: the parameter sets' scenarios as run and the metric
    filter (not the number of replications, which a rerun may raise)."""
    scenarios = [s.scenario.model_dump(mode="json") for s in sets]
    digest = hashlib.sha256(json.dumps([scenarios, list(metrics)]).encode()).hexdigest()
    return {
        "file": file,
        "sets": [{"set": s.index, "overrides": list(s.overrides)} for s in sets],
        "metrics": list(metrics),
        "digest": digest,
    }


@contextlib.contextmanager
def _claim(out: Path, shown: str) -> Iterator[None]:
    """Hold an exclusive flock on ``DIR/.sweep.lock`` so two sweeps never write one DIR."""
    descriptor = os.open(out / ".sweep.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScenarioError(
                [Problem(shown, "--out", "another sweep is writing it; choose another --out")]
            ) from None
        yield
    finally:
        os.close(descriptor)


def _check_plan(out: Path, shown: str, plan: Mapping[str, Any]) -> None:
    path = out / "plan.json"
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict) or previous.get("digest") != plan["digest"]:
            raise ScenarioError(
                [
                    Problem(
                        shown,
                        "--out",
                        "holds another sweep (other scenario, --set values or --metrics); "
                        "choose another --out",
                    )
                ]
            )
    elif out.exists() and any(p.name != ".sweep.lock" for p in out.iterdir()):
        raise ScenarioError(
            [Problem(shown, "--out", "exists and is not a sweep directory; choose another --out")]
        )


def _read_rows(out: Path) -> dict[tuple[int, int], dict[str, Any]]:
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    folder = out / "rows"
    if not folder.is_dir():
        return rows
    for path in folder.glob("set*-rep*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            row = json.loads(path.read_text(encoding="utf-8"))
            rows[(row["set"], row["replication"])] = row
    return rows


# --- the sweep ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    set: int
    replication: int
    seed: int
    error: str

    def __str__(self) -> str:
        return f"set {self.set} replication {self.replication} (seed {self.seed}): {self.error}"


@dataclass(frozen=True)
class Progress:
    """The counts a progress bar shows, passed to ``progress`` as they change."""

    total: int
    done: int
    failed: int
    running: int


@dataclass
class SweepResult:
    """A finished sweep: the long-format rows, the statistics (sweep.json's content), the
    failures, and each replication's own run time on its worker (for bench/)."""

    frame: pd.DataFrame
    summary: dict[str, Any]
    failures: list[Failure]
    run_seconds: dict[tuple[int, int], tuple[float, float]]  # run's own wall and CPU time
    reused: int  # replications found finished in DIR and not run again


_FIXED_COLUMNS = frozenset({"set", "label", "replication", "seed", "metric", "value"})


def parameter_column(key: str) -> str:
    """A parameter's column: its key path, or ``parameter.<key>`` where that is the name of a
    fixed column (``--set seed=1,2`` beside the replication's ``seed``)."""
    return f"parameter.{key}" if key in _FIXED_COLUMNS else key


def _frame(rows: Sequence[Mapping[str, Any]], sets: Sequence[ParameterSet]) -> pd.DataFrame:
    """One row per replication and metric: set, label, each parameter, replication, seed,
    metric, value."""
    import pandas as pd

    by_index = {s.index: s for s in sets}
    keys = [parameter_column(key) for key, _ in sets[0].values]
    records = []
    for row in sorted(rows, key=lambda r: (r["set"], r["replication"])):
        parameter_set = by_index[row["set"]]
        values = {parameter_column(key): value for key, value in parameter_set.values}
        fixed = {"set": row["set"], "label": parameter_set.label, **values}
        fixed |= {"replication": row["replication"], "seed": row["seed"]}
        for metric, value in sorted(row["metrics"].items()):
            records.append({**fixed, "metric": metric, "value": value})
    columns = ["set", "label", *keys, "replication", "seed", "metric", "value"]
    return pd.DataFrame.from_records(records, columns=columns)


@dataclass
class Connection:
    """A Dask client, and the LocalCluster made for it (None for a running scheduler's)."""

    client: Any
    cluster: Any = None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(scheduler: str | None, workers: int | None) -> Connection:
    """Return a client of the scheduler at ``scheduler`` (bad input when it cannot be reached or
    has no workers), or of a new ``LocalCluster`` of ``workers`` processes with one thread each
    (default: the core count)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if not re.fullmatch(r"((tcp|tls|ucx|ws|wss)://)?[^\s:/]+:\d{1,5}", scheduler):
            raise ScenarioError(
                [
                    Problem(
                        "--scheduler",
                        "",
                        f"'{scheduler}' is not a scheduler address such as tcp://HOST:8786",
                    )
                ]
            )
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ScenarioError(
                [
                    Problem(
                        "--scheduler", "", f"cannot reach the Dask scheduler {scheduler}: {reason}"
                    )
                ]
            ) from None
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            client.close()
            raise ScenarioError(
                [Problem("--scheduler", "", f"the Dask scheduler {scheduler} has no workers")]
            ) from None
        return Connection(client)
    import logging

    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",  # no fixed port: other clusters may run here
        # the cluster's own chatter, such as a worker's last heartbeat racing the scheduler's
        # close; a replication's error is reported by the sweep itself
        silence_logs=logging.CRITICAL,
    )
    return Connection(Client(cluster, set_as_default=False), cluster)


def check_replications(replications: int, max_replications: int | None, target: Any) -> None:
    problems = []
    if replications < 1:
        problems.append(Problem("--replications", "", f"must be at least 1, not {replications}"))
    if target is not None:
        if replications < 2:
            problems.append(
                Problem("--replications", "", "--target-ci needs at least 2 to start from")
            )
        if max_replications is None:
            problems.append(Problem("--target-ci", "", "needs --max-replications, the limit"))
        elif max_replications < replications:
            problems.append(
                Problem("--max-replications", "", f"is below --replications ({replications})")
            )
    if problems:
        raise ScenarioError(problems)


def parse_target(text: str) -> tuple[str, float]:
    """Return ``(metric, width)`` from ``--target-ci METRIC=WIDTH``."""
    metric, sep, width_text = text.partition("=")
    try:
        width = float(width_text)
    except ValueError:
        width = math.nan
    if not sep or not metric or not math.isfinite(width) or width <= 0:
        raise ScenarioError(
            [Problem("--target-ci", "", f"'{text}' is not METRIC=WIDTH with a width above 0")]
        )
    return metric, width


def needed_replications(
    rows: Sequence[Mapping[str, Any]],
    sets: Sequence[ParameterSet],
    replications: int,
    target: tuple[str, float],
) -> int | None:
    """Return how many replications every set needs for the target width, estimated from the
    current sd (``n = (2 t sd / W)²`` with the current t), or None when all sets are narrow
    enough; at least one more than now while any is wider."""
    from scipy import stats

    metric, width = target
    needed = replications
    for entry in statistics(rows, sets, replications).get(metric, {"sets": []})["sets"]:
        if entry["width"] is None or entry["width"] > width:
            sd, n = entry["sd"] or 0.0, max(entry["n"], 2)
            t = float(stats.t.ppf(1 - (1 - CONFIDENCE) / 2, n - 1))
            needed = max(needed, replications + 1, math.ceil((2 * t * sd / width) ** 2))
    return None if needed == replications else needed


def run_sweep(
    raw: Mapping[str, Any],
    *,
    replications: int,
    sets: Sequence[tuple[str, Sequence[str]]] = (),
    file: str = "<scenario>",
    base_dir: Path | str = ".",
    out: Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    keep_runs: bool = False,
    metrics: Sequence[str] = (),
    target_ci: tuple[str, float] | None = None,
    max_replications: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    notice: Callable[[str], None] | None = None,
    replicate: Callable[..., ReplicationResult] = run_replication,
    variants: bool = False,
) -> SweepResult:
    """Run a sweep and return its rows and statistics; with ``out``, write them to
    ``out/sweep.csv`` and ``out/sweep.json`` and keep every finished replication in ``out`` as
    it arrives, reusing those a previous sweep into ``out`` finished.

    Everything is checked before anything starts: the value lists, every parameter set as a
    whole scenario, the replication counts and the scheduler (bad input: :class:`ScenarioError`).
    ``client`` is a Dask client to use (and leave open); without one, a client is made from
    ``scheduler`` or a new LocalCluster of ``workers`` processes, and closed at the end.
    ``replicate`` runs one replication on a worker (tests substitute one that fails).
    ``variants`` runs every parameter set on the scenario and on each of its ``variants:``.
    """
    check_replications(replications, max_replications, target_ci)
    if keep_runs and out is None:
        raise ScenarioError([Problem("--keep-runs", "", "needs --out, where the runs are kept")])
    parameter_set_list = parameter_sets(raw, sets, file, variants=variants)
    base = str(Path(base_dir).resolve())
    _check_networks(parameter_set_list, base, file)
    plan = _plan(parameter_set_list, file, metrics)
    shown = str(out) if out is not None else ""
    if out is not None:
        _check_plan(out, shown, plan)  # before the scheduler: refuse without waiting for it
    connection = connect(scheduler, workers) if client is None else None
    client = client if connection is None else connection.client
    try:
        if out is None:
            return _execute(
                client, parameter_set_list, replications, None, plan, base, file, keep_runs,
                metrics, target_ci, max_replications, progress, notice, replicate,
            )  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        with _claim(out, shown):
            _check_plan(out, shown, plan)  # again under the claim
            _atomic_write(out / "plan.json", json.dumps(plan, indent=2) + "\n")
            (out / "rows").mkdir(exist_ok=True)
            for leftover in (out / "rows").glob(".*.tmp"):  # a row half-written when killed
                leftover.unlink()
            return _execute(
                client, parameter_set_list, replications, out, plan, base, file, keep_runs,
                metrics, target_ci, max_replications, progress, notice, replicate,
            )  # fmt: skip
    finally:
        if connection is not None:
            connection.close()


def _check_networks(sets: Sequence[ParameterSet], base_dir: str, file: str) -> None:
    """Build each set's network as a run would (imports, event targets, fault rates), so a
    problem only the build sees is bad input before anything starts, not a failed task."""
    from sim.engine import Simulation
    from twin.feed import RecordingSink

    problems: list[Problem] = []
    for s in sets:
        try:
            Simulation(s.scenario, RecordingSink(), base_dir=base_dir, file=file)
        except ScenarioError as error:
            problems += [p for p in error.problems if p not in problems]
    if problems:
        raise ScenarioError(problems)


def _execute(
    client: Any,
    sets: list[ParameterSet],
    replications: int,
    out: Path | None,
    plan: dict[str, Any],
    base: str,
    file: str,
    keep_runs: bool,
    metrics: Sequence[str],
    target_ci: tuple[str, float] | None,
    max_replications: int | None,
    progress: Callable[[Progress], None] | None,
    notice: Callable[[str], None] | None,
    replicate: Callable[..., ReplicationResult],
) -> SweepResult:
    finished = _read_rows(out) if out is not None else {}
    run_seconds: dict[tuple[int, int], tuple[float, float]] = {}
    failures: list[Failure] = []
    sweep_id = uuid.uuid4().hex[:12]
    # hash=False: keys of its own, which a cancelled earlier sweep of the same scenario cannot
    # release from under this one
    scattered = {s.index: client.scatter(s.scenario, broadcast=True, hash=False) for s in sets}
    say = notice or (lambda _line: None)
    total = replications
    while True:
        todo = [
            (s, rep)
            for rep in range(total)
            for s in sets
            if (s.index, rep) not in finished
            and not any(f.set == s.index and f.replication == rep for f in failures)
        ]
        futures = {}
        for s, rep in todo:
            seed = replication_seed(s.scenario.seed, rep)
            # absolute: a worker's working directory is not ours
            keep = (
                os.path.abspath(out / "runs" / f"set{s.index}-rep{rep}")
                if keep_runs and out
                else None
            )
            future = client.submit(
                replicate,
                scattered[s.index],
                seed,
                base_dir=base,
                file=file,
                metrics=tuple(metrics),
                keep_dir=keep,
                key=f"telcotwin-replication-{sweep_id}-set{s.index}-rep{rep}",
                pure=False,
            )
            futures[future] = (s.index, rep, seed)
        done = sum(1 for key in finished if key[0] < len(sets) and key[1] < total)
        _collect(
            client, futures, Progress(len(sets) * total, done, len(failures), 0), out, finished,
            failures, run_seconds, progress, say,
        )  # fmt: skip
        if target_ci is None or max_replications is None:
            break
        rows = [row for (s, r), row in finished.items() if s < len(sets) and r < total]
        if rows and not any(target_ci[0] in row["metrics"] for row in rows):
            kept = f"; the replications run are kept in {out}/" if out is not None else ""
            raise ScenarioError(
                [
                    Problem(
                        "--target-ci",
                        "",
                        f"no metric '{target_ci[0]}' in the runs' summaries (e.g. "
                        f"voice.blocking){kept}",
                    )
                ]
            )
        needed = needed_replications(rows, sets, total, target_ci)
        if needed is None or total >= max_replications:
            break
        total = min(needed, max_replications)
        say(f"--target-ci {target_ci[0]}={target_ci[1]:g}: {total} replications")
    rows = [row for (s, r), row in finished.items() if s < len(sets) and r < total]
    summary = _summary(rows, sets, total, file, failures, target_ci, max_replications)
    frame = _frame(rows, sets)
    if out is not None:
        frame.to_csv(out / ".sweep.csv.tmp", index=False)
        os.replace(out / ".sweep.csv.tmp", out / "sweep.csv")
        _atomic_write(out / "sweep.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    reused = sum(1 for row in rows if (row["set"], row["replication"]) not in run_seconds)
    return SweepResult(frame, summary, failures, run_seconds, reused)


def _collect(
    client: Any,
    futures: Mapping[Any, tuple[int, int, int]],
    state: Progress,
    out: Path | None,
    finished: dict[tuple[int, int], dict[str, Any]],
    failures: list[Failure],
    run_seconds: dict[tuple[int, int], tuple[float, float]],
    progress: Callable[[Progress], None] | None,
    say: Callable[[str], None],
) -> None:
    """Take the replications' results as they finish: write each finished one's row (with
    ``out``), record each failure and tell it; cancel the rest if interrupted."""
    pending = set(futures)
    done, last_shown = state.done, 0.0
    changed = threading.Event()
    for future in futures:
        future.add_done_callback(lambda _future: changed.set())

    def show(force: bool = False) -> None:
        nonlocal last_shown
        if progress is None or (not force and time.monotonic() - last_shown < 0.5):
            return
        last_shown = time.monotonic()
        # tasks given to a worker, at most one a thread: not those queued on the scheduler
        processing = client.processing() if pending else {}
        running = sum(min(len(keys), threads.get(worker, 1)) for worker, keys in processing.items())
        progress(Progress(state.total, done, len(failures), min(running, len(pending))))

    threads: dict[str, int] = client.nthreads() if progress is not None else {}
    show(force=True)
    try:
        while pending:
            changed.wait(timeout=0.5)
            changed.clear()  # before looking: a task finishing now sets it again
            for future in [f for f in pending if f.done()]:
                pending.discard(future)
                set_index, rep, seed = futures[future]
                try:
                    result: ReplicationResult = future.result()
                except Exception as error:  # a replication's own failure: told, not fatal
                    reason = f"{type(error).__name__}: {error}".splitlines()[0]
                    failures.append(Failure(set_index, rep, seed, reason))
                    say(f"failed: {failures[-1]}")
                    continue
                row = {
                    "set": set_index,
                    "replication": rep,
                    "seed": seed,
                    "metrics": result.metrics,
                    "run_s": result.run_s,
                }
                if out is not None:
                    _atomic_write(_row_path(out, set_index, rep), json.dumps(row) + "\n")
                finished[(set_index, rep)] = row
                run_seconds[(set_index, rep)] = (result.run_s, result.cpu_s)
                done += 1
            show()
        show(force=True)
    except BaseException:
        client.cancel(list(pending))
        raise


def _summary(
    rows: Sequence[Mapping[str, Any]],
    sets: Sequence[ParameterSet],
    replications: int,
    file: str,
    failures: Sequence[Failure],
    target_ci: tuple[str, float] | None,
    max_replications: int | None,
) -> dict[str, Any]:
    """sweep.json: the sweep's shape, its sets, per metric the intervals, and the failures."""
    finished = {s.index: 0 for s in sets}
    for row in rows:
        finished[row["set"]] += 1
    by_metric = statistics(rows, sets, replications)
    out: dict[str, Any] = {
        "scenario": sets[0].scenario.name,
        "file": file,
        "seed": sets[0].scenario.seed,
        "replications": replications,
        "confidence": CONFIDENCE,
        "common_random_numbers": COMMON_RANDOM_NUMBERS,
        "parameters": [key for key, _ in sets[0].values],
        "sets": [
            {
                "set": s.index,
                "label": s.label,
                "values": dict(s.values),
                "finished": finished[s.index],
                "failed": sum(1 for f in failures if f.set == s.index),
            }
            for s in sets
        ],
        "failed": [
            {"set": f.set, "replication": f.replication, "seed": f.seed, "error": f.error}
            for f in failures
        ],
        "metrics": by_metric,
    }
    if target_ci is not None:
        metric, width = target_ci
        widths = [e["width"] for e in by_metric.get(metric, {"sets": []})["sets"]]
        reached = bool(widths) and all(w is not None and w <= width for w in widths)
        out["target_ci"] = {
            "metric": metric,
            "width": width,
            "max_replications": max_replications,
            "reached": reached,
        }
    return out


def sweep(
    scenario: str | Path | Mapping[str, Any],
    replications: int,
    *,
    set: Mapping[str, Sequence[Any]] | None = None,
    out: str | Path | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    keep_runs: bool = False,
    metrics: Sequence[str] = (),
    target_ci: tuple[str, float] | None = None,
    max_replications: int | None = None,
    variants: bool = False,
) -> pd.DataFrame:
    """Return a sweep's long-format DataFrame (set, label, one column per parameter,
    replication, seed, metric, value): the Python form of ``telcotwin sweep``, for notebooks.

    ``scenario`` is a YAML file or a parsed scenario mapping; ``set`` maps key paths to value
    lists (a string is read as ``--set`` reads it, other values as their JSON).
    ``variants`` sweeps the scenario's ``variants:`` too (a ``variant`` column).
    ``df.attrs["summary"]`` holds what sweep.json would (intervals, differences, failures).
    """
    if isinstance(scenario, (str, Path)):
        path = Path(scenario)
        raw, file, base_dir = read_yaml(path), path.name, path.parent
    else:
        raw, file, base_dir = dict(scenario), "<scenario>", Path(".")
    lists = [
        (key, [v if isinstance(v, str) else json.dumps(v) for v in values])
        for key, values in (set or {}).items()
    ]
    empty = [Problem(file, key, "the value list is empty") for key, values in lists if not values]
    if empty:
        raise ScenarioError(empty)
    result = run_sweep(
        raw,
        replications=replications,
        sets=lists,
        file=file,
        base_dir=base_dir,
        out=None if out is None else Path(out),
        client=client,
        scheduler=scheduler,
        workers=workers,
        keep_runs=keep_runs,
        metrics=metrics,
        target_ci=target_ci,
        max_replications=max_replications,
        variants=variants,
    )
    result.frame.attrs["summary"] = result.summary
    return result.frame


# --- the command ----------------------------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    """The ``telcotwin sweep`` options."""
    parser.add_argument("file", type=Path, help="scenario YAML file")
    parser.add_argument(
        "--replications", type=int, required=True, metavar="N", help="replications per set"
    )
    parser.add_argument(
        "--set",
        dest="value_lists",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="values to sweep for a key path, as `telcotwin run --set` names it (repeatable; "
        "the sweep runs every combination), e.g. --set traffic.voice.busy_hour_calls=1,1.5",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="run every parameter set on the scenario as written and on each of its variants: "
        "(a `variant` parameter; differences are against the base, on common random numbers)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="sweep directory (default: sweeps/<scenario name>-seed<seed>); rerunning into it "
        "runs only the replications it does not hold yet",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://HOST:8786 (default: a LocalCluster here)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="K",
        help="LocalCluster worker processes, one thread each (default: the core count)",
    )
    parser.add_argument(
        "--keep-runs", action="store_true", help="keep each replication's run directory in DIR/runs"
    )
    parser.add_argument(
        "--metrics",
        action="append",
        default=[],
        metavar="PATTERN",
        help="keep only the metrics matching this glob (repeatable), e.g. 'voice.*'",
    )
    parser.add_argument(
        "--target-ci",
        default=None,
        metavar="METRIC=WIDTH",
        help="add replications until every set's 95%% interval of METRIC is at most WIDTH wide "
        "(needs --max-replications)",
    )
    parser.add_argument("--max-replications", type=int, default=None, metavar="N")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or result table")


def command(args: Any) -> int:
    """``telcotwin sweep``: bad input raises :class:`ScenarioError` before anything starts."""
    import sys

    try:
        import distributed  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 1
    file: Path = args.file
    problems = []
    if args.workers is not None and args.workers < 1:
        problems.append(Problem("--workers", "", f"must be at least 1, not {args.workers}"))
    if args.workers is not None and args.scheduler is not None:
        problems.append(Problem("--workers", "", "is for a LocalCluster, not with --scheduler"))
    if problems:
        raise ScenarioError(problems)
    target = None if args.target_ci is None else parse_target(args.target_ci)
    raw = read_yaml(file)
    lists = parse_set_options(args.value_lists, file.name)
    seed = raw.get("seed", 0) if isinstance(raw, dict) else 0
    name = raw.get("name", file.stem) if isinstance(raw, dict) else file.stem
    out = args.out or Path("sweeps") / f"{name}-seed{seed}"
    show = not args.quiet and sys.stderr.isatty()
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(
            total=args.replications,
            desc="sweep",
            file=sys.stderr,
            leave=False,
            bar_format="{desc} |{bar}| [{elapsed}<{remaining}]",
        )

    def progress(state: Progress) -> None:
        if bar is not None:  # called twice a second at most: redraw each time
            bar.total, bar.n = state.total, state.done
            bar.set_description_str(
                f"sweep: {state.done}/{state.total} done, {state.failed} failed, "
                f"{state.running} running",
                refresh=False,
            )
            bar.refresh()

    def notice(line: str) -> None:
        if bar is not None:
            bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    try:
        result = run_sweep(
            raw,
            replications=args.replications,
            sets=lists,
            file=file.name,
            base_dir=file.parent,
            out=out,
            scheduler=args.scheduler,
            workers=args.workers,
            keep_runs=args.keep_runs,
            metrics=args.metrics,
            target_ci=target,
            max_replications=args.max_replications,
            progress=progress,
            notice=notice,
            variants=args.variants,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: the finished replications are kept in {out}/; rerun to resume",
            file=sys.stderr,
        )
        return 130
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(format_sweep(result.summary, [target[0]] if target else None))
    ran = sum(s["finished"] for s in result.summary["sets"]) - result.reused
    print(
        f"wrote {out}/ (sweep.csv, sweep.json): {ran} replications run, {result.reused} reused, "
        f"{len(result.failures)} failed"
    )
    return 1 if result.failures else 0


HEADLINE = ("voice.blocking", "service.subscriber_hours_out_of_service", "data.served_mb")


def format_sweep(summary: Mapping[str, Any], metrics: Sequence[str] | None = None) -> str:
    """Return the end-of-sweep table: for a few metrics, each set's mean and 95% interval and
    its paired difference from the first set."""
    names = [m for m in (metrics or HEADLINE) if m in summary["metrics"]]
    lines = [
        f"{summary['scenario']}  seed {summary['seed']}  {summary['replications']} replications "
        f"per set  (common random numbers: replication i of every set has the same seed)",
    ]
    labels = {s["set"]: s["label"] for s in summary["sets"]}
    for name in names:
        entry = summary["metrics"][name]
        lines += ["", f"  {name}"]
        differences = {d["set"]: d for d in entry["differences"]}
        for row in entry["sets"]:
            text = f"    [{row['set']}] {labels[row['set']]:<40} {_estimate(row)}"
            difference = differences.get(row["set"])
            if difference is not None:
                text += f"   vs [0]: {_estimate(difference, signed=True)}"
            lines.append(text)
    for failure in summary["failed"]:
        lines.append(
            f"  failed: set {failure['set']} replication {failure['replication']} "
            f"(seed {failure['seed']}): {failure['error']}"
        )
    return "\n".join(lines)


def _estimate(entry: Mapping[str, Any], signed: bool = False) -> str:
    if entry["mean"] is None:
        return "-"
    mean = f"{entry['mean']:+.6g}" if signed else f"{entry['mean']:.6g}"
    if entry["width"] is None:
        return f"{mean} (n={entry['n']})"
    return (
        f"{mean} ± {entry['width'] / 2:.3g}  [{entry['ci_low']:.6g}, {entry['ci_high']:.6g}] "
        f"(n={entry['n']})"
    )

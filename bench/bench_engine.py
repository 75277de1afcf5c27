"""Benchmarks of the whole ``telcotwin run``: speed against plain SimPy, and national scale.

    python bench/bench_engine.py ratio      # calls/s next to the textbook SimPy model
    python bench/bench_engine.py calls-per-second   # the same on a large network, start-up < 10 %
    python bench/bench_engine.py kernels    # ns per call of the voice kernels, old and new
    python bench/bench_engine.py national   # 0.1x, 0.3x and 1x of a national network
    python bench/bench_engine.py business   # national day: the BSS off and on, as a ratio
    python bench/bench_engine.py rating     # usage records rated per second
    python bench/bench_engine.py stages     # one run in-process: each stage's share
    python bench/bench_engine.py memory     # peak memory of 1 day against N days
    python bench/bench_engine.py memory-peak   # who holds the memory at a run's peak (memray)
    python bench/bench_engine.py scaling    # 0.1x to 3x national: time and memory per tower

Both time the command as a user runs it, in a subprocess: interpreter start, imports,
validation, network build, simulation, the twin's store and summary.json. Figures from one
invocation are comparable with each other; across invocations the shared machine's load
varies, so compare ratios, not seconds. The method and recorded figures are in README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from calls_per_second import bench_calls_per_second  # noqa: E402
from memory_peak import bench_memory_peak  # noqa: E402
from scaling import bench_scaling  # noqa: E402
from simpy_baseline import erlang_b, run_plain_simpy  # noqa: E402
from stages import print_stages  # noqa: E402
from store_writer import bench_store_writer  # noqa: E402

from sim.engine import Simulation  # noqa: E402
from sim.scenario import parse_scenario  # noqa: E402
from twin.feed import RecordingSink  # noqa: E402


def ratio_scenario(
    towers: int,
    erlangs_per_cell: float,
    hours: int,
    *,
    calls_per_subscriber: float = 1.0,
    name: str = "bench-ratio",
) -> dict[str, Any]:
    """A generated network at a flat load, voice only, no faults: the cells the SimPy model
    can also simulate. More busy-hour calls per subscriber keep the subscriber base small."""
    cells = towers * 3
    mean_duration = 120.0
    subscribers = round(erlangs_per_cell * cells * 3600 / mean_duration / calls_per_subscriber)
    return {
        "name": name,
        "seed": 1,
        "start": "2027-01-01T00:00:00Z",
        "duration": f"{hours}h",
        "pm_interval": "15m",
        "network": {
            "defaults": {"cells": 3, "voice_channels": 30, "data_mbps": 150},
            "generate": {
                "towers": towers,
                "aggregation": max(1, towers // 25),
                "cores": 1,
                "region": {"center": [50.0, 10.0], "radius_km": 40},
            },
        },
        "subscribers": {"count": subscribers, "placement": "uniform"},
        "traffic": {
            "daily_profile": [1.0] * 24,
            "voice": {
                "busy_hour_calls": calls_per_subscriber,
                "mean_duration": f"{mean_duration:g}s",
            },
            "data": {"busy_hour_sessions": 0, "mean_volume_mb": 1},
        },
    }


def timed_run(args: list[str], code: Path = ROOT) -> tuple[float, float]:
    """Run ``telcotwin`` (the one in ``code``) with ``args``; return wall seconds and peak
    resident memory in MiB."""
    # -P: without it ``-m`` puts the working directory (ROOT) first on sys.path, ahead of
    # PYTHONPATH, and every variant ran the working tree's code
    command = [sys.executable, "-P", "-m", "twin.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(code)}  # ahead of the editable install's finder
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"telcotwin {' '.join(args)} failed")
    return wall, usage.ru_maxrss / 1024


def bench_ratio(towers: int, erlangs: float, hours: int, seed: int) -> None:
    raw = ratio_scenario(towers, erlangs, hours)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratio.yaml"
        path.write_text(yaml.safe_dump(raw))
        wall, peak = timed_run(["run", str(path), "--out", f"{tmp}/out", "--quiet"])
        import json

        summary = json.loads((Path(tmp) / "out" / "summary.json").read_text())
    scenario = parse_scenario(raw, "ratio.yaml")
    sim = Simulation(scenario, RecordingSink())
    per_cell_subscribers = sim.subscribers.cell_count.astype(float)
    channels = sim.topo.cell_voice_channels
    baseline = run_plain_simpy(
        per_cell_subscribers * 1.0, channels, 120.0, hours * 3600.0, [1.0] * 24, seed
    )
    ours = summary["voice"]
    ours_rate = ours["offered"] / wall
    base_rate = baseline.offered / baseline.wall_seconds
    expected = float(
        np.mean(
            [
                erlang_b(float(n * 120 / 3600), int(c))
                for n, c in zip(per_cell_subscribers, channels, strict=True)
            ]
        )
    )
    print(
        f"network: {towers} towers, {len(channels)} cells x 30 channels, "
        f"{erlangs:g} E offered per cell on average, {hours} h, voice only"
    )
    print(
        f"telcotwin run (whole command): {ours['offered']:>10,} calls in {wall:7.2f} s = "
        f"{ours_rate:>12,.0f} calls/s, blocking {ours['blocking']:.5f}, peak {peak:.0f} MiB"
    )
    print(
        f"plain SimPy (process per call): {baseline.offered:>9,} calls in "
        f"{baseline.wall_seconds:7.2f} s = {base_rate:>12,.0f} calls/s, "
        f"blocking {baseline.blocking:.5f}"
    )
    print(f"Erlang B, mean over the cells' offered loads: {expected:.5f}")
    print(f"ratio: {ours_rate / base_rate:.1f}x")


def bench_national(scales: list[float]) -> None:
    base = {"towers": 5000, "aggregation": 100, "subscribers": 1_000_000}
    print("national.yaml: 24 h, 3 cells per tower, random faults on towers, aggregation, links")
    print(
        f"{'scale':>6} {'towers':>7} {'cells':>7} {'subscribers':>12} {'wall s':>8} "
        f"{'peak MiB':>9} {'calls':>12} {'calls/s':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for scale in scales:
            towers = round(base["towers"] * scale)
            subs = round(base["subscribers"] * scale)
            out = f"{tmp}/national-{scale}"
            wall, peak = timed_run(
                [
                    "run",
                    "scenarios/national.yaml",
                    "--out",
                    out,
                    "--quiet",
                    "--set",
                    f"network.generate.towers={towers}",
                    "--set",
                    f"network.generate.aggregation={max(1, round(100 * scale))}",
                    "--set",
                    f"subscribers.count={subs}",
                ]
            )
            import json

            voice = json.loads((Path(out) / "summary.json").read_text())["voice"]
            print(
                f"{scale:>6g} {towers:>7} {towers * 3:>7} {subs:>12,} {wall:>8.2f} "
                f"{peak:>9.0f} {voice['offered']:>12,} {voice['offered'] / wall:>11,.0f}"
            )


def _interleaved(
    variants: list[tuple[str, Path, list[str]]], scenario: str, repeat: int, tmp: str
) -> dict[str, list[tuple[float, float]]]:
    """Run ``scenario`` once per variant (label, code, extra --set items) per round, A B A B
    ..., so that the machine's load falls on all alike."""
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in variants}
    for k in range(repeat):
        for index, (label, code, sets) in enumerate(variants):
            # one directory per variant and round (variants may share their ``sets`` list)
            args = ["run", scenario, "--out", f"{tmp}/{index}-{k}"]
            args.append("--quiet")
            for item in sets:
                args += ["--set", item]
            times[label].append(timed_run(args, code))
    return times


def _report(times: dict[str, list[tuple[float, float]]], title: str) -> None:
    """Print each variant's wall times, median and peak, and the last against the first."""
    print(title)
    medians = {}
    for label, runs in times.items():
        walls = sorted(w for w, _ in runs)
        peak = max(p for _, p in runs)
        medians[label] = (float(np.median(walls)), peak)
        print(
            f"{label:>24}: wall s {' '.join(f'{w:.2f}' for w, _ in runs)}; "
            f"median {medians[label][0]:.2f}; peak {peak:.0f} MiB"
        )
    labels = list(medians)
    first, last = labels[0], labels[-1]
    print(
        f"ratio {last} / {first}: time {medians[last][0] / medians[first][0]:.3f}, "
        f"peak memory {medians[last][1] / medians[first][1]:.3f}"
    )


def bench_compare(base: str, scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario on the code at ``base`` and on the working tree, interleaved;
    report medians and their ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        checkout = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(checkout), base], cwd=ROOT, check=True
        )
        try:
            variants = [(base, checkout, sets), ("working tree", ROOT, sets)]
            times = _interleaved(variants, scenario, repeat, tmp)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT)
    _report(times, f"{scenario} {' '.join(sets)}: {repeat} runs each, interleaved")


def _twin_sets(scenario: str, **settings: str) -> list[str]:
    """The ``--set`` lines that give the scenario's ``twin`` block these settings (YAML
    values): into the block when the scenario has one, else adding it."""
    if not settings:
        return []
    if "twin" in (yaml.safe_load((ROOT / scenario).read_text()) or {}):
        return [f"twin.{key}={value}" for key, value in settings.items()]
    return ["twin={" + ", ".join(f"{key}: {value}" for key, value in settings.items()) + "}"]


def bench_fault_management(scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario with fault management off and on (``twin.fault_management``),
    interleaved; report medians and their ratio."""
    off = [*sets, *_twin_sets(scenario, fault_management="false")]
    with tempfile.TemporaryDirectory() as tmp:
        variants = [("fault management off", ROOT, off), ("fault management on", ROOT, sets)]
        times = _interleaved(variants, scenario, repeat, tmp)
    _report(times, f"{scenario} {' '.join(sets)}: {repeat} runs each, interleaved")


def bench_performance_management(scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario with performance management off and on
    (``twin.performance_management``), interleaved; report medians and their ratio."""
    off = [*sets, *_twin_sets(scenario, performance_management="false")]
    with tempfile.TemporaryDirectory() as tmp:
        variants = [
            ("performance management off", ROOT, off),
            ("performance management on", ROOT, sets),
        ]
        times = _interleaved(variants, scenario, repeat, tmp)
    _report(times, f"{scenario} {' '.join(sets)}: {repeat} runs each, interleaved")


# A catalog with an SLA, so that service assurance has subscriptions to measure (national.yaml
# has none): one product for every subscriber; added to scenarios without a catalog.
SLA_CATALOG = [
    'catalog={currency: EUR, products: [{id: basic, name: Basic, monthly_fee: "10.00", '
    "sla: {availability: 0.995, credit_percent: 10}}]}",
    "subscribers.products={basic: 1.0}",
]


def bench_assurance(scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario with every performance-management function off, then with
    performance management (KPIs) on alone, then with anomaly detection and service assurance
    on too (all on), interleaved; report medians and the ratio of all on to all off."""
    raw = yaml.safe_load((ROOT / scenario).read_text()) or {}
    assurance_off = {"anomalies": "{enabled: false}", "service_assurance": "false"}
    base = [*([] if "catalog" in raw else SLA_CATALOG), *sets]
    all_off = _twin_sets(scenario, performance_management="false", **assurance_off)
    variants = [
        ("all off", ROOT, [*base, *all_off]),
        ("KPIs only", ROOT, [*base, *_twin_sets(scenario, **assurance_off)]),
        ("all on", ROOT, base),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        times = _interleaved(variants, scenario, repeat, tmp)
    _report(
        times, f"{scenario} {' '.join(sets)} with an SLA catalog: {repeat} runs each, interleaved"
    )


def bench_thresholds(scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario with performance management off, on without thresholds, and on with
    the default thresholds, interleaved; report medians and the last against the first."""
    off = [*sets, *_twin_sets(scenario, performance_management="false")]
    no_thresholds = [*sets, *_twin_sets(scenario, thresholds="{defaults: false}")]
    with tempfile.TemporaryDirectory() as tmp:
        variants = [
            ("performance management off", ROOT, off),
            ("KPIs, no thresholds", ROOT, no_thresholds),
            ("KPIs and thresholds", ROOT, sets),
        ]
        times = _interleaved(variants, scenario, repeat, tmp)
    _report(times, f"{scenario} {' '.join(sets)}: {repeat} runs each, interleaved")


# The reference scenario's catalog, for a scenario that has none (the national one): the
# business side needs products to bill. 70% mobile-s, 30% mobile-l, and a price change.
BUSINESS_SETS = [
    "catalog={currency: EUR, products: ["
    '{id: mobile-s, name: Mobile S, monthly_fee: "15.00", '
    "includes: {voice_minutes: 100, data_gb: 2}, "
    'overage: {voice_minute: "0.09", data_gb: "5.00"}, '
    "sla: {availability: 0.995, credit_percent: 10}}, "
    '{id: mobile-l, name: Mobile L, monthly_fee: "35.00", '
    "includes: {voice_minutes: 1000, data_gb: 30}, "
    'overage: {voice_minute: "0.05", data_gb: "3.00"}, '
    "sla: {availability: 0.999, credit_percent: 25}}]}",
    "subscribers.products={mobile-s: 0.7, mobile-l: 0.3}",
    'events=[{at: 8h, action: price_change, product: mobile-s, monthly_fee: "17.00"}]',
]


def bench_business(scenario: str, repeat: int, sets: list[str]) -> None:
    """Time one scenario with the business side (twin.business) off and on, interleaved;
    report medians and their ratio. A scenario without a catalog gets the reference one."""
    raw = yaml.safe_load((ROOT / scenario).read_text()) or {}
    base = [*(BUSINESS_SETS if "catalog" not in raw else []), *sets]
    if "catalog" not in raw and "events" in raw:
        raise SystemExit(f"{scenario}: has events but no catalog; add a catalog to bench it")
    off = [*base, *_twin_sets(scenario, business="false")]
    with tempfile.TemporaryDirectory() as tmp:
        variants = [("business side off", ROOT, off), ("business side on", ROOT, base)]
        times = _interleaved(variants, scenario, repeat, tmp)
    _report(times, f"{scenario} {' '.join(sets)}: {repeat} runs each, interleaved")


def bench_rating(records: int, repeat: int) -> None:
    """Rating throughput on generated usage records: one batch of ``records`` subscribers
    (70% mobile-s, 30% mobile-l), rated ``repeat`` times as successive days of a month."""
    from datetime import UTC, datetime

    from sim.scenario import Catalog
    from sim.scenario import Customers as CustomersConfig
    from twin.bss.catalog import Cycles, PriceBook
    from twin.bss.customers import Customers
    from twin.bss.rating import Rating
    from twin.feed import UsageBatch

    catalog = parse_scenario(
        {**yaml.safe_load((ROOT / "scenarios/metro.yaml").read_text())}, "metro.yaml"
    ).catalog
    assert isinstance(catalog, Catalog)
    rng = np.random.default_rng(1)
    book = PriceBook(catalog)
    customers = Customers(CustomersConfig(), tuple(book.index))
    products = (rng.random(records) < 0.3).astype(np.int64)
    customers.load_inventory(
        np.zeros(records, dtype=np.int64), products, ("mobile-s", "mobile-l"), ("c",), ("t",), 1
    )
    day = 86400.0
    rating = Rating(book, customers, Cycles.of_run(datetime(2027, 3, 1, tzinfo=UTC), 31 * day))
    batches = [
        UsageBatch(
            k * day,
            (k + 1) * day,
            np.arange(records, dtype=np.int64),
            rng.exponential(1800.0, records),
            rng.exponential(1000.0, records),
        )
        for k in range(repeat)
    ]
    started = time.perf_counter()
    rated = sum(len(rating.rate(batch).subscription) for batch in batches)
    seconds = time.perf_counter() - started
    print(
        f"rating: {rated:,} usage records (subscriber-days, voice and data each) in "
        f"{seconds:.3f} s: {rated / seconds:,.0f} records/s"
    )


def bench_memory(scenario: str, days: list[int], sets: list[str]) -> None:
    """Run ``scenario`` for each number of days (``--set duration=Nd``) as ``telcotwin run``;
    print wall time, peak resident memory and each against the first."""
    print(f"{' '.join([scenario, *sets])}: whole telcotwin run, peak RSS (ru_maxrss)")
    print(f"{'days':>5} {'wall s':>8} {'peak MiB':>9} {'time x':>7} {'memory x':>9}")
    first: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in days:
            args = ["run", scenario, "--out", f"{tmp}/{n}d", "--quiet", "--set", f"duration={n}d"]
            for item in sets:
                args += ["--set", item]
            wall, peak = timed_run(args)
            first = first or (wall, peak)
            print(
                f"{n:>5} {wall:>8.2f} {peak:>9.0f} {wall / first[0]:>7.2f} {peak / first[1]:>9.3f}"
            )


# The targets for a national billing month on one machine (issue 9): the whole
# `telcotwin run` of the national network with every twin function on, its day at 3x, a month.
TARGETS: dict[str, tuple[list[str], float, float]] = {
    # name: (--set items on scenarios/national-month.yaml, at most seconds, at most MiB)
    "day": (["duration=1d", "events=[]"], 8.0, 1024.0),
    "3x day": (
        [
            "duration=1d",
            "events=[]",
            "network.generate.towers=15000",
            "network.generate.aggregation=300",
            "subscribers.count=3000000",
        ],
        25.0,
        2560.0,
    ),
    "month": ([], 240.0, 1536.0),
}


def bench_targets(names: list[str]) -> None:
    """Run scenarios/national-month.yaml as the issue's target runs (whole ``telcotwin run``,
    subprocess); print wall time and peak memory against each target."""
    print("scenarios/national-month.yaml, whole telcotwin run, every twin function on")
    print(f"{'run':>7} {'wall s':>8} {'target s':>9} {'peak MiB':>9} {'target MiB':>11}  met")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            sets, seconds, mib = TARGETS[name]
            args = ["run", "scenarios/national-month.yaml", "--out", f"{tmp}/{name}", "--quiet"]
            for item in sets:
                args += ["--set", item]
            wall, peak = timed_run(args)
            met = "yes" if wall <= seconds and peak <= mib else "no"
            print(f"{name:>7} {wall:>8.2f} {seconds:>9.0f} {peak:>9.0f} {mib:>11.0f}  {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    ratio = commands.add_parser("ratio", help="calls/s against the plain SimPy model")
    ratio.add_argument("--towers", type=int, default=100)
    ratio.add_argument("--erlangs", type=float, default=20.0, help="offered per cell")
    ratio.add_argument("--hours", type=int, default=24)
    ratio.add_argument("--seed", type=int, default=1)
    per_second = commands.add_parser(
        "calls-per-second",
        help="whole run on a large voice-only network against plain SimPy on a smaller copy",
    )
    per_second.add_argument("--base", help="git revision to measure too, interleaved")
    per_second.add_argument("--base-dir", type=Path, help="or the code in this directory")
    per_second.add_argument("--towers", type=int, default=300)
    per_second.add_argument("--hours", type=int, default=480)  # start-up under a tenth
    per_second.add_argument("--baseline-towers", type=int, default=40)
    per_second.add_argument("--baseline-hours", type=int, default=6)
    per_second.add_argument("--erlangs", type=float, default=20.0, help="offered per cell")
    per_second.add_argument("--repeat", type=int, default=2)
    per_second.add_argument("--seed", type=int, default=1)
    kernels = commands.add_parser(
        "kernels", help="ns per call of the voice kernels, old and new, on the same arrivals"
    )
    kernels.add_argument("--scenario", default="scenarios/national.yaml")
    kernels.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    national = commands.add_parser("national", help="wall time and memory at national scale")
    national.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    compare = commands.add_parser(
        "compare", help="one scenario on a base revision and on the working tree, as a ratio"
    )
    compare.add_argument("--base", required=True, help="git revision to compare against")
    compare.add_argument("--scenario", default="scenarios/national.yaml")
    compare.add_argument("--repeat", type=int, default=3)
    compare.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    fault = commands.add_parser(
        "fault-management", help="one scenario with fault management off and on, as a ratio"
    )
    fault.add_argument("--scenario", default="scenarios/national.yaml")
    fault.add_argument("--repeat", type=int, default=3)
    fault.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    performance = commands.add_parser(
        "performance-management",
        help="one scenario with performance management off and on, as a ratio",
    )
    performance.add_argument("--scenario", default="scenarios/national.yaml")
    performance.add_argument("--repeat", type=int, default=3)
    performance.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    assurance = commands.add_parser(
        "assurance",
        help="one scenario with KPIs, anomaly detection and SLA off, KPIs only, and all on",
    )
    assurance.add_argument("--scenario", default="scenarios/national.yaml")
    assurance.add_argument("--repeat", type=int, default=3)
    assurance.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    thresholds = commands.add_parser(
        "thresholds",
        help="one scenario with performance management off, KPIs alone, KPIs and thresholds",
    )
    thresholds.add_argument("--scenario", default="scenarios/national.yaml")
    thresholds.add_argument("--repeat", type=int, default=3)
    thresholds.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    business = commands.add_parser(
        "business", help="one scenario with the business side off and on, as a ratio"
    )
    business.add_argument("--scenario", default="scenarios/national.yaml")
    business.add_argument("--repeat", type=int, default=3)
    business.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    rating = commands.add_parser("rating", help="usage records rated per second")
    rating.add_argument("--records", type=int, default=1_000_000, help="per batch")
    rating.add_argument("--repeat", type=int, default=10, help="batches (days)")
    stages = commands.add_parser("stages", help="one run in-process: each stage's share")
    stages.add_argument("--scenario", default="scenarios/national.yaml")
    stages.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    memory = commands.add_parser("memory", help="peak memory of 1 day against N days")
    memory.add_argument("--scenario", default="scenarios/regional.yaml")
    memory.add_argument("--days", type=int, nargs="+", default=[1, 7])
    memory.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    targets = commands.add_parser(
        "targets", help="the national day, 3x day and month against the issue's targets"
    )
    targets.add_argument("--runs", nargs="+", choices=list(TARGETS), default=list(TARGETS))
    writer = commands.add_parser(
        "store-writer", help="the store's bulk writer, rows/s of its own time: old SQL vs new"
    )
    writer.add_argument(
        "--base",
        required=True,
        help="a checkout of the code before the Parquet store (git worktree add DIR d6f21a3)",
    )
    writer.add_argument("--repeat", type=int, default=3)
    writer.add_argument(
        "--scenario",
        default="scenarios/national.yaml",
        help="record the batches of a run of it (default: the national day)",
    )
    writer.add_argument(
        "--synthetic", action="store_true", help="random batches of the national day's shapes"
    )
    writer.add_argument("--rated", action="store_true", help="synthetic usage rated by the BSS")
    writer.add_argument("--postgres", metavar="URL", help="also PostgreSQL: old and new")
    writer.add_argument("--postgres-share", type=float, default=0.1, help="of the batches")
    scaling = commands.add_parser(
        "scaling", help="0.1x to 3x national in-process: time and memory per tower"
    )
    scaling.add_argument("--scales", type=float, nargs="+", default=[0.1, 0.3, 1.0, 3.0])
    scaling.add_argument("--base", type=Path, help="also run the code in this directory")
    scaling.add_argument("--whole", action="store_true", help="also the whole telcotwin run")
    scaling.add_argument("--repeat", type=int, default=1, help="runs per scale; the least CPU")
    peak = commands.add_parser(
        "memory-peak", help="who holds the memory at a run's peak RSS (memray, dev extra)"
    )
    peak.add_argument("--scenario", default="scenarios/national-month.yaml")
    peak.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="default: the day"
    )
    peak.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    if args.command == "memory-peak":
        bench_memory_peak(args.scenario, args.set or ["duration=1d", "events=[]"], args.top)
        return
    if args.command == "targets":
        bench_targets(args.runs)
        return
    if args.command == "store-writer":
        bench_store_writer(
            args.base,
            args.repeat,
            args.rated,
            args.postgres,
            args.postgres_share,
            None if args.synthetic else args.scenario,
        )
        return
    if args.command == "scaling":
        bench_scaling(args.scales, args.base, args.whole, args.repeat)
        return
    if args.command == "stages":
        with tempfile.TemporaryDirectory() as tmp:
            print_stages(args.scenario, args.set, tmp)
        return
    if args.command == "kernels":
        from kernel_timing import bench_kernels

        bench_kernels(args.scenario, args.set)
        return
    if args.command == "memory":
        bench_memory(args.scenario, args.days, args.set)
        return
    if args.command == "ratio":
        bench_ratio(args.towers, args.erlangs, args.hours, args.seed)
    elif args.command == "calls-per-second":
        bench_calls_per_second(
            args.base,
            args.base_dir,
            args.towers,
            args.hours,
            args.baseline_towers,
            args.baseline_hours,
            args.erlangs,
            args.repeat,
            args.seed,
        )
    elif args.command == "compare":
        bench_compare(args.base, args.scenario, args.repeat, args.set)
    elif args.command == "fault-management":
        bench_fault_management(args.scenario, args.repeat, args.set)
    elif args.command == "performance-management":
        bench_performance_management(args.scenario, args.repeat, args.set)
    elif args.command == "assurance":
        bench_assurance(args.scenario, args.repeat, args.set)
    elif args.command == "thresholds":
        bench_thresholds(args.scenario, args.repeat, args.set)
    elif args.command == "business":
        bench_business(args.scenario, args.repeat, args.set)
    elif args.command == "rating":
        bench_rating(args.records, args.repeat)
    else:
        bench_national(args.scales)


if __name__ == "__main__":
    main()

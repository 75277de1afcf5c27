"""Calls per second of the whole ``telcotwin run`` on a large voice-only network, against plain
SimPy on a smaller copy with the same load per cell.

    python bench/bench_engine.py calls-per-second [--base REV] [--towers 300] [--hours 480]

The large network is big enough that start-up (interpreter, imports, validation, network and
subscriber build, the store's set-up, numba loading its compiled kernel, summary.json) is under
a tenth of the run: start-up is measured as the same command on the same network for one PM
interval (15 minutes simulated), which slightly overstates it. The baseline's calls per second
do not depend on the network's size (each cell is its own process and resource), so it runs on
a smaller copy: the same generator, towers, channels and calls per cell per hour, fewer towers
and hours. Both report blocking next to Erlang B over their cells, weighted by each cell's
offered load. With ``--base REV`` the same runs are made on that revision too, interleaved with
the working tree's and the baseline's (A B baseline, A B baseline), so all see the same machine
load; the ratios are of the medians. ``--base-dir DIR`` does the same with the code in DIR (a
checkout made beforehand, e.g. ``git archive REV | tar -x -C DIR``). The simulation alone
(in-process, no twin, a sink that only counts) is timed for each code as well, since the whole
run also carries the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

MEAN_CALL_S = 120.0

# Run in a subprocess on one code (PYTHONPATH): load the scenario, simulate it with a sink that
# only counts the offered calls, print the calls and the seconds of Simulation.run().
_SIMULATE_ONLY = """
import json, sys, time
from sim.engine import Simulation
from sim.scenario import load_scenario
from twin.feed import CellPmBatch

class Count:
    offered = 0
    def publish(self, record):
        if isinstance(record, CellPmBatch):
            Count.offered += int(record.voice_offered.sum())

simulation = Simulation(load_scenario(sys.argv[1], []), Count())
started = time.perf_counter()
simulation.run()
print(json.dumps({"calls": Count.offered, "seconds": time.perf_counter() - started}))
"""


def voice_only_network(towers: int, erlangs_per_cell: float, hours: int) -> dict[str, Any]:
    """:func:`bench_engine.ratio_scenario` with ten busy-hour calls per subscriber, so that the
    subscriber base (built and stored at start-up) stays small."""
    from bench_engine import ratio_scenario  # here: bench_engine imports this module

    return ratio_scenario(
        towers, erlangs_per_cell, hours, calls_per_subscriber=10.0, name="bench-calls-per-second"
    )


def _cells_of(raw: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Busy-hour calls per cell (from the subscribers' placement) and channels per cell."""
    from sim.engine import Simulation
    from sim.scenario import parse_scenario
    from twin.feed import RecordingSink

    simulation = Simulation(parse_scenario(raw, "bench.yaml"), RecordingSink())
    calls = raw["traffic"]["voice"]["busy_hour_calls"]
    per_cell = simulation.subscribers.cell_count.astype(float) * calls
    return per_cell, np.asarray(simulation.topo.cell_voice_channels)


def _erlang_b_mean(calls_per_hour: np.ndarray, channels: np.ndarray) -> float:
    """Erlang B over the cells, weighted by their offered load: the expected share of all
    offered calls that are blocked (an unweighted mean understates it, since the busier cells
    block more)."""
    from simpy_baseline import erlang_b

    blocking = np.array(
        [
            erlang_b(float(c * MEAN_CALL_S / 3600), int(n))
            for c, n in zip(calls_per_hour, channels, strict=True)
        ]
    )
    return float(np.average(blocking, weights=calls_per_hour))


def _simulate_only(code: Path, scenario: Path) -> tuple[int, float]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, "-P", "-c", _SIMULATE_ONLY, str(scenario)],
        cwd=code,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return int(result["calls"]), float(result["seconds"])


def bench_calls_per_second(
    base: str | None,
    base_dir: Path | None,
    towers: int,
    hours: int,
    baseline_towers: int,
    baseline_hours: int,
    erlangs: float,
    repeat: int,
    seed: int,
) -> None:
    from bench_engine import ROOT, timed_run
    from simpy_baseline import run_plain_simpy

    large = voice_only_network(towers, erlangs, hours)
    small = voice_only_network(baseline_towers, erlangs, baseline_hours)
    small_per_cell, small_channels = _cells_of(small)
    baselines = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.yaml"
        path.write_text(yaml.safe_dump(large))
        codes = [("working tree", ROOT)]
        if base_dir is not None:  # a checkout already made: no worktree added to the repo
            codes.insert(0, (str(base_dir), base_dir))
        elif base is not None:
            checkout = Path(tmp) / "base"
            subprocess.run(
                ["git", "worktree", "add", "--detach", "-q", str(checkout), base],
                cwd=ROOT,
                check=True,
            )
            codes.insert(0, (base, checkout))
        runs: dict[str, list[dict[str, float]]] = {label: [] for label, _ in codes}
        try:
            for k in range(repeat):
                for label, code in codes:
                    out = Path(tmp) / f"{len(runs[label])}-{k}-{label.replace(' ', '-')}"
                    start_up, _ = timed_run(
                        ["run", str(path), "--out", f"{out}-s", "--quiet", "--set", "duration=15m"],
                        code,
                    )
                    wall, peak = timed_run(["run", str(path), "--out", str(out), "--quiet"], code)
                    voice = json.loads((out / "summary.json").read_text())["voice"]
                    calls, seconds = _simulate_only(code, path)
                    runs[label].append(
                        {
                            "wall": wall,
                            "start_up": start_up,
                            "peak": peak,
                            "calls": voice["offered"],
                            "blocking": voice["blocking"],
                            "sim_calls": calls,
                            "sim_seconds": seconds,
                        }
                    )
                # the baseline in every round too, so that it sees the same load
                baselines.append(
                    run_plain_simpy(
                        small_per_cell,
                        small_channels,
                        MEAN_CALL_S,
                        baseline_hours * 3600.0,
                        [1.0] * 24,
                        seed,
                    )
                )
        finally:
            if base is not None and base_dir is None:
                subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=ROOT)

    per_cell, channels = _cells_of(large)
    baseline = baselines[0]
    base_walls = [b.wall_seconds for b in baselines]
    base_rate = baseline.offered / float(np.median(base_walls))
    print(
        f"large network: {towers} towers, {len(channels)} cells x 30 channels, "
        f"{erlangs:g} E offered per cell on average, {hours} h, voice only, flat profile; "
        f"{repeat} run(s) per code, interleaved"
    )
    print(
        "  Erlang B over its cells, weighted by offered load: "
        f"{_erlang_b_mean(per_cell, channels):.5f}"
    )
    rates, sim_rates = {}, {}
    for label, measured in runs.items():
        wall = float(np.median([m["wall"] for m in measured]))
        start_up = float(np.median([m["start_up"] for m in measured]))
        sim_rate = float(np.median([m["sim_calls"] / m["sim_seconds"] for m in measured]))
        calls = int(measured[0]["calls"])
        rates[label] = calls / wall
        sim_rates[label] = sim_rate
        walls = " ".join(f"{m['wall']:.2f}" for m in measured)
        print(
            f"  {label}: telcotwin run (whole command) {calls:,} calls, wall s "
            f"{walls}, median {wall:.2f} = "
            f"{calls / wall:,.0f} calls/s; blocking {measured[0]['blocking']:.5f}; "
            f"peak {max(m['peak'] for m in measured):.0f} MiB"
        )
        print(
            f"  {label}: start-up (same command, 15 min simulated) median {start_up:.2f} s = "
            f"{start_up / wall:.1%} of the run; simulation alone in-process "
            f"{sim_rate:,.0f} calls/s"
        )
    print(
        f"small copy for the baseline: {baseline_towers} towers, {len(small_channels)} cells, "
        f"{baseline_hours} h, same calls per cell per hour"
    )
    print(
        f"  plain SimPy (process per call): {baseline.offered:,} calls, wall s "
        f"{' '.join(f'{w:.2f}' for w in base_walls)}, median {np.median(base_walls):.2f} = "
        f"{base_rate:,.0f} calls/s, blocking "
        f"{baseline.blocking:.5f}; Erlang B over its cells, weighted "
        f"{_erlang_b_mean(small_per_cell, small_channels):.5f}"
    )
    for label, rate in rates.items():
        print(f"ratio, {label} whole run / plain SimPy (medians): {rate / base_rate:.1f}x")
    for label, rate in sim_rates.items():
        print(f"ratio, {label} simulation alone / plain SimPy (medians): {rate / base_rate:.1f}x")

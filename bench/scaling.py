"""Cost against network size: 0.1x to 3x a national network, time and memory per tower.

    python bench/bench_engine.py scaling [--scales 0.1 0.3 1 3] [--base DIR] [--whole] [--repeat N]

Each scale of ``scenarios/national.yaml`` (towers, aggregation sites and subscribers scaled
together, as ``bench_engine.py national`` scales them) runs in a fresh subprocess, in-process
without the store: build the network and wire the twin as ``telcotwin run`` does
(:func:`twin.run._wire`), simulate the day, build the summary. The child reports its wall and
CPU seconds from the build on (interpreter start and imports left out) and its memory: the
peak resident set (``ru_maxrss``) and the peak less what the interpreter held after its
imports (the memory the network itself costs).

Linearity is read per tower, relative to 1x: ``(x_s / towers_s) / (x_1 / towers_1) - 1``
(0 is exactly linear), on CPU seconds (the machine is shared: wall time is what other jobs
leave; ``--repeat N`` keeps each scale's run with the least CPU time). A fixed cost (the
SimPy set-up, the MiB of numpy) shows at 0.1x as a positive deviation; a cost per change
over the whole network (quadratic overall, since random faults scale with the network) shows
at 3x.

``--base DIR`` runs the same child on the code in ``DIR`` (e.g. ``/work/main``) just before
each run of this tree, A B per scale, so that the machine's load falls on both alike.
``--whole`` also times the whole ``telcotwin run`` (store included) in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NATIONAL = {"towers": 5000, "aggregation": 100, "subscribers": 1_000_000}

# Run inside the child, from the code under test (its directory first on sys.path).
_CHILD = """
import json, resource, sys, time
from pathlib import Path
from sim.scenario import load_scenario
from twin.run import _wire

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

path, sets = sys.argv[1], sys.argv[2:]
imported = rss_mib()
cpu = time.process_time()
started = time.perf_counter()
scenario = load_scenario(path, sets)
wiring = _wire(scenario, Path(path).parent, None, Path(path).name, None)
built = time.perf_counter()
wiring.simulation.run()
simulated = time.perf_counter()
summary = wiring.summary()
done = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "seconds": done - started, "build_s": built - started, "simulate_s": simulated - built,
    "summary_s": done - simulated, "peak_mib": peak, "imported_mib": imported,
    "cpu_s": time.process_time() - cpu,
    "offered": summary["voice"]["offered"],
}))
"""


def national_sets(scale: float) -> tuple[int, list[str]]:
    """The towers of ``scale`` x national and the ``--set`` items that make it."""
    towers = round(NATIONAL["towers"] * scale)
    return towers, [
        f"network.generate.towers={towers}",
        f"network.generate.aggregation={max(1, round(NATIONAL['aggregation'] * scale))}",
        f"subscribers.count={round(NATIONAL['subscribers'] * scale)}",
    ]


def run_child(code: Path, scale: float) -> dict[str, float]:
    """One in-process run (no store) of ``scale`` x national on the code in ``code``."""
    _, sets = national_sets(scale)
    scenario = str(ROOT / "scenarios" / "national.yaml")
    env = {**os.environ, "PYTHONPATH": str(code)}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, scenario, *sets],
        cwd=code,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"{code}: {scale}x failed:\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def run_whole(code: Path, scale: float, tmp: str) -> tuple[float, float]:
    """The whole ``telcotwin run`` (store included) of ``scale`` x national on the code in
    ``code``: wall s, peak MiB (:func:`bench_engine.timed_run`, which runs ``code``'s own)."""
    from bench_engine import timed_run  # here: bench_engine imports this module

    _, sets = national_sets(scale)
    out = Path(tmp) / f"{code.name}-{scale}"
    args = ["run", str(ROOT / "scenarios" / "national.yaml"), "--out", str(out), "--quiet"]
    for item in sets:
        args += ["--set", item]
    return timed_run(args, code)


def _deviation(values: dict[float, float], towers: dict[float, int]) -> dict[float, float]:
    """Per tower, relative to 1x (or the largest scale below it when 1x is not run)."""
    ref = 1.0 if 1.0 in values else max(values)
    per_tower = values[ref] / towers[ref]
    return {s: values[s] / towers[s] / per_tower - 1.0 for s in values}


def _table(label: str, runs: dict[float, dict[str, float]], towers: dict[float, int]) -> None:
    seconds = {s: r["cpu_s"] for s, r in runs.items()}
    peak = {s: r["peak_mib"] for s, r in runs.items()}
    own = {s: r["peak_mib"] - r["imported_mib"] for s, r in runs.items()}
    dev_s, dev_peak, dev_own = (_deviation(v, towers) for v in (seconds, peak, own))
    print(f"{label}: in-process, no store; deviation per tower relative to 1x")
    print(
        f"{'scale':>6} {'towers':>7} {'wall s':>7} {'cpu s':>7} {'ms/tower':>9} {'dev':>7} "
        f"{'peak MiB':>9} {'dev':>7} {'net MiB':>8} {'KiB/tower':>10} {'dev':>7}"
    )
    for s, r in runs.items():
        print(
            f"{s:>6g} {towers[s]:>7} {r['seconds']:>7.2f} {r['cpu_s']:>7.2f} "
            f"{1000 * r['cpu_s'] / towers[s]:>9.3f} {dev_s[s]:>+7.1%} "
            f"{r['peak_mib']:>9.0f} {dev_peak[s]:>+7.1%} {own[s]:>8.0f} "
            f"{1024 * own[s] / towers[s]:>10.1f} {dev_own[s]:>+7.1%}"
        )


def _best(code: Path, scale: float, repeat: int) -> dict[str, float]:
    """The run with the least CPU time of ``repeat``: the one the other engineers' load
    disturbed least (their load still slows the caches)."""
    return min((run_child(code, scale) for _ in range(repeat)), key=lambda r: r["cpu_s"])


def bench_scaling(scales: list[float], base: Path | None, whole: bool, repeat: int = 1) -> None:
    towers = {s: national_sets(s)[0] for s in scales}
    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    ours: dict[float, dict[str, float]] = {}
    theirs: dict[float, dict[str, float]] = {}
    for s in scales:  # A B per scale: the load of the moment falls on both
        if base is not None:
            theirs[s] = _best(base, s, repeat)
        ours[s] = _best(ROOT, s, repeat)
        if base is not None and ours[s]["offered"] != theirs[s]["offered"]:
            raise SystemExit(f"{s}x: offered calls differ between {base} and this tree")
    if base is not None:
        _table(f"base {base}", theirs, towers)
        print()
    _table(f"this tree {ROOT}", ours, towers)
    if base is not None:
        print("new / base:")
        for s in scales:
            print(
                f"{s:>6g}x CPU time {ours[s]['cpu_s'] / theirs[s]['cpu_s']:.3f}, "
                f"wall time {ours[s]['seconds'] / theirs[s]['seconds']:.3f}, "
                f"peak memory {ours[s]['peak_mib'] / theirs[s]['peak_mib']:.3f}"
            )
    if whole:
        print("\nwhole telcotwin run (subprocess, store included): wall s, peak MiB")
        with tempfile.TemporaryDirectory() as tmp:
            for s in scales:
                started = time.perf_counter()
                line = f"{s:>6g}x"
                if base is not None:
                    wall, peak = run_whole(base, s, tmp)
                    line += f" base {wall:7.2f} s {peak:6.0f} MiB;"
                wall, peak = run_whole(ROOT, s, tmp)
                line += f" this tree {wall:7.2f} s {peak:6.0f} MiB"
                print(line, f"({time.perf_counter() - started:.0f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")

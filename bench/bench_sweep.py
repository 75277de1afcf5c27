"""Sweeps on Dask: replications per minute on one and two workers, and the scheduler's overhead
per task against the run's own time.

    python bench/bench_sweep.py [--scenario FILE] [--set KEY=VALUE ...] [--replications 8]
                                [--repeat 3]

Two LocalClusters (one worker, two workers; one thread each) are started once, before timing,
and each runs one untimed replication so that the workers' imports are not counted. Then the
same sweep of ``--replications`` replications (no ``--out``: metrics only, as the workers send
them) runs on one, then two workers, ``--repeat`` times in turn (1 2 1 2 ...), so that the
machine's load falls on both alike. Printed per trial: wall time of the sweep (submit to the
last result), replications per minute, how many workers were busy on average (the runs' own
time over the wall time), the share of the runs' time their processes were on a CPU (below
100%: waiting for a core on a shared machine), and on one worker the overhead per task: wall
time less the runs' own time on the worker (``run_s``, timed inside the task), over the
replications.
The figures to quote are the medians' ratio (two workers against one: target >= 1.7x) and the
overhead's share of the run's own time (target < 5% for runs of a few seconds).

Default scenario: scenarios/metro.yaml over five days (``--set duration=5d``), a run of a few
seconds.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distributed import Client, LocalCluster  # noqa: E402

from sim.scenario import apply_overrides, read_yaml  # noqa: E402
from twin.sweep import run_sweep  # noqa: E402


def trial(client: Client, raw: dict, file: Path, replications: int) -> tuple[float, float, float]:
    """Return the sweep's wall time, and the sums of its runs' own wall and CPU times."""
    started = time.perf_counter()
    result = run_sweep(
        raw, replications=replications, file=file.name, base_dir=file.parent, client=client
    )
    wall = time.perf_counter() - started
    assert not result.failures, result.failures
    runs = result.run_seconds.values()
    return wall, sum(run for run, _ in runs), sum(cpu for _, cpu in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "metro.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=None)
    parser.add_argument("--replications", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)  # not the clusters' closing chatter
    overrides = ["duration=5d"] if args.overrides is None else args.overrides
    raw = apply_overrides(read_yaml(args.scenario), overrides, args.scenario.name)

    clients = {}
    for workers in (1, 2):
        started = time.perf_counter()
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: other clusters may run here
            silence_logs=logging.ERROR,
        )
        clients[workers] = Client(cluster, set_as_default=False)
        print(f"LocalCluster of {workers}: started in {time.perf_counter() - started:.1f} s")
        trial(clients[workers], raw, args.scenario, workers)  # warm up: imports on each worker

    print(f"{args.scenario.name} {' '.join(overrides)}: {args.replications} replications a trial")
    walls: dict[int, list[float]] = {1: [], 2: []}
    overheads: list[float] = []
    run_means: list[float] = []
    for _ in range(args.repeat):
        for workers in (1, 2):
            wall, run_total, cpu_total = trial(
                clients[workers], raw, args.scenario, args.replications
            )
            walls[workers].append(wall)
            # runs' own time over wall time: how many cores the workers actually got
            line = (
                f"  {workers} worker{'s' if workers > 1 else ' '}: {wall:7.2f} s  "
                f"{60 * args.replications / wall:6.1f} replications/min  "
                f"busy {run_total / wall:.2f} workers, "
                f"CPU {cpu_total / run_total:.0%} of run time"
            )
            if workers == 1:
                overhead = (wall - run_total) / args.replications
                run_mean = run_total / args.replications
                overheads.append(overhead)
                run_means.append(run_mean)
                line += (
                    f"  run {run_mean:.3f} s, overhead {1000 * overhead:.1f} ms a task "
                    f"({overhead / run_mean:.1%})"
                )
            print(line)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    overhead, run_mean = statistics.median(overheads), statistics.median(run_means)
    print(
        f"medians: 1 worker {60 * args.replications / one:.1f}/min, 2 workers "
        f"{60 * args.replications / two:.1f}/min: {one / two:.2f}x; overhead per task "
        f"{1000 * overhead:.1f} ms against a run of {run_mean:.2f} s ({overhead / run_mean:.1%})"
    )
    for client in clients.values():
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()

"""What holds the memory at a run's peak: one ``telcotwin run`` recorded by memray.

    python bench/bench_engine.py memory-peak [--scenario FILE] [--set KEY=VALUE ...] [--top N]

The run is recorded whole (``python -m memray run``, a subprocess; about 1.3x slower than
without). memray samples the process's RSS about every 10 ms; for the sample with the highest
RSS, every allocation still live then is charged to the first line of the project's code on its
stack (``sim/``, ``twin/``), and the largest are printed. Allocations made by a library with
no project line on their stack (imports, pyarrow's pool) are charged to the library's function.

Read it as "who holds it", not as a sum that equals the RSS: the RSS also holds the shared
libraries' code (numba's LLVM, pyarrow, numpy: about 300 MiB on the national day) and what the
allocators keep, and memray counts address space reserved but never touched (pyarrow's
jemalloc reserves about 1 GiB; listed at the top, not in the RSS). This is how the national
day's end-of-run peak was found and cut (docs/memory.md).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

_PROJECT = Path(__file__).resolve().parent.parent


def _owner(stack: list[tuple[str, str, int]]) -> str:
    """The first project line on ``stack`` (innermost first), else the innermost function."""
    for function, filename, line in stack:
        path = Path(filename)
        if path.is_relative_to(_PROJECT) and ".venv" not in path.parts:
            return f"{path.relative_to(_PROJECT)}:{line} ({function})"
    if not stack:
        return "<no Python stack>"
    function, filename, _ = stack[0]
    return f"{Path(filename).name} ({function})"


def live_at_peak(capture: Path) -> tuple[float, int, Counter[str]]:
    """(seconds into the run, RSS bytes, live bytes by owner) at the highest RSS sample."""
    import memray  # the dev extra's; imported here so the other benches need not have it

    reader = memray.FileReader(str(capture))
    snapshots = list(reader.get_memory_snapshots())
    peak = max(range(len(snapshots)), key=lambda k: snapshots[k].rss)
    records, _ = reader.get_temporal_high_water_mark_allocation_records(merge_threads=True)
    live: Counter[str] = Counter()
    for record in records:
        held = sum(
            interval.n_bytes
            for interval in record.intervals
            if interval.allocated_before_snapshot <= peak
            and (
                interval.deallocated_before_snapshot is None
                or interval.deallocated_before_snapshot > peak
            )
        )
        if held:
            live[_owner(record.stack_trace())] += held
    seconds = (snapshots[peak].time - snapshots[0].time) / 1000
    return seconds, snapshots[peak].rss, live


def bench_memory_peak(scenario: str, sets: list[str], top: int) -> None:
    """Record ``telcotwin run scenario`` under memray and print who holds memory at its peak."""
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "run.bin"
        command = [sys.executable, "-P", "-m", "memray", "run", "-q", "-o", str(capture)]
        command += ["-m", "twin.cli", "run", scenario, "--out", f"{tmp}/run", "--quiet"]
        for item in sets:
            command += ["--set", item]
        subprocess.run(command, check=True, cwd=_PROJECT, stdout=subprocess.DEVNULL)
        seconds, rss, live = live_at_peak(capture)
    mib = 1 << 20
    print(f"{scenario} {' '.join(sets)}: peak RSS {rss / mib:,.0f} MiB at {seconds:.1f} s")
    print(f"live allocations then: {sum(live.values()) / mib:,.0f} MiB; the largest holders:")
    for owner, held in live.most_common(top):
        print(f"{held / mib:>9,.1f} MiB  {owner}")

"""Plain-SimPy voice model: the textbook baseline the vectorised traffic kernel is timed against.

Each cell is written the way the SimPy tutorials write a loss system:

* one ``simpy.Resource(env, capacity=voice_channels)`` per cell;
* one source process per cell drawing Poisson arrivals whose rate follows the daily profile,
  ``base_rate_per_s * daily_profile[hour_of_day(t)]``, constant inside each hour of the day;
* one process per call: if every channel is busy the call is blocked and cleared (Erlang B,
  no queueing), else it requests a channel, holds it for an exponential time and releases it.

The piecewise-constant rate is drawn exactly by redrawing at hour boundaries: a gap that would
cross into the next hour is thrown away and a new one drawn from the boundary at the new rate,
which is correct because the exponential distribution is memoryless.

Why it is slow: every call is a Python generator wrapped in a ``Process``, and it costs several
trips through the event heap. A carried call schedules six events (the source's timeout, the
process's ``Initialize``, the ``Request``, the hold ``Timeout``, the ``Release`` and the
process's own completion), each a heap push and pop plus a generator resume; a blocked call
still costs three. The per-event work is small; what dominates is the interpreter overhead
of doing it one event at a time, which is what the vectorised kernel in ``sim/traffic.py``
avoids by advancing all cells at once in numpy.

Run it as ``python bench/simpy_baseline.py --cells 100 --channels 30 --erlangs 25 --hours 24``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass

import numpy as np
import simpy

__all__ = ["BaselineResult", "erlang_b", "run_plain_simpy"]

HOUR_S = 3600.0
HOURS_PER_DAY = 24


@dataclass(frozen=True)
class BaselineResult:
    """Totals of one plain-SimPy run, for all cells and per cell."""

    offered: int
    carried: int
    blocked: int
    carried_seconds: float  # channel-seconds held inside [0, duration_s]
    wall_seconds: float  # perf_counter around building the model *and* env.run
    per_cell_offered: np.ndarray
    per_cell_blocked: np.ndarray

    @property
    def blocking(self) -> float:
        """Fraction of offered calls that were blocked (0.0 when nothing was offered)."""
        return self.blocked / self.offered if self.offered else 0.0

    @property
    def calls_per_wall_second(self) -> float:
        """Offered calls simulated per second of wall-clock time."""
        return self.offered / self.wall_seconds if self.wall_seconds > 0.0 else math.inf


def erlang_b(offered_erlangs: float, channels: int) -> float:
    """Blocking probability of an M/M/c/c loss system (Erlang B), by the stable recursion."""
    blocking = 1.0
    for k in range(1, channels + 1):
        blocking = offered_erlangs * blocking / (k + offered_erlangs * blocking)
    return blocking


def _next_arrival_s(
    now_s: float,
    base_rate_per_s: float,
    daily_profile: Sequence[float],
    horizon_s: float,
    rng: np.random.Generator,
) -> float:
    """Next arrival time after ``now_s`` under the hourly profile; ``inf`` past the horizon."""
    t = now_s
    while t < horizon_s:
        hour_start = math.floor(t / HOUR_S)
        hour_end_s = (hour_start + 1) * HOUR_S
        rate_per_s = base_rate_per_s * daily_profile[hour_start % HOURS_PER_DAY]
        if rate_per_s > 0.0:
            arrival_s = t + rng.exponential(1.0 / rate_per_s)
            if arrival_s < hour_end_s:
                return arrival_s
        # Memoryless: restarting the draw at the boundary at the new rate is exact.
        t = hour_end_s
    return math.inf


def _call(
    env: simpy.Environment,
    channels: simpy.Resource,
    cell: int,
    mean_duration_s: float,
    duration_s: float,
    rng: np.random.Generator,
    tally: dict[str, list],
) -> Generator[simpy.Event, object, None]:
    """One call: blocked and cleared if every channel is busy, else hold a channel and release."""
    tally["offered"][cell] += 1
    if channels.count >= channels.capacity:
        tally["blocked"][cell] += 1
        return
    hold_s = rng.exponential(mean_duration_s)
    tally["carried"][cell] += 1
    # Credit only the part inside the run, so carried_seconds / duration_s is carried erlangs.
    tally["carried_seconds"][cell] += min(hold_s, duration_s - env.now)
    with channels.request() as request:
        yield request
        yield env.timeout(hold_s)


def _source(
    env: simpy.Environment,
    channels: simpy.Resource,
    cell: int,
    base_rate_per_s: float,
    daily_profile: Sequence[float],
    mean_duration_s: float,
    duration_s: float,
    rng: np.random.Generator,
    tally: dict[str, list],
) -> Generator[simpy.Event, object, None]:
    """Poisson arrivals of one cell, each started as its own call process, until ``duration_s``."""
    while True:
        arrival_s = _next_arrival_s(env.now, base_rate_per_s, daily_profile, duration_s, rng)
        if arrival_s >= duration_s:
            return
        yield env.timeout(arrival_s - env.now)
        env.process(_call(env, channels, cell, mean_duration_s, duration_s, rng, tally))


def run_plain_simpy(
    calls_per_hour_per_cell: np.ndarray,
    voice_channels: np.ndarray,
    mean_duration_s: float,
    duration_s: float,
    daily_profile: list[float],
    seed: int,
) -> BaselineResult:
    """Simulate every cell as a SimPy ``Resource`` with one process per call; return the totals.

    Parameters
    ----------
    calls_per_hour_per_cell
        Busy-hour call rate of each cell, the rate at profile 1.0. The rate in hour ``h`` of
        the day is this times ``daily_profile[h]``, the profile used as given.
    voice_channels
        Number of voice channels of each cell (at least 1).
    mean_duration_s
        Mean of the exponential holding time.
    duration_s
        Simulated time; time 0 is midnight.
    daily_profile
        24 non-negative factors, one per hour of the day.
    seed
        Seed of the single ``numpy.random.default_rng`` that draws every gap and duration.

    Notes
    -----
    ``wall_seconds`` includes building the environment, resources and sources as well as
    ``env.run``; building is a few microseconds per cell and negligible for any real run.
    Calls still up at ``duration_s`` are counted as carried, with their seconds cut at the end.

    Examples
    --------
    >>> result = run_plain_simpy(np.array([750.0]), np.array([30]), 120.0, 3600.0, [1.0] * 24, 1)
    >>> result.offered == result.carried + result.blocked
    True
    """
    rates = np.asarray(calls_per_hour_per_cell, dtype=float)
    channels_per_cell = np.asarray(voice_channels)
    if rates.ndim != 1 or channels_per_cell.shape != rates.shape:
        raise ValueError("calls_per_hour_per_cell and voice_channels must be 1-D of equal length")
    if np.any(rates < 0.0) or not np.all(np.isfinite(rates)):
        raise ValueError("calls_per_hour_per_cell must be finite and non-negative")
    if np.any(channels_per_cell < 1) or np.any(channels_per_cell != np.round(channels_per_cell)):
        raise ValueError("voice_channels must be whole numbers of at least 1")
    if len(daily_profile) != HOURS_PER_DAY or any(f < 0.0 for f in daily_profile):
        raise ValueError("daily_profile must hold 24 non-negative factors")
    if not mean_duration_s > 0.0 or not duration_s >= 0.0:
        raise ValueError("mean_duration_s must be positive and duration_s non-negative")

    n_cells = rates.size
    profile = [float(f) for f in daily_profile]
    rng = np.random.default_rng(seed)
    # Plain lists: indexing numpy arrays scalar by scalar would slow the baseline unfairly.
    tally: dict[str, list] = {
        "offered": [0] * n_cells,
        "carried": [0] * n_cells,
        "blocked": [0] * n_cells,
        "carried_seconds": [0.0] * n_cells,
    }

    started = time.perf_counter()
    env = simpy.Environment()
    for cell in range(n_cells):
        channels = simpy.Resource(env, capacity=int(channels_per_cell[cell]))
        base_rate_per_s = float(rates[cell]) / HOUR_S
        if base_rate_per_s > 0.0 and max(profile) > 0.0:
            source = _source(
                env,
                channels,
                cell,
                base_rate_per_s,
                profile,
                mean_duration_s,
                duration_s,
                rng,
                tally,
            )
            env.process(source)
    env.run(until=duration_s)
    wall_seconds = time.perf_counter() - started

    return BaselineResult(
        offered=sum(tally["offered"]),
        carried=sum(tally["carried"]),
        blocked=sum(tally["blocked"]),
        carried_seconds=math.fsum(tally["carried_seconds"]),
        wall_seconds=wall_seconds,
        per_cell_offered=np.array(tally["offered"], dtype=np.int64),
        per_cell_blocked=np.array(tally["blocked"], dtype=np.int64),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run identical cells on a flat profile and print throughput and blocking against Erlang B."""
    parser = argparse.ArgumentParser(
        description="Plain-SimPy voice baseline: one process per call."
    )
    parser.add_argument("--cells", type=int, default=100)
    parser.add_argument("--channels", type=int, default=30, help="voice channels per cell")
    parser.add_argument("--erlangs", type=float, default=25.0, help="offered erlangs per cell")
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--mean-duration", type=float, default=120.0, help="mean call, seconds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    calls_per_hour = args.erlangs * HOUR_S / args.mean_duration
    duration_s = args.hours * HOUR_S
    result = run_plain_simpy(
        calls_per_hour_per_cell=np.full(args.cells, calls_per_hour),
        voice_channels=np.full(args.cells, args.channels),
        mean_duration_s=args.mean_duration,
        duration_s=duration_s,
        daily_profile=[1.0] * HOURS_PER_DAY,
        seed=args.seed,
    )
    carried_erlangs = result.carried_seconds / duration_s / args.cells
    print(
        f"{args.cells} cells x {args.channels} channels, {args.erlangs:g} E offered each, "
        f"{args.hours:g} h flat profile, seed {args.seed}"
    )
    print(
        f"offered {result.offered}  carried {result.carried}  blocked {result.blocked}  "
        f"carried {carried_erlangs:.2f} E/cell"
    )
    print(f"blocking {result.blocking:.4f}  (Erlang B {erlang_b(args.erlangs, args.channels):.4f})")
    print(
        f"wall {result.wall_seconds:.2f} s  "
        f"{result.calls_per_wall_second:,.0f} calls/s  "
        f"{result.offered / args.cells / max(args.hours, 1e-9):.0f} calls/h/cell"
    )


if __name__ == "__main__":
    main()

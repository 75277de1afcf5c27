"""Every shipped scenario, run in full: invariants that must hold in every PM interval.

One exception: scenarios/national-month.yaml (a million subscribers for 30 days, minutes of
simulation) runs its first day here, without its events (all later). Its 0.1x copy,
national-month-small.yaml, runs the whole month, so a month's own paths (thousands of
intervals, the billing cycle's end) are checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import load_scenario
from twin.feed import CellPmBatch, FeedRecord, Inventory, LinkPmBatch

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
SLACK = 1 + 1e-9  # floating-point sums of many pieces
FIRST_DAY_ONLY = {"national-month.yaml": ["duration=1d", "events=[]"]}


class CapacityCheck:
    """A feed sink that checks each PM batch as it arrives (nothing kept: national is large)."""

    def __init__(self) -> None:
        self.inventory: Inventory | None = None
        self.intervals = 0
        self.busiest_link = 0.0  # highest carried / (capacity x time in service) seen

    def publish(self, record: FeedRecord) -> None:
        if isinstance(record, Inventory):
            self.inventory = record
        elif isinstance(record, LinkPmBatch):
            assert self.inventory is not None
            room = self.inventory.link_capacity_mbps / 8.0 * record.seconds_in_service
            over = record.carried_mb > room * SLACK
            assert not over.any(), (
                f"{np.flatnonzero(over).tolist()} carry more than capacity x time in service "
                f"in [{record.start_s}, {record.end_s})"
            )
            assert np.all(record.carried_mb <= record.demand_mb * SLACK)
            used = np.divide(record.carried_mb, room, out=np.zeros_like(room), where=room > 0)
            self.busiest_link = max(self.busiest_link, float(used.max(initial=0.0)))
            self.intervals += 1
        elif isinstance(record, CellPmBatch):
            assert self.inventory is not None
            room = self.inventory.cell_data_mbps / 8.0 * record.seconds_in_service
            assert np.all(record.data_served_mb <= room * SLACK)
            assert np.all(record.data_served_mb <= record.data_demand_mb * SLACK)
            assert np.array_equal(
                record.voice_offered,
                record.voice_carried + record.voice_blocked + record.voice_failed,
            )


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_no_link_or_cell_carries_more_than_capacity_times_time_in_any_interval(path):
    check = CapacityCheck()
    scenario = load_scenario(path, FIRST_DAY_ONLY.get(path.name))
    Simulation(scenario, check, base_dir=path.parent, file=path.name).run()
    assert check.intervals == scenario.duration // scenario.pm_interval

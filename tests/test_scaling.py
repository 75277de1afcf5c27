"""Work on a change is proportional to what changed (docs/scaling.md), with the same bits.

The kernel simulates voice per cell, lazily: a state change catches up only the cells it
touches, the others at the segment's end. These tests pin that the sums it takes that way are
bit for bit those of simulating every cell piece by piece between the changes, and that a
change on one tower leaves the other cells' voice for later.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.traffic import _add_by_piece, _add_by_subscriber
from twin.feed import CellPmBatch, RecordingSink, UsageBatch
from twin.oss.inventory import InventoryMirror, isolated_by


def test_sums_by_piece_have_the_bits_of_one_bincount_per_piece():
    # The reference is the schedule the kernel used to run: per piece, a bincount over every
    # cell added to the total. Durations spread over 9 orders of magnitude make the order of
    # the additions show in the last bits if it were different.
    rng = np.random.default_rng(7)
    cells, pieces, k = 50, 6, 5000
    cell = np.sort(rng.integers(0, cells, k))
    piece = np.zeros(k, dtype=np.int64)
    for c in range(cells):  # ascending within each cell, as times are
        run = cell == c
        piece[run] = np.sort(rng.integers(0, pieces, int(run.sum())))
    weights = rng.exponential(1.0, k) * 10.0 ** rng.integers(-4, 5, k)
    reference = rng.random(cells) * 1e3
    ours = reference.copy()
    for p in range(pieces):
        inside = piece == p
        reference += np.bincount(cell[inside], weights=weights[inside], minlength=cells)
    _add_by_piece(ours, cell, piece, weights)
    assert ours.tobytes() == reference.tobytes()
    assert not np.array_equal(ours, reference.copy() + 1e-9)  # the comparison can fail


def test_sums_by_subscriber_have_the_bits_of_a_bincount_over_every_subscriber():
    rng = np.random.default_rng(8)
    count, k = 1000, 3000  # three entries per subscriber on average: many repeat
    sub = rng.integers(0, count, k)
    weights = rng.exponential(120.0, k) * 10.0 ** rng.integers(-3, 4, k)
    reference = rng.random(count)
    ours, scratch = reference.copy(), np.zeros(count)
    reference += np.bincount(sub, weights=weights, minlength=count)
    _add_by_subscriber(ours, scratch, sub, weights)
    assert ours.tobytes() == reference.tobytes()
    assert not scratch.any()  # left all zero for the next piece


def _metro_with_a_mid_interval_fault(example_raw: dict[str, Any]) -> dict[str, Any]:
    raw = dict(example_raw)
    raw["duration"] = "2h"
    raw["events"] = [{"at": "20m", "action": "fail", "target": "t-n1", "repair_after": "10m"}]
    return raw


def test_a_tower_fault_catches_up_only_its_own_cells(example_raw):
    raw = _metro_with_a_mid_interval_fault(example_raw)
    sim = Simulation(parse_scenario(raw, "metro.yaml"), RecordingSink())
    sim.start()
    sim.env.run(until=20 * 60 + 1)  # just past the fault at 20m, inside the 15m-30m segment
    kernel, topo = sim.kernel, sim.topo
    tower = topo.tower_of_node()[topo.node_index["t-n1"]]
    own = topo.cell_tower == tower
    assert own.sum() == 3
    # the tower's cells were simulated up to the fault; every other cell still waits at the
    # segment's start (15m), to be simulated once, at the segment's end
    assert (kernel._voice_done[own] == 20 * 60).all()
    assert (kernel._voice_done[~own] == 15 * 60).all()


def test_a_run_stepped_through_gives_the_run_in_one_go(example_raw):
    # Stepping (advance_to) catches every cell up at each step; at the segment boundaries
    # (every 15 minutes) that is no new piece, so the feed is the same to the bit.
    raw = _metro_with_a_mid_interval_fault(example_raw)
    whole = Simulation(parse_scenario(raw, "metro.yaml"), RecordingSink())
    whole.run()
    stepped = Simulation(parse_scenario(raw, "metro.yaml"), RecordingSink())
    for minute in range(15, 120, 15):
        stepped.advance_to(minute * 60.0)
    stepped.run()
    for kind in (CellPmBatch, UsageBatch):
        a, b = whole.sink.of_type(kind), stepped.sink.of_type(kind)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b, strict=True):
            for name, value in vars(x).items():
                if isinstance(value, np.ndarray):
                    assert value.tobytes() == getattr(y, name).tobytes(), name


def test_isolated_by_finds_what_a_cut_isolates_as_a_search_by_hand_does():
    # core - agg - t1, agg - t2 - t3 (t3 hangs off t2), and t2 - core2: failing agg isolates
    # t1 (t2 and t3 have core2); failing link "t2-c2" as well isolates t2 and t3 too; with
    # both "core" and "t2-c2" down, everything but core2. Worked out by hand from the drawing.
    from twin.feed import Inventory

    nodes = ("core", "core2", "agg", "t1", "t2", "t3")
    roles = ("core", "core", "aggregation", "tower", "tower", "tower")
    links = (("c-agg", "core", "agg"), ("agg-t1", "agg", "t1"), ("agg-t2", "agg", "t2"))
    links += (("t2-c2", "t2", "core2"), ("t2-t3", "t2", "t3"))
    zeros = np.zeros(len(nodes))
    inventory = Inventory(
        nodes,
        roles,
        zeros,
        zeros,
        tuple(link for link, _, _ in links),
        tuple(a for _, a, _ in links),
        tuple(b for _, _, b in links),
        np.ones(len(links)),
        np.ones(len(links)),
        ("t1-1", "t2-1", "t3-1"),
        ("t1", "t2", "t3"),
        np.ones(3),
        np.ones(3),
        np.zeros(3, int),
        ("basic",),
        np.zeros(3, int),
    )
    mirror = InventoryMirror.from_inventory(inventory)
    index = mirror.node_index
    assert isolated_by(mirror, ["agg"]) == {index["agg"], index["t1"]}
    assert isolated_by(mirror, ["agg", "t2-c2"]) == {index[n] for n in ("agg", "t1", "t2", "t3")}
    # core down: agg and t1 still reach core2 through t2
    assert isolated_by(mirror, ["core"]) == {index["core"]}
    assert isolated_by(mirror, ["core", "t2-c2"]) == set(range(len(nodes))) - {index["core2"]}
    assert isolated_by(mirror, []) == frozenset()

"""Data sharing on links: served per route epoch, max-min fair, never above capacity."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sim.engine import Simulation
from sim.scenario import parse_scenario
from sim.traffic import max_min_shares
from tests.conftest import single_cell, two_towers_sharing_an_uplink
from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RecordingSink


def _run(scenario) -> RecordingSink:
    sink = RecordingSink()
    Simulation(scenario, sink).run()
    return sink


def _flat_data(
    mbps: float,
    *,
    duration: str,
    links: list[dict[str, Any]],
    nodes: list[dict[str, Any]] | None = None,
    **extra: Any,
):
    """Tower t1 offering ``mbps`` of flat data demand (1000 subscribers, 10 MB sessions)."""
    return single_cell(
        calls_per_hour=0.0,
        sessions_per_hour=mbps * 3600 / (1000 * 10 * 8),
        subscribers=1000,
        data_mbps=1000,
        duration=duration,
        extra={
            "network": {
                "nodes": nodes or [{"id": "core", "role": "core"}, {"id": "t1", "role": "tower"}],
                "links": links,
            },
            **extra,
        },
    )


def test_a_backup_link_carries_only_its_capacity_for_the_time_it_is_the_route():
    # 500 Mbps of flat demand; the 1000 Mbps primary fails at 30m of a 1h PM interval and the
    # 10 Mbps backup takes over. By hand: the first half hour serves all its demand (about
    # 500 / 8 x 1800 = 112,500 MB), the second what the backup can carry, 10 / 8 x 1800 =
    # 2,250 MB. Serving the whole interval at the backup's factor gave 9,100 MB before.
    scenario = _flat_data(
        500,
        duration="2h",
        links=[
            {"id": "primary", "a": "t1", "b": "core", "capacity_mbps": 1000, "latency_ms": 1},
            {"id": "backup", "a": "t1", "b": "core", "capacity_mbps": 10, "latency_ms": 5},
        ],
        events=[{"at": "30m", "action": "fail", "target": "primary"}],
    )
    sink = _run(scenario)
    first_cells = sink.of_type(CellPmBatch)[0]
    first_links = sink.of_type(LinkPmBatch)[0]
    primary, backup = first_links.carried_mb
    assert backup == pytest.approx(2250.0, rel=1e-12)
    assert primary == pytest.approx(112_500, rel=0.03)
    assert first_cells.data_served_mb.sum() == pytest.approx(primary + backup, rel=1e-12)
    # the second hour is all on the backup: 10 / 8 x 3600 = 4,500 MB
    assert sink.of_type(CellPmBatch)[1].data_served_mb.sum() == pytest.approx(4500.0, rel=1e-12)


def test_a_link_cut_inside_an_interval_limits_the_ring_to_its_capacity_from_then(example_raw):
    # The reference scenario with its uplink cut at 19h07m30s, mid-interval: the northern
    # towers then reach the core over the 400 Mbps ring only, which can carry at most
    # 400 / 8 x 450 = 22,500 MB in the rest of the 19:00-19:15 interval. Serving the whole
    # interval at once put 22,856 MB on it.
    for event in example_raw["events"]:
        if event.get("target") == "l-agg-n-core":
            event["at"] = "19h7m30s"
    sink = _run(parse_scenario(example_raw, "metro.yaml"))
    ring = sink.of_type(Inventory)[0].link_ids.index("l-agg-ring")
    batch = next(b for b in sink.of_type(LinkPmBatch) if b.start_s == 19 * 3600)
    assert batch.carried_mb[ring] <= 22_500 * (1 + 1e-12)
    # evening busy hour: the ring is nearly full (t-n2 is out on a random fault till 19:14:30)
    assert batch.carried_mb[ring] > 0.95 * 22_500


def test_max_min_shares_free_what_a_tower_held_elsewhere_cannot_use():
    # Links: 0 "up" (100 MB) shared by towers 0 and 1; 1 "thin" (20 MB) on tower 1 only.
    # Both offer 60 MB. Proportional sharing gives tower 0 50 and tower 1 20 (up carries 70
    # of its 100); max-min gives tower 1 its 20 on the thin link and tower 0 all its 60.
    routes = np.array([[0, -1], [1, 0]])
    shares = max_min_shares(routes, np.array([60.0, 60.0]), np.array([100.0, 20.0]))
    assert shares == pytest.approx([1.0, 1 / 3])


def test_max_min_shares_scale_a_single_bottleneck_in_proportion():
    # 3 towers behind one 90 MB link offering 60, 40 and 20: each gets 90 / 120 = 0.75.
    routes = np.array([[0], [0], [0]])
    shares = max_min_shares(routes, np.array([60.0, 40.0, 20.0]), np.array([90.0]))
    assert shares == pytest.approx([0.75, 0.75, 0.75])


def test_max_min_shares_never_load_a_link_beyond_capacity():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n_towers, n_links, depth = 30, 12, 4
        routes = rng.integers(-1, n_links, size=(n_towers, depth))
        demand = rng.exponential(50.0, n_towers) * (rng.random(n_towers) < 0.8)
        capacity = rng.exponential(80.0, n_links) * (rng.random(n_links) < 0.9)
        shares = max_min_shares(routes, demand, capacity)
        on = routes >= 0
        carried = np.bincount(
            routes[on],
            weights=np.broadcast_to((demand * shares)[:, None], routes.shape)[on],
            minlength=n_links,
        )
        assert np.all(carried <= capacity * (1 + 1e-9) + 1e-9)
        assert np.all((shares >= 0) & (shares <= 1))


def test_a_tower_behind_a_thin_access_link_leaves_the_shared_uplink_to_the_other():
    # The max-min case end to end: t1 and t2 each offer 60 Mbps over a 100 Mbps uplink; t2's
    # own access link is 20 Mbps. Served: 60 + 20 = 80 Mbps (proportional sharing gave 70).
    scenario = two_towers_sharing_an_uplink(uplink_mbps=100, t2_access_mbps=20)
    sink = _run(scenario)
    served = sum(b.data_served_mb for b in sink.of_type(CellPmBatch))
    # t2 gets exactly its 20 Mbps all day; t1 all its demand (about 60 Mbps)
    assert served[1] == pytest.approx(20 / 8 * 86400, rel=1e-9)
    assert served[0] == pytest.approx(60 / 8 * 86400, rel=0.03)


def test_a_state_change_that_moves_no_route_does_not_split_the_links_sharing():
    # A spare core with no links failing changes no route: the overloaded link serves the same.
    links = [{"id": "l1", "a": "t1", "b": "core", "capacity_mbps": 100}]
    nodes = [
        {"id": "core", "role": "core"},
        {"id": "core-2", "role": "core"},
        {"id": "t1", "role": "tower"},
    ]
    base = _flat_data(130, duration="4h", links=links, nodes=nodes)
    failing = _flat_data(
        130,
        duration="4h",
        links=links,
        nodes=nodes,
        events=[{"at": "1h10m", "action": "fail", "target": "core-2", "repair_after": "1h"}],
    )
    plain = sum(b.data_served_mb.sum() for b in _run(base).of_type(CellPmBatch))
    spare = sum(b.data_served_mb.sum() for b in _run(failing).of_type(CellPmBatch))
    assert spare == plain
    assert plain == pytest.approx(100 / 8 * 4 * 3600, rel=1e-9)  # the link is the bottleneck

"""The network: building from the scenario, generation, and routing around failures."""

from __future__ import annotations

import numpy as np
import pytest

from sim.network import (
    CORE,
    TOWER,
    build_topology,
    compute_routes,
    generate,
    haversine_km,
    to_networkx,
)
from sim.scenario import ScenarioError, parse_scenario


def _metro(example_raw):
    return build_topology(parse_scenario(example_raw, "metro.yaml"), file="metro.yaml")


def test_cells_are_named_after_their_tower_from_one(example_raw):
    topo = _metro(example_raw)
    assert topo.cell_ids[:4] == ["t-n1/1", "t-n1/2", "t-n1/3", "t-n2/1"]
    assert topo.n_towers == 8
    # t-n3 says cells: 1 and t-s4 says data_mbps: 300, the rest take the defaults
    assert [c for c in topo.cell_ids if c.startswith("t-n3/")] == ["t-n3/1"]
    assert topo.cell_data_mbps[topo.cell_ids.index("t-s4/2")] == 300
    assert topo.cell_voice_channels.tolist() == [30] * 22


def test_towers_route_over_the_lowest_latency_path(example_raw):
    topo = _metro(example_raw)
    routes = compute_routes(topo, np.ones(topo.n_nodes, bool), np.ones(topo.n_links, bool))
    t_n1 = topo.tower_ids().index("t-n1")
    path = [topo.link_ids[i] for i in routes.tower_links[t_n1] if i >= 0]
    assert path == ["l-n1", "l-agg-n-core"]
    # 0.4 ms + 1.0 ms
    assert routes.latency_ms[t_n1] == pytest.approx(1.4, abs=1e-6)


def test_a_cut_uplink_reroutes_over_the_ring(example_raw):
    topo = _metro(example_raw)
    link_up = np.ones(topo.n_links, bool)
    link_up[topo.link_index["l-agg-n-core"]] = False
    routes = compute_routes(topo, np.ones(topo.n_nodes, bool), link_up)
    t_n1 = topo.tower_ids().index("t-n1")
    path = [topo.link_ids[i] for i in routes.tower_links[t_n1] if i >= 0]
    assert path == ["l-n1", "l-agg-ring", "l-agg-s-core"]
    # 0.4 + 0.8 + 1.2 ms
    assert routes.latency_ms[t_n1] == pytest.approx(2.4, abs=1e-6)
    assert not routes.isolated.any()


def test_link_cut_isolates_the_tower_behind_it(example_raw):
    topo = _metro(example_raw)
    link_up = np.ones(topo.n_links, bool)
    link_up[topo.link_index["l-n3"]] = False
    routes = compute_routes(topo, np.ones(topo.n_nodes, bool), link_up)
    isolated = [t for t, flag in zip(topo.tower_ids(), routes.isolated, strict=True) if flag]
    assert isolated == ["t-n3"]


def test_losing_both_uplinks_isolates_every_tower(example_raw):
    topo = _metro(example_raw)
    node_up = np.ones(topo.n_nodes, bool)
    node_up[topo.node_index["core-1"]] = False
    routes = compute_routes(topo, node_up, np.ones(topo.n_links, bool))
    assert routes.isolated.all()


def test_generated_network_attaches_towers_to_the_nearest_aggregation_site():
    nodes, links = generate(200, 8, 2, (52.0, 13.0), 30.0, np.random.default_rng(4))
    assert [n.role for n in nodes].count("tower") == 200
    position = {n.id: (n.lat, n.lon) for n in nodes}
    aggregation = [n for n in nodes if n.role == "aggregation"]
    for link in links:
        if position[link.a] and link.a.startswith("gt-"):
            lat, lon = position[link.a]
            distances = [float(haversine_km(lat, lon, a.lat, a.lon)) for a in aggregation]
            assert link.b == aggregation[int(np.argmin(distances))].id
    # every aggregation site is dual-homed to the two cores
    for site in aggregation:
        uplinks = [link for link in links if link.a == site.id]
        assert sorted(link.b for link in uplinks) == ["gcore-001", "gcore-002"]
    # and every tower lies in the 30 km disc
    center_km = [float(haversine_km(52.0, 13.0, n.lat, n.lon)) for n in nodes]
    assert max(center_km) <= 30.5


def test_generation_is_seeded():
    first = generate(50, 3, 1, (48.0, 2.0), 10.0, np.random.default_rng(9))
    second = generate(50, 3, 1, (48.0, 2.0), 10.0, np.random.default_rng(9))
    assert first == second


def test_towers_with_no_path_to_a_core_are_refused(example_raw):
    example_raw["network"]["links"] = [
        link for link in example_raw["network"]["links"] if link["id"] != "l-s2"
    ]
    with pytest.raises(ScenarioError) as error:
        _metro(example_raw)
    assert [str(p) for p in error.value.problems] == [
        "metro.yaml: network.nodes[8]: tower 't-s2' has no path to a core"
    ]


def test_networkx_view_has_every_node_and_link(example_raw):
    topo = _metro(example_raw)
    graph = to_networkx(topo)
    assert graph.number_of_nodes() == 11 and graph.number_of_edges() == 11
    assert graph.nodes["core-1"]["role"] == "core"
    assert (topo.node_role == CORE).sum() == 1 and (topo.node_role == TOWER).sum() == 8


def test_leaf_route_updates_agree_with_routing_the_whole_network():
    # 300 random failures and repairs of leaf towers and their uplinks, and of aggregation
    # sites (which force a full reroute): after each one the incrementally kept routes must
    # equal a fresh computation.
    from sim.network import leaf_uplinks, update_leaf_route
    from tests.conftest import single_cell

    generated = {
        "towers": 60,
        "aggregation": 4,
        "cores": 2,
        "region": {"center": [52.0, 13.0], "radius_km": 30},
    }
    scenario = single_cell(extra={"network": {"generate": generated, "nodes": [], "links": []}})
    topo = build_topology(scenario, rng=np.random.default_rng(1))
    uplinks = leaf_uplinks(topo)
    assert (uplinks >= 0).all()  # generated towers hang off one link each
    rng = np.random.default_rng(7)
    node_up, link_up = np.ones(topo.n_nodes, bool), np.ones(topo.n_links, bool)
    routes = compute_routes(topo, node_up, link_up)
    aggregation = np.flatnonzero(topo.node_role == 1)
    for _ in range(300):
        choice = rng.integers(3)
        tower = int(rng.integers(topo.n_towers))
        if choice == 0:
            node_up[topo.tower_node[tower]] ^= True
            updated = update_leaf_route(topo, routes, tower, int(uplinks[tower]), node_up, link_up)
        elif choice == 1:
            link_up[uplinks[tower]] ^= True
            updated = update_leaf_route(topo, routes, tower, int(uplinks[tower]), node_up, link_up)
        else:
            node_up[rng.choice(aggregation)] ^= True
            updated = False
        if not updated:
            routes = compute_routes(topo, node_up, link_up)
        fresh = compute_routes(topo, node_up, link_up)
        assert np.array_equal(routes.isolated, fresh.isolated)
        width = max(routes.tower_links.shape[1], fresh.tower_links.shape[1])
        assert np.array_equal(_padded(routes.tower_links, width), _padded(fresh.tower_links, width))
        assert np.allclose(routes.latency_ms, fresh.latency_ms)


def _padded(matrix: np.ndarray, width: int) -> np.ndarray:
    return np.pad(matrix, ((0, 0), (0, width - matrix.shape[1])), constant_values=-1)

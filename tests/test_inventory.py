"""The inventory mirror: impact of a failure and the network's single points of failure."""

from __future__ import annotations

import time
from decimal import Decimal

import networkx as nx
import numpy as np
import pytest

from twin.feed import Inventory
from twin.oss.inventory import InventoryMirror, impact, isolated_by, n_minus_1


def make_inventory(
    nodes: dict[str, str],
    links: dict[str, tuple[str, str]],
    cells_per_tower: int = 1,
    subscribers: dict[str, list[int]] | None = None,
    products: tuple[str, ...] = ("basic", "premium"),
) -> Inventory:
    """An inventory by hand: ``nodes`` id -> role, ``links`` id -> (a, b); each tower gets
    ``cells_per_tower`` cells named ``<tower>-<n>``; ``subscribers`` maps a cell to its
    subscribers' product indices."""
    towers = [n for n, role in nodes.items() if role == "tower"]
    cell_ids = [f"{t}-{k}" for t in towers for k in range(1, cells_per_tower + 1)]
    cell_tower = [c.rsplit("-", 1)[0] for c in cell_ids]
    sub_cell: list[int] = []
    sub_product: list[int] = []
    for cell, plans in (subscribers or {}).items():
        sub_cell += [cell_ids.index(cell)] * len(plans)
        sub_product += plans
    n = len(nodes)
    return Inventory(
        node_ids=tuple(nodes),
        node_roles=tuple(nodes.values()),
        node_lat=np.zeros(n),
        node_lon=np.zeros(n),
        link_ids=tuple(links),
        link_a=tuple(a for a, _ in links.values()),
        link_b=tuple(b for _, b in links.values()),
        link_capacity_mbps=np.full(len(links), 1000.0),
        link_latency_ms=np.ones(len(links)),
        cell_ids=tuple(cell_ids),
        cell_tower=tuple(cell_tower),
        cell_voice_channels=np.full(len(cell_ids), 30),
        cell_data_mbps=np.full(len(cell_ids), 100.0),
        subscriber_cell=np.array(sub_cell, dtype=np.int64),
        product_names=products,
        subscriber_product=np.array(sub_product, dtype=np.int64),
    )


def tree_inventory() -> Inventory:
    """core - agg - {t1, t2}; t2 - t3 (a chain behind t2); t4 on a doubled uplink to core.

    Subscribers: t1-1 has 2 basic + 1 premium, t3-1 has 4 basic, t4-1 has 1 premium.
    """
    return make_inventory(
        {
            "core": "core",
            "agg": "aggregation",
            "t1": "tower",
            "t2": "tower",
            "t3": "tower",
            "t4": "tower",
        },
        {
            "l-agg": ("agg", "core"),
            "l-t1": ("t1", "agg"),
            "l-t2": ("t2", "agg"),
            "l-t3": ("t3", "t2"),
            "l-t4a": ("t4", "core"),
            "l-t4b": ("t4", "core"),
        },
        subscribers={"t1-1": [0, 0, 1], "t3-1": [0, 0, 0, 0], "t4-1": [1]},
    )


FEES = {"basic": Decimal("10.50"), "premium": Decimal("30.00")}


def test_impact_of_a_link_is_the_towers_cells_and_subscribers_behind_it() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    hit = impact(mirror, "l-agg", FEES)
    assert hit.towers == ("t1", "t2", "t3")
    assert hit.cells == ("t1-1", "t2-1", "t3-1")
    assert hit.subscribers == 7
    assert hit.subscribers_by_product == {"basic": 6, "premium": 1}
    # 6 x 10.50 + 1 x 30.00, exactly
    assert hit.monthly_fees == Decimal("93.00")


def test_impact_of_a_tower_counts_itself_and_the_chain_behind_it() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    hit = impact(mirror, "t2", FEES)
    assert hit.towers == ("t2", "t3")
    assert hit.subscribers == 4
    assert hit.monthly_fees == Decimal("42.00")


def test_impact_of_one_of_two_parallel_links_is_nothing() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    assert impact(mirror, "l-t4a").towers == ()
    assert impact(mirror, ["l-t4a", "l-t4b"], FEES).monthly_fees == Decimal("30.00")


def test_impact_without_fees_gives_no_money_and_an_unknown_resource_is_refused() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    assert impact(mirror, "l-t1").monthly_fees is None
    with pytest.raises(KeyError, match="l-nowhere"):
        impact(mirror, "l-nowhere")


def test_n_minus_1_lists_bridges_and_articulation_points_with_their_subscribers() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    points = {p.resource: (p.kind, p.towers, p.subscribers) for p in n_minus_1(mirror)}
    # By hand: the core and the agg uplink cut t1..t3 (t4 too for the core); the agg is an
    # articulation point for t1..t3; t2 for t3; each tower's single uplink for itself. The
    # doubled uplink of t4 is no bridge; a leaf tower isolates nobody else.
    assert points == {
        "core": ("core", ("t1", "t2", "t3", "t4"), 8),
        "l-agg": ("link", ("t1", "t2", "t3"), 7),
        "agg": ("aggregation", ("t1", "t2", "t3"), 7),
        "l-t2": ("link", ("t2", "t3"), 4),
        "t2": ("tower", ("t3",), 4),
        "l-t3": ("link", ("t3",), 4),
        "l-t1": ("link", ("t1",), 3),
    }


def test_isolators_of_a_node_are_the_single_points_on_its_way_to_a_core() -> None:
    mirror = InventoryMirror.from_inventory(tree_inventory())
    assert mirror.isolators("t3") == {"l-t3", "t2", "l-t2", "agg", "l-agg", "core"}
    assert mirror.isolators("t4") == {"core"}


def test_a_ring_has_no_single_point_but_its_core() -> None:
    nodes = {"core": "core", "a": "tower", "b": "tower", "c": "tower"}
    links = {"l1": ("core", "a"), "l2": ("a", "b"), "l3": ("b", "c"), "l4": ("c", "core")}
    mirror = InventoryMirror.from_inventory(make_inventory(nodes, links))
    assert [p.resource for p in n_minus_1(mirror)] == ["core"]
    assert impact(mirror, ["l1", "l3"]).towers == ("a", "b")


def random_network(seed: int, cores: int = 2, aggs: int = 6, towers: int = 40) -> Inventory:
    """Cores meshed, aggregation sites on one or two cores, towers on one or two
    aggregation sites or hanging behind another tower (chains), a few random extra links."""
    rng = np.random.default_rng(seed)
    nodes = {f"c{i}": "core" for i in range(cores)}
    nodes |= {f"a{i}": "aggregation" for i in range(aggs)}
    nodes |= {f"t{i}": "tower" for i in range(towers)}
    links: dict[str, tuple[str, str]] = {}

    def link(a: str, b: str) -> None:
        links[f"l{len(links)}"] = (a, b)

    for i in range(1, cores):
        link(f"c{i - 1}", f"c{i}")
    for i in range(aggs):
        for c in rng.choice(cores, size=int(rng.integers(1, 3)), replace=True):
            link(f"a{i}", f"c{c}")  # the same core twice makes parallel links
    for i in range(towers):
        if i > 0 and rng.random() < 0.3:
            link(f"t{i}", f"t{int(rng.integers(0, i))}")
        else:
            for a in rng.choice(aggs, size=int(rng.integers(1, 3)), replace=False):
                link(f"t{i}", f"a{a}")
    names = list(nodes)
    for _ in range(3):
        a, b = rng.choice(len(names), size=2, replace=False)
        link(names[a], names[b])
    return make_inventory(nodes, links)


@pytest.mark.parametrize("seed", range(8))
def test_n_minus_1_equals_brute_force_on_a_random_network(seed: int) -> None:
    inventory = random_network(seed)
    mirror = InventoryMirror.from_inventory(inventory)
    graph = nx.MultiGraph()
    graph.add_nodes_from(inventory.node_ids)
    for k, a, b in zip(inventory.link_ids, inventory.link_a, inventory.link_b, strict=True):
        graph.add_edge(a, b, key=k)
    roles = dict(zip(inventory.node_ids, inventory.node_roles, strict=True))
    cores = [n for n, r in roles.items() if r == "core"]
    towers = {n for n, r in roles.items() if r == "tower"}

    def towers_off(g: nx.MultiGraph) -> set[str]:
        reached = set().union(*(nx.node_connected_component(g, c) for c in cores if c in g))
        return {t for t in towers if t in g and t not in reached}

    before = towers_off(graph)
    brute: dict[str, tuple[str, ...]] = {}
    for k, a, b in zip(inventory.link_ids, inventory.link_a, inventory.link_b, strict=True):
        g = graph.copy()
        g.remove_edge(a, b, key=k)
        if lost := towers_off(g) - before:
            brute[k] = tuple(sorted(lost))
    for n in inventory.node_ids:
        g = graph.copy()
        g.remove_node(n)
        if lost := towers_off(g) - before:
            brute[n] = tuple(sorted(lost))
    assert {p.resource: p.towers for p in n_minus_1(mirror)} == brute
    # and a single failure's impact agrees with the same brute force
    for resource, lost in brute.items():
        own = (resource,) if resource in towers else ()
        assert impact(mirror, resource).towers == tuple(sorted((*lost, *own)))
        assert isolated_by(mirror, [resource])  # never empty for a single point


def test_n_minus_1_of_a_national_network_takes_well_under_a_second() -> None:
    # 4 meshed cores, 100 aggregation sites dual-homed, 5,000 towers, a fifth of them chained.
    inventory = random_network(7, cores=4, aggs=100, towers=5000)
    started = time.perf_counter()
    mirror = InventoryMirror.from_inventory(inventory)
    points = n_minus_1(mirror)
    elapsed = time.perf_counter() - started
    assert len(points) > 1000
    assert elapsed < 1.0, elapsed

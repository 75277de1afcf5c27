"""The network: nodes, links, towers and their cells, and routing towards the core.

The scenario's hand-written nodes and links, a generated network and imported real topologies
all become one :class:`Topology` of numpy arrays, indexed by position. Cells are named
``<tower id>/<n>`` from 1. Routing is a multi-source Dijkstra by latency from every working core
(scipy's compiled ``csgraph``), so recomputing it after a fault costs about a millisecond even on
a national network; each tower's route is kept as a row of link indices so that link loads and
bottlenecks are computed for all towers at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from sim.scenario import Problem, Scenario, ScenarioError

if TYPE_CHECKING:
    import networkx as nx

__all__ = [
    "LinkSpec",
    "NodeSpec",
    "Routes",
    "Topology",
    "build_topology",
    "compute_routes",
    "generate",
    "haversine_km",
    "leaf_uplinks",
    "to_networkx",
    "update_leaf_route",
]

ROLES = ("core", "aggregation", "tower")
CORE, AGGREGATION, TOWER = 0, 1, 2


@dataclass(frozen=True)
class NodeSpec:
    """A node before it is placed in the arrays; capacity fields only matter for towers."""

    id: str
    role: str
    lat: float = float("nan")
    lon: float = float("nan")
    cells: int | None = None
    voice_channels: int | None = None
    data_mbps: float | None = None
    max_subscribers: int | None = None
    where: str = ""  # key path in the scenario, for error messages


@dataclass(frozen=True)
class LinkSpec:
    id: str
    a: str
    b: str
    capacity_mbps: float
    latency_ms: float
    where: str = ""


@dataclass(frozen=True, eq=False)
class Topology:
    """The whole network as arrays. Node, link, tower and cell indices are stable for a run."""

    node_ids: list[str]
    node_role: np.ndarray  # int8: CORE, AGGREGATION, TOWER
    node_lat: np.ndarray
    node_lon: np.ndarray
    link_ids: list[str]
    link_a: np.ndarray  # node index
    link_b: np.ndarray
    link_capacity_mbps: np.ndarray
    link_latency_ms: np.ndarray
    tower_node: np.ndarray  # node index of each tower
    tower_max_subscribers: np.ndarray  # int64, 0 for no limit
    cell_ids: list[str]
    cell_tower: np.ndarray  # tower index of each cell
    cell_voice_channels: np.ndarray  # int64
    cell_data_mbps: np.ndarray
    node_index: dict[str, int] = field(default_factory=dict)
    link_index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.node_index.update({node_id: i for i, node_id in enumerate(self.node_ids)})
        self.link_index.update({link_id: i for i, link_id in enumerate(self.link_ids)})

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_links(self) -> int:
        return len(self.link_ids)

    @property
    def n_towers(self) -> int:
        return len(self.tower_node)

    @property
    def n_cells(self) -> int:
        return len(self.cell_ids)

    def tower_ids(self) -> list[str]:
        return [self.node_ids[i] for i in self.tower_node]

    def tower_of_node(self) -> np.ndarray:
        """Return, per node, its tower index or -1."""
        out = np.full(self.n_nodes, -1, dtype=np.int64)
        out[self.tower_node] = np.arange(self.n_towers)
        return out


@dataclass(frozen=True, eq=False)
class Routes:
    """Each tower's path to the nearest working core, as rows of link indices."""

    tower_links: np.ndarray  # (n_towers, depth) link indices, -1 padded
    isolated: np.ndarray  # bool per tower: up, but no working path to a core (or tower down)
    latency_ms: np.ndarray  # per tower, inf when isolated
    node_pred: np.ndarray  # per node, the next node towards its core (-9999 when none)
    node_parent_link: np.ndarray  # per node, the link to node_pred (-1 when none)
    node_dist: np.ndarray  # per node, latency to its core in ms (inf when unreachable)


def haversine_km(
    lat1: np.ndarray | float,
    lon1: np.ndarray | float,
    lat2: np.ndarray | float,
    lon2: np.ndarray | float,
) -> np.ndarray:
    """Return great-circle distances in km between points given in degrees."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def generate(
    towers: int,
    aggregation: int,
    cores: int,
    center: tuple[float, float],
    radius_km: float,
    rng: np.random.Generator,
    *,
    prefix: str = "g",
    tower_link_mbps: float = 1000.0,
    aggregation_link_mbps: float = 10_000.0,
) -> tuple[list[NodeSpec], list[LinkSpec]]:
    """Return a synthetic network in a disc: towers uniformly placed and attached to their
    nearest aggregation site, aggregation sites dual-homed to their two nearest cores (one when
    there is a single core), cores in a full mesh."""
    lat0, lon0 = center
    km_per_deg_lon = 111.32 * np.cos(np.radians(lat0))

    def scatter(n: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
        r = radius_km * spread * np.sqrt(rng.random(n))
        theta = rng.random(n) * 2 * np.pi
        return lat0 + r * np.sin(theta) / 110.574, lon0 + r * np.cos(theta) / km_per_deg_lon

    core_lat, core_lon = scatter(cores, 0.2)
    agg_lat, agg_lon = scatter(aggregation, 0.8)
    tow_lat, tow_lon = scatter(towers, 1.0)
    width = len(str(max(towers, aggregation, cores)))
    core_ids = [f"{prefix}core-{i + 1:0{width}d}" for i in range(cores)]
    agg_ids = [f"{prefix}agg-{i + 1:0{width}d}" for i in range(aggregation)]
    tow_ids = [f"{prefix}t-{i + 1:0{width}d}" for i in range(towers)]
    nodes = [
        NodeSpec(i, "core", float(a), float(o))
        for i, a, o in zip(core_ids, core_lat, core_lon, strict=True)
    ]
    nodes += [
        NodeSpec(i, "aggregation", float(a), float(o))
        for i, a, o in zip(agg_ids, agg_lat, agg_lon, strict=True)
    ]
    nodes += [
        NodeSpec(i, "tower", float(a), float(o))
        for i, a, o in zip(tow_ids, tow_lat, tow_lon, strict=True)
    ]
    links: list[LinkSpec] = []
    for i in range(cores):
        for j in range(i + 1, cores):
            km = float(haversine_km(core_lat[i], core_lon[i], core_lat[j], core_lon[j]))
            links.append(
                LinkSpec(
                    f"{prefix}l-{core_ids[i]}-{core_ids[j]}",
                    core_ids[i],
                    core_ids[j],
                    aggregation_link_mbps * 4,
                    0.2 + km * 0.005,
                )
            )
    for i in range(aggregation):
        to_core = haversine_km(agg_lat[i], agg_lon[i], core_lat, core_lon)
        for j in np.argsort(to_core, kind="stable")[: min(2, cores)]:
            links.append(
                LinkSpec(
                    f"{prefix}l-{agg_ids[i]}-{core_ids[j]}",
                    agg_ids[i],
                    core_ids[j],
                    aggregation_link_mbps,
                    0.2 + float(to_core[j]) * 0.005,
                )
            )
    nearest, to_agg = nearest_site(tow_lat, tow_lon, agg_lat, agg_lon)
    for i in range(towers):
        links.append(
            LinkSpec(
                f"{prefix}l-{tow_ids[i]}",
                tow_ids[i],
                agg_ids[nearest[i]],
                tower_link_mbps,
                0.1 + float(to_agg[i]) * 0.005,
            )
        )
    return nodes, links


def nearest_site(
    lat: np.ndarray, lon: np.ndarray, site_lat: np.ndarray, site_lon: np.ndarray, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Return, for each point, the index of its nearest site and the distance in km."""
    index = np.empty(len(lat), dtype=np.int64)
    dist = np.empty(len(lat))
    for start in range(0, len(lat), chunk):
        stop = start + chunk
        km = haversine_km(
            lat[start:stop, None], lon[start:stop, None], site_lat[None, :], site_lon[None, :]
        )
        index[start:stop] = np.argmin(km, axis=1)
        dist[start:stop] = km[np.arange(len(km)), index[start:stop]]
    return index, dist


def _scenario_specs(
    scenario: Scenario, base_dir: Path, rng: np.random.Generator, file: str
) -> tuple[list[NodeSpec], list[LinkSpec]]:
    net = scenario.network
    nodes: list[NodeSpec] = []
    links: list[LinkSpec] = []
    if net.topology_zoo is not None:
        from sim.topology_import import attach_towers, read_opencellid, read_topology_zoo

        zoo = net.topology_zoo
        try:
            zoo_nodes, zoo_links = read_topology_zoo(
                base_dir / zoo.graphml,
                cores=zoo.cores,
                cores_match=zoo.cores_match,
                capacity_mbps=zoo.capacity_mbps,
                latency_ms_per_km=zoo.latency_ms_per_km,
                default_latency_ms=zoo.default_latency_ms,
            )
        except ValueError as error:
            # a TopologyFileError holds one (key, sentence) per problem
            problems = getattr(error, "problems", [("graphml", str(error))])
            raise ScenarioError(
                [Problem(file, f"network.topology_zoo.{key}", text) for key, text in problems]
            ) from None
        nodes += zoo_nodes
        links += zoo_links
        sites: list[NodeSpec] = []
        link_mbps = 1000.0
        if net.opencellid is not None:
            ocid = net.opencellid
            try:
                sites = read_opencellid(
                    base_dir / ocid.csv,
                    radio=ocid.radio,
                    mcc=ocid.mcc,
                    net=ocid.net,
                    limit=ocid.limit,
                )
            except ValueError as error:
                raise ScenarioError([Problem(file, "network.opencellid.csv", str(error))]) from None
            link_mbps = ocid.tower_link_mbps
        if net.towers_near_transport is not None:
            near = net.towers_near_transport
            from sim.topology_import import towers_near

            sites += towers_near(zoo_nodes, near.count, near.radius_km, rng)
            link_mbps = near.tower_link_mbps
        tower_nodes, tower_links = attach_towers(sites, zoo_nodes, link_mbps)
        nodes += tower_nodes
        links += tower_links
    elif net.opencellid is not None or net.towers_near_transport is not None:
        raise ScenarioError(
            [
                Problem(
                    file,
                    "network.opencellid" if net.opencellid else "network.towers_near_transport",
                    "towers are attached to an imported transport network: "
                    "add network.topology_zoo",
                )
            ]
        )
    if net.generate is not None:
        g = net.generate
        gen_nodes, gen_links = generate(
            g.towers,
            g.aggregation,
            g.cores,
            (g.region.center[0], g.region.center[1]),
            g.region.radius_km,
            rng,
            prefix=g.prefix,
            tower_link_mbps=g.tower_link_mbps,
            aggregation_link_mbps=g.aggregation_link_mbps,
        )
        nodes += gen_nodes
        links += gen_links
    for i, n in enumerate(net.nodes):
        lat, lon = n.position if n.position else (float("nan"), float("nan"))
        nodes.append(
            NodeSpec(
                n.id,
                n.role,
                lat,
                lon,
                n.cells,
                n.voice_channels,
                n.data_mbps,
                n.max_subscribers,
                where=f"network.nodes[{i}]",
            )
        )
    for i, link in enumerate(net.links):
        links.append(
            LinkSpec(
                link.id,
                link.a,
                link.b,
                link.capacity_mbps,
                link.latency_ms,
                where=f"network.links[{i}]",
            )
        )
    return nodes, links


def build_topology(
    scenario: Scenario,
    base_dir: Path | str = ".",
    rng: np.random.Generator | None = None,
    file: str = "<scenario>",
) -> Topology:
    """Return the scenario's network as a :class:`Topology`, or raise :class:`ScenarioError`
    for duplicate ids, links to unknown nodes, or towers with no path to a core."""
    rng = rng if rng is not None else np.random.default_rng(0)
    nodes, links = _scenario_specs(scenario, Path(base_dir), rng, file)
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for n in nodes:
        if n.id in index:
            problems.append(
                Problem(file, f"{n.where or 'network'}.id", f"duplicate node id '{n.id}'")
            )
        else:
            index[n.id] = len(index)
    seen_links: set[str] = set()
    for link in links:
        if link.id in seen_links:
            problems.append(
                Problem(file, f"{link.where or 'network'}.id", f"duplicate link id '{link.id}'")
            )
        seen_links.add(link.id)
        for end in ("a", "b"):
            ref = getattr(link, end)
            if ref not in index:
                problems.append(
                    Problem(file, f"{link.where or 'network.links'}.{end}", f"unknown node '{ref}'")
                )
    if not any(n.role == "tower" for n in nodes):
        problems.append(Problem(file, "network", "the network has no towers"))
    if not any(n.role == "core" for n in nodes):
        problems.append(Problem(file, "network", "the network has no core node"))
    if problems:
        raise ScenarioError(_dedupe(problems))
    node_pos = {n.id: i for i, n in enumerate(nodes)}
    defaults = scenario.network.defaults
    towers = [n for n in nodes if n.role == "tower"]
    cells_per = [t.cells or defaults.cells for t in towers]
    cell_tower = np.repeat(np.arange(len(towers)), cells_per)
    topo = Topology(
        node_ids=[n.id for n in nodes],
        node_role=np.array([ROLES.index(n.role) for n in nodes], dtype=np.int8),
        node_lat=np.array([n.lat for n in nodes], dtype=float),
        node_lon=np.array([n.lon for n in nodes], dtype=float),
        link_ids=[link.id for link in links],
        link_a=np.array([node_pos[link.a] for link in links], dtype=np.int64),
        link_b=np.array([node_pos[link.b] for link in links], dtype=np.int64),
        link_capacity_mbps=np.array([link.capacity_mbps for link in links], dtype=float),
        link_latency_ms=np.array([link.latency_ms for link in links], dtype=float),
        tower_node=np.array([node_pos[t.id] for t in towers], dtype=np.int64),
        tower_max_subscribers=np.array(
            [t.max_subscribers or defaults.max_subscribers or 0 for t in towers], dtype=np.int64
        ),
        cell_ids=[
            f"{t.id}/{k + 1}" for t, c in zip(towers, cells_per, strict=True) for k in range(c)
        ],
        cell_tower=cell_tower,
        cell_voice_channels=np.repeat(
            [t.voice_channels or defaults.voice_channels for t in towers], cells_per
        ).astype(np.int64),
        cell_data_mbps=np.repeat(
            [t.data_mbps or defaults.data_mbps for t in towers], cells_per
        ).astype(float),
    )
    routes = compute_routes(topo, np.ones(topo.n_nodes, bool), np.ones(topo.n_links, bool))
    for t in np.flatnonzero(routes.isolated):
        spec = towers[int(t)]
        problems.append(
            Problem(file, spec.where or "network", f"tower '{spec.id}' has no path to a core")
        )
    if problems:
        raise ScenarioError(
            problems[:50]
            + (
                [Problem(file, "network", f"... and {len(problems) - 50} more towers with no path")]
                if len(problems) > 50
                else []
            )
        )
    return topo


def _dedupe(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def compute_routes(topo: Topology, node_up: np.ndarray, link_up: np.ndarray) -> Routes:
    """Return each tower's shortest working path by latency to its nearest working core.

    A tower that is down, or up with no working path to a core, is marked isolated.
    """
    n = topo.n_nodes
    usable = link_up & node_up[topo.link_a] & node_up[topo.link_b]
    idx = np.flatnonzero(usable)
    # Parallel links: keep the fastest of each node pair, as routing would.
    a, b = topo.link_a[idx], topo.link_b[idx]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    weight = topo.link_latency_ms[idx] + 1e-9  # csgraph reads an explicit zero as no edge
    order = np.lexsort((idx, weight, hi, lo))
    lo, hi, weight, idx = lo[order], hi[order], weight[order], idx[order]
    first = np.ones(len(lo), bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, weight, idx = lo[first], hi[first], weight[first], idx[first]
    graph = csr_matrix((weight, (lo, hi)), shape=(n, n))
    cores = np.flatnonzero((topo.node_role == CORE) & node_up)
    n_towers = topo.n_towers
    if len(cores) == 0:
        return Routes(
            np.full((n_towers, 1), -1, np.int64),
            np.ones(n_towers, bool),
            np.full(n_towers, np.inf),
            np.full(n, -9999, np.int64),
            np.full(n, -1, np.int64),
            np.full(n, np.inf),
        )
    dist, pred, _ = dijkstra(
        graph, directed=False, indices=cores, min_only=True, return_predecessors=True
    )
    # The link from every reached node to its predecessor: pairs are sorted, so look them up.
    parent_link = np.full(n, -1, dtype=np.int64)
    reached = np.flatnonzero(pred >= 0)
    u = pred[reached].astype(np.int64)
    pair_key = lo * n + hi
    wanted = np.minimum(u, reached) * n + np.maximum(u, reached)
    parent_link[reached] = idx[np.searchsorted(pair_key, wanted)]
    tower_nodes = topo.tower_node
    isolated = ~np.isfinite(dist[tower_nodes]) | ~node_up[tower_nodes]
    columns = []
    current = np.where(isolated, -9999, tower_nodes)
    while True:
        valid = current >= 0
        step = np.where(valid, parent_link[np.maximum(current, 0)], -1)
        if not (step >= 0).any():
            break
        columns.append(step)
        current = np.where(step >= 0, pred[np.maximum(current, 0)], -1)
    tower_links = np.stack(columns, axis=1) if columns else np.full((n_towers, 1), -1, np.int64)
    latency = np.where(isolated, np.inf, dist[tower_nodes])
    return Routes(
        tower_links.astype(np.int64), isolated, latency, pred.astype(np.int64), parent_link, dist
    )


def leaf_uplinks(topo: Topology) -> np.ndarray:
    """Return, per tower, its only link when it has exactly one (a leaf), else -1.

    A leaf tower is on no other tower's path, so its own failure or its uplink's changes only
    its own route: the engine then updates one row instead of routing the whole network.
    """
    degree = np.bincount(np.concatenate([topo.link_a, topo.link_b]), minlength=topo.n_nodes)
    link_of_node = np.full(topo.n_nodes, -1, dtype=np.int64)
    link_of_node[topo.link_a] = np.arange(topo.n_links)
    link_of_node[topo.link_b] = np.arange(topo.n_links)
    return np.where(degree[topo.tower_node] == 1, link_of_node[topo.tower_node], -1)


def update_leaf_route(
    topo: Topology,
    routes: Routes,
    tower: int,
    uplink: int,
    node_up: np.ndarray,
    link_up: np.ndarray,
) -> bool:
    """Update a leaf tower's route in place after its node or uplink changed state.

    Returns False when the new route does not fit the routes table (the caller then routes
    the whole network again).
    """
    node = int(topo.tower_node[tower])
    other = int(topo.link_b[uplink] if topo.link_a[uplink] == node else topo.link_a[uplink])
    reachable = bool(
        node_up[node]
        and link_up[uplink]
        and node_up[other]
        and np.isfinite(routes.node_dist[other])
    )
    row = routes.tower_links[tower]
    row[:] = -1
    if not reachable:
        routes.isolated[tower] = True
        routes.latency_ms[tower] = np.inf
        return True
    path = [uplink]
    current = other
    while routes.node_parent_link[current] >= 0:
        path.append(int(routes.node_parent_link[current]))
        current = int(routes.node_pred[current])
    if len(path) > len(row):
        return False
    row[: len(path)] = path
    routes.isolated[tower] = False
    routes.latency_ms[tower] = routes.node_dist[other] + topo.link_latency_ms[uplink]
    return True


def to_networkx(topo: Topology) -> nx.MultiGraph:
    """Return the topology as a networkx multigraph, for analysis and drawing."""
    import networkx as nx  # only here: the simulation itself routes with scipy

    graph = nx.MultiGraph()
    for i, node_id in enumerate(topo.node_ids):
        graph.add_node(
            node_id,
            role=ROLES[topo.node_role[i]],
            lat=float(topo.node_lat[i]),
            lon=float(topo.node_lon[i]),
        )
    for i, link_id in enumerate(topo.link_ids):
        graph.add_edge(
            topo.node_ids[topo.link_a[i]],
            topo.node_ids[topo.link_b[i]],
            key=link_id,
            capacity_mbps=float(topo.link_capacity_mbps[i]),
            latency_ms=float(topo.link_latency_ms[i]),
        )
    return graph

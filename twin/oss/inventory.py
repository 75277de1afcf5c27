"""The twin's inventory mirror: the network's resources as the :class:`~twin.feed.Inventory`
record exports them, and what hangs behind each one (impact, N-1).

The mirror knows the topology, never which resources are down: fault management tells it
that, from alarms. A node has a management path (and a tower carries traffic) while it reaches
any working core, so every question here is "which nodes lose every path to a core when these
resources fail".

The single points of failure come from one depth-first search (Tarjan's low-link, iterative)
over the graph with a virtual node joined to every core: a link is a single point when it is a
bridge that cuts nodes off that virtual node, a node when it is an articulation point that
does. Parallel links are told apart by their link id, so a doubled uplink is no bridge. Every
node's subtree is a slice of the preorder, so what a single point isolates is one slice and
its subscribers one difference of prefix sums: linear time for a national network.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from twin.feed import Inventory, ResourceKind

__all__ = [
    "Impact",
    "InventoryMirror",
    "SinglePoint",
    "impact",
    "isolated_by",
    "n_minus_1",
]


@dataclass(frozen=True)
class Impact:
    """What fails with a set of resources: the towers out (down or with no path to a core),
    their cells and any failed cell, the subscribers homed on those cells, per product, and,
    when fees were given, the monthly fees those subscribers pay (exact, in the currency's
    units)."""

    resources: tuple[str, ...]
    towers: tuple[str, ...]
    cells: tuple[str, ...]
    subscribers: int
    subscribers_by_product: Mapping[str, int]
    monthly_fees: Decimal | None


@dataclass(frozen=True)
class SinglePoint:
    """A link or node whose loss alone isolates ``towers`` (other than itself), with the
    ``subscribers`` homed on their cells."""

    resource: str
    kind: ResourceKind
    towers: tuple[str, ...]
    subscribers: int


@dataclass(eq=False)
class InventoryMirror:
    """Nodes, links, towers, cells and subscribers from one :class:`~twin.feed.Inventory`.

    Build it with :meth:`from_inventory`. Node, link and cell ids are the feed's; indices
    are positions in the record's tuples.
    """

    node_ids: tuple[str, ...]
    node_roles: tuple[str, ...]
    link_ids: tuple[str, ...]
    link_a: np.ndarray  # node index of each link's ends
    link_b: np.ndarray
    cell_ids: tuple[str, ...]
    cell_tower: np.ndarray  # node index of each cell's tower
    product_names: tuple[str, ...]
    subscribers_per_cell_product: np.ndarray  # (cells, products) counts
    node_index: dict[str, int] = field(init=False)
    link_index: dict[str, int] = field(init=False)
    cell_index: dict[str, int] = field(init=False)
    cells_of_node: list[list[int]] = field(init=False)
    adjacency: list[list[tuple[int, int]]] = field(init=False)  # (neighbour, link index)
    _tree: _SpanningTree = field(init=False)
    _isolated_cache: dict[frozenset[str], frozenset[int]] = field(init=False)
    _cores: np.ndarray = field(init=False)  # node indices of the cores

    def __post_init__(self) -> None:
        self.node_index = {n: i for i, n in enumerate(self.node_ids)}
        self.link_index = {link: i for i, link in enumerate(self.link_ids)}
        self.cell_index = {c: i for i, c in enumerate(self.cell_ids)}
        self.cells_of_node = [[] for _ in self.node_ids]
        for c, t in enumerate(self.cell_tower.tolist()):
            self.cells_of_node[t].append(c)
        self.adjacency = [[] for _ in self.node_ids]
        for k, (a, b) in enumerate(zip(self.link_a.tolist(), self.link_b.tolist(), strict=True)):
            if a != b:
                self.adjacency[a].append((b, k))
                self.adjacency[b].append((a, k))
        self._tree = _SpanningTree.build(self)
        self._isolated_cache = {}
        self._cores = np.array(
            [i for i, role in enumerate(self.node_roles) if role == "core"], dtype=np.int64
        )

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> InventoryMirror:
        node_index = {n: i for i, n in enumerate(inventory.node_ids)}
        n_products = max(len(inventory.product_names), 1)
        n_cells = len(inventory.cell_ids)
        cell = np.asarray(inventory.subscriber_cell, dtype=np.int64)
        product = np.asarray(inventory.subscriber_product, dtype=np.int64)
        counts = np.bincount(cell * n_products + product, minlength=n_cells * n_products)
        return cls(
            node_ids=tuple(inventory.node_ids),
            node_roles=tuple(inventory.node_roles),
            link_ids=tuple(inventory.link_ids),
            link_a=np.array([node_index[a] for a in inventory.link_a], dtype=np.int64),
            link_b=np.array([node_index[b] for b in inventory.link_b], dtype=np.int64),
            cell_ids=tuple(inventory.cell_ids),
            cell_tower=np.array([node_index[t] for t in inventory.cell_tower], dtype=np.int64),
            product_names=tuple(inventory.product_names) or ("",),
            subscribers_per_cell_product=counts[: n_cells * n_products].reshape(
                n_cells, n_products
            ),
        )

    # -- what a resource is -------------------------------------------------------------
    def kind(self, resource: str) -> ResourceKind | None:
        """The resource's kind (a node's role, ``link`` or ``cell``), None when unknown."""
        if resource in self.node_index:
            role = self.node_roles[self.node_index[resource]]
            return "core" if role == "core" else "tower" if role == "tower" else "aggregation"
        if resource in self.link_index:
            return "link"
        if resource in self.cell_index:
            return "cell"
        return None

    def link_ends(self, link: str) -> tuple[str, str]:
        k = self.link_index[link]
        return self.node_ids[int(self.link_a[k])], self.node_ids[int(self.link_b[k])]

    def tower_of(self, cell: str) -> str:
        return self.node_ids[int(self.cell_tower[self.cell_index[cell]])]

    def isolators(self, node: str) -> frozenset[str]:
        """The links and nodes (not ``node`` itself) whose loss alone cuts ``node`` off every
        core: the bridges and articulation points on its way to the cores."""
        return self._tree.isolators(self.node_index[node])

    def isolated_count(self, resource: str) -> int:
        """How many nodes lose every path to a core when ``resource`` alone fails, counting a
        failed node itself; 0 for a cell or an unknown resource."""
        return self._tree.isolated_count(self, resource)

    def is_connected(self, node: str) -> bool:
        """Whether ``node`` reaches a core with every resource working."""
        return self._tree.disc[self.node_index[node]] >= 0


def isolated_by(mirror: InventoryMirror, failed: Iterable[str]) -> frozenset[int]:
    """Return the indices of the nodes that are down or lose every path to a core when the
    ``failed`` nodes and links fail (nodes never connected to a core are not counted).

    One breadth-first search from the working cores; cached per failure set.
    """
    key = frozenset(failed)
    cached = mirror._isolated_cache.get(key)
    if cached is not None:
        return cached
    down_nodes = [mirror.node_index[r] for r in key if r in mirror.node_index]
    down_links = [mirror.link_index[r] for r in key if r in mirror.link_index]
    reached = _reached_from_cores(mirror, down_nodes, down_links)
    connected = mirror._tree.disc[: len(mirror.node_ids)] >= 0
    result = frozenset(np.flatnonzero(connected & ~reached).tolist())
    if len(mirror._isolated_cache) > 4096:  # bounded: a long run's failure sets are many
        mirror._isolated_cache.clear()
    mirror._isolated_cache[key] = result
    return result


def _reached_from_cores(
    mirror: InventoryMirror, down_nodes: list[int], down_links: list[int]
) -> np.ndarray:
    """Per node, whether it reaches a working core with these nodes and links down.

    One breadth-first search from a virtual root joined to every working core, in compiled
    code (scipy): a fault's question costs one pass over the arrays, not a Python loop per
    node and link, which at national scale was most of the end-of-run scoring.
    """
    n = len(mirror.node_ids)
    node_up = np.ones(n + 1, dtype=bool)
    node_up[down_nodes] = False
    link_up = np.ones(len(mirror.link_ids), dtype=bool)
    link_up[down_links] = False
    a, b = mirror.link_a, mirror.link_b
    usable = link_up & node_up[a] & node_up[b] & (a != b)
    cores = mirror._cores[node_up[mirror._cores]]
    rows = np.concatenate([a[usable], np.full(len(cores), n)])
    cols = np.concatenate([b[usable], cores])
    graph = csr_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
    order = breadth_first_order(graph, n, directed=False, return_predecessors=False)
    reached = np.zeros(n + 1, dtype=bool)
    reached[order] = True
    return reached[:n]


def impact(
    mirror: InventoryMirror,
    resources: str | Iterable[str],
    monthly_fee: Mapping[str, Decimal] | None = None,
) -> Impact:
    """Return what fails with ``resources`` (one id or several failing together).

    ``monthly_fee`` maps each product name to its monthly fee (a Decimal); when given, the
    impact carries the sum of the fees of the subscribers behind, else None.

    >>> import numpy as np
    >>> from twin.feed import Inventory
    >>> inv = Inventory(("c", "t"), ("core", "tower"), np.zeros(2), np.zeros(2), ("l",),
    ...     ("t",), ("c",), np.ones(1), np.ones(1), ("t-1",), ("t",), np.ones(1), np.ones(1),
    ...     np.zeros(3, int), ("basic",), np.zeros(3, int))
    >>> impact(InventoryMirror.from_inventory(inv), "l", {"basic": Decimal("9.99")}).monthly_fees
    Decimal('29.97')
    """
    failed = (resources,) if isinstance(resources, str) else tuple(resources)
    for r in failed:
        if mirror.kind(r) is None:
            raise KeyError(f"unknown resource {r!r}: not in the inventory")
    out_nodes = isolated_by(mirror, failed)
    towers = sorted(i for i in out_nodes if mirror.node_roles[i] == "tower")
    cells = {c for t in towers for c in mirror.cells_of_node[t]}
    cells |= {mirror.cell_index[r] for r in failed if r in mirror.cell_index}
    cell_list = sorted(cells)
    per_product = mirror.subscribers_per_cell_product[cell_list].sum(axis=0)
    by_product = {
        name: int(n) for name, n in zip(mirror.product_names, per_product.tolist(), strict=False)
    }
    fees: Decimal | None = None
    if monthly_fee is not None:
        fees = Decimal(0)
        for name, n in by_product.items():
            if n:
                if name not in monthly_fee:
                    raise KeyError(f"no monthly fee for product {name!r}")
                fees += monthly_fee[name] * n
    return Impact(
        resources=failed,
        towers=tuple(sorted(mirror.node_ids[t] for t in towers)),
        cells=tuple(sorted(mirror.cell_ids[c] for c in cell_list)),
        subscribers=int(per_product.sum()),
        subscribers_by_product=by_product,
        monthly_fees=fees,
    )


def n_minus_1(mirror: InventoryMirror) -> tuple[SinglePoint, ...]:
    """Return every single link and node whose loss would isolate towers (other than a failed
    tower itself), with the subscribers behind each, most subscribers first.

    Linear in the network's size (one depth-first search, see the module's docstring).
    """
    tree = mirror._tree
    points: list[SinglePoint] = []
    for resource, slices in tree.cut_slices(mirror).items():
        nodes = np.concatenate([tree.preorder[lo:hi] for lo, hi in slices])
        towers = nodes[tree.is_tower[nodes]]
        if len(towers) == 0:
            continue
        subscribers = sum(int(tree.subs_prefix[hi] - tree.subs_prefix[lo]) for lo, hi in slices)
        kind = mirror.kind(resource)
        assert kind is not None
        points.append(
            SinglePoint(
                resource=resource,
                kind=kind,
                towers=tuple(sorted(mirror.node_ids[t] for t in towers.tolist())),
                subscribers=subscribers,
            )
        )
    points.sort(key=lambda p: (-p.subscribers, -len(p.towers), p.resource))
    return tuple(points)


@dataclass(eq=False)
class _SpanningTree:
    """A depth-first tree from a virtual root joined to every core, with Tarjan's low-links."""

    node_ids: tuple[str, ...]
    link_ids: tuple[str, ...]
    root: int
    disc: np.ndarray  # preorder number, -1 for nodes that never reach a core
    low: np.ndarray
    parent: np.ndarray
    parent_link: np.ndarray  # link index to the parent, -1 for the virtual edges
    size: np.ndarray  # subtree sizes
    preorder: np.ndarray  # node indices in preorder (the virtual root first)
    is_tower: np.ndarray  # per vertex, the virtual root included
    subs_prefix: np.ndarray  # prefix sums of subscribers per vertex, in preorder
    _isolators: dict[int, frozenset[str]] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, mirror: InventoryMirror) -> _SpanningTree:
        n = len(mirror.node_ids)
        root = n
        adjacency = [*mirror.adjacency, []]
        for i, role in enumerate(mirror.node_roles):
            if role == "core":
                adjacency[i] = [*adjacency[i], (root, -1 - i)]
                adjacency[root].append((i, -1 - i))
        disc = [-1] * (n + 1)
        low = [0] * (n + 1)
        parent = [-1] * (n + 1)
        parent_edge = [-1] * (n + 1)
        order = [root]
        disc[root] = 0
        stack = [(root, 0)]  # (vertex, next neighbour to look at)
        while stack:
            v, at = stack[-1]
            neighbours = adjacency[v]
            while at < len(neighbours):
                w, edge = neighbours[at]
                at += 1
                if v != root and edge == parent_edge[v]:
                    continue
                if disc[w] < 0:
                    disc[w] = low[w] = len(order)
                    order.append(w)
                    parent[w], parent_edge[w] = v, edge
                    stack[-1] = (v, at)
                    stack.append((w, 0))
                    break
                low[v] = min(low[v], disc[w])
            else:
                stack.pop()
                if stack:
                    p = stack[-1][0]
                    low[p] = min(low[p], low[v])
        size = [1] * (n + 1)
        for v in reversed(order[1:]):
            size[parent[v]] += size[v]
        is_tower = np.array([r == "tower" for r in mirror.node_roles] + [False])
        subs_node = np.zeros(n + 1, dtype=np.int64)
        np.add.at(subs_node, mirror.cell_tower, mirror.subscribers_per_cell_product.sum(axis=1))
        preorder = np.array(order, dtype=np.int64)
        return cls(
            node_ids=mirror.node_ids,
            link_ids=mirror.link_ids,
            root=root,
            disc=np.array(disc, dtype=np.int64),
            low=np.array(low, dtype=np.int64),
            parent=np.array(parent, dtype=np.int64),
            parent_link=np.array([max(e, -1) for e in parent_edge], dtype=np.int64),
            size=np.array(size, dtype=np.int64),
            preorder=preorder,
            is_tower=is_tower,
            subs_prefix=np.concatenate([[0], np.cumsum(subs_node[preorder])]),
        )

    def _cuts_child(self, w: int) -> tuple[int, bool, bool]:
        """For tree vertex ``w``: its parent, whether the link to it is a bridge, and whether
        the parent is an articulation point for ``w``'s subtree."""
        p = int(self.parent[w])
        is_bridge = self.parent_link[w] >= 0 and self.low[w] > self.disc[p]
        is_articulation = p != self.root and self.low[w] >= self.disc[p]
        return p, bool(is_bridge), bool(is_articulation)

    def cut_slices(self, mirror: InventoryMirror) -> dict[str, list[tuple[int, int]]]:
        """Every single point, with the preorder slices of the vertices it cuts off."""
        cuts: dict[str, list[tuple[int, int]]] = {}
        for w in self.preorder[1:].tolist():
            p, is_bridge, is_articulation = self._cuts_child(w)
            piece = (int(self.disc[w]), int(self.disc[w] + self.size[w]))
            if is_bridge:
                cuts.setdefault(mirror.link_ids[int(self.parent_link[w])], []).append(piece)
            if is_articulation:
                cuts.setdefault(mirror.node_ids[p], []).append(piece)
        return cuts

    def isolators(self, v: int) -> frozenset[str]:
        """The single points above ``v``: those of its parent, plus the link to the parent
        if it is a bridge and the parent if it cuts ``v``'s subtree off (memoised down the
        tree, so a long chain of towers costs its length once)."""
        path = []
        w = v
        while w != self.root and self.disc[w] >= 0 and w not in self._isolators:
            path.append(w)
            w = int(self.parent[w])
        above = self._isolators.get(w, frozenset())
        for w in reversed(path):
            p, is_bridge, is_articulation = self._cuts_child(w)
            here = set(above)
            if is_bridge:
                here.add(self.link_ids[int(self.parent_link[w])])
            if is_articulation:
                here.add(self.node_ids[p])
            above = frozenset(here)
            self._isolators[w] = above
        return above if self.disc[v] >= 0 else frozenset()

    def isolated_count(self, mirror: InventoryMirror, resource: str) -> int:
        counts = self._counts
        if not counts:
            for r, slices in self.cut_slices(mirror).items():
                counts[r] = sum(hi - lo for lo, hi in slices)
        own = 1 if resource in mirror.node_index else 0
        return counts.get(resource, 0) + own

"""Where the towers' traffic goes, as the twin reckons it from the inventory: each tower's
shortest working path by latency to its nearest working core, with given resources failed.

The network routes this way (docs/engine.md), and an operator knows its own routing policy
and its link latencies from the inventory: so the twin can tell which links a failure puts
traffic on. Fault management uses it to put a link's congestion under the root cause of the
failure that rerouted traffic onto it (docs/thresholds.md). Nothing here knows what is down:
the caller names the failed resources (the root causes it believes in).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from twin.oss.inventory import InventoryMirror

__all__ = ["Routing"]


class Routing:
    """The towers' paths over an :class:`InventoryMirror`, per set of failed resources
    (cached: a run's failure sets are few at a time)."""

    def __init__(self, mirror: InventoryMirror, latency_ms: np.ndarray | None = None) -> None:
        self.mirror = mirror
        n_links = len(mirror.link_ids)
        self.latency_ms = (
            np.ones(n_links) if latency_ms is None else np.asarray(latency_ms, dtype=float)
        )
        roles = np.array(mirror.node_roles)
        self.towers = np.flatnonzero(roles == "tower")
        self._is_core = roles == "core"  # once: a tuple of a national network's roles is long
        self._cache: dict[frozenset[str], np.ndarray] = {}
        # Every link (no self-loops) in the order routing reads them: by node pair, fastest
        # first, then by index. Sorted once: the links of a failure set are a subset of these,
        # still in order, so each set of failures costs a pass over them, not a sort.
        idx = np.flatnonzero(mirror.link_a != mirror.link_b)
        a, b = mirror.link_a[idx], mirror.link_b[idx]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        weight = self.latency_ms[idx] + 1e-9  # csgraph reads an explicit zero as no edge
        order = np.lexsort((idx, weight, hi, lo))
        self._links = (lo[order], hi[order], weight[order], idx[order])

    def paths(self, failed: Iterable[str] = ()) -> np.ndarray:
        """Return each tower's path as a row of link indices (towers x depth, -1 padded; a
        row of -1 for a tower cut off), with ``failed`` nodes and links out of service."""
        key = frozenset(failed)
        found = self._cache.get(key)
        if found is None:
            found = self._route(key)
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = found
        return found

    def rerouted_onto(self, link: str, failed: str, down: Iterable[str] = ()) -> bool:
        """Whether ``failed`` failing (with ``down`` failed already) puts the traffic of some
        tower on ``link`` that did not cross it before."""
        k = self.mirror.link_index.get(link)
        if k is None:
            return False
        before = set(down) - {failed}
        was = (self.paths(before) == k).any(axis=1)
        now = (self.paths(before | {failed}) == k).any(axis=1)
        return bool((now & ~was).any())

    def _route(self, failed: frozenset[str]) -> np.ndarray:
        m = self.mirror
        n = len(m.node_ids)
        node_up = np.ones(n, dtype=bool)
        link_up = np.ones(len(m.link_ids), dtype=bool)
        for resource in failed:
            if resource in m.node_index:
                node_up[m.node_index[resource]] = False
            elif resource in m.link_index:
                link_up[m.link_index[resource]] = False
        lo, hi, weight, idx = self._links
        usable = link_up[idx] & node_up[lo] & node_up[hi]
        lo, hi, weight, idx = lo[usable], hi[usable], weight[usable], idx[usable]
        # parallel links: the fastest of each node pair carries the traffic, as routing would
        first = np.ones(len(lo), dtype=bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        lo, hi, weight, idx = lo[first], hi[first], weight[first], idx[first]
        cores = np.flatnonzero(self._is_core & node_up)
        none = np.full((len(self.towers), 1), -1, dtype=np.int64)
        if len(cores) == 0 or len(self.towers) == 0:
            return none
        graph = csr_matrix((weight, (lo, hi)), shape=(n, n))
        _, pred, _ = dijkstra(
            graph, directed=False, indices=cores, min_only=True, return_predecessors=True
        )
        parent_link = np.full(n, -1, dtype=np.int64)
        reached = np.flatnonzero(pred >= 0)
        u = pred[reached].astype(np.int64)
        pair_key = lo * n + hi
        wanted = np.minimum(u, reached) * n + np.maximum(u, reached)
        parent_link[reached] = idx[np.searchsorted(pair_key, wanted)]
        current = np.where(node_up[self.towers], self.towers, -1)
        columns = []
        while True:
            step = np.where(current >= 0, parent_link[np.maximum(current, 0)], -1)
            if not (step >= 0).any():
                break
            columns.append(step)
            current = np.where(step >= 0, pred[np.maximum(current, 0)], -1)
        return np.stack(columns, axis=1) if columns else none

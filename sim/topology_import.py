"""Real networks from public data: Internet Topology Zoo backbones and OpenCellID tower sites.

A Topology Zoo GraphML file becomes transport nodes and links (:func:`read_topology_zoo`); tower
sites come either from an OpenCellID CSV export (:func:`read_opencellid`) or are scattered around
the transport nodes (:func:`towers_near`), and :func:`attach_towers` gives each tower an uplink
to its nearest transport node. Everything here returns the plain :class:`~sim.network.NodeSpec`
and :class:`~sim.network.LinkSpec` records that :func:`sim.network.build_topology` assembles.

Node ids are ``<network>-<GraphML node id>``, e.g. ``abilene-0``, with the network's name
lowercased and punctuation turned into ``-``. A node the Zoo marks external (``Internal`` = 0, a
peer's router rather than the operator's) gets the id suffix ``-ext`` (:func:`is_external`):
towers are never attached to it and it is never chosen as the default core. The suffix lives in
the id rather than in a side table so that the information travels with the node and the module
keeps no state. Links are ``<network>-l-<GraphML id>-<GraphML id>-<n>``, the end whose node
comes first in the file first, ``n`` counting parallel edges from 0: ``abilene-l-7-10-0``.

A GraphML node at exactly (0, 0) has no position, as an OpenCellID row there has none: both are
what exporters write for a position nobody filled in (it lies in the Gulf of Guinea).

Refusals are :class:`ValueError` with one sentence that a scenario author can act on; the caller
prefixes it with the scenario file and key. A file with several problems raises
:class:`TopologyFileError`, which holds one sentence per problem and the key each belongs to.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree
from xml.etree.ElementTree import ParseError

import networkx as nx
import numpy as np

from sim.network import LinkSpec, NodeSpec, haversine_km, nearest_site
from sim.scenario import MAX_LINK_MBPS

__all__ = [
    "EXTERNAL_SUFFIX",
    "TopologyFileError",
    "attach_towers",
    "is_external",
    "read_opencellid",
    "read_topology_zoo",
    "towers_near",
]

EXTERNAL_SUFFIX = "-ext"
OPENCELLID_COLUMNS = ("radio", "mcc", "net", "area", "cell", "lon", "lat")
MAX_CELLS_PER_SITE = 64
# An LTE E-UTRAN cell id is eNodeB id * 256 + local cell; an NR cell id (36 bits) is read here
# as gNodeB id * 4096 + local cell, the split most operators use (TS 38.413 allows 22-32 bits).
CELLS_PER_SITE_ID = {"LTE": 256, "NR": 4096}
UPLINK_BASE_MS = 0.1
UPLINK_MS_PER_KM = 0.005


class TopologyFileError(ValueError):
    """Refusals of one imported file: ``problems`` holds ``(key, sentence)`` pairs, the key being
    the scenario key under the import's section that the problem is about (``graphml``,
    ``cores[2]``)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(sentence for _, sentence in problems))


def is_external(node: NodeSpec) -> bool:
    """Return whether an imported transport node is another network's (Zoo ``Internal`` = 0)."""
    return node.id.endswith(EXTERNAL_SUFFIX)


# --- Internet Topology Zoo ------------------------------------------------------------------


def read_topology_zoo(
    path: Path,
    *,
    cores: list[str],
    cores_match: Literal["one", "all"] = "one",
    capacity_mbps: float,
    latency_ms_per_km: float,
    default_latency_ms: float,
) -> tuple[list[NodeSpec], list[LinkSpec]]:
    """Return the nodes and links of a Topology Zoo GraphML file, in file order.

    Each name in ``cores`` is a node id (``abilene-4``), which names that node, or a label
    (``New York``); a label carried by several nodes names all of them when ``cores_match`` is
    ``"all"`` and is refused, listing their ids, when it is ``"one"``. With no ``cores``, the
    internal node of highest degree is the core (ties: the smallest GraphML id). Every other
    node is aggregation. Nodes without Latitude/Longitude, or at exactly (0, 0), get NaN. Every
    edge but self-loops becomes a link, parallel edges included: its capacity is LinkSpeedRaw
    when given, else ``capacity_mbps``; its latency is the great-circle distance times
    ``latency_ms_per_km``, or ``default_latency_ms`` when an end has no coordinates.

    Raise :class:`ValueError` when the file is missing or not GraphML, has no nodes, no internal
    node with coordinates, or is not connected, and :class:`TopologyFileError`, one sentence per
    problem, when node ids repeat, coordinates are off the globe, a LinkSpeedRaw is not above 0
    and at most 10 Tbps, or a name in ``cores`` matches no node or, by label, several.
    """
    graph = _read_graphml(path)
    if graph.number_of_nodes() == 0:
        raise ValueError(f"{path.name} has no nodes")
    network = _slug(str(graph.graph.get("Network") or graph.graph.get("label") or path.stem))
    problems: list[tuple[str, str]] = []
    zoo_nodes = []
    for gid, data in graph.nodes(data=True):
        try:
            lat, lon = _position(data)
        except ValueError as error:
            label = f" ({data['label']})" if data.get("label") is not None else ""
            problems.append(("graphml", f"{path.name}: node {gid}{label}: {error}"))
            lat = lon = float("nan")
        zoo_nodes.append(_zoo_node(network, str(gid), data, lat, lon))
    _check_ids_unique(zoo_nodes, path)
    by_gid = {node.gid: node for node in zoo_nodes}
    links: list[LinkSpec] = []
    parallel = Counter[tuple[str, str]]()
    degree = Counter[str]()
    for u, v, data in graph.edges(data=True):
        a, b = by_gid[str(u)], by_gid[str(v)]
        if a.gid == b.gid:
            continue
        pair = (min(a.gid, b.gid), max(a.gid, b.gid))
        link_id = f"{network}-l-{_slug(a.gid)}-{_slug(b.gid)}-{parallel[pair]}"
        try:
            capacity = _capacity_mbps(data, capacity_mbps)
        except ValueError as error:
            ends = f"{a.label or a.gid} - {b.label or b.gid}"
            problems.append(("graphml", f"{path.name}: link {link_id} ({ends}): {error}"))
            capacity = float("nan")
        links.append(
            LinkSpec(
                link_id,
                a.id,
                b.id,
                capacity,
                _latency_ms(a, b, latency_ms_per_km, default_latency_ms),
                where="network.topology_zoo",
            )
        )
        parallel[pair] += 1
        degree[a.gid] += 1
        degree[b.gid] += 1
    if problems:
        raise TopologyFileError(problems)

    if not any(node.has_position for node in zoo_nodes):
        raise ValueError(
            f"none of the {len(zoo_nodes)} nodes in {path.name} has Latitude and "
            "Longitude, so towers cannot be placed"
        )
    if not any(node.has_position and node.internal for node in zoo_nodes):
        raise ValueError(
            f"only external nodes (Internal=0) in {path.name} have Latitude and "
            "Longitude, so towers have nothing to attach to"
        )
    parts = sorted((len(part) for part in nx.connected_components(graph)), reverse=True)
    if len(parts) > 1:
        sizes = ", ".join(str(size) for size in parts)
        raise ValueError(
            f"{path.name} is not connected: it falls into {len(parts)} separate parts "
            f"of {sizes} nodes, and towers in a part without a core are cut off"
        )

    core_gids = _core_gids(zoo_nodes, cores, cores_match == "all", degree, path)
    nodes = [
        NodeSpec(
            node.id,
            "core" if node.gid in core_gids else "aggregation",
            node.lat,
            node.lon,
            where="network.topology_zoo",
        )
        for node in zoo_nodes
    ]
    return nodes, links


@dataclass(frozen=True)
class _ZooNode:
    gid: str  # the GraphML node id
    id: str
    label: str | None
    lat: float
    lon: float
    internal: bool

    @property
    def has_position(self) -> bool:
        return math.isfinite(self.lat) and math.isfinite(self.lon)


def _read_graphml(path: Path) -> nx.MultiGraph:
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    try:
        graph = nx.read_graphml(path, force_multigraph=True)
    # networkx passes on the XML parser's errors and its own, and ValueError/KeyError/TypeError
    # from converting badly typed attribute values (UnicodeDecodeError is a ValueError).
    except (ParseError, nx.NetworkXError, ValueError, KeyError, TypeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path.name} is not readable GraphML ({reason})") from None
    repeated = _repeated_node_ids(path)
    if repeated:
        raise TopologyFileError(
            [
                (
                    "graphml",
                    f"{path.name}: node id '{gid}' appears {len(labels)} times"
                    + (f" ({', '.join(labels)})" if labels else "")
                    + "; each node needs its own id",
                )
                for gid, labels in repeated.items()
            ]
        )
    return graph.to_undirected() if graph.is_directed() else graph


def _repeated_node_ids(path: Path) -> dict[str, list[str]]:
    """Return each node id the file gives to more than one node, with those nodes' labels.

    networkx keeps the last of them silently, so the first one's label and position vanish.
    """
    root = ElementTree.parse(path).getroot()
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    label_keys = {
        key.get("id")
        for key in root.iter(f"{ns}key")
        if key.get("attr.name") == "label" and key.get("for") in ("node", "all")
    }
    labels: dict[str, list[str]] = {}
    count = Counter[str]()
    for node in root.iter(f"{ns}node"):
        gid = str(node.get("id"))
        count[gid] += 1
        labels.setdefault(gid, []).extend(
            data.text or "" for data in node.iter(f"{ns}data") if data.get("key") in label_keys
        )
    return {gid: labels[gid] for gid, n in count.items() if n > 1}


def _zoo_node(network: str, gid: str, data: dict[str, Any], lat: float, lon: float) -> _ZooNode:
    internal = data.get("Internal", 1) != 0
    node_id = f"{network}-{_slug(gid)}" + ("" if internal else EXTERNAL_SUFFIX)
    label = data.get("label")
    return _ZooNode(gid, node_id, None if label is None else str(label), lat, lon, internal)


def _position(data: dict[str, Any]) -> tuple[float, float]:
    """Return a node's (Latitude, Longitude), NaN for none; raise :class:`ValueError` for a
    position off the globe."""
    lat, lon = _number(data.get("Latitude")), _number(data.get("Longitude"))
    if not (math.isnan(lat) or -90 <= lat <= 90):
        raise ValueError(f"Latitude {lat:g} is not between -90 and 90")
    if not (math.isnan(lon) or -180 <= lon <= 180):
        raise ValueError(f"Longitude {lon:g} is not between -180 and 180")
    if math.isnan(lat) or math.isnan(lon) or (lat == 0 and lon == 0):
        return float("nan"), float("nan")
    return lat, lon


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def _check_ids_unique(nodes: list[_ZooNode], path: Path) -> None:
    first: dict[str, str] = {}
    for node in nodes:
        if node.id in first:
            raise ValueError(
                f"GraphML nodes '{first[node.id]}' and '{node.gid}' in {path.name} "
                f"both become node id '{node.id}'"
            )
        first[node.id] = node.gid


def _capacity_mbps(data: dict[str, Any], default_mbps: float) -> float:
    """Return LinkSpeedRaw (bits per second) in Mbps, or ``default_mbps`` when it is absent;
    raise :class:`ValueError` for a speed no link has."""
    raw = data.get("LinkSpeedRaw")
    if raw is None:
        return float(default_mbps)
    bits_per_second = _number(raw)
    if not 0 < bits_per_second <= MAX_LINK_MBPS * 1e6:
        shown = f"{bits_per_second:g}" if isinstance(raw, (int, float)) else repr(raw)
        raise ValueError(
            f"LinkSpeedRaw {shown} is not a link speed; give bits per second above 0 and at "
            f"most {MAX_LINK_MBPS * 1e6:g} (10 Tbps), or leave it out for capacity_mbps"
        )
    return bits_per_second / 1e6


def _latency_ms(a: _ZooNode, b: _ZooNode, ms_per_km: float, default_ms: float) -> float:
    if not (a.has_position and b.has_position):
        return default_ms
    return float(haversine_km(a.lat, a.lon, b.lat, b.lon)) * ms_per_km


def _core_gids(
    nodes: list[_ZooNode], cores: list[str], match_all: bool, degree: Counter[str], path: Path
) -> set[str]:
    if not cores:
        internal = [node.gid for node in nodes if node.internal]
        if not internal:
            raise ValueError(f"{path.name} has no internal node to use as core: name one in cores")
        return {min(internal, key=lambda gid: (-degree[gid], _natural(gid)))}
    # An id names one node; a label may be carried by several (real networks have dozens of
    # towns named Paris or Franklin), so it names them all only when asked to.
    by_id: dict[str, _ZooNode] = {}
    by_label: dict[str, list[_ZooNode]] = {}
    for node in nodes:
        by_id[node.id] = by_id[node.id.removesuffix(EXTERNAL_SUFFIX)] = node
        if node.label is not None:
            by_label.setdefault(node.label, []).append(node)
    core_gids: set[str] = set()
    problems: list[tuple[str, str]] = []
    for index, name in enumerate(cores):
        matches = [by_id[name]] if name in by_id else by_label.get(name, [])
        if not matches:
            labels = ", ".join(f"'{node.label}'" for node in nodes[:4] if node.label is not None)
            problems.append(
                (
                    f"cores[{index}]",
                    f"no node in {path.name} is labelled or named '{name}' "
                    f"(labels are like {labels})",
                )
            )
        elif len(matches) > 1 and not match_all:
            problems.append(
                (
                    f"cores[{index}]",
                    f"'{name}' matches {len(matches)} nodes in {path.name}: "
                    f"{', '.join(node.id for node in matches)}; name one by id, or set "
                    "cores_match: all",
                )
            )
        else:
            core_gids.update(node.gid for node in matches)
    if problems:
        raise TopologyFileError(problems)
    return core_gids


def _natural(gid: str) -> tuple[int, int, str]:
    """Order numeric GraphML ids as numbers (the Zoo numbers its nodes 0, 1, ...)."""
    return (0, int(gid), "") if gid.isdigit() else (1, 0, gid)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "net"


# --- OpenCellID -----------------------------------------------------------------------------


def read_opencellid(
    path: Path, *, radio: Sequence[str], mcc: int | None, net: int | None, limit: int | None
) -> list[NodeSpec]:
    """Return the tower sites of an OpenCellID CSV export, in order of first appearance.

    Cells are grouped into sites: LTE rows by eNodeB (mcc, net, area, cell // 256), NR rows by
    gNodeB (mcc, net, area, cell // 4096); a GSM, UMTS or CDMA row is a site of its own (a row
    repeated in the file joins it). A site sits at the mean position of its cells and has as many
    cells as rows, at most 64. Rows are kept when their radio is in ``radio`` (all when empty)
    and their mcc and net match (any when None); rows with impossible coordinates (outside
    ±90/±180, or exactly 0, 0) are skipped. ``limit`` keeps the first N sites.

    Raise :class:`ValueError` when the file is missing, lacks a required column, has a row that
    is not numbers where numbers belong, or no site remains.
    """
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    radios = {r.upper() for r in radio}
    sites: dict[tuple[str, int, int, int, int], list[float]] = {}  # key -> [lat sum, lon sum, n]
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in OPENCELLID_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path.name} is not an OpenCellID export: it has no "
                f"{', '.join(missing)} column{'s' if len(missing) > 1 else ''}"
            )
        for row in reader:
            row_radio = (row["radio"] or "").upper()
            if radios and row_radio not in radios:
                continue
            try:
                row_mcc, row_net = int(row["mcc"]), int(row["net"])
                area, cell = int(row["area"]), int(row["cell"])
                lat, lon = float(row["lat"]), float(row["lon"])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path.name} line {reader.line_num}: mcc, net, area and cell "
                    "must be integers and lat, lon numbers"
                ) from None
            if (mcc is not None and row_mcc != mcc) or (net is not None and row_net != net):
                continue
            if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
                continue
            site = cell // CELLS_PER_SITE_ID.get(row_radio, 1)
            totals = sites.setdefault((row_radio, row_mcc, row_net, area, site), [0.0, 0.0, 0])
            totals[0] += lat
            totals[1] += lon
            totals[2] += 1
    if not sites:
        raise ValueError(
            f"no cell in {path.name} matches{_filter_text(radio, mcc, net)} with valid coordinates"
        )
    kept = list(sites.items())[:limit] if limit is not None else list(sites.items())
    return [
        NodeSpec(
            f"ocid-{r}-{m}-{n}-{a}-{s}".lower(),
            "tower",
            lat_sum / count,
            lon_sum / count,
            cells=min(int(count), MAX_CELLS_PER_SITE),
            where="network.opencellid",
        )
        for (r, m, n, a, s), (lat_sum, lon_sum, count) in kept
    ]


def _filter_text(radio: Sequence[str], mcc: int | None, net: int | None) -> str:
    parts = (
        ([f"radio {'/'.join(radio)}"] if radio else [])
        + ([f"mcc {mcc}"] if mcc is not None else [])
        + ([f"net {net}"] if net is not None else [])
    )
    return " " + ", ".join(parts) if parts else ""


# --- towers around the transport network ------------------------------------------------------


def towers_near(
    transport_nodes: list[NodeSpec], count: int, radius_km: float, rng: np.random.Generator
) -> list[NodeSpec]:
    """Return ``count`` synthetic towers ``near-t-0001``, ..., each uniform in a disc of
    ``radius_km`` around a transport node drawn uniformly from the internal nodes with
    coordinates. The same generator state gives the same towers.

    Raise :class:`ValueError` when no internal transport node has coordinates.
    """
    hubs = _attachable(transport_nodes)
    hub_lat = np.array([node.lat for node in hubs])
    hub_lon = np.array([node.lon for node in hubs])
    pick = rng.integers(len(hubs), size=count)
    r = radius_km * np.sqrt(rng.random(count))
    theta = rng.random(count) * 2 * np.pi
    lat0, lon0 = hub_lat[pick], hub_lon[pick]
    km_per_deg_lon = 111.32 * np.maximum(np.cos(np.radians(lat0)), 1e-6)
    lat = np.clip(lat0 + r * np.sin(theta) / 110.574, -90.0, 90.0)
    lon = (lon0 + r * np.cos(theta) / km_per_deg_lon + 180.0) % 360.0 - 180.0
    width = max(4, len(str(count)))
    return [
        NodeSpec(
            f"near-t-{i + 1:0{width}d}",
            "tower",
            float(a),
            float(o),
            where="network.towers_near_transport",
        )
        for i, (a, o) in enumerate(zip(lat, lon, strict=True))
    ]


def attach_towers(
    sites: list[NodeSpec],
    transport_nodes: list[NodeSpec],
    link_mbps: float,
) -> tuple[list[NodeSpec], list[LinkSpec]]:
    """Return the towers and one uplink ``<tower id>-uplink`` for each, to the nearest (great
    circle) internal transport node with coordinates; latency 0.1 ms + 0.005 ms/km.

    Raise :class:`ValueError` when a tower has no coordinates or no internal transport node has.
    """
    if not sites:
        return [], []
    unplaced = [
        site.id for site in sites if not (math.isfinite(site.lat) and math.isfinite(site.lon))
    ]
    if unplaced:
        raise ValueError(f"tower '{unplaced[0]}' has no coordinates to find its nearest node by")
    hubs = _attachable(transport_nodes)
    nearest, km = nearest_site(
        np.array([s.lat for s in sites]),
        np.array([s.lon for s in sites]),
        np.array([h.lat for h in hubs]),
        np.array([h.lon for h in hubs]),
    )
    links = [
        LinkSpec(
            f"{site.id}-uplink",
            site.id,
            hubs[hub].id,
            link_mbps,
            UPLINK_BASE_MS + UPLINK_MS_PER_KM * float(dist),
            where=site.where,
        )
        for site, hub, dist in zip(sites, nearest.tolist(), km, strict=True)
    ]
    return list(sites), links


def _attachable(transport_nodes: list[NodeSpec]) -> list[NodeSpec]:
    hubs = [
        node
        for node in transport_nodes
        if not is_external(node) and math.isfinite(node.lat) and math.isfinite(node.lon)
    ]
    if not hubs:
        raise ValueError("no internal transport node has coordinates to attach towers to")
    return hubs

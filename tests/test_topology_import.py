"""Importing real networks: Topology Zoo GraphML backbones and OpenCellID tower sites.

The data files are the copies in scenarios/data/ (sources and licenses in its README). Node and
edge counts below were counted with ``grep -c '<node '`` / ``grep -c '<edge '`` on each file;
degrees and row counts with networkx and awk on the same files.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from sim.network import LinkSpec, NodeSpec, haversine_km
from sim.topology_import import (
    TopologyFileError,
    attach_towers,
    is_external,
    read_opencellid,
    read_topology_zoo,
    towers_near,
)

DATA = Path(__file__).resolve().parent.parent / "scenarios" / "data"
OCID_SAMPLE = DATA / "opencellid-2022-09-10-sample.csv"
OCID_HEADER = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
)
KM_PER_DEGREE = 111.19508  # one degree of great circle, Earth radius 6371.0088 km


def zoo(path: Path, cores: list[str] | None = None) -> tuple[list[NodeSpec], list[LinkSpec]]:
    return read_topology_zoo(
        path,
        cores=cores or [],
        capacity_mbps=10_000.0,
        latency_ms_per_km=0.005,
        default_latency_ms=1.0,
    )


def ocid(
    path: Path = OCID_SAMPLE,
    radio: list[str] | None = None,
    mcc: int | None = None,
    net: int | None = None,
    limit: int | None = None,
) -> list[NodeSpec]:
    return read_opencellid(path, radio=radio or [], mcc=mcc, net=net, limit=limit)


def write_graphml(
    path: Path,
    nodes: list[tuple[str, dict[str, object]]],
    edges: list[tuple[str, str]] | list[tuple[str, str, dict[str, object]]],
    network: str = "Test Net",
) -> Path:
    """Write a small GraphML file with the Topology Zoo's attribute names; an edge may carry
    attributes as a third item (``{"LinkSpeedRaw": 1e9}``)."""
    keys = {
        "label": ("d0", "string"),
        "Latitude": ("d1", "double"),
        "Longitude": ("d2", "double"),
        "Internal": ("d3", "int"),
    }
    edge_keys = {"LinkSpeedRaw": ("e0", "double")}
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns">',
        '<key attr.name="Network" attr.type="string" for="graph" id="g0" />',
    ]
    lines += [
        f'<key attr.name="{name}" attr.type="{kind}" for="node" id="{key}" />'
        for name, (key, kind) in keys.items()
    ]
    lines += [
        f'<key attr.name="{name}" attr.type="{kind}" for="edge" id="{key}" />'
        for name, (key, kind) in edge_keys.items()
    ]
    lines += ['<graph edgedefault="undirected">', f'<data key="g0">{network}</data>']
    for node_id, attrs in nodes:
        data = "".join(f'<data key="{keys[k][0]}">{v}</data>' for k, v in attrs.items())
        lines.append(f'<node id="{node_id}">{data}</node>')
    for a, b, *attrs in edges:
        data = "".join(
            f'<data key="{edge_keys[k][0]}">{v}</data>'
            for extra in attrs
            for k, v in extra.items()  # type: ignore[attr-defined]
        )
        lines.append(f'<edge source="{a}" target="{b}">{data}</edge>')
    lines += ["</graph>", "</graphml>"]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[str], header: str = OCID_HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def by_id(nodes: list[NodeSpec]) -> dict[str, NodeSpec]:
    return {n.id: n for n in nodes}


# --- Topology Zoo: the six real files ---------------------------------------------------------

# file, nodes, edges (parallel edges counted), default core: the internal node of highest degree
ZOO_FILES = [
    # six nodes have degree 3 (ids 4, 6, 7, 8, 9, 10); the smallest id, 4, is Sunnyvale
    ("Abilene.graphml", 11, 14, "abilene-4"),
    ("Arpanet196912.graphml", 4, 4, "arpanet-0"),  # SRI, linked to the other three
    ("Cogentco.graphml", 197, 245, "cogent-183"),  # Paris, degree 9
    ("Geant2012.graphml", 40, 61, "geant-4"),  # DE, degree 10
    # NCSA (11) and Merit (12) both have degree 4; 11 is the smaller id
    ("Nsfnet.graphml", 13, 15, "nsf-11"),
    ("Sprint.graphml", 11, 18, "sprint-4"),  # Stockton, degree 6
]


@pytest.mark.parametrize(("file", "n_nodes", "n_edges", "core"), ZOO_FILES)
def test_every_zoo_file_imports_with_its_node_and_edge_counts(
    file: str, n_nodes: int, n_edges: int, core: str
) -> None:
    # All six are connected and have coordinates, so none is refused.
    nodes, links = zoo(DATA / file)
    assert len(nodes) == n_nodes
    assert len(links) == n_edges
    assert len({link.id for link in links}) == n_edges
    assert len({n.id for n in nodes}) == n_nodes
    assert {link.a for link in links} | {link.b for link in links} <= {n.id for n in nodes}


@pytest.mark.parametrize(("file", "n_nodes", "n_edges", "core"), ZOO_FILES)
def test_default_core_is_the_highest_degree_node_smallest_id_first(
    file: str, n_nodes: int, n_edges: int, core: str
) -> None:
    nodes, _ = zoo(DATA / file)
    assert [n.id for n in nodes if n.role == "core"] == [core]
    assert {n.role for n in nodes if n.id != core} == {"aggregation"}


def test_node_ids_are_network_name_and_graphml_id() -> None:
    nodes, links = zoo(DATA / "Abilene.graphml")
    assert [n.id for n in nodes[:3]] == ["abilene-0", "abilene-1", "abilene-2"]
    assert links[0].id == "abilene-l-0-1-0"


def test_link_latency_is_great_circle_distance_times_fibre_delay() -> None:
    # Abilene edge 0-1: New York (40.71427, -74.00597) to Chicago (41.85003, -87.65005),
    # 1145.84 km by haversine; at 0.005 ms/km that is 5.729 ms.
    _, links = zoo(DATA / "Abilene.graphml")
    assert links[0].a == "abilene-0" and links[0].b == "abilene-1"
    assert links[0].latency_ms == pytest.approx(1145.84 * 0.005, rel=1e-5)


def test_link_capacity_comes_from_link_speed_when_the_file_gives_it() -> None:
    # Geant2012's 61 edges: LinkSpeedRaw 10 Gb/s on 26, 2.5 Gb/s on 5, 1 Gb/s on 6, 155 Mb/s on
    # 2; the other 22 have none and take the default capacity, 10,000 Mbps here.
    _, links = zoo(DATA / "Geant2012.graphml")
    capacities = sorted(link.capacity_mbps for link in links)
    assert capacities == sorted(
        [10_000.0] * (26 + 22) + [2_500.0] * 5 + [1_000.0] * 6 + [155.0] * 2
    )


def test_geant_nodes_without_coordinates_get_nan_and_default_latency() -> None:
    # Geant2012 nodes 10 (UA), 11 (MD) and 19 (BY) have no Latitude/Longitude; each has one edge.
    nodes, links = zoo(DATA / "Geant2012.graphml")
    unplaced = sorted(n.id for n in nodes if math.isnan(n.lat) and math.isnan(n.lon))
    assert unplaced == ["geant-10", "geant-11", "geant-19"]
    touching = [link for link in links if {link.a, link.b} & set(unplaced)]
    assert len(touching) == 3
    assert all(link.latency_ms == 1.0 for link in touching)


def test_cogentco_keeps_parallel_edges_as_separate_links() -> None:
    # Cogentco has two doubled edges: Hamburg (143) - Copenhagen (42), Miami (80) - Boca Raton (81)
    _, links = zoo(DATA / "Cogentco.graphml")
    hamburg = [link for link in links if {link.a, link.b} == {"cogent-143", "cogent-42"}]
    miami = [link for link in links if {link.a, link.b} == {"cogent-80", "cogent-81"}]
    assert len(hamburg) == 2 and len(miami) == 2
    assert hamburg[0].id != hamburg[1].id and miami[0].id != miami[1].id


def test_cogentco_placeholder_nodes_are_kept_without_coordinates() -> None:
    # Cogentco's 11 hyperedge placeholders (ids 144, 147-150, 171-176, label "None") have no
    # coordinates; they join 31 edges (33 ends, less 144-149 and 149-150 which join two of them).
    nodes, links = zoo(DATA / "Cogentco.graphml")
    unplaced = {n.id for n in nodes if math.isnan(n.lat)}
    expected = {f"cogent-{i}" for i in (144, 147, 148, 149, 150, 171, 172, 173, 174, 175, 176)}
    assert unplaced == expected
    assert all(by_id(nodes)[i].role == "aggregation" for i in expected)
    touching = [link for link in links if {link.a, link.b} & unplaced]
    assert len(touching) == 31
    assert all(link.latency_ms == 1.0 for link in touching)


# --- Topology Zoo: cores named by the scenario ------------------------------------------------


def test_cores_named_by_label_or_id() -> None:
    nodes, _ = zoo(DATA / "Abilene.graphml", cores=["New York", "abilene-5"])
    assert sorted(n.id for n in nodes if n.role == "core") == ["abilene-0", "abilene-5"]


# Four nodes labelled Columbus (GraphML ids 3, 7, 12, 40) and one Lexington, in a line: names
# repeat in real networks (the Kentucky network has dozens of Paris, Lebanon or Franklin).
def _columbus(tmp_path: Path) -> Path:
    gids = ["3", "7", "12", "40", "41"]
    labels = ["Columbus"] * 4 + ["Lexington"]
    return write_graphml(
        tmp_path / "kentucky.graphml",
        [
            (gid, {"label": label, "Latitude": 37.0 + i / 10, "Longitude": -85.0})
            for i, (gid, label) in enumerate(zip(gids, labels, strict=True))
        ],
        list(itertools.pairwise(gids)),
        network="Kentucky",
    )


def test_core_label_carried_by_several_nodes_is_refused_listing_their_ids(tmp_path: Path) -> None:
    with pytest.raises(TopologyFileError) as error:
        zoo(_columbus(tmp_path), cores=["Lexington", "Columbus"])
    assert error.value.problems == [
        (
            "cores[1]",
            "'Columbus' matches 4 nodes in kentucky.graphml: kentucky-3, kentucky-7, "
            "kentucky-12, kentucky-40; name one by id, or set cores_match: all",
        )
    ]


def test_cores_match_all_makes_every_node_carrying_the_label_a_core(tmp_path: Path) -> None:
    nodes, _ = read_topology_zoo(
        _columbus(tmp_path),
        cores=["Columbus"],
        cores_match="all",
        capacity_mbps=10_000.0,
        latency_ms_per_km=0.005,
        default_latency_ms=1.0,
    )
    assert [n.role for n in nodes] == ["core"] * 4 + ["aggregation"]


def test_core_named_by_id_is_that_node_alone_though_its_label_repeats(tmp_path: Path) -> None:
    nodes, _ = zoo(_columbus(tmp_path), cores=["kentucky-12"])
    assert [n.id for n in nodes if n.role == "core"] == ["kentucky-12"]


def test_every_unknown_core_name_gets_its_own_line() -> None:
    with pytest.raises(TopologyFileError) as error:
        zoo(DATA / "Abilene.graphml", cores=["Atlantis", "New York", "Lemuria"])
    like = "(labels are like 'New York', 'Chicago', 'Washington DC', 'Seattle')"
    assert error.value.problems == [
        ("cores[0]", f"no node in Abilene.graphml is labelled or named 'Atlantis' {like}"),
        ("cores[2]", f"no node in Abilene.graphml is labelled or named 'Lemuria' {like}"),
    ]


def test_unknown_core_name_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="'Atlantis'"):
        zoo(DATA / "Abilene.graphml", cores=["New York", "Atlantis"])


# --- Topology Zoo: external nodes and refusals --------------------------------------------------


def test_external_nodes_are_marked_and_never_the_default_core(tmp_path: Path) -> None:
    # the external peer (Internal=0) has degree 3, more than any internal node
    path = write_graphml(
        tmp_path / "peer.graphml",
        [
            ("0", {"Latitude": 50.0, "Longitude": 8.0, "Internal": 1}),
            ("1", {"Latitude": 50.5, "Longitude": 8.0, "Internal": 1}),
            ("2", {"Latitude": 51.0, "Longitude": 8.0, "Internal": 1}),
            ("9", {"Latitude": 50.2, "Longitude": 8.0, "Internal": 0}),
        ],
        [("9", "0"), ("9", "1"), ("9", "2"), ("0", "1")],
    )
    nodes, _ = zoo(path)
    assert [n.id for n in nodes if is_external(n)] == ["test-net-9-ext"]
    assert [n.id for n in nodes if n.role == "core"] == ["test-net-0"]


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        zoo(tmp_path / "nowhere.graphml")


def test_garbage_text_is_refused_as_not_graphml(tmp_path: Path) -> None:
    path = tmp_path / "garbage.graphml"
    path.write_text("this is { not xml at all", encoding="utf-8")
    with pytest.raises(ValueError, match=r"^garbage\.graphml is not readable GraphML"):
        zoo(path)


def test_xml_that_is_not_graphml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "page.graphml"
    path.write_text("<html><body>404</body></html>", encoding="utf-8")
    with pytest.raises(ValueError, match="not readable GraphML"):
        zoo(path)


def test_graph_without_nodes_is_refused(tmp_path: Path) -> None:
    path = write_graphml(tmp_path / "empty.graphml", [], [])
    with pytest.raises(ValueError, match="has no nodes"):
        zoo(path)


def test_graph_without_any_coordinates_is_refused(tmp_path: Path) -> None:
    path = write_graphml(
        tmp_path / "nowhere.graphml", [("0", {"label": "A"}), ("1", {"label": "B"})], [("0", "1")]
    )
    with pytest.raises(ValueError, match="none of the 2 nodes"):
        zoo(path)


def test_graph_whose_only_coordinates_are_external_is_refused(tmp_path: Path) -> None:
    path = write_graphml(
        tmp_path / "peer.graphml",
        [("0", {"label": "A"}), ("1", {"Latitude": 50.0, "Longitude": 8.0, "Internal": 0})],
        [("0", "1")],
    )
    with pytest.raises(ValueError, match="only external nodes"):
        zoo(path)


def test_disconnected_graph_is_refused_saying_how_many_parts(tmp_path: Path) -> None:
    # 0-1-2 and 3-4 and a lone 5: three parts of 3, 2 and 1 nodes
    path = write_graphml(
        tmp_path / "islands.graphml",
        [(str(i), {"Latitude": 50.0 + i, "Longitude": 8.0}) for i in range(6)],
        [("0", "1"), ("1", "2"), ("3", "4")],
    )
    with pytest.raises(ValueError, match="falls into 3 separate parts of 3, 2, 1 nodes"):
        zoo(path)


def test_self_loops_are_skipped(tmp_path: Path) -> None:
    path = write_graphml(
        tmp_path / "loop.graphml",
        [("0", {"Latitude": 50.0, "Longitude": 8.0}), ("1", {"Latitude": 51.0, "Longitude": 8.0})],
        [("0", "0"), ("0", "1")],
    )
    _, links = zoo(path)
    assert [(link.a, link.b) for link in links] == [("test-net-0", "test-net-1")]


# --- Topology Zoo: values no real network has ----------------------------------------------------


def _three_nodes(middle: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    """Three nodes in a line from Frankfurt (50.1, 8.7), the middle one given."""
    return [
        ("0", {"label": "Frankfurt", "Latitude": 50.1, "Longitude": 8.7}),
        ("1", middle),
        ("2", {"label": "Berlin", "Latitude": 52.5, "Longitude": 13.4}),
    ]


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        ({"Latitude": 1000.0, "Longitude": 8.7}, "Latitude 1000 is not between -90 and 90"),
        ({"Latitude": 50.0, "Longitude": -181.5}, "Longitude -181.5 is not between -180 and 180"),
        ({"Latitude": "-INF", "Longitude": 8.7}, "Latitude -inf is not between -90 and 90"),
    ],
    ids=["latitude-1000", "longitude", "infinite"],
)
def test_node_with_impossible_coordinates_is_refused_by_file_and_node(
    tmp_path: Path, position: dict[str, object], expected: str
) -> None:
    # A latitude of 1,000 used to be accepted: towers near it were clamped to the pole, with
    # uplinks of 67 ms.
    path = write_graphml(
        tmp_path / "far.graphml",
        _three_nodes({"label": "Kassel", **position}),
        [("0", "1"), ("1", "2")],
    )
    with pytest.raises(ValueError, match=rf"^far\.graphml: node 1 \(Kassel\): {expected}$"):
        zoo(path)


def test_every_node_with_impossible_coordinates_gets_its_own_line(tmp_path: Path) -> None:
    path = write_graphml(
        tmp_path / "far.graphml",
        [
            ("0", {"label": "Frankfurt", "Latitude": 50.1, "Longitude": 8.7}),
            ("1", {"label": "Kassel", "Latitude": 1000.0, "Longitude": 9.5}),
            ("2", {"label": "Berlin", "Latitude": 52.5, "Longitude": 1300.0}),
        ],
        [("0", "1"), ("1", "2")],
    )
    with pytest.raises(ValueError) as error:
        zoo(path)
    assert error.value.problems == [  # type: ignore[attr-defined]
        ("graphml", "far.graphml: node 1 (Kassel): Latitude 1000 is not between -90 and 90"),
        ("graphml", "far.graphml: node 2 (Berlin): Longitude 1300 is not between -180 and 180"),
    ]


def test_node_at_zero_zero_has_no_position_as_in_opencellid(tmp_path: Path) -> None:
    # (0, 0) lies in the Gulf of Guinea; like the OpenCellID reader, which skips such rows, the
    # import reads it as a position nobody filled in: no coordinates, the default latency on its
    # links, and no towers attached to it.
    path = write_graphml(
        tmp_path / "null-island.graphml",
        _three_nodes({"label": "Kassel", "Latitude": 0.0, "Longitude": 0.0}),
        [("0", "1"), ("1", "2")],
    )
    nodes, links = zoo(path)
    kassel = by_id(nodes)["test-net-1"]
    assert math.isnan(kassel.lat) and math.isnan(kassel.lon)
    assert [link.latency_ms for link in links] == [1.0, 1.0]
    _, uplinks = attach_towers([NodeSpec("t1", "tower", 0.01, 0.01)], nodes, 1000.0)
    assert uplinks[0].b == "test-net-0"  # Frankfurt, 5,600 km away, not the node at (0, 0)


def test_node_on_the_equator_or_the_meridian_keeps_its_position(tmp_path: Path) -> None:
    # only (0, 0) together is "no position": Greenwich (51.48, 0) and Quito (-0.18, -78.47) stay
    path = write_graphml(
        tmp_path / "zeros.graphml",
        [
            ("0", {"label": "Greenwich", "Latitude": 51.48, "Longitude": 0.0}),
            ("1", {"label": "Equator", "Latitude": 0.0, "Longitude": -78.47}),
        ],
        [("0", "1")],
    )
    nodes, _ = zoo(path)
    assert [(n.lat, n.lon) for n in nodes] == [(51.48, 0.0), (0.0, -78.47)]


def test_graphml_node_id_given_twice_is_refused_naming_it(tmp_path: Path) -> None:
    # networkx keeps the last of two nodes with one id, so the first one's label vanished and
    # `cores: [New York]` was refused as "no node labelled 'New York'".
    path = write_graphml(
        tmp_path / "twice.graphml",
        [
            ("0", {"label": "New York", "Latitude": 40.7, "Longitude": -74.0}),
            ("1", {"label": "Chicago", "Latitude": 41.9, "Longitude": -87.6}),
            ("0", {"label": "Boston", "Latitude": 42.4, "Longitude": -71.1}),
        ],
        [("0", "1")],
    )
    with pytest.raises(ValueError) as error:
        zoo(path, cores=["New York"])
    assert str(error.value) == (
        "twice.graphml: node id '0' appears 2 times (New York, Boston); each node needs its own id"
    )


@pytest.mark.parametrize(
    ("speed", "shown"),
    [(-10_000_000_000.0, "-1e+10"), (0.0, "0"), ("NaN", "nan"), (1e14, "1e+14")],
    ids=["negative", "zero", "nan", "100-tbps"],
)
def test_link_speed_that_no_link_has_is_refused_naming_the_link(
    tmp_path: Path, speed: object, shown: str
) -> None:
    # A negative LinkSpeedRaw used to fall back to the default 10 Gbps without a word.
    path = write_graphml(
        tmp_path / "speeds.graphml",
        _three_nodes({"label": "Kassel", "Latitude": 51.3, "Longitude": 9.5}),
        [("0", "1", {"LinkSpeedRaw": 1e9}), ("1", "2", {"LinkSpeedRaw": speed})],
    )
    with pytest.raises(ValueError) as error:
        zoo(path)
    assert str(error.value) == (
        f"speeds.graphml: link test-net-l-1-2-0 (Kassel - Berlin): LinkSpeedRaw {shown} is not "
        "a link speed; give bits per second above 0 and at most 1e+13 (10 Tbps), or leave it "
        "out for capacity_mbps"
    )


def test_link_without_link_speed_takes_the_default_capacity(tmp_path: Path) -> None:
    path = write_graphml(
        tmp_path / "speeds.graphml",
        _three_nodes({"label": "Kassel", "Latitude": 51.3, "Longitude": 9.5}),
        [("0", "1", {"LinkSpeedRaw": 2.5e9}), ("1", "2")],
    )
    _, links = zoo(path)
    assert [link.capacity_mbps for link in links] == [2_500.0, 10_000.0]


# --- OpenCellID -------------------------------------------------------------------------------


def test_lte_rows_of_one_enodeb_become_one_tower_with_a_cell_per_row() -> None:
    # eNodeB 50134 of mcc 214, net 3 (Spain), TAC 2320: cells 12834304, 12834305, 12834306,
    # 12834314 and 12834316 (all 50134 * 256 + 0..255) are five rows of the sample.
    tower = by_id(ocid(radio=["LTE"], mcc=214))["ocid-lte-214-3-2320-50134"]
    assert tower.role == "tower"
    assert tower.cells == 5
    # mean of the five rows' positions, by hand
    assert tower.lat == pytest.approx(
        (41.411484 + 41.411444 + 41.41386 + 41.422153 + 41.407842) / 5
    )
    assert tower.lon == pytest.approx((2.177325 + 2.174232 + 2.173665 + 2.205717 + 2.174266) / 5)


def test_sample_sites_by_radio() -> None:
    # the sample's 3,003 rows: 1,000 GSM, 192 UMTS, 1 CDMA and 2 NR rows are a site each; its
    # 1,808 LTE rows belong to 1,211 eNodeBs
    towers = ocid()
    radios = [t.id.split("-")[1] for t in towers]
    assert {r: radios.count(r) for r in set(radios)} == {
        "gsm": 1000,
        "umts": 192,
        "lte": 1211,
        "cdma": 1,
        "nr": 2,
    }


def test_radio_and_mcc_filters() -> None:
    # 85 LTE rows of mcc 214 in the sample, from 47 eNodeBs; the two NR rows are gNodeBs
    # 901136446 // 4096 = 220004 and 578879550 // 4096 = 141328
    spain_lte = ocid(radio=["LTE"], mcc=214)
    assert len(spain_lte) == 47
    assert sum(t.cells or 0 for t in spain_lte) == 85
    assert [t.id for t in ocid(radio=["NR"])] == [
        "ocid-nr-505-3-50533-220004",
        "ocid-nr-505-3-30337-141328",
    ]


def test_limit_keeps_the_first_sites_of_the_file() -> None:
    # the sample's first rows are GSM cells 2521, 2501 and 22873 of mcc 262, net 2, LAC 852
    assert [t.id for t in ocid(limit=3)] == [
        "ocid-gsm-262-2-852-2521",
        "ocid-gsm-262-2-852-2501",
        "ocid-gsm-262-2-852-22873",
    ]


def test_nr_cells_group_by_gnodeb(tmp_path: Path) -> None:
    # 4096 * 7 + 1 and 4096 * 7 + 2 are one gNodeB, 4096 * 8 another
    path = write_csv(
        tmp_path / "nr.csv",
        [
            "NR,505,3,10,28673,0,144.90,-37.80,1000,1,1,0,0,0",
            "NR,505,3,10,28674,0,144.92,-37.82,1000,1,1,0,0,0",
            "NR,505,3,10,32768,0,145.00,-37.90,1000,1,1,0,0,0",
        ],
    )
    towers = ocid(path)
    assert [(t.id, t.cells) for t in towers] == [
        ("ocid-nr-505-3-10-7", 2),
        ("ocid-nr-505-3-10-8", 1),
    ]
    assert towers[0].lat == pytest.approx(-37.81)


def test_cells_per_tower_are_capped_at_64(tmp_path: Path) -> None:
    rows = [f"LTE,262,1,5,{256 * 3 + k},0,8.0,50.0,1000,1,1,0,0,0" for k in range(70)]
    assert [t.cells for t in ocid(write_csv(tmp_path / "big.csv", rows))] == [64]


def test_rows_with_impossible_coordinates_are_skipped(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        [
            "GSM,262,1,5,1,0,0,0,1000,1,1,0,0,0",  # 0, 0: no position recorded
            "GSM,262,1,5,2,0,8.0,95.0,1000,1,1,0,0,0",  # latitude beyond the pole
            "GSM,262,1,5,3,0,200.0,50.0,1000,1,1,0,0,0",  # longitude beyond 180
            "GSM,262,1,5,4,0,8.0,50.0,1000,1,1,0,0,0",
        ],
    )
    assert [t.id for t in ocid(path)] == ["ocid-gsm-262-1-5-4"]


def test_csv_with_a_wrong_header_is_refused(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "towers.csv",
        ["LTE,262,1,5,4,8.0,50.0"],
        header="radio,mcc,mnc,tac,cell,longitude,latitude",
    )
    with pytest.raises(ValueError, match="no net, area, lon, lat columns"):
        ocid(path)


def test_filters_that_leave_no_site_are_refused() -> None:
    expected = r"^no cell in opencellid-2022-09-10-sample\.csv matches radio LTE, mcc 999 "
    with pytest.raises(ValueError, match=expected):
        ocid(radio=["LTE"], mcc=999)


def test_row_with_text_where_a_number_belongs_is_refused_with_its_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "typo.csv",
        ["GSM,262,1,5,4,0,8.0,50.0,1000,1,1,0,0,0", "GSM,262,one,5,4,0,8.0,50.0,1000,1,1,0,0,0"],
    )
    with pytest.raises(ValueError, match="line 3"):
        ocid(path)


# --- attaching towers -------------------------------------------------------------------------

# Three transport nodes on the equator: Alpha at 0°E, Beta at 1°E and an external peer at 0.15°E.
# A tower at 0.2°E is 0.2° = 22.239 km from Alpha, 0.8° from Beta and 0.05° from the peer.
HUBS = [
    NodeSpec("alpha", "core", 0.0, 0.0),
    NodeSpec("beta", "aggregation", 0.0, 1.0),
    NodeSpec("peer-ext", "aggregation", 0.0, 0.15),
    NodeSpec("nowhere", "aggregation"),
]


def test_tower_attaches_to_the_nearest_internal_node() -> None:
    tower = NodeSpec("t1", "tower", 0.0, 0.2, cells=3)
    towers, links = attach_towers([tower], HUBS, 1000.0)
    assert towers == [tower]
    assert links == [
        LinkSpec(
            "t1-uplink", "t1", "alpha", 1000.0, pytest.approx(0.1 + 0.005 * 0.2 * KM_PER_DEGREE)
        )
    ]


def test_tower_nearer_to_the_second_node_attaches_there() -> None:
    _, links = attach_towers([NodeSpec("t2", "tower", 0.0, 0.7)], HUBS, 500.0)
    assert (links[0].b, links[0].capacity_mbps) == ("beta", 500.0)


def test_no_sites_means_no_towers_and_no_links() -> None:
    assert attach_towers([], HUBS, 1000.0) == ([], [])


def test_towers_near_are_within_the_radius_of_an_internal_node() -> None:
    towers = towers_near(HUBS, 200, 5.0, np.random.default_rng(7))
    assert [t.id for t in towers[:2]] == ["near-t-0001", "near-t-0002"]
    assert {t.role for t in towers} == {"tower"}
    lat, lon = np.array([t.lat for t in towers]), np.array([t.lon for t in towers])
    to_alpha = haversine_km(lat, lon, 0.0, 0.0)
    to_beta = haversine_km(lat, lon, 0.0, 1.0)
    assert np.all(np.minimum(to_alpha, to_beta) <= 5.0 + 1e-6)
    # both internal nodes get towers; the external peer, 16.7 km from Alpha, gets none
    assert (to_alpha <= 5.0).any() and (to_beta <= 5.0).any()
    assert np.all(haversine_km(lat, lon, 0.0, 0.15) > 5.0)


def test_towers_near_are_the_same_for_the_same_seed() -> None:
    first = towers_near(HUBS, 10, 5.0, np.random.default_rng(3))
    again = towers_near(HUBS, 10, 5.0, np.random.default_rng(3))
    assert first == again


def test_imported_backbone_with_towers_attaches_every_tower() -> None:
    nodes, _ = zoo(DATA / "Geant2012.graphml")
    sites = ocid(radio=["LTE"], mcc=214)
    towers, links = attach_towers(sites, nodes, 1000.0)
    assert len(towers) == len(links) == 47
    assert {link.b for link in links} <= {n.id for n in nodes if not math.isnan(n.lat)}
    # Spain's towers all go to GEANT's node in Spain: id 25, label ES, at Madrid (40.42, -3.70)
    assert {link.b for link in links} == {"geant-25"}

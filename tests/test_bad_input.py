"""Bad input: every malformed scenario gets exit status 2, one line per problem naming the file,
the key path and what is wrong, no traceback, and nothing written.

Each test starts from the reference example (tests/data/contract-example.yaml), breaks one thing,
writes it to ``metro.yaml`` and runs ``telcotwin run metro.yaml --out <tmp>/out``. The expected
lines are the issue's format, ``metro.yaml: network.links[3].b: unknown node 't-99'``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLE
from tests.test_topology_import import write_graphml
from twin.cli import main

EXIT_BAD_INPUT = 2


def _write(tmp_path: Path, raw: Any) -> Path:
    path = tmp_path / "metro.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: Path,
    *extra: str,
    command: str = "run",
) -> list[str]:
    """Run the CLI on ``path``, check the bad-input contract, and return the stderr lines."""
    before = sorted(os.listdir(tmp_path))
    argv = [command, str(path), *extra]
    if command == "run":
        argv += ["--out", str(tmp_path / "out")]
    status = main(argv)
    captured = capsys.readouterr()
    assert status == EXIT_BAD_INPUT
    assert "Traceback" not in captured.out + captured.err
    assert captured.out == ""
    # Nothing written: no run directory, and no hidden ``.out.*.partial`` left behind.
    assert sorted(os.listdir(tmp_path)) == before
    return captured.err.splitlines()


# --- YAML and the shape of the file ---------------------------------------------------------


def test_yaml_syntax_error_names_line_and_column(tmp_path, capsys):
    text = EXAMPLE.read_text().replace("  count: 6000\n", "  count: 6000: x\n")
    line = text.splitlines().index("  count: 6000: x") + 1  # line 49 of the example
    path = tmp_path / "metro.yaml"
    path.write_text(text, encoding="utf-8")
    # pyyaml marks the second colon, column 14 of "  count: 6000: x"
    assert _refused(tmp_path, capsys, path) == [
        f"metro.yaml: line {line}, column 14: "
        "YAML syntax error: mapping values are not allowed here"
    ]


def test_missing_file_is_named(tmp_path, capsys):
    path = tmp_path / "metro.yaml"
    assert _refused(tmp_path, capsys, path) == [f"{path}: no such file"]


def test_yaml_list_is_not_a_scenario(tmp_path, capsys, example_raw):
    path = _write(tmp_path, [example_raw])
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: a scenario is a YAML mapping of keys to values"
    ]


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!timestamp"])
def test_explicit_tag_on_a_value_it_cannot_hold_names_line_and_column(tmp_path, capsys, tag):
    text = EXAMPLE.read_text().replace("  count: 6000\n", f"  count: {tag} many\n")
    line = text.splitlines().index(f"  count: {tag} many") + 1
    path = tmp_path / "metro.yaml"
    path.write_text(text, encoding="utf-8")
    # the value starts in column 10, after "  count: "
    assert _refused(tmp_path, capsys, path) == [
        f"metro.yaml: line {line}, column 10: YAML syntax error: 'many' is not a valid {tag}"
    ]


# --- schema: keys and types -------------------------------------------------------------------


def test_unknown_key_is_named_by_its_path(tmp_path, capsys, example_raw):
    example_raw["network"]["links"][3]["bandwidth_mbps"] = 1000
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.links[3].bandwidth_mbps: unknown key"
    ]


def test_missing_required_key_is_named(tmp_path, capsys, example_raw):
    del example_raw["network"]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == ["metro.yaml: network: required key is missing"]


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        (
            "subscribers",
            "count",
            "many",
            "metro.yaml: subscribers.count: Input should be a valid integer",
        ),
        ("network", "nodes", "core-1", "metro.yaml: network.nodes: Input should be a valid list"),
    ],
)
def test_wrong_type_is_refused(tmp_path, capsys, example_raw, section, key, value, expected):
    example_raw[section][key] = value
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [expected]


def test_boolean_is_not_a_count(tmp_path, capsys, example_raw):
    # YAML reads `count: yes` as a boolean; it must not silently become 1 subscriber.
    example_raw["subscribers"]["count"] = True
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path)
    assert len(lines) == 1
    assert lines[0].startswith("metro.yaml: subscribers.count: ")


@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (
            ("network", "links", 0, "capacity_mbps"),
            0,
            "metro.yaml: network.links[0].capacity_mbps: Input should be greater than 0",
        ),
        (
            ("network", "defaults", "voice_channels"),
            -5,
            "metro.yaml: network.defaults.voice_channels: "
            "Input should be greater than or equal to 1",
        ),
        (
            ("network", "nodes", 3, "cells"),
            0,
            "metro.yaml: network.nodes[3].cells: Input should be greater than or equal to 1",
        ),
        (
            ("network", "nodes", 10, "data_mbps"),
            -300,
            "metro.yaml: network.nodes[10].data_mbps: Input should be greater than 0",
        ),
    ],
)
def test_zero_or_negative_capacity_is_refused(
    tmp_path, capsys, example_raw, where, value, expected
):
    target = example_raw
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [expected]


@pytest.mark.parametrize(
    ("key", "shares", "expected"),
    [
        (
            "products",
            {"mobile-s": 0.7, "mobile-l": 0.2},
            "metro.yaml: subscribers.products: shares must sum to 1, they sum to 0.9",
        ),
        (
            "placement",
            {"t-n1": 0.5, "t-n2": 0.4},
            "metro.yaml: subscribers.placement: shares must sum to 1, they sum to 0.9",
        ),
    ],
)
def test_shares_that_do_not_sum_to_one_are_refused(
    tmp_path, capsys, example_raw, key, shares, expected
):
    example_raw["subscribers"][key] = shares
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [expected]


def test_placement_share_above_one_is_named_by_its_key_path(tmp_path, capsys, example_raw):
    example_raw["subscribers"]["placement"] = {"t-n1": 2.0}
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path)
    # The key path is the scenario's, without pydantic's union branch names
    # (`literal['uniform','by_capacity']`, `dict[constrained-str,constrained-float]`).
    assert lines
    for line in lines:
        assert line.startswith(
            ("metro.yaml: subscribers.placement: ", "metro.yaml: subscribers.placement.t-n1: ")
        ), line


def test_money_as_a_float_is_refused(tmp_path, capsys, example_raw):
    example_raw["catalog"]["products"][0]["monthly_fee"] = 15.0  # unquoted: a binary float
    path = _write(tmp_path, example_raw)
    assert "monthly_fee: 15.0\n" in path.read_text()
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: catalog.products[0].monthly_fee: "
        'money is a quoted decimal string like "15.00", not 15.0'
    ]


def test_duration_without_unit_is_refused(tmp_path, capsys, example_raw):
    example_raw["events"][0]["at"] = 90
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: events[0].at: "
        "a duration is a string like '90s', '15m', '2h30m' or '2d', not 90"
    ]


def test_start_without_utc_zone_is_refused(tmp_path, capsys, example_raw):
    example_raw["start"] = "2027-03-01T00:00:00"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: start: '2027-03-01T00:00:00' must be in UTC (end it with Z)"
    ]


def test_daily_profile_needs_24_values(tmp_path, capsys, example_raw):
    example_raw["traffic"]["daily_profile"] = example_raw["traffic"]["daily_profile"][:23]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: traffic.daily_profile: needs 24 values, one per hour, got 23"
    ]


@pytest.mark.parametrize("value", [2**64, float("inf")], ids=["huge", "infinite"])
def test_unbounded_daily_profile_value_is_refused(tmp_path, capsys, example_raw, value):
    example_raw["traffic"]["daily_profile"][19] = value
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path)
    assert len(lines) == 1
    assert lines[0].startswith("metro.yaml: traffic.daily_profile[19]: ")


def test_huge_max_subscribers_is_refused(tmp_path, capsys, example_raw):
    example_raw["network"]["defaults"]["max_subscribers"] = 2**64
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path)
    assert len(lines) == 1
    assert lines[0].startswith("metro.yaml: network.defaults.max_subscribers: ")


# The limits are the schema's (sim/scenario.py, shown by `telcotwin schema`): a cell at most
# 100 Gbps, a link 10 Tbps and 10 s of latency, a data session 100 GB.
@pytest.mark.parametrize(
    ("where", "value", "expected"),
    [
        (
            ("network", "defaults", "data_mbps"),
            1e308,
            "metro.yaml: network.defaults.data_mbps: Input should be less than or equal to 100000",
        ),
        (
            ("network", "links", 0, "capacity_mbps"),
            1e308,
            "metro.yaml: network.links[0].capacity_mbps: "
            "Input should be less than or equal to 10000000",
        ),
        (
            ("network", "links", 0, "latency_ms"),
            1e308,
            "metro.yaml: network.links[0].latency_ms: Input should be less than or equal to 10000",
        ),
        (
            ("traffic", "data", "mean_volume_mb"),
            1e308,
            "metro.yaml: traffic.data.mean_volume_mb: Input should be less than or equal to 100000",
        ),
        (
            ("traffic", "voice", "mean_duration"),
            "2d",
            "metro.yaml: traffic.voice.mean_duration: must be at most 1d",
        ),
        (
            ("faults", "random", "tower"),
            {"mtbf": "400000d", "mttr": "4h"},
            "metro.yaml: faults.random.tower: mtbf must be at most 365250d (1,000 years) "
            "and mttr at most 365d",
        ),
    ],
    ids=["cell-mbps", "link-mbps", "latency", "session-mb", "call-duration", "mtbf"],
)
def test_value_beyond_what_a_real_network_has_is_refused(
    tmp_path, capsys, example_raw, where, value, expected
):
    target = example_raw
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [expected]


def test_set_of_a_capacity_near_the_largest_float_is_one_line(tmp_path, capsys, example_raw):
    # The report: 1.0e+308 Mbps overflowed to inf * 0 = NaN in the PM counters, and the
    # store refused the NaN with exit status 1.
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path, "--set", "network.defaults.data_mbps=1.0e+308") == [
        "metro.yaml: network.defaults.data_mbps: Input should be less than or equal to 100000"
    ]


def test_traffic_grown_past_a_billion_attempts_in_an_hour_is_refused(tmp_path, capsys, example_raw):
    # 6000 subscribers x (1.0 calls + 2.0 sessions) x growth (1 + 100) ** (1825 d / 365.25 d)
    # = 6000 x 3.0 x 1.0345e10 = 186,217,271,062,914 in the last busy hour (the profile is
    # normalised: its peak is 1)
    example_raw["duration"] = "1825d"
    example_raw["traffic"]["growth_per_year"] = 100
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path, command="validate") == [
        "metro.yaml: traffic: about 186,217,271,062,914 call attempts and data sessions in the "
        "busiest hour (subscribers x (busy_hour_calls + busy_hour_sessions) x growth over the "
        "run); more than 1,000,000,000 is surely a mistake"
    ]


def test_pm_interval_must_divide_an_hour(tmp_path, capsys, example_raw):
    example_raw["pm_interval"] = "7m"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: pm_interval: "
        "must be whole minutes dividing one hour evenly (1m, 5m, 15m, 30m, 1h), so hours are whole"
    ]


# --- references: ids and the network --------------------------------------------------------


def test_duplicate_node_id_names_the_repeated_entry(tmp_path, capsys, example_raw):
    nodes = example_raw["network"]["nodes"]
    nodes.append(dict(nodes[3]))  # a second t-n1, as nodes[11]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.nodes[11].id: duplicate id 't-n1'"
    ]


def test_duplicate_link_id_names_the_repeated_entry(tmp_path, capsys, example_raw):
    links = example_raw["network"]["links"]
    links.append(dict(links[3]))  # a second l-n1, as links[11]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.links[11].id: duplicate id 'l-n1'"
    ]


def test_duplicate_product_id_names_the_repeated_entry(tmp_path, capsys, example_raw):
    products = example_raw["catalog"]["products"]
    products.append(dict(products[0]))  # a second mobile-s, as products[2]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: catalog.products[2].id: duplicate id 'mobile-s'"
    ]


def test_link_to_unknown_node_is_refused(tmp_path, capsys, example_raw):
    example_raw["network"]["links"][3]["b"] = "t-99"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.links[3].b: unknown node 't-99'"
    ]


def test_tower_with_no_path_to_a_core_is_refused(tmp_path, capsys, example_raw):
    del example_raw["network"]["links"][3]  # l-n1, t-n1's only link
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.nodes[3]: tower 't-n1' has no path to a core"
    ]


def test_network_problem_writes_nothing_with_the_default_out(
    tmp_path, capsys, example_raw, monkeypatch
):
    # Without --out the run directory is runs/<name>-seed<seed>: not even runs/ may be created.
    del example_raw["network"]["links"][3]
    path = _write(tmp_path, example_raw)
    monkeypatch.chdir(tmp_path)
    status = main(["run", "metro.yaml"])
    captured = capsys.readouterr()
    assert status == EXIT_BAD_INPUT
    assert captured.err.splitlines() == [
        "metro.yaml: network.nodes[3]: tower 't-n1' has no path to a core"
    ]
    assert sorted(os.listdir(tmp_path)) == [path.name]


# --- imported networks -----------------------------------------------------------------------


def _on_graphml(example_raw: dict[str, Any], **zoo: Any) -> dict[str, Any]:
    """The reference scenario on the transport network in ``net.graphml`` beside it, with three
    towers scattered around its nodes and no events (they name the example's own nodes)."""
    example_raw["network"] = {
        "topology_zoo": {"graphml": "net.graphml", **zoo},
        "towers_near_transport": {"count": 3, "radius_km": 5},
    }
    example_raw["events"] = []
    return example_raw


def test_graphml_problems_give_one_line_each_naming_file_node_and_link(
    tmp_path, capsys, example_raw
):
    write_graphml(
        tmp_path / "net.graphml",
        [
            ("0", {"label": "Frankfurt", "Latitude": 50.1, "Longitude": 8.7}),
            ("1", {"label": "Kassel", "Latitude": 1000.0, "Longitude": 9.5}),
            ("2", {"label": "Berlin", "Latitude": 52.5, "Longitude": 13.4}),
        ],
        [("0", "1", {"LinkSpeedRaw": 1e9}), ("1", "2", {"LinkSpeedRaw": -1e10})],
    )
    path = _write(tmp_path, _on_graphml(example_raw))
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.topology_zoo.graphml: net.graphml: node 1 (Kassel): "
        "Latitude 1000 is not between -90 and 90",
        "metro.yaml: network.topology_zoo.graphml: net.graphml: link test-net-l-1-2-0 "
        "(Kassel - Berlin): LinkSpeedRaw -1e+10 is not a link speed; give bits per second above "
        "0 and at most 1e+13 (10 Tbps), or leave it out for capacity_mbps",
    ]


def test_graphml_node_id_given_twice_is_one_line_not_an_unknown_core(tmp_path, capsys, example_raw):
    write_graphml(
        tmp_path / "net.graphml",
        [
            ("0", {"label": "New York", "Latitude": 40.7, "Longitude": -74.0}),
            ("1", {"label": "Chicago", "Latitude": 41.9, "Longitude": -87.6}),
            ("0", {"label": "Boston", "Latitude": 42.4, "Longitude": -71.1}),
        ],
        [("0", "1")],
    )
    path = _write(tmp_path, _on_graphml(example_raw, cores=["New York"]))
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.topology_zoo.graphml: net.graphml: node id '0' appears 2 times "
        "(New York, Boston); each node needs its own id"
    ]


def test_core_label_of_several_nodes_is_refused_with_their_ids(tmp_path, capsys, example_raw):
    # `cores: [Columbus]` made all four nodes of that name cores without a word
    write_graphml(
        tmp_path / "net.graphml",
        [
            (gid, {"label": "Columbus", "Latitude": 39.9 + i / 10, "Longitude": -83.0})
            for i, gid in enumerate(["0", "1", "2", "3"])
        ],
        [("0", "1"), ("1", "2"), ("2", "3")],
    )
    path = _write(tmp_path, _on_graphml(example_raw, cores=["Columbus"]))
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.topology_zoo.cores[0]: 'Columbus' matches 4 nodes in net.graphml: "
        "test-net-0, test-net-1, test-net-2, test-net-3; name one by id, or set cores_match: all"
    ]


# --- events ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "key", "value", "expected"),
    [
        (3, "target", "l-nope", "metro.yaml: events[3].target: unknown node or link 'l-nope'"),
        (
            2,
            "targets",
            ["t-s1", "t-x"],
            "metro.yaml: events[2].targets[1]: unknown tower or cell 't-x'",
        ),
        (1, "tower", "t-x", "metro.yaml: events[1].tower: unknown tower 't-x'"),
        (0, "product", "mobile-xl", "metro.yaml: events[0].product: unknown product 'mobile-xl'"),
        # t-n3 has a single cell, so t-n3/2 does not exist; cell ids are valid surge targets.
        (
            2,
            "targets",
            ["t-n3/2"],
            "metro.yaml: events[2].targets[0]: unknown tower or cell 't-n3/2'",
        ),
    ],
    ids=["fail-link", "surge-tower", "order-tower", "product", "surge-cell"],
)
def test_event_aimed_at_unknown_resource_is_refused(
    tmp_path, capsys, example_raw, index, key, value, expected
):
    example_raw["events"][index][key] = value
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [expected]


def test_placement_on_unknown_tower_is_refused(tmp_path, capsys, example_raw):
    example_raw["subscribers"]["placement"] = {"t-n1": 0.5, "t-99": 0.5}
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: subscribers.placement.t-99: unknown tower 't-99'"
    ]


def test_event_past_the_end_is_refused(tmp_path, capsys, example_raw):
    example_raw["events"][4]["at"] = "3d"  # the run lasts 2d
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: events[4].at: 3d is past the end of the run (2d); an event must come before it"
    ]


def test_event_at_the_very_end_is_refused(tmp_path, capsys, example_raw):
    # it would never happen: the run stops at 2d
    example_raw["events"][4]["at"] = "2d"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: events[4].at: 2d is at the end of the run (2d); an event must come before it"
    ]


# --- several problems, --set, validate --------------------------------------------------------


def test_several_schema_problems_give_one_line_each(tmp_path, capsys, example_raw):
    example_raw["subscribers"]["count"] = -1
    example_raw["network"]["links"][0]["capacity_mbps"] = 0
    example_raw["colour"] = "red"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.links[0].capacity_mbps: Input should be greater than 0",
        "metro.yaml: subscribers.count: Input should be greater than or equal to 0",
        "metro.yaml: colour: unknown key",
    ]


def test_several_reference_problems_give_one_line_each(tmp_path, capsys, example_raw):
    example_raw["network"]["links"][3]["b"] = "t-99"
    example_raw["events"][4]["at"] = "3d"
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        "metro.yaml: network.links[3].b: unknown node 't-99'",
        "metro.yaml: events[4].at: 3d is past the end of the run (2d); "
        "an event must come before it",
    ]


def test_towers_cut_off_together_give_one_line_each(tmp_path, capsys, example_raw):
    # Cutting agg-n from the core and the ring strands its four towers t-n1..t-n4.
    links = example_raw["network"]["links"]
    example_raw["network"]["links"] = [
        link for link in links if link["id"] not in ("l-agg-n-core", "l-agg-ring")
    ]
    example_raw["events"] = [e for e in example_raw["events"] if e.get("target") != "l-agg-n-core"]
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path) == [
        f"metro.yaml: network.nodes[{i}]: tower 't-n{i - 2}' has no path to a core"
        for i in range(3, 7)
    ]


def test_a_problem_is_one_line_even_when_the_key_holds_a_newline(tmp_path, capsys, example_raw):
    example_raw["network"]["a\nb"] = 1
    path = _write(tmp_path, example_raw)
    lines = _refused(tmp_path, capsys, path)
    assert len(lines) == 1
    assert lines[0].startswith("metro.yaml: network.") and lines[0].endswith(": unknown key")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "subscriber.count=1000",
            "metro.yaml: subscriber.count: --set names a key path that is not in the scenario",
        ),
        (
            "network.nodes[30].cells=1",
            "metro.yaml: network.nodes[30].cells: "
            "--set names a key path that is not in the scenario",
        ),
        ("subscribers.count", "metro.yaml: --set: 'subscribers.count' is not key=value"),
    ],
)
def test_set_with_unknown_key_path_is_refused(tmp_path, capsys, example_raw, override, expected):
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path, "--set", override) == [expected]


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (
            lambda raw: raw["network"]["links"][3].update(b="t-99"),
            ["metro.yaml: network.links[3].b: unknown node 't-99'"],
        ),
        (
            lambda raw: raw["network"]["links"].pop(3),
            ["metro.yaml: network.nodes[3]: tower 't-n1' has no path to a core"],
        ),
        (
            lambda raw: raw["events"][3].update(target="l-nope"),
            ["metro.yaml: events[3].target: unknown node or link 'l-nope'"],
        ),
    ],
    ids=["reference", "network", "event"],
)
def test_validate_refuses_with_the_same_lines_as_run(
    tmp_path, capsys, example_raw, break_it, expected
):
    break_it(example_raw)
    path = _write(tmp_path, example_raw)
    assert _refused(tmp_path, capsys, path, command="validate") == expected
    assert _refused(tmp_path, capsys, path, command="run") == expected


def test_unknown_event_action_lists_the_known_ones(tmp_path, capsys, example_raw):
    example_raw["events"][0]["action"] = "explode"
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [
        "metro.yaml: events[0]: unknown action; use one of 'fail', 'flap', 'maintenance', "
        "'surge', 'sleep', 'degrade', 'order', 'price_change'"
    ]


def test_random_faults_that_would_make_millions_of_outages_are_refused(
    tmp_path, capsys, example_raw
):
    # 8 towers x 1800 d / (1 min + 1 s) = 8 x 155,520,000 s / 61 s = 20,396,066 outages
    example_raw["duration"] = "1800d"
    example_raw["events"] = []
    example_raw["faults"]["random"]["tower"] = {"mtbf": "1m", "mttr": "1s"}
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [
        "metro.yaml: faults.random.tower: about 20,396,066 outages over the run (8 x duration "
        "/ (mtbf + mttr)); more than 1,000,000 is surely a mistake"
    ]


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        (
            "usage_interval",
            "100.3s",
            "metro.yaml: usage_interval: must be whole seconds, at least 1m",
        ),
        (
            "start",
            "2027-03-01T00:00:00.5Z",
            "metro.yaml: start: must be a whole second (PM intervals are counted on the clock)",
        ),
    ],
)
def test_fractional_seconds_where_boundaries_must_be_exact(
    tmp_path, capsys, example_raw, key, value, line
):
    example_raw[key] = value
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [line]


def test_a_rejected_run_creates_no_store_file(tmp_path, capsys, example_raw):
    example_raw["events"][3]["target"] = "nope"
    path = _write(tmp_path, example_raw)
    store = f"sqlite:///{tmp_path / 'new.sqlite'}"
    assert _refused(tmp_path, capsys, path, "--store", store) == [
        "metro.yaml: events[3].target: unknown node or link 'nope'"
    ]


# --- flaps, maintenance and notifications (issue 6) ---------------------------------------------


_FLAP = {"at": "5h", "action": "flap", "target": "l-n1", "count": 3, "period": "10m"}
_MAINTENANCE = {"at": "5h", "action": "maintenance", "target": "t-s2", "duration": "2h"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {**_FLAP, "target": "l-nope"},
            "metro.yaml: events[7].target: unknown node or link 'l-nope'",
        ),
        (
            {**_MAINTENANCE, "target": "t-nope"},
            "metro.yaml: events[7].target: unknown node or link 't-nope'",
        ),
        (
            {**_FLAP, "count": 0},
            "metro.yaml: events[7].count: Input should be greater than or equal to 1",
        ),
        (
            {**_FLAP, "count": 1_000_000},
            "metro.yaml: events[7].count: Input should be less than or equal to 10000",
        ),
        (
            {**_FLAP, "period": "1s"},
            "metro.yaml: events[7]: period must be at least 2s and at most 1d",
        ),
        (
            {**_FLAP, "period": "30d"},
            "metro.yaml: events[7]: period must be at least 2s and at most 1d",
        ),
        (
            {**_FLAP, "down": "10m"},
            "metro.yaml: events[7]: down must be longer than 0s and shorter than period",
        ),
        (
            {**_MAINTENANCE, "duration": "0s"},
            "metro.yaml: events[7].duration: must be longer than 0s and at most 30d",
        ),
        (
            # 47h + 2h = 49h, past the 2d (48h) run
            {**_MAINTENANCE, "at": "47h"},
            "metro.yaml: events[7].duration: the window ends at 2d1h, past the end of the run "
            "(2d); planned work is booked to finish within it",
        ),
    ],
    ids=[
        "flap-target",
        "maintenance-target",
        "no-flaps",
        "a-million-flaps",
        "period-too-short",
        "period-too-long",
        "down-a-whole-period",
        "empty-window",
        "window-past-the-end",
    ],
)
def test_bad_flap_and_maintenance_events_are_refused(
    tmp_path, capsys, example_raw, event, expected
):
    example_raw["events"].append(event)
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [expected]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("duplicate_rate", -0.1, "duplicate_rate: Input should be greater than or equal to 0"),
        ("lost_clear_rate", 1.5, "lost_clear_rate: Input should be less than or equal to 1"),
        (
            "lost_dying_gasp_rate",
            2,
            "lost_dying_gasp_rate: Input should be less than or equal to 1",
        ),
        ("mean_delay", "2h", "mean_delay: must be at most 1h"),
        (
            "mean_delay",
            "-5s",
            "mean_delay: '-5s' is not a duration like '90s', '15m', '2h30m' or '2d'",
        ),
        ("heartbeat_timeout", "0s", "heartbeat_timeout: must be longer than 0s and at most 1h"),
        ("heartbeat_timeout", "1d", "heartbeat_timeout: must be longer than 0s and at most 1h"),
    ],
)
def test_absurd_notification_settings_are_refused(
    tmp_path, capsys, example_raw, key, value, expected
):
    example_raw["faults"]["notifications"] = {key: value}
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [
        f"metro.yaml: faults.notifications.{expected}"
    ]


# --- sleeping and degraded cells (issue 7) ------------------------------------------------------


_SLEEP = {"at": "5h", "action": "sleep", "target": "t-s2", "duration": "2h"}
_DEGRADE = {"at": "5h", "action": "degrade", "target": "l-n1", "factor": 0.5, "duration": "2h"}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {**_SLEEP, "target": "l-n1"},
            "metro.yaml: events[7].target: 'l-n1' is a link: only a cell or a tower can sleep",
        ),
        (
            {**_SLEEP, "target": "t-s2/9"},
            "metro.yaml: events[7].target: unknown cell or tower 't-s2/9'",
        ),
        (
            {**_DEGRADE, "target": "l-nope"},
            "metro.yaml: events[7].target: unknown cell, tower or link 'l-nope'",
        ),
        (
            {**_DEGRADE, "factor": 0},
            "metro.yaml: events[7].factor: Input should be greater than 0",
        ),
        (
            {**_DEGRADE, "factor": 1.5},
            "metro.yaml: events[7].factor: Input should be less than or equal to 1",
        ),
        (
            # 47h + 2h = 49h, past the 2d (48h) run
            {**_SLEEP, "at": "47h"},
            "metro.yaml: events[7].duration: the window ends at 2d1h, past the end of the run "
            "(2d); an injected anomaly must end within it, so that it is scored whole",
        ),
        (
            {**_DEGRADE, "at": "47h"},
            "metro.yaml: events[7].duration: the window ends at 2d1h, past the end of the run "
            "(2d); an injected anomaly must end within it, so that it is scored whole",
        ),
        (
            {**_SLEEP, "duration": "0s"},
            "metro.yaml: events[7].duration: must be longer than 0s and at most 30d",
        ),
    ],
    ids=[
        "sleep-on-a-link",
        "sleep-unknown-cell",
        "degrade-unknown-target",
        "factor-zero",
        "factor-above-one",
        "sleep-past-the-end",
        "degrade-past-the-end",
        "empty-sleep",
    ],
)
def test_bad_sleep_and_degrade_events_are_refused(tmp_path, capsys, example_raw, event, expected):
    example_raw["events"].append(event)
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [expected]


_RULE = {"kpi": "LinkUtilization", "scope": "link", "trigger": 0.8, "rearm": 0.7}
_RULE_PATH = "metro.yaml: twin.thresholds.rules[0]"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            {**_RULE, "kpi": "LinkLoad"},
            f"{_RULE_PATH}.kpi: unknown KPI 'LinkLoad'; known: ERAB.EstabInitAttNbr.QCI1, "
            "ERAB.EstabInitSuccNbr.QCI1, VoiceBlockingRate, VoiceFailureRate, VoiceDropRate, "
            "VoiceCarriedErlangs, DRB.PdcpSduVolumeDL, DataThroughput, DataUtilization, "
            "RRU.CellUnavailableTime, CellAvailability, LinkVolume, LinkThroughput, "
            "LinkUtilization, LinkUnavailableTime, LinkAvailability",
        ),
        (
            {**_RULE, "scope": "site"},
            f"{_RULE_PATH}.scope: Input should be 'cell', 'tower', 'link' or 'network'",
        ),
        (
            {**_RULE, "scope": "cell"},
            f"{_RULE_PATH}.scope: 'LinkUtilization' is a link KPI: use scope link",
        ),
        (
            {**_RULE, "rearm": 0.9},
            f"{_RULE_PATH}.rearm: 0.9 is above trigger 0.8: a high threshold re-arms at or "
            "below its trigger",
        ),
        (
            {
                "kpi": "CellAvailability",
                "scope": "cell",
                "direction": "low",
                "trigger": 0.9,
                "rearm": 0.5,
            },
            f"{_RULE_PATH}.rearm: 0.5 is below trigger 0.9: a low threshold re-arms at or "
            "above its trigger",
        ),
        (
            {**_RULE, "trigger_count": 0},
            f"{_RULE_PATH}.trigger_count: Input should be greater than or equal to 1",
        ),
        (
            {**_RULE, "trigger_count": -2},
            f"{_RULE_PATH}.trigger_count: Input should be greater than or equal to 1",
        ),
    ],
    ids=[
        "unknown-kpi",
        "unknown-scope",
        "kpi-of-another-scope",
        "rearm-above-a-high-trigger",
        "rearm-below-a-low-trigger",
        "zero-trigger-count",
        "negative-trigger-count",
    ],
)
def test_bad_thresholds_are_refused(tmp_path, capsys, example_raw, rule, expected):
    example_raw["twin"]["thresholds"]["rules"] = [rule]
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [expected]


def test_a_shorthand_threshold_above_one_is_refused(tmp_path, capsys, example_raw):
    example_raw["twin"]["thresholds"]["link_utilization"] = 1.5
    assert _refused(tmp_path, capsys, _write(tmp_path, example_raw)) == [
        "metro.yaml: twin.thresholds.link_utilization: Input should be less than or equal to 1"
    ]

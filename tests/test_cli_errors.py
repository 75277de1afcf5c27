"""Bad input: exit status 2, one line per problem naming the file, the key path and what is
wrong, no traceback, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from twin.cli import main


def _write(tmp_path: Path, raw, name: str = "metro.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False) if not isinstance(raw, str) else raw)
    return path


def _run_bad(tmp_path: Path, capsys, raw) -> list[str]:
    path = _write(tmp_path, raw)
    out = tmp_path / "out"
    status = main(["run", str(path), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == 2
    assert "Traceback" not in captured.err + captured.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metro.yaml"], "nothing written"
    return captured.err.splitlines()


def test_yaml_syntax_error_names_line_and_column(tmp_path, capsys):
    lines = _run_bad(tmp_path, capsys, "name: x\nnetwork: {nodes: [\n")
    assert len(lines) == 1
    assert lines[0].startswith("metro.yaml: line 3, column 1: YAML syntax error:")


def test_unknown_key_is_named_by_its_path(tmp_path, capsys, example_raw):
    example_raw["network"]["nodes"][2]["colour"] = "red"
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: network.nodes[2].colour: unknown key"
    ]


def test_wrong_type_is_named(tmp_path, capsys, example_raw):
    example_raw["subscribers"]["count"] = "many"
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: subscribers.count: Input should be a valid integer, unable to parse string "
        "as an integer"
    ]


@pytest.mark.parametrize(
    ("path", "value", "line"),
    [
        (
            ("network", "links", 3, "capacity_mbps"),
            0,
            "metro.yaml: network.links[3].capacity_mbps: Input should be greater than 0",
        ),
        (
            ("network", "defaults", "voice_channels"),
            -4,
            "metro.yaml: network.defaults.voice_channels: "
            "Input should be greater than or equal to 1",
        ),
        (
            ("network", "nodes", 4, "data_mbps"),
            -150,
            "metro.yaml: network.nodes[4].data_mbps: Input should be greater than 0",
        ),
    ],
)
def test_zero_or_negative_capacities_are_refused(tmp_path, capsys, example_raw, path, value, line):
    target = example_raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert _run_bad(tmp_path, capsys, example_raw) == [line]


def test_shares_that_do_not_sum_to_one(tmp_path, capsys, example_raw):
    example_raw["subscribers"]["products"] = {"mobile-s": 0.7, "mobile-l": 0.4}
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: subscribers.products: shares must sum to 1, they sum to 1.1"
    ]


def test_duplicate_ids(tmp_path, capsys, example_raw):
    example_raw["network"]["nodes"][5]["id"] = "t-n1"  # was t-n3, which l-n3 still names
    example_raw["network"]["links"][9]["id"] = "l-s1"
    example_raw["catalog"]["products"].append(example_raw["catalog"]["products"][0])
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: network.nodes[5].id: duplicate id 't-n1'",
        "metro.yaml: network.links[9].id: duplicate id 'l-s1'",
        "metro.yaml: network.links[5].a: unknown node 't-n3'",
        "metro.yaml: catalog.products[2].id: duplicate id 'mobile-s'",
    ]


def test_link_to_an_unknown_node(tmp_path, capsys, example_raw):
    example_raw["network"]["links"][3]["b"] = "t-99"
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: network.links[3].b: unknown node 't-99'"
    ]


def test_tower_with_no_path_to_a_core(tmp_path, capsys, example_raw):
    example_raw["network"]["links"] = [
        link for link in example_raw["network"]["links"] if link["id"] != "l-s4"
    ]
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: network.nodes[10]: tower 't-s4' has no path to a core"
    ]


def test_events_aimed_at_unknown_resources(tmp_path, capsys, example_raw):
    example_raw["events"][3]["target"] = "l-nowhere"
    example_raw["events"][2]["targets"] = ["t-s1", "t-zz/1"]
    example_raw["events"][1]["tower"] = "t-x"
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: events[1].tower: unknown tower 't-x'",
        "metro.yaml: events[2].targets[1]: unknown tower or cell 't-zz/1'",
        "metro.yaml: events[3].target: unknown node or link 'l-nowhere'",
    ]


def test_events_past_the_end(tmp_path, capsys, example_raw):
    example_raw["events"][4]["at"] = "3d"
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: events[4].at: 3d is past the end of the run (2d)"
    ]


def test_several_problems_give_several_lines(tmp_path, capsys, example_raw):
    example_raw["seed"] = -1
    example_raw["pm_interval"] = "7m"
    example_raw["traffic"]["daily_profile"] = [1.0] * 23
    example_raw["catalog"]["products"][0]["monthly_fee"] = 15.0
    example_raw["start"] = "2027-03-01T00:00:00"
    lines = _run_bad(tmp_path, capsys, example_raw)
    assert lines == [
        "metro.yaml: seed: Input should be greater than or equal to 0",
        "metro.yaml: start: '2027-03-01T00:00:00' must be in UTC (end it with Z)",
        "metro.yaml: pm_interval: must divide one hour evenly (5m, 15m, 30m, 1h ...) so hours "
        "are whole",
        "metro.yaml: traffic.daily_profile: needs 24 values, one per hour, got 23",
        "metro.yaml: catalog.products[0].monthly_fee: money is a quoted decimal string like "
        '"15.00", not 15.0',
    ]


def test_duration_without_a_unit(tmp_path, capsys, example_raw):
    example_raw["events"][0]["at"] = 90
    assert _run_bad(tmp_path, capsys, example_raw) == [
        "metro.yaml: events[0].at: a duration is a string like '90s', '15m', '2h30m' or '2d', "
        "not 90"
    ]


def test_unknown_event_action(tmp_path, capsys, example_raw):
    example_raw["events"][0]["action"] = "explode"
    lines = _run_bad(tmp_path, capsys, example_raw)
    assert lines == [
        "metro.yaml: events[0]: unknown action; use one of 'fail', 'surge', 'order', 'price_change'"
    ]


def test_a_scenario_that_is_not_a_mapping(tmp_path, capsys):
    assert _run_bad(tmp_path, capsys, "- just\n- a list\n") == [
        "metro.yaml: a scenario is a YAML mapping of keys to values"
    ]


def test_a_missing_file(tmp_path, capsys):
    status = main(["validate", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert status == 2
    assert err == f"{tmp_path / 'nope.yaml'}: no such file\n"


def test_set_with_an_unknown_key_path(tmp_path, capsys, example_raw):
    path = _write(tmp_path, example_raw)
    status = main(
        ["run", str(path), "--out", str(tmp_path / "out"), "--set", "traffic.video.calls=3"]
    )
    assert status == 2
    assert capsys.readouterr().err == (
        "metro.yaml: traffic.video.calls: --set names a key path that is not in the scenario\n"
    )
    assert not (tmp_path / "out").exists()


def test_validate_reports_the_same_lines(tmp_path, capsys, example_raw):
    example_raw["network"]["links"][3]["b"] = "t-99"
    path = _write(tmp_path, example_raw)
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == "metro.yaml: network.links[3].b: unknown node 't-99'\n"

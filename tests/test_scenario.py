"""The scenario format: the reference example, scalar types, overrides and the JSON Schema."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sim.scenario import (
    FailEvent,
    ScenarioError,
    apply_overrides,
    json_schema,
    load_scenario,
    parse_scenario,
    read_yaml,
)
from sim.units import format_duration, parse_duration, parse_money, parse_utc
from tests.conftest import EXAMPLE

SHARED_EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "contract" / "example.yaml"
SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


def test_reference_example_validates_unchanged():
    scenario = load_scenario(EXAMPLE)
    assert scenario.name == "metro-evening-fiber-cut"
    assert scenario.start == datetime(2027, 3, 1, tzinfo=UTC)
    assert scenario.duration == 2 * 86400
    assert scenario.pm_interval == 900
    assert scenario.traffic.voice.mean_duration == 120
    fail = scenario.events[3]
    assert isinstance(fail, FailEvent)
    assert (fail.at, fail.target, fail.repair_after) == (19 * 3600, "l-agg-n-core", 9000)
    assert scenario.catalog is not None
    assert scenario.catalog.products[0].monthly_fee == Decimal("15.00")
    assert scenario.catalog.products[0].overage.voice_minute == Decimal("0.09")


@pytest.mark.skipif(not SHARED_EXAMPLE.exists(), reason="no shared/ beside this checkout")
def test_project_copy_of_the_reference_example_is_the_shared_one():
    assert EXAMPLE.read_bytes() == SHARED_EXAMPLE.read_bytes()


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_every_shipped_scenario_validates(path):
    scenario = load_scenario(path)
    assert scenario.name
    assert path.read_text().startswith("#"), "each scenario opens with a comment on what it shows"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("2h30m", 9000),
        ("2d", 172800),
        ("1d2h3m4s", 93784),
        ("1.5h", 5400),
        ("0s", 0),
    ],
)
def test_durations_are_read_in_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["90", "15 minutes", "2m3h", "1h1h", "", "-5m", "h"])
def test_malformed_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_durations_format_back_compactly():
    assert format_duration(9000) == "2h30m"
    assert format_duration(93784) == "1d2h3m4s"
    assert format_duration(0) == "0s"


def test_money_is_exact_and_floats_are_refused():
    assert parse_money("0.10") + parse_money("0.20") == Decimal("0.30")
    assert parse_money(15) == Decimal(15)
    for bad in (15.10, "fifteen", "NaN", True, None):
        with pytest.raises(ValueError):
            parse_money(bad)


def test_times_must_be_utc():
    assert parse_utc("2027-03-01T00:00:00Z") == datetime(2027, 3, 1, tzinfo=UTC)
    assert parse_utc("2027-03-01T01:00:00+00:00").hour == 1
    for bad in ("2027-03-01T00:00:00", "2027-03-01T00:00:00+01:00", "yesterday", 5):
        with pytest.raises(ValueError):
            parse_utc(bad)


def test_overrides_reach_nested_keys_and_list_items(example_raw):
    apply_overrides(
        example_raw,
        ["subscribers.count=9000", "network.nodes[3].cells=6", "traffic.voice.mean_duration=90s"],
        "metro.yaml",
    )
    scenario = parse_scenario(example_raw, "metro.yaml")
    assert scenario.subscribers.count == 9000
    assert scenario.network.nodes[3].cells == 6
    assert scenario.traffic.voice.mean_duration == 90


# YAML 1.2 core schema, section 10.3.2: 1e3 and .5 are floats, 0o17 octal, 017 decimal 17; PyYAML
# (YAML 1.1) reads 1e3 as a string, 017 as octal 15 and 1_000 and 1:30 (sexagesimal) as numbers.
YAML_1_2_NUMBERS = [
    ("1e3", 1000.0),
    ("1E+3", 1000.0),
    ("1.0e3", 1000.0),
    ("2.5e-3", 0.0025),
    (".5", 0.5),
    ("-.5", -0.5),
    ("+12", 12),
    ("017", 17),
    ("0o17", 15),
    ("0x1F", 31),
    ("-.inf", float("-inf")),
    ("1_000", "1_000"),
    ("1:30", "1:30"),
]


@pytest.mark.parametrize(("text", "value"), YAML_1_2_NUMBERS)
def test_set_reads_numbers_the_way_yaml_1_2_does(text, value):
    raw = apply_overrides({"x": None}, [f"x={text}"], "metro.yaml")
    assert raw["x"] == value
    assert type(raw["x"]) is type(value)


@pytest.mark.parametrize(("text", "value"), YAML_1_2_NUMBERS)
def test_scenario_file_reads_numbers_the_way_yaml_1_2_does(tmp_path, text, value):
    path = tmp_path / "metro.yaml"
    path.write_text(f"x: {text}\n", encoding="utf-8")
    raw = read_yaml(path)
    assert raw["x"] == value
    assert type(raw["x"]) is type(value)


def test_set_data_mbps_in_exponent_notation_is_a_number(example_raw):
    apply_overrides(example_raw, ["network.defaults.data_mbps=1e3"], "metro.yaml")
    assert parse_scenario(example_raw, "metro.yaml").network.defaults.data_mbps == 1000.0


def test_overrides_of_unknown_paths_are_refused(example_raw):
    with pytest.raises(ScenarioError) as error:
        apply_overrides(example_raw, ["network.nodes[99].cells=2", "nonsense"], "metro.yaml")
    assert [str(p) for p in error.value.problems] == [
        "metro.yaml: network.nodes[99].cells: --set names a key path that is not in the scenario",
        "metro.yaml: --set: 'nonsense' is not key=value",
    ]


def test_json_schema_describes_the_format():
    schema = json_schema()
    assert schema["title"] == "Telcotwin scenario"
    assert {"name", "start", "duration", "network", "subscribers", "traffic", "events"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) >= {
        "name",
        "start",
        "duration",
        "network",
        "subscribers",
        "traffic",
    }
    # durations are strings for an editor, not the seconds they become
    assert schema["properties"]["duration"]["type"] == "string"


def _limit(maximum: float) -> str:
    return f"{int(maximum):,}" if maximum == int(maximum) else f"{maximum:g}"


def _bounded_properties(schema: dict) -> list[tuple[str, dict, str]]:
    """Every property of the schema with a numeric maximum above 1 (shares of 1 are fractions
    by name), as (definition.property, property, how its description must state the limit)."""
    found = []
    definitions = {"Scenario": schema, **schema["$defs"]}
    for name, definition in definitions.items():
        for key, prop in definition.get("properties", {}).items():
            for branch in [prop, *prop.get("anyOf", [])]:
                if branch.get("maximum", 0) > 1:
                    found.append((f"{name}.{key}", prop, f"at most {_limit(branch['maximum'])}"))
                if branch.get("exclusiveMaximum", 0) > 1:
                    limit = _limit(branch["exclusiveMaximum"])
                    found.append((f"{name}.{key}", prop, f"below {limit}"))
    return found


def test_every_bounded_number_states_its_limit_in_its_description():
    bounded = _bounded_properties(json_schema())
    # capacities, counts and rates of every section are bounded: at least these
    names = {name for name, _, _ in bounded}
    assert {
        "CellDefaults.data_mbps",
        "Node.data_mbps",
        "Link.capacity_mbps",
        "Link.latency_ms",
        "Generate.tower_link_mbps",
        "TopologyZoo.capacity_mbps",
        "OpenCellId.tower_link_mbps",
        "TowersNearTransport.radius_km",
        "Subscribers.count",
        "Data.mean_volume_mb",
        "Traffic.growth_per_year",
        "SurgeEvent.factor",
    } <= names
    for name, prop, limit in bounded:
        assert limit in prop.get("description", ""), name

"""The telcotwin command: validate, run (an atomic run directory, --force, --seed, --set),
schema, reproducible summaries, and an interrupted run that leaves nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import sim.engine
from tests.conftest import EXAMPLE
from twin.cli import main

RUN_FILES = ["run.json", "scenario.json", "summary.json", "timeseries", "truth.json", "twin.sqlite"]
EXAMPLE_SEED = 20270301  # the seed written in the reference example


@pytest.fixture
def metro(tmp_path: Path) -> Path:
    """The reference example copied to ``metro.yaml`` in the test's directory."""
    path = tmp_path / "metro.yaml"
    path.write_bytes(EXAMPLE.read_bytes())
    return path


def _run(metro: Path, out: Path, *extra: str) -> int:
    return main(["run", str(metro), "--out", str(out), "--quiet", *extra])


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())


# --- validate ---------------------------------------------------------------------------------


def test_validate_prints_a_valid_line_and_returns_0(metro, capsys):
    assert main(["validate", str(metro)]) == 0
    captured = capsys.readouterr()
    # 8 towers: seven with the default 3 cells and t-n3 with 1, so 7 x 3 + 1 = 22 cells.
    assert captured.out == (
        f"{metro}: valid: 8 towers, 22 cells, 11 links, 6000 subscribers, 7 events over 2d\n"
    )
    assert captured.err == ""


def test_validate_writes_nothing(metro, tmp_path):
    assert main(["validate", str(metro)]) == 0
    assert os.listdir(tmp_path) == ["metro.yaml"]


# --- run and its directory --------------------------------------------------------------------


def test_run_writes_summary_store_and_scenario_into_out(metro, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(metro, out) == 0
    assert capsys.readouterr().out == (
        f"wrote {out}/ (summary.json, twin.sqlite, timeseries/, scenario.json, run.json, "
        "truth.json)\n"
    )
    assert sorted(os.listdir(out)) == RUN_FILES
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]  # no partial directory left
    assert _summary(out)["scenario"] == "metro-evening-fiber-cut"
    assert json.loads((out / "scenario.json").read_text())["name"] == "metro-evening-fiber-cut"
    assert (out / "twin.sqlite").read_bytes()[:16] == b"SQLite format 3\x00"


def test_run_builds_in_a_hidden_partial_directory_and_renames_it_when_complete(
    metro, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    seen_while_running: list[list[str]] = []
    simulate = sim.engine.Simulation.run

    def run_and_look(self: sim.engine.Simulation) -> None:
        seen_while_running.append(sorted(os.listdir(tmp_path)))
        simulate(self)

    monkeypatch.setattr(sim.engine.Simulation, "run", run_and_look)
    assert _run(metro, out) == 0
    [during] = seen_while_running
    # the partial folder, and the lock that claims "out" for this run (tests/test_run.py)
    assert during == [".out.lock", ".out.partial", "metro.yaml"]
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]


def test_run_refuses_an_existing_out_and_names_force(metro, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("an earlier run")
    assert _run(metro, out) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        f"{out}: already exists; choose another --out or add --force to replace it\n"
    )
    assert "--force" in captured.err
    assert os.listdir(out) == ["notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]


def test_force_replaces_an_existing_out(metro, tmp_path):
    out = tmp_path / "out"
    assert _run(metro, out) == 0  # an earlier run
    assert _run(metro, out, "--force", "--seed", "3") == 0
    assert _summary(out)["seed"] == 3
    assert sorted(os.listdir(out)) == RUN_FILES
    # neither the retired directory (.out.replaced) nor a partial one is left
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]


# --- --seed and --set ---------------------------------------------------------------------------


def test_seed_changes_the_results_and_is_recorded_in_the_summary(metro, tmp_path):
    assert _run(metro, tmp_path / "default") == 0
    assert _run(metro, tmp_path / "seed7", "--seed", "7") == 0
    default, seed7 = _summary(tmp_path / "default"), _summary(tmp_path / "seed7")
    assert default["seed"] == EXAMPLE_SEED
    assert seed7["seed"] == 7
    assert seed7["voice"] != default["voice"]
    assert seed7["data"] != default["data"]


def test_scenario_json_reruns_to_the_same_summary_after_a_seed_override(metro, tmp_path):
    # scenario.json is "the scenario as run": running it again must give the same summary.
    assert _run(metro, tmp_path / "first", "--seed", "7") == 0
    assert _run(tmp_path / "first" / "scenario.json", tmp_path / "again") == 0
    assert (tmp_path / "again" / "summary.json").read_bytes() == (
        tmp_path / "first" / "summary.json"
    ).read_bytes()


def test_set_subscribers_count_takes_effect(metro, tmp_path):
    out = tmp_path / "out"
    assert _run(metro, out, "--set", "subscribers.count=1000") == 0
    assert _summary(out)["subscribers"] == 1000
    assert json.loads((out / "scenario.json").read_text())["subscribers"]["count"] == 1000


def test_set_cells_of_one_node_by_index(metro, tmp_path):
    out = tmp_path / "out"
    # network.nodes[3] is t-n1, which otherwise has the default 3 cells
    assert _run(metro, out, "--set", "network.nodes[3].cells=1") == 0
    cells = _summary(out)["cells"]
    assert [c for c in cells if c.startswith("t-n1/")] == ["t-n1/1"]
    assert len(cells) == 20  # 22 cells of the example, less t-n1's two


# --- reproducibility and interruption ----------------------------------------------------------


def test_same_scenario_and_seed_give_byte_identical_summaries(metro, tmp_path):
    assert _run(metro, tmp_path / "a") == 0
    assert _run(metro, tmp_path / "b") == 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()


def _interrupt(self: sim.engine.Simulation) -> None:
    raise KeyboardInterrupt


def test_interrupted_run_returns_130_and_leaves_nothing(metro, tmp_path, capsys, monkeypatch):
    # Usage records are cut daily, so the first cut comes one simulated day into the 2-day run.
    monkeypatch.setattr(sim.engine.Simulation, "_close_usage", _interrupt)
    assert _run(metro, tmp_path / "out") == 130
    assert capsys.readouterr().err == "interrupted: nothing written\n"
    assert os.listdir(tmp_path) == ["metro.yaml"]


def test_interrupted_forced_run_keeps_the_previous_run(metro, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(metro, out) == 0
    before = (out / "summary.json").read_bytes()
    monkeypatch.setattr(sim.engine.Simulation, "_close_usage", _interrupt)
    assert _run(metro, out, "--force", "--seed", "7") == 130
    assert (out / "summary.json").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["metro.yaml", "out"]


# --- schema --------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _keys_not_in_schema(
    schema: dict[str, Any], node: dict[str, Any], value: Any, where: str = ""
) -> list[str]:
    """Return the key paths of ``value`` that the JSON Schema ``node`` does not declare."""
    node = _resolve(schema, node)
    for option in node.get("anyOf", []):
        option = _resolve(schema, option)
        if (isinstance(value, dict) and "properties" in option) or (
            isinstance(value, list) and "items" in option
        ):
            node = option
    missing: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        for key, child in value.items():
            path = f"{where}.{key}" if where else key
            if key in node["properties"]:
                missing += _keys_not_in_schema(schema, node["properties"][key], child, path)
            else:
                missing.append(path)
    elif isinstance(value, list) and "items" in node:
        items = node["items"]
        for index, child in enumerate(value):
            item = items
            if "discriminator" in items:  # events: the schema of the event's action
                item = {"$ref": items["discriminator"]["mapping"][child["action"]]}
            missing += _keys_not_in_schema(schema, item, child, f"{where}[{index}]")
    return missing


@pytest.fixture
def schema(capsys) -> dict[str, Any]:
    assert main(["schema"]) == 0
    return json.loads(capsys.readouterr().out)


def test_schema_is_json_schema_with_the_network_section(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert "network" in schema["properties"]
    assert schema["additionalProperties"] is False


def test_schema_declares_every_key_of_the_example(schema, example_raw):
    assert set(example_raw) <= set(schema["properties"])
    assert _keys_not_in_schema(schema, schema, example_raw) == []


def test_schema_key_check_sees_an_undeclared_key(schema, example_raw):
    # The walk above really descends: a key it cannot find in the schema is reported.
    example_raw["network"]["links"][3]["bandwidth_mbps"] = 1000
    example_raw["events"][2]["colour"] = "red"
    assert _keys_not_in_schema(schema, schema, example_raw) == [
        "network.links[3].bandwidth_mbps",
        "events[2].colour",
    ]


def test_schema_out_writes_the_same_document(schema, tmp_path):
    path = tmp_path / "scenario.schema.json"
    assert main(["schema", "--out", str(path)]) == 0
    assert json.loads(path.read_text()) == schema


def test_run_prints_a_summary_table(metro, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(metro), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("metro-evening-fiber-cut  seed 20270301  from 2027-03-01T00:00:00Z")
    assert "  outages: 4" in printed  # three injected and one random (seed 20270301)
    # one root cause per fault, each named (a set naming it counts), every alarm under its root
    assert "  alarms: 18 notifications, 4 root causes (telcotwin alarms RUN_DIR)" in printed
    assert "faults named 1.00, alarms put under the right root: precision 1.00, recall 1.00" in (
        printed
    )
    assert printed.endswith(
        f"wrote {out}/ (summary.json, twin.sqlite, timeseries/, scenario.json, run.json, "
        "truth.json)\n"
    )


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(command in text for command in ("validate", "run", "schema"))


def test_the_default_run_directory_is_numbered_when_taken(metro, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(3):
        assert main(["run", str(metro), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "metro-evening-fiber-cut-seed20270301",
        "metro-evening-fiber-cut-seed20270301-2",
        "metro-evening-fiber-cut-seed20270301-3",
    ]


@pytest.mark.parametrize("target", [".", "scenario folder"])
def test_force_never_replaces_a_folder_that_is_not_a_run(
    metro, tmp_path, monkeypatch, capsys, target
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep me")
    out = "." if target == "." else str(tmp_path)
    assert main(["run", str(metro), "--out", out, "--force", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"{out}: --out: is not a run directory; --force only replaces runs\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metro.yaml", "notes.txt"]


def test_a_terminated_run_leaves_nothing(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "regional.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twin.cli",
            "run",
            str(scenario),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait until the run has started writing aside, then stop it as a scheduler would
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".partial") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err == "interrupted: nothing written\n"
    assert list(tmp_path.iterdir()) == []


def test_the_command_ends_without_teardown_and_loses_no_output(tmp_path):
    # `telcotwin` (twin.cli.entry) leaves by os._exit once the command has returned: what it
    # printed must still arrive whole, with the command's status, and the run be in place.
    import subprocess
    import sys

    metro = Path(__file__).resolve().parents[1] / "scenarios" / "metro.yaml"
    command = [sys.executable, "-m", "twin.cli", "run", str(metro), "--out", str(tmp_path / "r")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith(f"wrote {tmp_path / 'r'}/ (summary.json")
    assert (tmp_path / "r" / "summary.json").is_file()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert (again.returncode, again.stdout) == (2, "")
    assert again.stderr.endswith(
        "already exists; choose another --out or add --force to replace it\n"
    )

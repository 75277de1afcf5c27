"""The telcotwin command end to end: validate, run, schema, and what a run leaves behind."""

from __future__ import annotations

import json
import sqlite3

import pytest
import yaml

from tests.conftest import EXAMPLE
from twin.cli import main


@pytest.fixture
def metro(tmp_path):
    path = tmp_path / "metro.yaml"
    path.write_bytes(EXAMPLE.read_bytes())
    return path


def test_validate_says_what_the_network_is(metro, capsys):
    assert main(["validate", str(metro)]) == 0
    assert capsys.readouterr().out == (
        f"{metro}: valid: 8 towers, 22 cells, 11 links, 6000 subscribers, 7 events over 2d\n"
    )


def test_run_writes_the_run_directory_and_a_summary_table(metro, tmp_path, capsys):
    out = tmp_path / "runs" / "metro"
    assert main(["run", str(metro), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("metro-evening-fiber-cut  seed 20270301  from 2027-03-01T00:00:00Z")
    assert "outages:" in printed and f"wrote {out}/" in printed
    assert sorted(p.name for p in out.iterdir()) == ["scenario.json", "summary.json", "twin.sqlite"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["metro"]  # no partial left aside
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 20270301
    with sqlite3.connect(out / "twin.sqlite") as db:
        assert db.execute("select scenario, seed from runs").fetchall() == [
            ("metro-evening-fiber-cut", "20270301")
        ]


def test_an_existing_run_directory_is_kept_unless_forced(metro, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(metro), "--out", str(out), "--quiet"]) == 0
    first = (out / "summary.json").read_bytes()
    assert main(["run", str(metro), "--out", str(out), "--quiet", "--seed", "7"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "summary.json").read_bytes() == first
    assert main(["run", str(metro), "--out", str(out), "--quiet", "--seed", "7", "--force"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metro.yaml", "out"]


def test_same_seed_gives_byte_identical_summary_files(metro, tmp_path):
    for name in ("a", "b"):
        assert main(["run", str(metro), "--out", str(tmp_path / name), "--quiet"]) == 0
    assert (tmp_path / "a" / "summary.json").read_bytes() == (
        tmp_path / "b" / "summary.json"
    ).read_bytes()


def test_set_overrides_reach_the_run(metro, tmp_path):
    out = tmp_path / "out"
    assert (
        main(
            [
                "run",
                str(metro),
                "--out",
                str(out),
                "--quiet",
                "--set",
                "subscribers.count=1000",
                "--set",
                "network.nodes[3].cells=1",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["subscribers"] == 1000
    assert [c for c in summary["cells"] if c.startswith("t-n1/")] == ["t-n1/1"]
    effective = json.loads((out / "scenario.json").read_text())
    assert effective["subscribers"]["count"] == 1000


def test_an_interrupted_run_leaves_nothing(metro, tmp_path, capsys, monkeypatch):
    from sim.engine import Simulation

    def interrupt(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(Simulation, "_close_usage", interrupt)
    assert main(["run", str(metro), "--out", str(tmp_path / "out"), "--quiet"]) == 130
    assert capsys.readouterr().err == "interrupted: nothing written\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metro.yaml"]


def test_schema_is_json_schema_for_the_format(tmp_path, capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    example = yaml.safe_load(EXAMPLE.read_text())
    assert set(example) <= set(schema["properties"])
    assert main(["schema", "--out", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text()) == schema


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert all(command in text for command in ("validate", "run", "schema"))

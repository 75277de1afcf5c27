"""``telcotwin compare``: a scenario and its what-if variants, one seed, side by side.

The three shipped what-ifs (scenarios/whatif-*.yaml) answer their questions: a fiber cut with
and without protection, a surge with and without an extra cell, a tariff change's revenue.
"""

from __future__ import annotations

import csv
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from reports.compare import METRICS
from sim.variants import scenario_variants
from twin.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
EXIT_BAD_INPUT = 2


def _compare(name: str, out: Path) -> dict[str, dict]:
    assert main(["compare", str(SCENARIOS / f"whatif-{name}.yaml"), "--out", str(out)]) == 0
    document = json.loads((out / "compare.json").read_text())
    return {r["variant"]: r["metrics"] for r in document["runs"]}


@pytest.fixture(scope="module")
def fiber(tmp_path_factory) -> dict[str, dict]:
    return _compare("fiber-protection", tmp_path_factory.mktemp("c") / "fiber")


def test_a_fiber_cut_without_protection_cuts_the_north_off(fiber):
    base, bare, protected = fiber["base"], fiber["without-ring"], fiber["protected"]
    # without the ring, the four northern towers (2,000 of the 4,000 subscribers... placed
    # uniformly over 18 cells: 12 northern) have no path for the 2h30m of the cut
    assert bare["failed_calls"] > 1000 and bare["dropped_calls"] > 0
    assert bare["subscriber_hours_out"] == pytest.approx(6630.0, rel=0.01)  # ~2,652 x 2.5 h
    assert bare["availability"] < base["availability"] == 1.0
    # with the ring, the cut reroutes: nobody is out, but the 400 Mbps ring loses data
    assert base["failed_calls"] == 0 and base["data_unserved"] > 0
    # with a second uplink, nothing is lost at all
    assert protected["failed_calls"] == 0 and protected["data_unserved"] == 0.0
    assert protected["alarms"] >= 1  # the cut is still seen and alarmed


def test_a_surge_with_an_extra_cell_meets_the_gos(tmp_path):
    runs = _compare("surge-extra-cell", tmp_path / "surge")
    assert runs["base"]["voice_blocking"] > 0.05  # four-fold traffic on 30 channels a cell
    assert runs["extra-cell"]["voice_blocking"] < 0.02  # the GoS
    assert runs["extra-cell"]["data_unserved"] < runs["base"]["data_unserved"]


def test_a_tariff_change_moves_only_the_revenue(tmp_path):
    out = tmp_path / "tariff"
    runs = _compare("tariff", out)
    # 2.00 EUR a month more for each Mobile S subscription (4.00 for the rise to 19.00),
    # counted from the run's store; the network figures identical, the draws unchanged
    from twin.readback import open_run
    from twin.timeseries import read_subscribers

    run = open_run(out / "base")
    mobile_s = int((read_subscribers(run)["product"] == "mobile-s").sum())
    run.close()

    def mrr(name: str) -> Decimal:
        assert runs[name]["currency"] == "EUR"  # its own column: the amount is a number
        return Decimal(runs[name]["monthly_recurring_revenue"])

    assert mrr("base") - mrr("no-change") == Decimal("2.00") * mobile_s
    assert mrr("rise-to-19") - mrr("no-change") == Decimal("4.00") * mobile_s
    for key in ("voice_blocking", "dropped_calls", "data_unserved", "alarms"):
        assert runs["base"][key] == runs["no-change"][key] == runs["rise-to-19"][key]


def test_compare_writes_the_table_json_csv_and_a_run_per_variant(fiber, tmp_path, capsys):
    out = tmp_path / "fiber"
    assert (
        main(["compare", str(SCENARIOS / "whatif-fiber-protection.yaml"), "--out", str(out)]) == 0
    )
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["base", "without-ring", "protected"]
    assert len(table) == 1 + len(METRICS) + 1  # header, one line per figure, "wrote ..."
    assert sorted(os.listdir(out)) == [
        "base",
        "compare.csv",
        "compare.json",
        "protected",
        "without-ring",
    ]
    with (out / "compare.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["variant"] for r in rows] == ["base", "without-ring", "protected"]
    assert int(rows[1]["failed_calls"]) == fiber["without-ring"]["failed_calls"]
    # same file, same seed: the same figures as the module's own comparison
    assert (
        json.loads((out / "compare.json").read_text())["runs"][1]["metrics"]
        == fiber["without-ring"]
    )


# --- bad input ------------------------------------------------------------------------------------


def _with_variants(tmp_path: Path, variants: list) -> Path:
    raw = yaml.safe_load((SCENARIOS / "whatif-tariff.yaml").read_text())
    raw["variants"] = variants
    path = tmp_path / "whatif.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("variants", "line"),
    [
        ([{"name": "x", "colour": "red"}], "whatif.yaml: variants[0].colour: unknown key"),
        (
            [{"name": "x", "remove_links": ["l-9"]}],
            "whatif.yaml: variants[0].remove_links: no link 'l-9' to remove",
        ),
        (
            [{"name": "x", "set": {"network.nodes[9].cells": 4}}],
            "whatif.yaml: variants[0].set.network.nodes[9].cells: names a key path that is not "
            "in the scenario",
        ),
        (
            [{"name": "x", "remove_events": [3]}],
            "whatif.yaml: variants[0].remove_events: no event 3: the scenario has 1 (numbered "
            "from 0)",
        ),
        (
            [{"name": "x", "remove_nodes": ["t-2"], "set": {"events[0].product": "mobile-m"}}],
            "whatif.yaml: events[0].product: in variant 'x' (variants[0]): unknown product "
            "'mobile-m'",
        ),
        (
            [{"name": "x"}, {"name": "x"}],
            "whatif.yaml: variants: variant name 'x' is taken (by 'base' or another)",
        ),
    ],
)
def test_a_bad_variant_is_one_line_and_nothing_runs(tmp_path, capsys, variants, line):
    path = _with_variants(tmp_path, variants)
    before = sorted(os.listdir(tmp_path))
    status = main(["compare", str(path), "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert status == EXIT_BAD_INPUT and captured.out == ""
    assert captured.err.splitlines() == [line]
    assert sorted(os.listdir(tmp_path)) == before
    # `telcotwin validate` builds the variants too: not "valid" for a file compare refuses
    assert main(["validate", str(path)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.splitlines() == [line]


def test_validate_counts_the_variants_it_built(tmp_path, capsys):
    path = _with_variants(tmp_path, [{"name": "x", "set": {"subscribers.count": 100}}])
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.rstrip().endswith(", and 1 variant")


def test_a_variant_that_cuts_towers_off_is_refused_before_anything_runs(tmp_path, capsys):
    # removing the aggregation site takes its links with it: both towers lose their core
    path = _with_variants(tmp_path, [{"name": "x", "remove_nodes": ["agg-1"]}])
    before = sorted(os.listdir(tmp_path))
    assert main(["compare", str(path), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.splitlines() == [
        f"whatif.yaml: network.nodes[{i}]: in variant 'x' (variants[0]): tower 't-{i}' has no "
        "path to a core"
        for i in (1, 2)
    ]
    assert sorted(os.listdir(tmp_path)) == before
    assert main(["validate", str(path)]) == EXIT_BAD_INPUT
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_variants_change_only_what_they_say():
    raw = yaml.safe_load((SCENARIOS / "whatif-fiber-protection.yaml").read_text())
    runs = {name: s for name, _, s in scenario_variants(raw, "f.yaml")}
    base, bare, protected = runs["base"], runs["without-ring"], runs["protected"]
    assert [k.id for k in bare.network.links] == [
        k.id for k in base.network.links if k.id != "l-agg-ring"
    ]
    assert [k.id for k in protected.network.links][-1] == "l-agg-n-core-2"
    assert base.variants == [] and bare.seed == base.seed and bare.events == base.events

"""``telcotwin report``: the capacity report of the reference scenario, and its bad input.

The reference scenario (tests/data/contract-example.yaml = scenarios/metro.yaml) has t-n3, one
cell of 30 channels whose evening busy hour offers about 26 E: Erlang B gives 7 % blocking,
above the 2 % GoS, and 35 channels bring it under (34 carry 25 E at 2 %, the issue's reference
value; 26.3 E needs one more). The report must show it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from reports.capacity_report import CSV_COLUMNS
from tests.conftest import EXAMPLE
from twin.cli import main
from twin.planning.erlang import erlang_b

EXIT_BAD_INPUT = 2


@pytest.fixture(scope="module")
def metro_report(tmp_path_factory) -> Path:
    """The report of the reference scenario, run by ``telcotwin report SCENARIO``."""
    out = tmp_path_factory.mktemp("report") / "metro-report"
    assert main(["report", str(EXAMPLE), "--out", str(out)]) == 0
    return out


def _rows(report: Path) -> dict[str, dict[str, str]]:
    with (report / "capacity_plan.csv").open(newline="") as handle:
        return {row["cell"]: row for row in csv.DictReader(handle)}


def test_report_of_a_scenario_writes_the_page_the_plan_and_the_run(metro_report):
    assert sorted(os.listdir(metro_report)) == ["capacity_plan.csv", "capacity_report.html", "run"]
    assert (metro_report / "run" / "summary.json").is_file()
    header = (metro_report / "capacity_plan.csv").read_text().splitlines()[0]
    assert header.split(",")[:9] == [
        "cell",
        "tower",
        "busy_hour_erlangs",
        "voice_channels",
        "blocking",
        "exhaustion_date",
        "channels_needed",
        "data_utilization",
        "upgrade",
    ]
    assert tuple(header.split(",")) == CSV_COLUMNS
    assert len(_rows(metro_report)) == 22  # 7 towers of 3 cells and t-n3's one


def test_t_n3_stands_out_above_the_gos_with_the_channels_it_needs(metro_report):
    rows = _rows(metro_report)
    t_n3 = rows["t-n3/1"]
    erlangs = float(t_n3["busy_hour_erlangs"])
    assert erlangs == pytest.approx(26.3, abs=0.5)  # the "26 E busy hour"
    assert t_n3["voice_channels"] == "30"
    assert float(t_n3["blocking"]) == pytest.approx(erlang_b(30, erlangs), rel=1e-5)
    assert float(t_n3["blocking"]) > 0.05  # 7 %, over three times the 2 % GoS
    assert t_n3["channels_needed"] == "35"  # the issue: about 35 for 26 E at 2 %
    assert t_n3["exhaustion_date"] == "2027-03-03"  # already: the end of the run
    assert "voice channels" in t_n3["upgrade"]
    # the most blocked cell of the network; the others that far above the GoS are the stadium
    # surge's towers (t-s1 also takes the 150 subscriptions ordered at 10h), whose busy hour
    # the two-day run averages with the surge day in it
    worst = max(rows.values(), key=lambda r: float(r["blocking"]))
    assert worst["cell"] == "t-n3/1"
    above = {r["tower"] for r in rows.values() if float(r["blocking"]) > 0.04}
    assert above - {"t-s1", "t-s2"} == {"t-n3"}
    # the northern cells, 8 to 10 E on 30 channels, are nowhere near it
    assert all(float(rows[f"t-n1/{i}"]["blocking"]) < 1e-6 for i in (1, 2, 3))
    assert all(rows[f"t-n1/{i}"]["upgrade"] == "none" for i in (1, 2, 3))


def test_page_holds_every_section_and_its_figures_embedded(metro_report):
    page = (metro_report / "capacity_report.html").read_text()
    images = re.findall(r'<img src="([^"]*)"', page)
    assert len(images) == 5 and all(i.startswith("data:image/png;base64,") for i in images)
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    for heading in (
        "Cells above the grade of service now",
        "Busy-hour heat map",
        "Blocking against the GoS",
        "Exhaustion timeline",
        "Upgrades for the horizon",
        "Link utilisation and N-1",
        "Alarms in the run",
        "SLA breaches and revenue at risk",
    ):
        assert heading in page
    assert re.search(r'<tr class="above"><td>t-n3/1</td>', page)
    # the metro fiber cut: fault management's root cause is in the alarm list
    assert "root cause: link l-agg-n-core out of service" in page
    # service assurance's breaches are shown: the 2,279 subscribers homed on the towers that
    # failed (tests/test_sla.py checks that number against the homing)
    assert re.search(r"<td>breached_subscriptions</td><td>2279</td>", page)
    # and the business side's: billing and the revenue at risk (docs/bss.md)
    assert re.search(r"<td>credits</td><td>\d+\.\d\d</td>", page)
    assert "Revenue at risk: not available in this run" not in page


def test_n_minus_1_on_the_reference_network(metro_report):
    # Cutting a northern or southern aggregation uplink reroutes that half over the 400 Mbps
    # ring (the scenario's fiber cut): the link table says the ring overloads.
    page = (metro_report / "capacity_report.html").read_text()
    row = re.search(r"<tr[^>]*><td>l-agg-n-core</td>.*?</tr>", page).group(0)
    assert "l-agg-ring" in row
    row = re.search(r"<tr[^>]*><td>l-n3</td>.*?</tr>", page).group(0)
    assert "t-n3 (" in row  # l-n3 alone isolates t-n3


def test_report_of_a_run_directory_is_the_same_and_needs_no_truth(metro_report, tmp_path):
    # The plan is the twin's: from the store and the scenario as run, never truth.json.
    run = tmp_path / "run"
    shutil.copytree(metro_report / "run", run)
    (run / "truth.json").unlink()
    assert main(["report", str(run), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "capacity_plan.csv").read_text() == (
        metro_report / "capacity_plan.csv"
    ).read_text()
    assert sorted(os.listdir(tmp_path / "again")) == ["capacity_plan.csv", "capacity_report.html"]


def test_a_longer_horizon_needs_more_channels(metro_report, tmp_path):
    assert main(["report", str(metro_report / "run"), "--out", str(tmp_path / "r"),
                 "--horizon-months", "60"]) == 0  # fmt: skip
    longer = _rows(tmp_path / "r")["t-n3/1"]
    shorter = _rows(metro_report)["t-n3/1"]
    # 20 % a year: 26.3 E grows to 26.3 x 1.2 ** 5 = 65 E in five years, 2 years: 38 E
    assert float(longer["horizon_erlangs"]) == pytest.approx(
        float(shorter["busy_hour_erlangs"]) * 1.2 ** (5 + 1 / 365.25), rel=1e-4
    )
    assert int(longer["horizon_channels_needed"]) > int(shorter["horizon_channels_needed"]) > 35


# --- bad input: one line, exit 2, nothing written ------------------------------------------------


def _refused(tmp_path: Path, capsys, *argv: str) -> list[str]:
    before = sorted(os.listdir(tmp_path))
    status = main(["report", *argv])
    captured = capsys.readouterr()
    assert status == EXIT_BAD_INPUT
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(os.listdir(tmp_path)) == before  # no report, no hidden partial folder
    return captured.err.splitlines()


def test_a_folder_that_is_not_a_run_directory_is_refused(tmp_path, capsys):
    folder = tmp_path / "notes"
    folder.mkdir()
    lines = _refused(tmp_path, capsys, str(folder), "--out", str(tmp_path / "out"))
    assert lines == [f"{folder}: not a run directory (no run.json): give one `telcotwin run` made"]


@pytest.mark.parametrize("months", ["0", "241", "-3"])
def test_a_horizon_of_zero_or_beyond_twenty_years_is_refused(
    metro_report, tmp_path, capsys, months
):
    lines = _refused(
        tmp_path, capsys, str(metro_report / "run"), "--out", str(tmp_path / "out"),
        "--horizon-months", months,
    )  # fmt: skip
    assert lines == [f"--horizon-months: must be from 1 to 240 (20 years), got {months}"]


def test_a_missing_source_and_a_taken_out_are_refused(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    lines = _refused(tmp_path, capsys, str(tmp_path / "nope.yaml"), "--out", str(taken))
    assert lines == [
        f"{tmp_path / 'nope.yaml'}: no such scenario file or run directory",
        f"{taken}: already exists; choose another --out or add --force",
    ]


def test_a_bad_scenario_is_refused_before_anything_runs(tmp_path, capsys):
    bad = tmp_path / "metro.yaml"
    bad.write_text(EXAMPLE.read_text().replace("gos_target: 0.02", "gos_target: 2"))
    lines = _refused(tmp_path, capsys, str(bad), "--out", str(tmp_path / "out"))
    assert lines == ["metro.yaml: twin.gos_target: Input should be less than or equal to 1"]


def test_an_error_while_writing_leaves_nothing(metro_report, tmp_path, monkeypatch, capsys):
    import reports.capacity_report

    def broken(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(reports.capacity_report, "write_report", broken)
    before = sorted(os.listdir(tmp_path))
    status = main(["report", str(metro_report / "run"), "--out", str(tmp_path / "out" / "r")])
    assert status == 1
    assert "No space left on device; nothing written" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == before  # not even the parent it would have made


def test_force_replaces_a_report_but_never_another_folder(metro_report, tmp_path, capsys):
    out = tmp_path / "r"
    run = str(metro_report / "run")
    assert main(["report", run, "--out", str(out)]) == 0
    assert main(["report", run, "--out", str(out), "--force"]) == 0
    assert sorted(os.listdir(out)) == ["capacity_plan.csv", "capacity_report.html"]
    capsys.readouterr()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    lines = _refused(tmp_path, capsys, run, "--out", str(other), "--force")
    assert lines == [f"{other}: --out: is not a report directory; --force only replaces one"]
    assert json.loads((metro_report / "run" / "run.json").read_text())["run_id"]


def test_a_priced_plan_costs_each_upgrade_exactly(tmp_path):
    # scenarios/capacity-plan.yaml: 180.00 a channel, 42000.00 a cell, 35.50 a data Mbps,
    # 4.20 a link Mbps; at most 45 channels a cell
    out = tmp_path / "plan"
    assert main(["report", str(EXAMPLE.parents[2] / "scenarios" / "capacity-plan.yaml"),
                 "--out", str(out)]) == 0  # fmt: skip
    rows = _rows(out)
    total = Decimal(0)
    for row in rows.values():
        expected = (
            int(row["cells_to_add"]) * Decimal("42000.00")
            + int(row["channels_to_add"]) * Decimal("180.00")
            + int(row["data_mbps_to_add"]) * Decimal("35.50")
        )
        assert Decimal(row["cost"]) == expected
        total += expected
    t_n3 = rows["t-n3/1"]  # 24.5 E now, 41 E in two years at 30 %: beyond one 45-channel cell
    assert (t_n3["cells_to_add"], t_n3["channels_to_add"]) == ("1", "15")
    assert rows["t-s1/1"]["upgrade"].startswith("+")  # 18 channels a cell run out
    page = (out / "capacity_report.html").read_text()
    grand = Decimal(re.search(r"Total for cells and links: ([0-9.]+) EUR", page).group(1))
    links = page.split('id="links"')[1].split('id="alarms"')[0]  # the link table's costs
    link_costs = [Decimal(c) for c in re.findall(r'<td class="num">([0-9.]+) EUR</td></tr>', links)]
    assert link_costs  # the ring needs capacity for N-1
    assert grand == total + sum(link_costs, Decimal(0))  # exact, to the cent

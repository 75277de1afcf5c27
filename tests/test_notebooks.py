"""The notebooks in notebooks/ run, small, on a kernel of this very environment, and produce
the numbers they claim.

Each notebook ends with a cell tagged ``results`` whose value is a dict of its key figures;
the tests check them against hand calculations from the scenario (outage durations, subscriber
counts, the catalog's fees and SLA terms, the plan's unit costs) and against Erlang B.

The kernel is this interpreter (``sys.executable``), named in a kernel spec the test writes to
a temporary Jupyter path, so no kernel installed on the machine is needed or used: in CI the
environment comes from ``pip install -e '.[dev]'`` alone (nbclient, ipykernel).
"""

from __future__ import annotations

import ast
import json
import math
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KERNEL = "telcotwin-test-venv"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Jupyter data folder holding one kernel spec: this interpreter with ipykernel."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "telcotwin tests", "language": "python"}),
        encoding="utf-8",
    )
    return root


def execute(
    name: str, kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    """Run notebooks/<name> small and return its ``results`` cell's value, after checking
    that it ran on this interpreter. Its runs go to temporary folders under ``tmp_path``."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("TELCOTWIN_NOTEBOOK_SIZE", "small")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import sys; sys.executable"))
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=KERNEL,
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()
    executable = _value(notebook.cells[-1])
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    # every figure a plot helper returned was drawn (%matplotlib inline displays it)
    plots = [c for c in notebook.cells if c.cell_type == "code" and "tt.plot_" in c.source]
    assert plots
    for cell in plots:
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source
    (results,) = [c for c in notebook.cells if "results" in c.metadata.get("tags", [])]
    value = _value(results)
    assert isinstance(value, dict)
    return value


def _value(cell: Any) -> Any:
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return ast.literal_eval(result.data["text/plain"])


def test_notebooks_are_stored_without_outputs() -> None:
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["capacity-planning.ipynb", "fault-whatif.ipynb", "quickstart.ipynb"]
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(notebook)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), name
        # they read as documents: prose between the code
        prose = [c for c in notebook.cells if c.cell_type == "markdown"]
        assert len(prose) >= len(code) // 2, name


def test_quickstart_kpis_add_up_to_the_summary_and_the_outages(
    kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = execute("quickstart.ipynb", kernel_path, monkeypatch, tmp_path)
    assert results["subscribers"] == 1500  # the small parameter took effect
    assert results["calls_offered_in_kpis"] == results["calls_offered_in_summary"] > 0
    # cell-hours out of service by hand: each outage's duration times the cells it took
    # down (metro.yaml: t-s3 has 3 cells; l-n2 isolates t-n2's 3, l-n3 t-n3's single cell;
    # the uplink cut isolates nobody, the ring carries the north)
    cells_down = {"l-n2": 3, "t-s3": 3, "l-n3": 1, "l-agg-n-core": 0}
    outages = results["outages"]
    assert outages["t-s3"] == pytest.approx(1.0) and outages["l-n3"] == pytest.approx(1.5)
    assert outages["l-agg-n-core"] == pytest.approx(2.5)
    expected = sum(hours * cells_down[resource] for resource, hours in outages.items())
    # (summary.json gives outage times to the millisecond: 10 ms is 2.8e-6 h)
    assert results["cell_hours_unavailable"] == pytest.approx(expected, abs=3e-6)
    # one root alarm per outage, each on the resource that failed
    assert results["root_alarms"] == sorted(outages)
    assert 0 < results["ring_peak_utilization"] <= 1.0
    # metro.yaml's orders: 150 on t-s1 complete; 20 on t-n3 while l-n3 isolates it fail
    assert results["orders"] == {"ev1": "completed", "ev6": "failed"}
    assert results["subscriptions"] == 1500 + 150
    assert results["fees"] == {"mobile-l": "35.00", "mobile-s": "17.00"}  # after the price change
    assert results["invoices_total"] == results["billing_total"]


def test_fault_whatif_breaches_and_credits_are_the_cut_off_subscribers(
    kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = execute("fault-whatif.ipynb", kernel_path, monkeypatch, tmp_path)
    assert results["subscribers"] == 1200
    north = results["north_subscribers"]
    assert north["base"] == north["without-ring"] == north["protected"]  # one seed: one placement
    homed = north["base"]
    assert 0.55 * 1200 < homed < 0.78 * 1200  # 4 of 6 towers, placed uniformly
    # without the ring the north is out for the whole 2 h 30 min cut; otherwise nobody is
    assert results["subscriber_hours_out"] == {
        "base": 0.0,
        "without-ring": pytest.approx(2.5 * homed),
        "protected": 0.0,
    }
    # 21.5 h of 24 is 89.6 % available, below both products' targets: every one breaches
    assert results["sla_breaches"] == {"base": 0, "without-ring": homed, "protected": 0}
    by_product = results["breaches_by_product"]["without-ring"]
    assert sum(by_product.values()) == homed
    # billing's credits, by hand: credit_percent of a day's recurring charge (a day of March's
    # 31): 10 % of 15.00 / 31 = 0.0484 -> 0.05 EUR (Mobile S), 25 % of 35.00 / 31 = 0.2823 ->
    # 0.28 EUR (Mobile L), half-up
    credits = results["credits_by_product"]["without-ring"]
    assert Decimal(credits["mobile-s"]) == Decimal("0.05") * by_product["mobile-s"]
    assert Decimal(credits["mobile-l"]) == Decimal("0.28") * by_product["mobile-l"]
    total_credits = Decimal(credits["mobile-s"]) + Decimal(credits["mobile-l"])
    assert Decimal(results["credits"]["without-ring"]) == total_credits
    assert results["billing_credits"] == {
        "base": "0.00",
        "without-ring": str(total_credits),
        "protected": "0.00",
    }
    # revenue billed: a day's fee a subscription, 15.00 / 31 -> 0.48 and 35.00 / 31 -> 1.13
    # (this catalog prices no overage), less the credits
    counts = results["subscribers_by_product"]["base"]
    day = Decimal("0.48") * counts["mobile-s"] + Decimal("1.13") * counts["mobile-l"]
    assert results["revenue"] == results["billing_total"]
    assert Decimal(results["revenue"]["base"]) == Decimal(results["revenue"]["protected"]) == day
    assert Decimal(results["revenue"]["without-ring"]) == day - total_credits
    # monthly recurring revenue: subscribers times the fee, the same in every variant
    for name, counts in results["subscribers_by_product"].items():
        assert sum(counts.values()) == 1200
        mrr = Decimal("15.00") * counts["mobile-s"] + Decimal("35.00") * counts["mobile-l"]
        assert Decimal(results["monthly_recurring_revenue"][name]) == mrr


def _erlang_b(channels: int, erlangs: float) -> float:
    """Erlang B by the stable recursion B(0) = 1, B(n) = E B(n-1) / (n + E B(n-1))."""
    blocking = 1.0
    for n in range(1, channels + 1):
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return blocking


def test_capacity_planning_t_n3_is_above_the_gos_and_its_upgrade_is_priced(
    kernel_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = execute("capacity-planning.ipynb", kernel_path, monkeypatch, tmp_path)
    erlangs = results["t_n3_busy_hour_erlangs"]
    assert 20 < erlangs < 30  # one cell for a tower's 750 subscribers at 1 call of 120 s
    assert results["t_n3_blocking"] == pytest.approx(_erlang_b(30, erlangs), rel=1e-9)
    assert results["above_gos"] == ["t-n3/1"]
    needed = results["t_n3_channels_needed"]
    assert _erlang_b(needed, erlangs) <= 0.02 < _erlang_b(needed - 1, erlangs)
    # two years after the end of a two-day run, grown from its middle at 30 % a year
    assert results["t_n3_horizon_erlangs"] == pytest.approx(
        erlangs * 1.3 ** (2 + 1 / 365.25), rel=1e-9
    )
    horizon = results["t_n3_horizon_erlangs"]
    upgrade = results["t_n3_upgrade"]
    cells = 1 + upgrade["cells_to_add"]  # the traffic split evenly over the cells
    channels = 30 + upgrade["channels_to_add"]
    assert channels <= 45  # capacity-plan.yaml: planning.max_voice_channels_per_cell
    assert _erlang_b(channels, horizon / cells) <= 0.02
    # capacity-plan.yaml's unit costs: 42000.00 a cell, 180.00 a channel, 35.50 a Mbps
    cost = (
        Decimal("42000.00") * upgrade["cells_to_add"]
        + Decimal("180.00") * upgrade["channels_to_add"]
        + Decimal("35.50") * upgrade["data_mbps_to_add"]
    )
    assert Decimal(results["t_n3_cost"]) == cost
    total = sum(map(Decimal, results["cell_costs"] + results["link_costs"]), Decimal(0))
    assert Decimal(results["total_cost"]) == total
    assert Decimal(results["faster_total_cost"]) > total  # 50 % a year needs more
    assert math.isclose(results["gos"], 0.02) and results["growth"] == 0.3

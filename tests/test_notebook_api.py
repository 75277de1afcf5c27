"""twin.notebook: a run's DataFrames agree with the commands that read the same store, and the
plot helpers label what they draw. (The module's own examples run as doctests.)"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest

from sim.scenario import ScenarioError
from twin import notebook as tt
from twin.kpi_report import kpi_series

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tt.Run:
    """The module's two-tower example, with a catalog and a price change (a 1 h run)."""
    scenario = copy.deepcopy(tt.EXAMPLE)
    scenario["subscribers"]["products"] = {"mobile-s": 0.75, "mobile-l": 0.25}
    scenario["catalog"] = {
        "currency": "EUR",
        "products": [
            {"id": "mobile-s", "name": "S", "monthly_fee": "15.00"},
            {"id": "mobile-l", "name": "L", "monthly_fee": "35.00"},
        ],
    }
    scenario["events"].append(
        {"at": "10m", "action": "price_change", "product": "mobile-s", "monthly_fee": "17.10"}
    )
    return tt.run(scenario, out=tmp_path_factory.mktemp("api") / "tiny")


def test_cell_kpis_are_what_telcotwin_kpis_gives_for_each_cell(tiny: tt.Run) -> None:
    frame = tiny.cell_kpis()
    for cell in tiny.cells["cell_id"]:
        series = kpi_series(tiny._stored, cell=cell)
        rows = frame[frame["cell_id"] == cell]
        assert len(rows) == len(series["intervals"]) == 4  # 1 h of 15 min intervals
        for name in series["units"]:
            expected = [i[name] for i in series["intervals"]]
            got = [None if v != v else v for v in rows[name].tolist()]  # NaN as None
            assert got == pytest.approx(expected), name
        assert frame.attrs["units"] == series["units"]


def test_a_towers_kpis_are_the_formulas_on_its_cells_summed_counters(tiny: tt.Run) -> None:
    # one cell a tower here, so a tower's KPIs are its cell's; the network's availability is
    # the cell-seconds in service over 2 cells x 900 s: t-b down from 20 to 50 min
    by_cell = tiny.cell_kpis().set_index(["start_s", "cell_id"])
    by_tower = tiny.cell_kpis(by="tower").set_index(["start_s", "tower"])
    assert by_tower.loc[(900.0, "t-b"), "CellAvailability"] == pytest.approx(
        by_cell.loc[(900.0, "t-b/1"), "CellAvailability"]
    )
    network = tiny.cell_kpis(by="network")
    assert network["CellAvailability"].tolist() == pytest.approx(
        [1.0, (900 + 300) / 1800, (900 + 0) / 1800, (900 + 600) / 1800]
    )


def test_subscriptions_are_exact_and_follow_the_runs_price_change(tiny: tt.Run) -> None:
    frame = tiny.subscriptions()
    assert frame.attrs["currency"] == "EUR"
    fees = dict(zip(frame["product"], frame["monthly_fee"], strict=True))
    assert fees == {"mobile-l": Decimal("35.00"), "mobile-s": Decimal("17.10")}
    assert frame["subscribers"].sum() == 200
    for row in frame.itertuples():
        assert row.monthly_revenue == row.monthly_fee * row.subscribers
        assert isinstance(row.monthly_revenue, Decimal)


def test_alarms_orders_and_breaches_are_frames_of_the_store(tiny: tt.Run) -> None:
    alarms = tiny.alarms()
    root = alarms[alarms["is_root_cause"]]
    assert root["alarmed_object"].tolist() == ["t-b"]
    assert root["raised_time"].iloc[0] >= tiny._time(20 * 60)  # the fault at 20 min
    assert len(tiny.orders()) == 0  # no order events: an empty frame, its columns named
    assert "state" in tiny.orders().columns
    assert len(tiny.sla_breaches()) == 0  # no SLA in this catalog
    assert len(tiny.table("cell_pm")) == 2 * 4


def test_plot_helpers_title_their_figures_and_put_units_on_the_axes(tiny: tt.Run) -> None:
    figure = tt.plot_kpi(tiny.link_kpis(), "LinkThroughput")
    (axes,) = figure.axes
    assert axes.get_title() == "LinkThroughput per PM interval"
    assert axes.get_ylabel() == "LinkThroughput (Mbit/s)"
    assert axes.get_xlabel() == "time (UTC)"
    assert len(axes.get_lines()) == 2  # one a link
    figure = tt.plot_alarms(tiny)
    (axes,) = figure.axes
    assert "(h)" in axes.get_xlabel() and axes.get_title().startswith("Alarms")
    assert len(axes.patches) == len(tiny.alarms())


def test_a_variant_runs_and_the_comparison_holds_every_variant(tmp_path: Path) -> None:
    file = SCENARIOS / "whatif-fiber-protection.yaml"
    small = {"subscribers.count": 300}
    protected = tt.run(file, overrides=small, variant="protected", out=tmp_path / "p")
    assert "l-agg-n-core-2" in protected.links["link_id"].tolist()
    comparison = tt.compare(file, overrides=small, out=tmp_path / "c")
    assert list(comparison.table.index) == ["base", "without-ring", "protected"]
    assert comparison.table.loc["protected", "subscriber_hours_out"] == 0.0
    assert comparison.table.loc["without-ring", "subscriber_hours_out"] > 0
    figure = tt.plot_comparison(comparison, "subscriber_hours_out", unit="subscriber-hours")
    assert figure.axes[0].get_ylabel() == "subscriber_hours_out (subscriber-hours)"


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda p: tt.open_run(p), "not a run directory (no run.json)"),
        (lambda p: tt.run(tt.EXAMPLE, overrides={"no.such": 1}, out=p / "r"), "no.such"),
        (
            lambda p: tt.run(SCENARIOS / "whatif-fiber-protection.yaml", variant="x", out=p),
            "no variant 'x'; known: base, without-ring, protected",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, call, expected) -> None:
    with pytest.raises(ScenarioError) as error:
        call(tmp_path)
    assert expected in str(error.value)
    assert not (tmp_path / "r").exists()


def test_an_unknown_table_names_the_known_ones(tiny: tt.Run) -> None:
    with pytest.raises(ScenarioError, match="no table 'invoice'; known: alarm_history"):
        tiny.table("invoice")


def test_invoices_and_their_lines_add_up_to_the_billing_summary(tiny: tt.Run) -> None:
    billing = tiny.summary["billing"]
    invoices = tiny.invoices()
    assert len(invoices) == billing["invoices"] > 0
    assert set(invoices["currency"]) == {"EUR"}
    total = Decimal(billing["total"])
    assert invoices["total"].sum() == total  # exact: Decimals, never float
    lines = tiny.invoice_lines()
    assert set(lines["invoice_id"]) == set(invoices["invoice_id"])
    assert lines["amount"].sum() == total
    recurring = lines[lines["kind"] == "recurring"]["amount"].sum()
    assert recurring == Decimal(billing["recurring"])
    revenue = tiny.revenue("product")
    assert revenue.attrs["currency"] == "EUR"
    assert revenue["revenue"].sum() == total  # no credits, no tax here
    by_day = tiny.revenue("day")
    assert (by_day["revenue"] == by_day["recurring"] + by_day["usage"]).all()


def test_sla_credits_are_the_catalogs_share_of_a_days_fee(tmp_path: Path) -> None:
    # whatif-fiber-protection.yaml without the ring: the north is out 2.5 h of a 1-day run
    # (89.6 % available), so every subscriber there breaches; the credit is credit_percent of
    # the day's recurring charge, a day of March's 31: 15.00 / 31 x 10 % = 0.0484 -> 0.05 EUR
    # for Mobile S, 35.00 / 31 x 25 % = 0.2823 -> 0.28 EUR for Mobile L (half-up)
    file = SCENARIOS / "whatif-fiber-protection.yaml"
    cut = tt.run(
        file, overrides={"subscribers.count": 300}, variant="without-ring", out=tmp_path / "r"
    )
    credits = cut.credits()
    breaches = cut.sla_breaches()
    assert len(credits) == len(breaches) > 0
    per_product = {"mobile-s": Decimal("0.05"), "mobile-l": Decimal("0.28")}
    assert [per_product[p] for p in credits["product"]] == credits["amount"].tolist()
    assert credits["amount"].sum() == Decimal(cut.summary["billing"]["credits"])
    assert cut.revenue_at_risk()["sla_credits"] == credits["amount"].sum()
    lines = cut.invoice_lines()
    assert -lines[lines["kind"] == "sla_credit"]["amount"].sum() == credits["amount"].sum()

"""Performance management (twin.oss.performance): the KPIs of every interval, their invariants,
the busy hours per cell, link and network, and the KPI table in docs/kpis.md."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.engine import Simulation
from sim.scenario import parse_scenario
from tests.conftest import EXAMPLE
from twin.bus import Bus
from twin.feed import CellPmBatch, Inventory, LinkPmBatch, RunEnded, RunStarted
from twin.oss.performance import KPIS, PerformanceManagement, kpi
from twin.oss.records import KpiBatch
from twin.run import simulate
from twin.summary import SummaryBuilder

DOCS = Path(__file__).resolve().parent.parent / "docs" / "kpis.md"


def _run(raw) -> tuple[PerformanceManagement, list[KpiBatch], SummaryBuilder]:
    bus = Bus()
    performance = PerformanceManagement(bus)
    builder = SummaryBuilder()
    builder.attach(bus)
    batches: list[KpiBatch] = []
    bus.subscribe(KpiBatch, batches.append)
    Simulation(parse_scenario(raw, "metro.yaml"), bus).run()
    return performance, batches, builder


@pytest.fixture(scope="module")
def reference():
    """The reference run (tests/data/contract-example.yaml), once for the module."""
    return _run(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))


def test_invariants_hold_in_every_interval_of_the_reference_run(reference):
    _, batches, _ = reference
    assert len(batches) == 192  # 2 days of 15-minute intervals
    rates = [k.name for k in KPIS if k.is_rate]
    for batch in batches:
        for scope in (
            batch.cell,
            batch.tower,
            {k: np.array([v]) for k, v in batch.network.items()},
        ):
            attempts = scope["ERAB.EstabInitAttNbr.QCI1"]
            assert np.all(scope["ERAB.EstabInitSuccNbr.QCI1"] <= attempts)
            for name in rates:
                if name in scope:
                    value = scope[name]
                    assert np.all(np.isnan(value) | ((value >= 0) & (value <= 1))), name
        for name in ("LinkUtilization", "LinkAvailability"):
            assert np.all((batch.link[name] >= 0) & (batch.link[name] <= 1)), name


def test_towers_and_the_network_sum_their_cells_counts(reference):
    _, batches, _ = reference
    batch = batches[76]  # 19:00 on the first day: the cut and the surge
    attempts = batch.cell["ERAB.EstabInitAttNbr.QCI1"]
    assert batch.network["ERAB.EstabInitAttNbr.QCI1"] == attempts.sum()
    t_n3 = batch.tower_ids.index("t-n3")  # one cell: the tower is its cell
    assert (
        batch.tower["VoiceBlockingRate"][t_n3]
        == batch.cell["VoiceBlockingRate"][batch.cell_ids.index("t-n3/1")]
    )
    t_s1 = [i for i, c in enumerate(batch.cell_ids) if c.startswith("t-s1/")]
    assert batch.tower["ERAB.EstabInitAttNbr.QCI1"][batch.tower_ids.index("t-s1")] == (
        attempts[t_s1].sum()
    )


def _hand_counted() -> list[KpiBatch]:
    """Towers t1 (cells t1/1, t1/2) and t2 (t2/1) behind links l1 and l2, one 900 s interval."""
    bus = Bus()
    PerformanceManagement(bus)
    batches: list[KpiBatch] = []
    bus.subscribe(KpiBatch, batches.append)
    bus.publish(
        RunStarted("hand", 1, datetime(2027, 1, 1, tzinfo=UTC), 900.0, 900.0, 86400.0, None)
    )
    bus.publish(
        Inventory(
            node_ids=("core", "t1", "t2"),
            node_roles=("core", "tower", "tower"),
            node_lat=np.zeros(3),
            node_lon=np.zeros(3),
            link_ids=("l1", "l2"),
            link_a=("t1", "t2"),
            link_b=("core", "core"),
            link_capacity_mbps=np.array([100.0, 1000.0]),
            link_latency_ms=np.ones(2),
            cell_ids=("t1/1", "t1/2", "t2/1"),
            cell_tower=("t1", "t1", "t2"),
            cell_voice_channels=np.array([30, 30, 30]),
            cell_data_mbps=np.array([100.0, 100.0, 200.0]),
            subscriber_cell=np.zeros(0, np.int64),
            product_names=("",),
            subscriber_product=np.zeros(0, np.int64),
        )
    )
    bus.publish(
        CellPmBatch(
            start_s=0.0,
            end_s=900.0,
            voice_offered=np.array([100, 0, 40]),
            voice_carried=np.array([90, 0, 20]),
            voice_blocked=np.array([8, 0, 0]),
            voice_failed=np.array([2, 0, 20]),
            voice_dropped=np.array([5, 0, 4]),
            offered_erlangs=np.array([12.0, 0.0, 6.0]),
            carried_erlangs=np.array([11.0, 0.0, 3.0]),
            data_sessions=np.array([10, 0, 5]),
            data_demand_mb=np.array([6000.0, 0.0, 3000.0]),
            data_served_mb=np.array([5625.0, 0.0, 2250.0]),
            utilization=np.array([0.5, 0.0, 0.1]),
            seconds_in_service=np.array([900.0, 900.0, 450.0]),
        )
    )
    bus.publish(
        LinkPmBatch(
            start_s=0.0,
            end_s=900.0,
            demand_mb=np.array([6000.0, 3000.0]),
            carried_mb=np.array([5625.0, 2250.0]),
            utilization=np.array([0.5, 0.02]),
            seconds_in_service=np.array([900.0, 0.0]),
        )
    )
    bus.publish(RunEnded(900.0))
    return batches


def test_kpis_of_a_hand_counted_interval():
    (batch,) = _hand_counted()
    cell, tower, network, link = batch.cell, batch.tower, batch.network, batch.link
    # t1/1: 8 blocked of the 100 - 2 = 98 attempts at a cell in service; 2 of 100 failed;
    # 5 dropped of the 90 + 5 calls it handled
    assert cell["VoiceBlockingRate"][0] == pytest.approx(8 / 98)
    assert cell["VoiceFailureRate"][0] == pytest.approx(0.02)
    assert cell["VoiceDropRate"][0] == pytest.approx(5 / 95)
    # t1/2 had no attempts: its rates are not 0, there was nothing to measure
    assert np.isnan(cell["VoiceBlockingRate"][1]) and np.isnan(cell["VoiceDropRate"][1])
    # t1/1 served 5,625 MB: 45,000 Mbit, 50 Mbit/s over 900 s, half of its 100 Mbps
    assert cell["DRB.PdcpSduVolumeDL"][0] == 45_000.0
    assert cell["DataThroughput"][0] == 50.0
    assert cell["DataUtilization"][0] == 0.5
    # t2/1 out of service half the interval
    assert cell["RRU.CellUnavailableTime"][2] == 450.0
    assert cell["CellAvailability"][2] == 0.5
    # t1 sums its cells: blocking 8 / 98 still, utilisation 5,625 MB of 2 x 11,250 MB
    assert tower["VoiceBlockingRate"][0] == pytest.approx(8 / 98)
    assert tower["DataUtilization"][0] == 0.25
    assert tower["CellAvailability"].tolist() == [1.0, 0.5]
    # the network: 8 blocked of 98 + 20 = 118 attempts in service, 22 failed of 140,
    # 9 dropped of 110 + 9; 2,250 cell-seconds in service of 2,700; 14 E carried
    assert network["VoiceBlockingRate"] == pytest.approx(8 / 118)
    assert network["VoiceFailureRate"] == pytest.approx(22 / 140)
    assert network["VoiceDropRate"] == pytest.approx(9 / 119)
    assert network["CellAvailability"] == pytest.approx(2250 / 2700)
    assert network["RRU.CellUnavailableTime"] == 450.0
    assert network["VoiceCarriedErlangs"] == 14.0
    assert network["DataThroughput"] == pytest.approx((5625 + 2250) * 8 / 900)
    # l1: 5,625 MB of 100 Mbps x 900 s / 8 = 11,250 MB; l2 down the whole interval
    assert link["LinkUtilization"][0] == 0.5
    assert link["LinkThroughput"][0] == 50.0
    assert link["LinkVolume"][0] == 45_000.0
    assert link["LinkAvailability"].tolist() == [1.0, 0.0]
    assert link["LinkUnavailableTime"].tolist() == [0.0, 900.0]


def test_kpi_arrays_are_read_only():
    (batch,) = _hand_counted()
    with pytest.raises(ValueError, match="read-only"):
        batch.cell["VoiceBlockingRate"][0] = 0.0


def test_cell_busy_hours_from_running_aggregates_match_the_summarys(reference):
    performance, _, builder = reference
    start, erlangs = performance.cell_busy_hours()
    cells = builder.summary()["cells"]
    assert [cells[c]["busy_hour_start"] for c in cells] == [
        f"{int(s) // 3600:02d}:{int(s) % 3600 // 60:02d}" for s in start
    ]
    assert [cells[c]["busy_hour_erlangs"] for c in cells] == [round(float(e), 6) for e in erlangs]


def test_the_rings_busy_hour_is_the_cut_averaged_over_both_days(reference):
    performance, _, _ = reference
    kpis = performance.summary()
    # The ring carries nothing while both aggregation uplinks are up. With agg-n's uplink cut
    # from 19:00 to 21:30 on day 1 it carries its full 400 Mbps; E.500 averages each time of
    # day over the run's days: (400 + 0) / 2 = 200 Mbps, from the first full hour, 19:00.
    assert kpis["link_busy_hours"]["l-agg-ring"] == {"start": "19:00", "throughput_mbps": 200.0}
    assert kpis["intervals"] == 192


def test_memory_does_not_grow_with_the_length_of_the_run(example_raw):
    def held(duration: str) -> tuple[int, int]:
        """Bytes of arrays, and items of collections, that performance management keeps."""
        example_raw["duration"] = duration
        example_raw["events"] = []
        performance, _, _ = _run(example_raw)
        state = vars(performance).values()
        return (
            sum(v.nbytes for v in state if isinstance(v, np.ndarray)),
            sum(len(v) for v in state if isinstance(v, (list, dict, tuple, set))),
        )

    assert held("1d") == held("3d")


def test_summary_has_kpis_only_with_performance_management_on(example_raw):
    on = simulate(parse_scenario(example_raw, "metro.yaml"))
    assert on["kpis"]["network_busy_hour"]["start"] == "19:00"
    example_raw["twin"]["performance_management"] = False
    assert simulate(parse_scenario(example_raw, "metro.yaml"))["kpis"] is None


def test_an_unknown_kpi_name_lists_the_known_ones():
    assert kpi("RRU.CellUnavailableTime").unit == "s"
    with pytest.raises(KeyError, match="VoiceBlockingRate"):
        kpi("RRU.CellAvailableTime")


def test_docs_table_gives_every_kpi_with_the_formula_the_code_uses():
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\| `([^`]+)` \| ([^|]+) \| `([^`]+)` \|", line)
        if match:
            rows[match[1]] = (match[2].strip(), match[3])
    assert rows == {k.name: (k.unit, k.formula) for k in KPIS}

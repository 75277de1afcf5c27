"""Service assurance (twin/oss/sla.py): availability per subscription and billing cycle, its
breaches on the bus and in the store, its scoring against the truth, and `telcotwin sla`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.scenario import load_scenario, parse_scenario
from sim.truth import OutageAttribution
from twin.bus import Bus
from twin.cli import main
from twin.feed import (
    CellPmBatch,
    Inventory,
    LinkPmBatch,
    RunEnded,
    RunStarted,
    SubscriptionAdmitted,
)
from twin.oss.records import AlarmChange, AnomalyFlags, SlaBreaches
from twin.oss.sla import ServiceAssurance, billing_cycles
from twin.run import _wire, run_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
DAY = 86400.0


@dataclass(frozen=True)
class _Breach:
    """One breach of a published :class:`SlaBreaches`, for reading one at a time."""

    time_s: float
    subscriber: int
    product: str
    cycle_start_s: float
    cycle_end_s: float
    availability: float
    target: float


def _each(batches: list[SlaBreaches]) -> list[_Breach]:
    return [
        _Breach(b.time_s, s, b.product_names[p], b.cycle_start_s, b.cycle_end_s, a, t)
        for b in batches
        for s, p, a, t in zip(
            b.subscriber.tolist(),
            b.product.tolist(),
            b.availability.tolist(),
            b.target.tolist(),
            strict=True,
        )
    ]


def test_billing_cycles_are_calendar_months_from_the_start_and_the_last_is_partial():
    # from 31 January 2027: to 28 February (28 days, no 31st), to 31 March (31 days), then the
    # run's end 70 days in
    cycles = billing_cycles(datetime(2027, 1, 31, tzinfo=UTC), 70 * DAY)
    assert cycles == [(0.0, 28 * DAY), (28 * DAY, 59 * DAY), (59 * DAY, 70 * DAY)]


def _inventory() -> Inventory:
    # c1 on tower tA, c2 on tower tB; subscribers 0, 1 on c1 and 2, 3 on c2, products s, l, s, l
    return Inventory(
        node_ids=("core", "tA", "tB"),
        node_roles=("core", "tower", "tower"),
        node_lat=np.zeros(3),
        node_lon=np.zeros(3),
        link_ids=("lA", "lB"),
        link_a=("tA", "tB"),
        link_b=("core", "core"),
        link_capacity_mbps=np.full(2, 1000.0),
        link_latency_ms=np.ones(2),
        cell_ids=("c1", "c2"),
        cell_tower=("tA", "tB"),
        cell_voice_channels=np.full(2, 30),
        cell_data_mbps=np.full(2, 100.0),
        subscriber_cell=np.array([0, 0, 1, 1]),
        product_names=("s", "l"),
        subscriber_product=np.array([0, 1, 0, 1]),
    )


def _day(k: int, unavailable: tuple[float, float] = (0.0, 0.0)) -> tuple[CellPmBatch, LinkPmBatch]:
    """Day ``k`` (from k days to k + 1) as one PM interval, the cells out for ``unavailable``."""
    zeros = np.zeros(2)
    ints = np.zeros(2, dtype=np.int64)
    cells = CellPmBatch(
        start_s=k * DAY,
        end_s=(k + 1) * DAY,
        voice_offered=ints,
        voice_carried=ints,
        voice_blocked=ints,
        voice_failed=ints,
        voice_dropped=ints,
        offered_erlangs=zeros,
        carried_erlangs=zeros,
        data_sessions=ints,
        data_demand_mb=zeros,
        data_served_mb=zeros,
        utilization=zeros,
        seconds_in_service=DAY - np.array(unavailable),
    )
    links = LinkPmBatch(k * DAY, (k + 1) * DAY, zeros, zeros, zeros, np.full(2, DAY))
    return cells, links


def _planned_alarm(raised_s: float, cleared_s: float | None) -> AlarmChange:
    return AlarmChange(
        time_s=raised_s if cleared_s is None else cleared_s,
        change="raised" if cleared_s is None else "cleared",
        alarm_id=7,
        alarmed_object="tB",
        alarmed_object_type="tower",
        source="tB",
        alarm_type="equipmentAlarm",
        perceived_severity="critical" if cleared_s is None else "cleared",
        probable_cause="powerProblem",
        specific_problem="dying gasp",
        raised_time_s=raised_s,
        cleared_time_s=cleared_s,
        ack_state="unacknowledged",
        count=1,
        last_event_time_s=raised_s,
        planned_outage=True,
    )


def test_availability_and_breaches_by_hand():
    """35 days from 31 January 2027: cycle 1 is 28 days (to 28 February), cycle 2 the 7 days
    simulated after it.

    - c1 out for 12 h on day 2: cycle 1 availability 1 - 43,200 / 2,419,200 = 0.982143, below
      both targets (s 0.995, l 0.999): subscribers 0 and 1 breach.
    - c2 found asleep for 1 h on day 29 (cycle 2: 1 - 3,600 / 604,800 = 0.994048), and out for
      all of day 30 under planned maintenance of tB (not counted): 2 and 3 breach.
    - c1 out for 1 h on day 34: 0 and 1 at 0.994048 breach; subscriber 4, admitted on c1 at
      33.5 days with product s, had 1.5 days: 1 - 3,600 / 129,600 = 0.972222, breaches too.
    """
    bus = Bus()
    sla = ServiceAssurance(bus, {"s": 0.995, "l": 0.999})
    batches: list[SlaBreaches] = []
    bus.subscribe(SlaBreaches, batches.append)
    bus.publish(RunStarted("t", 1, datetime(2027, 1, 31, tzinfo=UTC), 35 * DAY, DAY, DAY, "EUR"))
    bus.publish(_inventory())
    for k in range(35):
        out = {2: (43200.0, 0.0), 30: (0.0, DAY), 34: (3600.0, 0.0)}.get(k, (0.0, 0.0))
        if k == 30:
            bus.publish(_planned_alarm(30 * DAY + 10.0, None))
        cells, links = _day(k, out)
        bus.publish(cells)
        bus.publish(links)
        if k == 29:
            # what anomaly detection publishes (one interval late, before the next links)
            bus.publish(
                AnomalyFlags(
                    29 * DAY,
                    30 * DAY,
                    ("c1", "c2"),
                    np.array([0, 3]),
                    np.array([0.0, 3600.0]),
                    np.zeros(2),
                    np.zeros(2),
                )
            )
        if k == 31:
            bus.publish(_planned_alarm(30 * DAY + 10.0, 31 * DAY - 5.0))
        if k == 33:
            bus.publish(SubscriptionAdmitted(33.5 * DAY, 4, "c1", "s"))
    bus.publish(RunEnded(35 * DAY))
    published = _each(batches)
    got = [(b.subscriber, b.cycle_start_s, round(b.availability, 6), b.time_s) for b in published]
    assert got == [
        (0, 0.0, 0.982143, 28 * DAY),
        (1, 0.0, 0.982143, 28 * DAY),
        (0, 28 * DAY, 0.994048, 35 * DAY),
        (1, 28 * DAY, 0.994048, 35 * DAY),
        (2, 28 * DAY, 0.994048, 35 * DAY),
        (3, 28 * DAY, 0.994048, 35 * DAY),
        (4, 28 * DAY, 0.972222, 35 * DAY),
    ]
    assert [b.target for b in published] == [0.995, 0.999, 0.995, 0.999, 0.995, 0.999, 0.995]
    assert published[-1].cycle_end_s == 35 * DAY
    summary = sla.summary()
    assert summary["breaches"] == 7 and summary["breached_subscriptions"] == 5
    assert summary["worst_towers"][0] == {
        "tower": "tA",
        "breaches": 5,
        "lowest_availability": 0.972222,
    }


def test_reference_run_breaches_only_for_subscribers_on_failed_towers(tmp_path):
    """The done-when of issue 7: in metro.yaml the towers whose cells went out of service are
    t-s3 (failed for 1 h), t-n3 (its link cut for 1 h 30 m) and t-n2 (its link l-n2 failed at
    random for 11 h 44 m); every subscriber homed on them breaches (1 h of 48 is 0.979, below
    0.995 and 0.999), and nobody else does."""
    scenario = load_scenario(SCENARIOS / "metro.yaml")
    wiring = _wire(scenario, ".", None, "metro.yaml", None)
    batches: list[SlaBreaches] = []
    wiring.bus.subscribe(SlaBreaches, batches.append)
    admitted: list[SubscriptionAdmitted] = []
    wiring.bus.subscribe(SubscriptionAdmitted, admitted.append)
    inventory: list[Inventory] = []
    wiring.bus.subscribe(Inventory, inventory.append)
    wiring.simulation.run()
    summary = wiring.summary()
    failed = {
        o.resource.split("/")[0]
        for o in wiring.truth.of_type(OutageAttribution)
        if o.kind == "cell"
    }
    assert failed == {"t-n2", "t-n3", "t-s3"}
    inv = inventory[0]
    tower_of = [inv.cell_tower[c] for c in inv.subscriber_cell.tolist()]
    tower_of += [a.cell.split("/")[0] for a in admitted]
    on_failed = {s for s, tower in enumerate(tower_of) if tower in failed}
    assert {b.subscriber for b in _each(batches)} == on_failed
    assert summary["sla"]["breaches"] == len(on_failed)
    assert summary["sla"]["missed_breaches"] == 0 and summary["sla"]["false_breaches"] == 0
    assert {t["tower"] for t in summary["sla"]["worst_towers"]} == failed


def test_a_sleep_nobody_found_is_a_missed_breach():
    # anomalies.yaml with detection off: the twin sees no sleep, so the subscribers on the
    # sleeping cells breach in truth only. The sleep of t-8/2 (3 h of 72) alone gives 0.958.
    scenario = load_scenario(
        SCENARIOS / "anomalies.yaml", overrides=["twin={anomalies: {enabled: false}}"]
    )
    wiring = _wire(scenario, ".", None, "anomalies.yaml", None)
    wiring.simulation.run()
    on = _wire(load_scenario(SCENARIOS / "anomalies.yaml"), ".", None, "anomalies.yaml", None)
    on.simulation.run()
    off_sla, on_sla = wiring.summary()["sla"], on.summary()["sla"]
    assert wiring.summary()["anomalies"] is None
    # with detection on, every true breach is published and none is false
    assert on_sla["missed_breaches"] == 0 and on_sla["false_breaches"] == 0
    assert on_sla["breaches"] == on_sla["true_breaches"]
    # off: the same truth, fewer published, the difference all missed
    assert off_sla["true_breaches"] == on_sla["true_breaches"]
    assert off_sla["false_breaches"] == 0
    assert off_sla["missed_breaches"] == on_sla["breaches"] - off_sla["breaches"] > 0


def test_breaches_are_stored_and_shown_by_telcotwin_sla(tmp_path, capsys):
    out = tmp_path / "metro"
    result = run_scenario(load_scenario(SCENARIOS / "metro.yaml"), out)
    assert main(["sla", str(out), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["breaches"] for r in rows) == result.summary["sla"]["breaches"]
    assert {r["tower"] for r in rows} == {"t-n2", "t-n3", "t-s3"}
    s3 = [r for r in rows if r["tower"] == "t-s3"]
    # t-s3 was out for 1 h of the 48 simulated: 1 - 3,600 / 172,800 = 0.979167
    assert {r["lowest_availability"] for r in s3} == {0.979167}
    assert all(r["partial"] and r["cycle_end_s"] == 172800.0 for r in rows)
    assert main(["sla", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SLA breaches" in text and "t-s3" in text


def test_sla_of_something_that_is_not_a_run_directory_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["sla", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run directory" in err[0]


@pytest.mark.parametrize("flag", ["service_assurance", "anomalies"])
def test_turning_them_off_leaves_their_summary_null(flag):
    override = (
        "twin.service_assurance=false"
        if flag == "service_assurance"
        else ("twin.anomalies={enabled: false}")
    )
    scenario = load_scenario(SCENARIOS / "metro.yaml", overrides=[override])
    wiring = _wire(scenario, ".", None, "metro.yaml", None)
    wiring.simulation.run()
    summary = wiring.summary()
    key = "sla" if flag == "service_assurance" else "anomalies"
    assert summary[key] is None


def test_planned_maintenance_is_not_a_breach_end_to_end():
    # metro.yaml plus 2 h of maintenance on t-s4 (2 h of 48 would be 0.958, far below the
    # targets): the twin learns of it from the alarms' planned_outage and counts none of it.
    raw = yaml.safe_load((SCENARIOS / "metro.yaml").read_text())
    raw["events"].append({"at": "4h", "action": "maintenance", "target": "t-s4", "duration": "2h"})
    scenario = parse_scenario(raw, "metro.yaml")
    wiring = _wire(scenario, ".", None, "metro.yaml", None)
    batches: list[SlaBreaches] = []
    wiring.bus.subscribe(SlaBreaches, batches.append)
    wiring.simulation.run()
    sla = wiring.summary()["sla"]
    assert wiring.assurance is not None and wiring.assurance.sla is not None
    towers = {
        wiring.assurance.sla.cell_tower[wiring.assurance.sla.sub_cell[b.subscriber]]
        for b in _each(batches)
    }
    assert "t-s4" not in towers
    assert towers == {"t-n2", "t-n3", "t-s3"}
    # t-s4's cells really were out for the 2 h (the truth), and the SLA excluded it
    out = [o for o in wiring.truth.of_type(OutageAttribution) if o.resource.startswith("t-s4/")]
    assert [(o.start_s, o.end_s) for o in out] == [(4 * 3600.0, 6 * 3600.0)] * 3
    assert (
        wiring.assurance.sla.unavailable[
            [i for i, t in enumerate(wiring.assurance.sla.cell_tower) if t == "t-s4"]
        ].sum()
        == 0.0
    )
    assert sla["missed_breaches"] == 0 and sla["false_breaches"] == 0


def test_telcotwin_sla_says_not_measured_rather_than_no_breach(tmp_path, capsys):
    # with service assurance off there were no measurements, which is not "0 SLA breaches"
    out = tmp_path / "off"
    overrides = ["twin.service_assurance=false", "duration=41h"]
    run_scenario(load_scenario(SCENARIOS / "metro.yaml", overrides=overrides), out)
    assert main(["sla", str(out)]) == 0
    text = capsys.readouterr().out
    assert "SLAs were not measured in this run" in text and "0 SLA breaches" not in text
    assert main(["sla", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) is None

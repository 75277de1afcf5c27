"""Reading a finished run back from its store: the alarm list at a moment, the inventory, and
the ``telcotwin alarms`` command on it, with one clear line for what is not a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from tests.test_store_alarms import _changes
from twin.bus import Bus
from twin.cli import main
from twin.feed import BusinessEvent, Inventory, RunEnded, RunStarted
from twin.readback import alarms_at, open_run
from twin.store import BackgroundStore

RUN = "fedcba9876543210fedcba9876543210"
INVENTORY = Inventory(
    node_ids=("core", "agg", "t1"),
    node_roles=("core", "aggregation", "tower"),
    node_lat=np.array([52.5, 52.55, np.nan]),
    node_lon=np.array([13.4, 13.4, np.nan]),
    link_ids=("l-1", "up"),
    link_a=("t1", "agg"),
    link_b=("agg", "core"),
    link_capacity_mbps=np.array([1000.0, 10_000.0]),
    link_latency_ms=np.array([0.5, 1.0]),
    cell_ids=("t1/1", "t1/2"),
    cell_tower=("t1", "t1"),
    cell_voice_channels=np.array([30, 30]),
    cell_data_mbps=np.array([150.0, 150.0]),
    subscriber_cell=np.array([1, 0, 1]),
    product_names=("mobile-l", "mobile-s"),
    subscriber_product=np.array([0, 1, 1]),
)


@pytest.fixture
def run_dir(tmp_path):
    """A run directory whose twin.sqlite holds the inventory above and the alarm changes of
    tests/test_store_alarms.py: root 1 (link l-1, raised 102.5 s) with child 2 (tower t1
    unreachable from 160 s, under root 1 from 170 s, cleared at 900 s); mobile-s's price goes
    from the catalog's 15.00 to 17.00 at 600 s."""
    directory = tmp_path / "run"
    directory.mkdir()
    bus = Bus()
    store = BackgroundStore(
        f"sqlite:///{directory / 'twin.sqlite'}", RUN, directory=str(directory), label="run"
    )
    store.attach(bus)
    start = datetime(2027, 3, 1, tzinfo=UTC)
    bus.publish(RunStarted("metro", 1, start, 3600.0, 900.0, 86400.0, "EUR"))
    bus.publish(INVENTORY)
    for change in _changes():
        bus.publish(change)
    bus.publish(BusinessEvent(600.0, "price_change", "mobile-s", monthly_fee=Decimal("17.00")))
    bus.publish(RunEnded(3600.0))
    store.close(commit=True)
    (directory / "run.json").write_text(json.dumps({"run_id": RUN}))
    return directory


def test_the_alarm_list_at_a_moment_shows_roots_with_their_active_children(run_dir):
    run = open_run(run_dir)
    try:
        # at 165 s: root 1 and alarm 2 both raised, not yet correlated: two lone alarms
        assert [(a["alarm_id"], a["children"]) for a in alarms_at(run, 165.0)] == [(1, 0), (2, 0)]
        # at 170 s alarm 2 went under root 1: the list shows the root and one child
        at_170 = alarms_at(run, 170.0)
        assert [(a["alarm_id"], a["children"], a["is_root_cause"]) for a in at_170] == [
            (1, 1, True)
        ]
        assert at_170[0]["root_candidates"] == ["l-1", "n-agg"]
        # at the end the child is cleared: the root stands alone
        assert [(a["alarm_id"], a["children"]) for a in alarms_at(run)] == [(1, 0)]
        # everything: the cleared child too, as it was last
        every = alarms_at(run, everything=True)
        assert [(a["alarm_id"], a["cleared_time_s"]) for a in every] == [(1, None), (2, 900.0)]
    finally:
        run.close()


def test_the_inventory_read_back_is_the_one_the_run_was_given(run_dir):
    run = open_run(run_dir)
    try:
        inventory = run.inventory()
    finally:
        run.close()
    assert inventory.node_ids == ("agg", "core", "t1")  # sorted by id
    assert inventory.link_ids == ("l-1", "up")
    assert inventory.cell_ids == ("t1/1", "t1/2")
    assert inventory.subscribers == 3
    # subscriber 0 is on t1/2 with mobile-l; 1 on t1/1 and 2 on t1/2 with mobile-s
    homes = [inventory.cell_ids[c] for c in inventory.subscriber_cell]
    plans = [inventory.product_names[p] for p in inventory.subscriber_product]
    assert sorted(zip(homes, plans, strict=True)) == sorted(
        [("t1/2", "mobile-l"), ("t1/1", "mobile-s"), ("t1/2", "mobile-s")]
    )


def test_alarms_command_prints_the_active_roots_as_json(run_dir, capsys):
    assert main(["alarms", str(run_dir), "--at", "170s", "--json"]) == 0
    alarms = json.loads(capsys.readouterr().out)
    assert [(a["alarm_id"], a["alarmed_object"], a["children"]) for a in alarms] == [(1, "l-1", 1)]
    # the same moment as a UTC time
    assert main(["alarms", str(run_dir), "--at", "2027-03-01T00:02:50Z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == alarms


def test_alarms_command_table_names_each_root_and_its_children(run_dir, capsys):
    assert main(["alarms", str(run_dir), "--at", "170s"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{run_dir}: 1 active alarms (root causes and lone alarms) at 2m50s"
    assert lines[1].split() == [
        "id",
        "severity",
        "object",
        "problem",
        "raised",
        "cleared",
        "count",
        "children",
        "ack",
    ]
    # alarm 1 on l-1, raised at 100 s (102.5 s reached the twin), 2 notifications, 1 child
    assert lines[2].split() == [
        "1",
        "major",
        "l-1",
        "port",
        "to",
        "agg",
        "1m40s",
        "2",
        "1",
        "unack",
        "root",
        "(one",
        "of",
        "l-1,",
        "n-agg)",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "not a run directory (no run.json): give one `telcotwin run` made"),
        (["--at", "2h"], "--at: 2h is outside the run (0s to 1h)"),
        (["--at", "soon"], "--at: 'soon' is not a duration like '90s', '15m', '2h30m' or '2d'"),
    ],
)
def test_alarms_command_refuses_what_it_cannot_read_in_one_line(
    run_dir, tmp_path, capsys, args, message
):
    target = tmp_path if not args else run_dir
    assert main(["alarms", str(target), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith(message)


def test_a_run_directory_without_its_store_asks_for_the_store_url(run_dir, capsys):
    (run_dir / "twin.sqlite").unlink()
    assert main(["alarms", str(run_dir)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{run_dir}: has no twin.sqlite: the run wrote to --store; give its URL"
    )


def test_changes_after_the_moment_are_not_shown(run_dir):
    run = open_run(run_dir)
    try:
        assert alarms_at(run, 100.0) == []  # the first change reached the twin at 102.5 s
    finally:
        run.close()


def test_impact_command_names_what_is_behind_a_link_with_the_fees_at_stake(run_dir, capsys):
    # t1 hangs off agg by l-1 alone: its 2 cells and 3 subscribers are behind l-1. Fees from
    # the run's catalog (scenario.json) with its price change at 600 s, as at the end of the
    # run: 1 x 35.00 (mobile-l) + 2 x 17.00 (mobile-s) = 69.00
    catalog = {
        "products": [
            {"id": "mobile-s", "monthly_fee": "15.00"},
            {"id": "mobile-l", "monthly_fee": "35.00"},
        ]
    }
    (run_dir / "scenario.json").write_text(json.dumps({"catalog": catalog}))
    assert main(["impact", str(run_dir), "l-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "resource": "l-1",
        "towers": ["t1"],
        "cells": ["t1/1", "t1/2"],
        "subscribers": 3,
        "subscribers_by_product": {"mobile-l": 1, "mobile-s": 2},
        "monthly_fees": "69.00",
    }


def test_impact_of_an_unknown_resource_is_one_line(run_dir, capsys):
    assert main(["impact", str(run_dir), "t9"]) == 2
    assert capsys.readouterr().err.strip() == f"{run_dir}: no node, link or cell 't9' in the run"


def test_n1_command_lists_every_single_point_of_failure(run_dir, capsys):
    # a chain core - up - agg - l-1 - t1: losing any of core, up, agg or l-1 isolates t1 and
    # its 3 subscribers; t1 itself is not counted (a failed tower isolates only itself)
    assert main(["n1", str(run_dir), "--json"]) == 0
    points = json.loads(capsys.readouterr().out)
    assert sorted((p["resource"], p["kind"], p["towers"], p["subscribers"]) for p in points) == [
        ("agg", "aggregation", ["t1"], 3),
        ("core", "core", ["t1"], 3),
        ("l-1", "link", ["t1"], 3),
        ("up", "link", ["t1"], 3),
    ]


def test_impact_of_an_alarm_is_the_impact_of_what_it_stands_on(run_dir, capsys):
    # alarm 1 is the root on l-1: the same towers, cells and subscribers as l-1 itself
    assert main(["impact", str(run_dir), "alarm:1", "--json"]) == 0
    by_alarm = json.loads(capsys.readouterr().out)
    assert main(["impact", str(run_dir), "l-1", "--json"]) == 0
    assert by_alarm == json.loads(capsys.readouterr().out)
    assert by_alarm["subscribers"] == 3
    assert main(["impact", str(run_dir), "alarm:99"]) == 2
    assert capsys.readouterr().err.strip() == f"{run_dir}: no alarm 99 in the run"

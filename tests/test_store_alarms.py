"""The store's fault-management tables, from hand-made records published on a bus: every
AlarmNotification in ``notifications``, every AlarmChange in ``alarm_history``, the latest state
of each alarm in ``alarms``; on SQLite and on PostgreSQL (``store_url``)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import query
from twin.bus import Bus
from twin.feed import AlarmNotification, RunEnded
from twin.oss.records import AlarmChange
from twin.store import BackgroundStore, StoreError

RUN = "0123456789abcdef0123456789abcdef"

LOS = AlarmNotification(
    notification_id=7,
    time_s=102.5,
    event_time_s=100.0,
    alarmed_object="l-1",
    alarmed_object_type="link",
    source="t1",
    alarm_type="communicationsAlarm",
    perceived_severity="major",
    probable_cause="lossOfSignal",
    specific_problem="port to agg",
)
ROOT = AlarmChange(
    time_s=102.5,
    change="raised",
    alarm_id=1,
    alarmed_object="l-1",
    alarmed_object_type="link",
    source="t1",
    alarm_type="communicationsAlarm",
    perceived_severity="major",
    probable_cause="lossOfSignal",
    specific_problem="port to agg",
    raised_time_s=100.0,
    cleared_time_s=None,
    ack_state="unacknowledged",
    count=1,
    last_event_time_s=100.0,
)
CHILD = replace(
    ROOT,
    alarm_id=2,
    alarmed_object="t1",
    alarmed_object_type="tower",
    source="nms",
    probable_cause="elementUnreachable",
    specific_problem="heartbeat timeout",
    time_s=160.0,
    raised_time_s=160.0,
    last_event_time_s=160.0,
)


def _changes() -> list[AlarmChange]:
    return [
        ROOT,
        CHILD,
        replace(ROOT, time_s=103.0, change="reduced", count=2, last_event_time_s=103.0),
        replace(CHILD, time_s=170.0, change="correlated", parent_alarm=1),
        replace(
            ROOT,
            time_s=170.0,
            change="correlated",
            count=2,
            last_event_time_s=103.0,
            is_root_cause=True,
            correlated_alarms=(2,),
            root_candidates=("l-1", "n-agg"),
        ),
        # numpy scalars, as a function computing them may hand over: stored as Python values
        replace(
            CHILD,
            time_s=np.float64(900.0),
            change="cleared",
            perceived_severity="cleared",
            parent_alarm=np.int64(1),
            cleared_time_s=np.float64(900.0),
        ),
    ]


def _publish(url: str, *, commit: bool, end: bool = True) -> None:
    bus = Bus()
    store = BackgroundStore(url, RUN, directory="/runs/x", label="x")
    store.attach(bus)
    bus.publish(LOS)
    bus.publish(replace(LOS, time_s=104.0))  # a duplicate: same id, delivered again
    bus.publish(replace(LOS, notification_id=8, source="agg", planned_outage=True))
    for change in _changes():
        bus.publish(change)
    if end:
        bus.publish(RunEnded(time_s=86400.0))
    store.close(commit=commit)


def test_notifications_are_stored_as_they_reached_the_twin(store_url):
    _publish(store_url, commit=True)
    rows = query(
        store_url,
        "select run_id, notification_id, time_s, event_time_s, alarmed_object, "
        "alarmed_object_type, source, alarm_type, perceived_severity, probable_cause, "
        "specific_problem, planned_outage from notifications order by notification_id, time_s",
    )
    fields = (RUN, 7, 102.5, 100.0, "l-1", "link", "t1", "communicationsAlarm", "major")
    assert rows == [
        (*fields, "lossOfSignal", "port to agg", False),
        (RUN, 7, 104.0, *fields[3:], "lossOfSignal", "port to agg", False),
        (
            RUN,
            8,
            102.5,
            100.0,
            "l-1",
            "link",
            "agg",
            *fields[7:],
            "lossOfSignal",
            "port to agg",
            True,
        ),
    ]


def test_alarm_history_has_one_row_per_change_in_order(store_url):
    _publish(store_url, commit=True)
    rows = query(
        store_url,
        "select seq, time_s, change, alarm_id, count, is_root_cause, parent_alarm, "
        "correlated_alarms, root_candidates, cleared_time_s, perceived_severity "
        "from alarm_history where run_id = :run order by seq",
        {"run": RUN},
    )
    assert [row[:7] for row in rows] == [
        (1, 102.5, "raised", 1, 1, False, None),
        (2, 160.0, "raised", 2, 1, False, None),
        (3, 103.0, "reduced", 1, 2, False, None),
        (4, 170.0, "correlated", 2, 1, False, 1),
        (5, 170.0, "correlated", 1, 2, True, None),
        (6, 900.0, "cleared", 2, 1, False, 1),
    ]
    assert [json.loads(row[7]) for row in rows] == [[], [], [], [], [2], []]
    assert json.loads(rows[4][8]) == ["l-1", "n-agg"]
    assert rows[5][9:] == (900.0, "cleared")
    assert rows[0][9] is None


def test_the_alarms_table_holds_each_alarms_latest_state(store_url):
    _publish(store_url, commit=True)
    rows = query(
        store_url,
        "select run_id, alarm_id, time_s, change, alarmed_object, alarmed_object_type, source, "
        "alarm_type, perceived_severity, probable_cause, specific_problem, raised_time_s, "
        "cleared_time_s, ack_state, count, last_event_time_s, planned_outage, is_root_cause, "
        "parent_alarm, correlated_alarms, root_candidates from alarms order by alarm_id",
    )
    root = (RUN, 1, 170.0, "correlated", "l-1", "link", "t1", "communicationsAlarm", "major")
    root_rest = ("lossOfSignal", "port to agg", 100.0, None, "unacknowledged", 2, 103.0)
    child = (RUN, 2, 900.0, "cleared", "t1", "tower", "nms", "communicationsAlarm", "cleared")
    child_rest = ("elementUnreachable", "heartbeat timeout", 160.0, 900.0, "unacknowledged", 1)
    assert rows == [
        (*root, *root_rest, False, True, None, "[2]", '["l-1", "n-agg"]'),
        (*child, *child_rest, 160.0, False, False, 1, "[]", "[]"),
    ]


def test_the_alarms_are_written_at_close_when_no_run_ended_record_came(store_url):
    _publish(store_url, commit=True, end=False)
    assert query(store_url, "select alarm_id, change from alarms order by alarm_id") == [
        (1, "correlated"),
        (2, "cleared"),
    ]


def test_a_change_after_the_runs_end_replaces_the_alarms_row(store_url):
    bus = Bus()
    store = BackgroundStore(store_url, RUN, directory="/runs/x", label="x")
    store.attach(bus)
    bus.publish(ROOT)
    bus.publish(RunEnded(time_s=1000.0))
    bus.publish(replace(ROOT, time_s=1001.0, change="acknowledged", ack_state="acknowledged"))
    store.close(commit=True)
    assert query(store_url, "select alarm_id, change, ack_state from alarms") == [
        (1, "acknowledged", "acknowledged")
    ]
    assert query(store_url, "select count(*) from alarm_history") == [(2,)]


def test_a_failed_run_leaves_no_alarm_rows(store_url):
    _publish(store_url, commit=False)
    for table in ("notifications", "alarm_history", "alarms"):
        assert query(store_url, f"select count(*) from {table}") == [(0,)], table


def test_two_runs_keep_their_own_alarms_and_a_duplicate_alarm_key_is_an_error(store_url):
    _publish(store_url, commit=True)
    with pytest.raises(StoreError):  # the same run id twice: (run_id, alarm_id) is the key
        _publish(store_url, commit=True)
    assert query(store_url, "select count(*) from alarm_history") == [(6,)]

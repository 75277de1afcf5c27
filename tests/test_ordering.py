"""Product orders and the activation saga (twin.bss.ordering), on a real simulation.

The network is a real :class:`~sim.engine.Simulation` on the bus; customers and billing are
the in-memory participants of tests/bss_fakes.py, which honour twin.bss.contracts. "Nothing
left behind" is checked in all three systems: the tower's count of subscribers in the
simulation, the profiles and the charging records.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.engine import Simulation
from sim.scenario import parse_scenario
from tests.bss_fakes import FakeCharging, FakeProfiles, FlakyNetwork
from tests.conftest import single_cell
from twin.bss.contracts import StepKey
from twin.bss.ordering import (
    FINAL_STATES,
    Ordering,
    OrderItemChange,
    OrderStateChange,
    SagaStep,
)
from twin.bus import Bus
from twin.feed import BusinessEvent, RunEnded, SubscriptionAdmitted

HOUR = 3600.0
BASE = 1000  # subscribers single_cell places on its one tower, t1


class World:
    """A single-cell simulation on a bus, the fakes, and ordering between them."""

    def __init__(self, *, max_subscribers: int = 0, compensation_attempts: int = 3):
        extra: dict[str, Any] = {}
        if max_subscribers:
            nodes = [
                {"id": "core", "role": "core"},
                {"id": "t1", "role": "tower", "max_subscribers": max_subscribers},
            ]
            extra = {"network": {"nodes": nodes}}
        scenario = single_cell(duration="4h", subscribers=BASE, extra=extra)
        self.bus = Bus()
        self.records: list[object] = []
        for kind in (OrderStateChange, OrderItemChange, SagaStep, SubscriptionAdmitted):
            self.bus.subscribe(kind, self.records.append)
        self.sim = Simulation(scenario, self.bus)
        self.network = FlakyNetwork(self.sim)
        self.profiles = FakeProfiles()
        self.charging = FakeCharging()
        self.ordering = Ordering(
            self.bus,
            self.network,
            self.profiles,
            self.charging,
            products=["mobile-s", "mobile-l"],
            compensation_attempts=compensation_attempts,
        )
        self.sim.start()  # publishes the inventory: ordering learns the towers

    def homed(self) -> int:
        return self.sim.homed_subscribers("t1")

    def of_type(self, kind: type) -> list[Any]:
        return [r for r in self.records if isinstance(r, kind)]

    def steps(self, order_id: str) -> list[tuple[int, str, str, str, int]]:
        return [
            (s.item, s.step, s.action, s.outcome, s.attempt)
            for s in self.of_type(SagaStep)
            if s.order_id == order_id
        ]


def test_an_order_activates_one_subscription_per_item_in_a_new_account():
    world = World()
    order = world.ordering.place("mobile-l", 3, "t1", time_s=0.0)
    assert order.order_id == "ord-1" and order.account == "acct-ord-1"
    assert order.state == "completed" and order.reason == ""
    assert order.transitions == [
        (0.0, "acknowledged", ""),
        (0.0, "inProgress", ""),
        (0.0, "completed", ""),
    ]
    assert world.homed() == BASE + 3
    # subscribers are numbered on from the 1000 placed at the start
    assert [item.subscriber for item in order.items] == [1000, 1001, 1002]
    assert sorted(p["subscriber"] for p in world.profiles.profiles.values()) == [1000, 1001, 1002]
    assert {p["account"] for p in world.profiles.profiles.values()} == {"acct-ord-1"}
    assert sorted(world.charging.billing) == [
        ("ord-1", 0, "billing"),
        ("ord-1", 1, "billing"),
        ("ord-1", 2, "billing"),
    ]
    assert world.charging.billing[("ord-1", 2, "billing")] == ("sub-ord-1-2", "mobile-l", 0.0)
    changes = world.of_type(OrderStateChange)
    assert [(c.state, c.previous, c.completed) for c in changes] == [
        ("acknowledged", None, 0),
        ("inProgress", "acknowledged", 0),
        ("completed", "inProgress", 3),
    ]
    assert world.ordering.counts() == {
        "acknowledged": 0,
        "rejected": 0,
        "inProgress": 0,
        "completed": 1,
        "failed": 0,
        "partial": 0,
    }


@pytest.mark.parametrize(
    ("product", "count", "tower", "reason"),
    [
        ("mobile-xl", 1, "t1", "unknown product 'mobile-xl'"),
        ("mobile-s", 1, "t9", "unknown tower 't9'"),
        ("mobile-s", 0, "t1", "count 0 out of range (1 to 10,000,000)"),
        ("mobile-s", 10_000_001, "t1", "count 10000001 out of range (1 to 10,000,000)"),
    ],
)
def test_an_invalid_order_is_rejected_and_touches_nothing(product, count, tower, reason):
    world = World()
    order = world.ordering.place(product, count, tower, time_s=60.0)
    assert [(t, s) for t, s, _ in order.transitions] == [(60.0, "acknowledged"), (60.0, "rejected")]
    assert (order.state, order.reason) == ("rejected", reason)
    assert world.network.asked == 0 and world.homed() == BASE
    assert world.profiles.profiles == {} and world.charging.billing == {}


def _nothing_left(world: World, order_id: str) -> None:
    assert world.homed() == BASE
    assert [k for k in world.profiles.profiles if k[0] == order_id] == []
    assert [k for k in world.charging.billing if k[0] == order_id] == []
    assert world.ordering.pending_compensations == {}


def _fail_at(step: str, kind: str):
    def fault(key: StepKey) -> str | None:
        return kind if key[2] == step else None

    return fault


# (step that fails, how, the order's reason, the saga's steps: (step, action, outcome))
FAILURES = [
    (
        "reserve",
        "refuse",
        "1 of 1 items failed: 1 x reserve: admission control timed out",
        [("reserve", "do", "refused")],
    ),
    (
        "profile",
        "refuse",
        "1 of 1 items failed: 1 x profile: customer record locked",
        [
            ("reserve", "do", "done"),
            ("profile", "do", "refused"),
            ("reserve", "undo", "done"),
        ],
    ),
    (
        "profile",
        "commit_then_error",
        "1 of 1 items failed: 1 x profile: TimeoutError: customers answered too late",
        [
            ("reserve", "do", "done"),
            ("profile", "do", "error"),
            ("profile", "undo", "done"),  # it may have happened: undone by its key
            ("reserve", "undo", "done"),
        ],
    ),
    (
        "billing",
        "refuse",
        "1 of 1 items failed: 1 x billing: no rating plan for the product",
        [
            ("reserve", "do", "done"),
            ("profile", "do", "done"),
            ("billing", "do", "refused"),
            ("profile", "undo", "done"),
            ("reserve", "undo", "done"),
        ],
    ),
    (
        "billing",
        "commit_then_error",
        "1 of 1 items failed: 1 x billing: TimeoutError: billing answered too late",
        [
            ("reserve", "do", "done"),
            ("profile", "do", "done"),
            ("billing", "do", "error"),
            ("billing", "undo", "done"),
            ("profile", "undo", "done"),
            ("reserve", "undo", "done"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("step", "kind", "reason", "saga"), FAILURES, ids=[f"{f[0]}-{f[1]}" for f in FAILURES]
)
def test_a_failed_step_is_compensated_in_reverse_and_leaves_nothing(step, kind, reason, saga):
    world = World()
    if step == "reserve":
        world.network.refuse = {1}
    elif step == "profile":
        world.profiles.fault = _fail_at("profile", kind)
    else:
        world.charging.fault = _fail_at("billing", kind)
    order = world.ordering.place("mobile-s", 1, "t1", time_s=HOUR, order_id="A")
    assert (order.state, order.reason) == ("failed", reason)
    assert [t for t, _, _ in order.transitions] == [HOUR] * 3
    assert [(s, a, o) for _, s, a, o, _ in world.steps("A")] == saga
    _nothing_left(world, "A")
    (item,) = world.of_type(OrderItemChange)
    assert (item.state, item.subscriber, item.subscription) == ("failed", -1, "")


def test_the_real_network_refuses_a_full_tower_and_the_order_is_partial():
    world = World(max_subscribers=BASE + 2)
    order = world.ordering.place("mobile-s", 5, "t1", time_s=0.0)
    assert order.state == "partial"
    assert order.reason == "3 of 5 items failed: 3 x reserve: tower is full (1002 subscribers)"
    assert [item.state for item in order.items] == ["completed"] * 2 + ["failed"] * 3
    assert world.homed() == BASE + 2
    assert len(world.profiles.profiles) == len(world.charging.billing) == 2


def test_a_compensation_failing_once_is_retried_and_recorded():
    world = World()
    world.charging.fault = _fail_at("billing", "refuse")
    world.profiles.undo_failures = 1
    world.network.undo_failures = 1
    order = world.ordering.place("mobile-s", 1, "t1", time_s=0.0, order_id="B")
    assert order.state == "failed"
    assert world.steps("B")[3:] == [
        (0, "profile", "undo", "error", 1),
        (0, "profile", "undo", "done", 2),
        (0, "reserve", "undo", "error", 1),
        (0, "reserve", "undo", "done", 2),
    ]
    _nothing_left(world, "B")


def test_a_compensation_that_keeps_failing_stays_owed_until_it_succeeds():
    world = World(compensation_attempts=3)
    world.charging.fault = _fail_at("billing", "refuse")
    world.profiles.undo_failures = 5  # three attempts now, two more at the next chance
    order = world.ordering.place("mobile-s", 1, "t1", time_s=0.0, order_id="C")
    assert order.state == "failed"  # final: the order is over, what it owes is tracked apart
    # the release waits behind the profile's removal: compensations run in reverse order
    assert world.ordering.pending_compensations == {("C", 0): ["profile", "reserve"]}
    assert world.homed() == BASE + 1 and len(world.profiles.profiles) == 1
    assert world.steps("C")[-1] == (0, "profile", "undo", "pending", 3)
    # the run's end retries: two more failures, then the removal and the release succeed
    world.bus.publish(RunEnded(2 * HOUR))
    assert world.steps("C")[-4:] == [
        (0, "profile", "undo", "error", 1),
        (0, "profile", "undo", "error", 2),
        (0, "profile", "undo", "done", 3),
        (0, "reserve", "undo", "done", 1),
    ]
    _nothing_left(world, "C")


@pytest.mark.parametrize("first", ["completed", "failed"])
def test_a_retried_order_never_activates_twice(first):
    world = World()
    if first == "failed":
        world.charging.fault = _fail_at("billing", "refuse")
    order = world.ordering.place("mobile-l", 4, "t1", time_s=0.0, order_id="D")
    assert order.state == first
    asked, records = world.network.asked, len(world.records)
    again = world.ordering.place("mobile-l", 4, "t1", time_s=HOUR, order_id="D")
    assert again is order and again.state == first
    assert world.network.asked == asked and len(world.records) == records
    assert world.homed() == BASE + (4 if first == "completed" else 0)
    assert world.profiles.creates == 4  # created once each (and removed again when failed)
    assert world.charging.starts == (4 if first == "completed" else 0)


def test_an_order_event_on_the_bus_is_an_order_keyed_by_its_event():
    world = World()
    event = BusinessEvent(HOUR, "order", "mobile-s", count=2, tower="t1", event_index=4)
    world.bus.publish(event)
    world.bus.publish(event)  # delivered twice: the event's index is the order's key
    order = world.ordering.order("ev4")
    assert (order.state, order.source, order.event_index) == ("completed", "event", 4)
    assert world.homed() == BASE + 2
    assert len(world.of_type(OrderStateChange)) == 3


# --- property: random orders and failures -----------------------------------------------

STEP_FAULTS = st.sampled_from([None, None, None, "refuse", "error", "commit_then_error"])


@settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(["mobile-s", "mobile-l", "mobile-xl"]),
            st.integers(0, 4),
            st.sampled_from(["t1", "t1", "t1", "t9"]),
        ),
        min_size=1,
        max_size=6,
    ),
    faults=st.dictionaries(
        st.tuples(st.integers(1, 6), st.integers(0, 3), st.sampled_from(["profile", "billing"])),
        STEP_FAULTS,
        max_size=8,
    ),
    refused=st.sets(st.integers(1, 20), max_size=4),
    undo_failures=st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
    room=st.integers(0, 12),
)
def test_random_orders_and_failures_keep_the_saga_invariants(
    orders, faults, refused, undo_failures, room
):
    world = World(max_subscribers=BASE + room, compensation_attempts=2)

    def fault(key: StepKey) -> str | None:
        return faults.get((int(key[0].split("-")[1]), key[1], key[2]))

    world.profiles.fault = fault
    world.charging.fault = fault
    world.network.refuse = refused
    world.network.undo_failures, world.profiles.undo_failures, world.charging.undo_failures = (
        undo_failures
    )
    placed = [
        world.ordering.place(product, count, tower, time_s=i * 60.0)
        for i, (product, count, tower) in enumerate(orders)
    ]
    world.bus.publish(RunEnded(HOUR))
    while world.ordering.retry_compensations(HOUR):  # owed ones succeed in the end
        pass
    completed = [(o, item) for o in placed for item in o.items if item.state == "completed"]
    for order in placed:
        assert order.state in FINAL_STATES and order.transitions[-1][1] == order.state
        assert (order.state in ("failed", "partial", "rejected")) == bool(order.reason)
        done = sum(item.state == "completed" for item in order.items)
        expected = (
            "rejected"
            if not order.items
            else "completed"
            if done == order.quantity
            else "failed"
            if done == 0
            else "partial"
        )
        assert order.state == expected
        assert all(item.state in ("completed", "failed") for item in order.items)
    # nothing left behind: exactly the completed items hold a place, a profile and billing
    assert world.homed() == BASE + len(completed)
    assert sorted(world.profiles.profiles) == sorted(
        (o.order_id, item.index, "profile") for o, item in completed
    )
    assert sorted(world.charging.billing) == sorted(
        (o.order_id, item.index, "billing") for o, item in completed
    )
    active = set(range(world.sim.subscribers.count)) - set(
        world.sim.subscribers.released.nonzero()[0].tolist()
    )
    assert active == set(range(BASE)) | {item.subscriber for _, item in completed}
    # a retry of every order changes nothing
    asked = world.network.asked
    for order in placed:
        assert world.ordering.place("x", 1, "t1", time_s=HOUR, order_id=order.order_id) is order
    assert world.network.asked == asked and world.homed() == BASE + len(completed)


# --- done when: the reference scenario ---------------------------------------------------


def test_the_reference_scenarios_orders_complete_on_t_s1_and_fail_on_isolated_t_n3(
    example_raw,
):
    scenario = parse_scenario(example_raw, "metro.yaml")
    bus = Bus()
    sim = Simulation(scenario, bus)
    profiles, charging = FakeProfiles(), FakeCharging()
    assert scenario.catalog is not None
    ordering = Ordering(
        bus, sim, profiles, charging, products=[p.id for p in scenario.catalog.products]
    )
    sim.advance_to(10 * HOUR - 1)
    s1, n3 = sim.homed_subscribers("t-s1"), sim.homed_subscribers("t-n3")
    sim.run()
    # events[1]: 150 mobile-l on t-s1 at 10h
    ok = ordering.order("ev1")
    assert (ok.state, ok.quantity, ok.account) == ("completed", 150, "acct-ev1")
    assert [(t, s) for t, s, _ in ok.transitions] == [
        (10 * HOUR, "acknowledged"),
        (10 * HOUR, "inProgress"),
        (10 * HOUR, "completed"),
    ]
    assert sim.homed_subscribers("t-s1") == s1 + 150
    assert sum(k[0] == "ev1" for k in profiles.profiles) == 150
    assert sum(k[0] == "ev1" for k in charging.billing) == 150
    # events[6]: 20 mobile-s on t-n3 at 40h30m, while l-n3 (cut at 40h for 1h30m) isolates it
    failed = ordering.order("ev6")
    assert failed.state == "failed"
    assert failed.reason == "20 of 20 items failed: 20 x reserve: tower has no path to a core"
    assert [(t, s) for t, s, _ in failed.transitions] == [
        (40.5 * HOUR, "acknowledged"),
        (40.5 * HOUR, "inProgress"),
        (40.5 * HOUR, "failed"),
    ]
    assert sim.homed_subscribers("t-n3") == n3
    assert not any(k[0] == "ev6" for k in profiles.profiles)
    assert not any(k[0] == "ev6" for k in charging.billing)
    assert ordering.counts()["completed"] == 1 and ordering.counts()["failed"] == 1

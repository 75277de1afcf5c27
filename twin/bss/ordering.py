"""Product ordering (TMF622): orders, their items, and the activation saga of each item.

An order comes from a scenario's ``order`` event (a :class:`~twin.feed.BusinessEvent` on the
bus) or from :meth:`Ordering.place`. It asks for ``count`` new subscriptions of one product
homed on one tower: one order item per subscription. The rules (docs/ordering.md):

- An invalid request (unknown product, unknown tower, count out of range) is ``rejected``.
  A valid one is ``acknowledged``, then ``inProgress`` while its items activate, then
  ``completed`` (every item active), ``failed`` (none) or ``partial`` (some). Every
  transition is a :class:`OrderStateChange` with its simulation time.
- Each item activates by a saga over three systems: reserve capacity on the home tower
  (the network's ``admit_subscription``), create the subscription profile (customers), start
  billing. When a step fails, the steps done are compensated in reverse order (release,
  remove the profile, stop billing), so a failed item leaves nothing behind.
- Every step and compensation is keyed by ``(order id, item index, step)``; the journal makes
  a repeated step return its first result, and an order id seen before is never activated
  again: placing it again returns the order as it stands.
- A compensation that raises is retried at once, up to ``compensation_attempts`` times; if it
  still fails it stays pending (the item's remaining compensations wait behind it, in order)
  and is retried on every later order and at the run's end, until it succeeds. Every attempt
  is a :class:`SagaStep` record, so the order's history shows it.
- The new subscriptions of an order belong to a new account of their own, ``acct-<order id>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from twin.bss.contracts import Charging, Profiles, StepKey, StepRefused
from twin.bus import Bus
from twin.feed import BusinessEvent, Inventory, NetworkCommands, RunEnded

__all__ = [
    "FINAL_STATES",
    "ORDER_STATES",
    "STEPS",
    "OrderItemChange",
    "OrderStateChange",
    "Ordering",
    "ProductOrder",
    "SagaStep",
    "account_of",
    "attach_ordering",
    "order_counts",
]

OrderState = Literal["acknowledged", "rejected", "inProgress", "completed", "failed", "partial"]
ItemState = Literal["acknowledged", "inProgress", "completed", "failed"]
ORDER_STATES: tuple[OrderState, ...] = (
    "acknowledged",
    "rejected",
    "inProgress",
    "completed",
    "failed",
    "partial",
)
FINAL_STATES = frozenset({"rejected", "completed", "failed", "partial"})
Step = Literal["reserve", "profile", "billing"]
STEPS: tuple[Step, ...] = ("reserve", "profile", "billing")  # the order a saga does them in
# An order's items: the same bound as a scenario's events[].count.
MAX_ITEMS = 10_000_000


@dataclass(frozen=True)
class OrderStateChange:
    """A product order entering ``state`` at ``time_s`` (TMF622 ``ProductOrder``).

    ``previous`` is None for the first transition (``acknowledged``). ``reason`` says why an
    order was rejected, failed or only partly done; ``completed`` / ``failed`` count its items
    in those states so far. ``source`` is ``event`` (a scenario event, ``event_index`` set) or
    ``api`` (:meth:`Ordering.place`).
    """

    time_s: float
    order_id: str
    state: OrderState
    previous: OrderState | None
    reason: str
    account: str
    product: str
    tower: str
    quantity: int
    completed: int
    failed: int
    source: Literal["event", "api"]
    event_index: int = -1

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class OrderItemChange:
    """An order item (one subscription) ending ``completed`` or ``failed`` at ``time_s``:
    its subscriber in the network and its subscription id when active, the reason when not."""

    time_s: float
    order_id: str
    item: int
    state: ItemState
    subscriber: int
    subscription: str
    reason: str


@dataclass(frozen=True)
class SagaStep:
    """One attempt of a saga step (``action`` ``do``) or of its compensation (``undo``).

    ``outcome``: ``done``; ``refused`` (the system said no, ``detail`` says why); ``error``
    (the call raised: for a step, the item fails and the step is compensated too, since it
    may have happened; for a compensation, it is retried); ``pending`` (a compensation out of
    immediate attempts, to be retried later).
    """

    time_s: float
    order_id: str
    item: int
    step: Step
    action: Literal["do", "undo"]
    outcome: Literal["done", "refused", "error", "pending"]
    attempt: int
    detail: str = ""


def account_of(order_id: str) -> str:
    """The account an order's new subscriptions belong to: one new account per order."""
    return f"acct-{order_id}"


@dataclass
class _Item:
    index: int
    state: ItemState = "acknowledged"
    subscriber: int = -1
    subscription: str = ""
    reason: str = ""


@dataclass
class ProductOrder:
    """An order as it stands: its state, items and transitions ``(time_s, state, reason)``."""

    order_id: str
    account: str
    product: str
    tower: str
    quantity: int
    source: Literal["event", "api"]
    event_index: int
    state: OrderState = "acknowledged"
    reason: str = ""
    items: list[_Item] = field(default_factory=list)
    transitions: list[tuple[float, OrderState, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "state": self.state,
            "reason": self.reason,
            "account": self.account,
            "product": self.product,
            "tower": self.tower,
            "quantity": self.quantity,
            "completed": sum(item.state == "completed" for item in self.items),
            "failed": sum(item.state == "failed" for item in self.items),
            "transitions": [{"time_s": t, "state": s, "reason": r} for t, s, r in self.transitions],
        }


class Ordering:
    """The ordering function of the twin: takes orders, runs their sagas, publishes records.

    ``network``, ``profiles`` and ``charging`` are the three systems an activation spans
    (:mod:`twin.bss.contracts`). ``products`` are the catalog's product ids (None: any
    product is accepted, for a scenario without a catalog); the towers are the inventory's,
    learnt from the :class:`~twin.feed.Inventory` on the bus.
    """

    def __init__(
        self,
        bus: Bus,
        network: NetworkCommands,
        profiles: Profiles,
        charging: Charging,
        *,
        products: Collection[str] | None = None,
        compensation_attempts: int = 3,
    ):
        self.bus = bus
        self.network = network
        self.profiles = profiles
        self.charging = charging
        self.products = None if products is None else frozenset(products)
        self.compensation_attempts = compensation_attempts
        self.towers: frozenset[str] | None = None
        self.orders: dict[str, ProductOrder] = {}
        self._journal: dict[StepKey, Any] = {}  # what each step done returned
        self._compensated: set[StepKey] = set()
        # per (order, item): the compensations still to run, in the order they must run
        self._pending: dict[tuple[str, int], list[Step]] = {}
        self._placed = 0
        bus.subscribe(Inventory, self._on_inventory)
        bus.subscribe(BusinessEvent, self._on_business)
        bus.subscribe(RunEnded, self._on_end)

    # --- the bus ---------------------------------------------------------------------------

    def _on_inventory(self, inventory: Inventory) -> None:
        self.towers = frozenset(
            node
            for node, role in zip(inventory.node_ids, inventory.node_roles, strict=True)
            if role == "tower"
        )

    def _on_business(self, event: BusinessEvent) -> None:
        if event.action != "order":
            return
        self._take(
            f"ev{event.event_index}",
            event.product,
            event.count,
            event.tower,
            event.time_s,
            "event",
            event.event_index,
        )

    def _on_end(self, record: RunEnded) -> None:
        self.retry_compensations(record.time_s)

    # --- the Python call -------------------------------------------------------------------

    def place(
        self,
        product: str,
        count: int,
        tower: str,
        *,
        time_s: float,
        order_id: str | None = None,
    ) -> ProductOrder:
        """Place an order for ``count`` subscriptions of ``product`` on ``tower`` at
        ``time_s`` and return it in its final state.

        ``order_id`` is the idempotency key: an order id seen before returns that order as it
        stands and activates nothing. Without one, ``ord-<n>`` is given.
        """
        if order_id is None:
            self._placed += 1
            order_id = f"ord-{self._placed}"
            while order_id in self.orders:
                self._placed += 1
                order_id = f"ord-{self._placed}"
        return self._take(order_id, product, count, tower, time_s, "api", -1)

    def order(self, order_id: str) -> ProductOrder:
        return self.orders[order_id]

    def counts(self) -> dict[str, int]:
        """How many orders are in each state now, every state named."""
        return order_counts(order.state for order in self.orders.values())

    @property
    def pending_compensations(self) -> dict[tuple[str, int], list[Step]]:
        """The compensations still owed, per ``(order id, item)``, in the order they run."""
        return {key: list(steps) for key, steps in self._pending.items()}

    def retry_compensations(self, time_s: float) -> int:
        """Retry the pending compensations; return how many items still have some."""
        for order_id, index in list(self._pending):
            self._compensate(self.orders[order_id], self.orders[order_id].items[index], time_s)
        return len(self._pending)

    # --- orders ----------------------------------------------------------------------------

    def _take(
        self,
        order_id: str,
        product: str,
        count: int,
        tower: str,
        time_s: float,
        source: Literal["event", "api"],
        event_index: int,
    ) -> ProductOrder:
        existing = self.orders.get(order_id)
        if existing is not None:
            return existing  # a retry: never activated twice
        if self._pending:
            self.retry_compensations(time_s)
        order = ProductOrder(
            order_id, account_of(order_id), product, tower, count, source, event_index
        )
        self.orders[order_id] = order
        self._transition(order, "acknowledged", time_s)
        problem = self._invalid(product, count, tower)
        if problem:
            self._transition(order, "rejected", time_s, problem)
            return order
        order.items = [_Item(i) for i in range(count)]
        self._transition(order, "inProgress", time_s)
        for item in order.items:
            self._activate(order, item, time_s)
        done = sum(item.state == "completed" for item in order.items)
        if done == count:
            self._transition(order, "completed", time_s)
        else:
            reasons = Counter(item.reason for item in order.items if item.state == "failed")
            why = "; ".join(f"{n} x {reason}" for reason, n in sorted(reasons.items()))
            if done == 0:
                self._transition(order, "failed", time_s, f"{count} of {count} items failed: {why}")
            else:
                self._transition(
                    order, "partial", time_s, f"{count - done} of {count} items failed: {why}"
                )
        return order

    def _invalid(self, product: str, count: int, tower: str) -> str:
        if self.products is not None and product not in self.products:
            return f"unknown product '{product}'"
        if self.towers is not None and tower not in self.towers:
            return f"unknown tower '{tower}'"
        if not 1 <= count <= MAX_ITEMS:
            return f"count {count} out of range (1 to {MAX_ITEMS:,})"
        return ""

    def _transition(
        self, order: ProductOrder, state: OrderState, time_s: float, reason: str = ""
    ) -> None:
        previous = order.state if order.transitions else None
        order.state, order.reason = state, reason
        order.transitions.append((time_s, state, reason))
        self.bus.publish(
            OrderStateChange(
                time_s,
                order.order_id,
                state,
                previous,
                reason,
                order.account,
                order.product,
                order.tower,
                order.quantity,
                sum(item.state == "completed" for item in order.items),
                sum(item.state == "failed" for item in order.items),
                order.source,
                order.event_index,
            )
        )

    # --- the saga --------------------------------------------------------------------------

    def _activate(self, order: ProductOrder, item: _Item, time_s: float) -> None:
        """Run one item's saga: every step, or the compensations of those begun."""
        item.state = "inProgress"
        begun: list[Step] = []
        for step in STEPS:
            key: StepKey = (order.order_id, item.index, step)
            try:
                self._do(step, key, order, item, time_s)
            except StepRefused as refusal:
                item.reason = f"{step}: {refusal}"
                self._record(key, time_s, "do", "refused", 1, str(refusal))
                break
            except Exception as error:  # any failure of a system fails the item
                item.reason = f"{step}: {type(error).__name__}: {error}"
                self._record(key, time_s, "do", "error", 1, f"{type(error).__name__}: {error}")
                if step != "reserve":  # it may have happened: its keyed undo is safe either way
                    begun.append(step)
                break
            self._record(key, time_s, "do", "done", 1)
            begun.append(step)
        else:
            item.state = "completed"
            self._publish_item(order, item, time_s)
            return
        item.state = "failed"
        if begun:
            self._pending[(order.order_id, item.index)] = begun[::-1]
            self._compensate(order, item, time_s)
        self._publish_item(order, item, time_s)

    def _do(
        self, step: Step, key: StepKey, order: ProductOrder, item: _Item, time_s: float
    ) -> None:
        """Do one step once per key: a key done before returns what it returned then."""
        if key in self._journal:
            result = self._journal[key]
        elif step == "reserve":
            admission = self.network.admit_subscription(order.tower, order.product)
            if not admission.accepted:
                raise StepRefused(admission.reason)
            result = self._journal[key] = admission.subscriber
        elif step == "profile":
            result = self._journal[key] = self.profiles.create_subscription(
                key,
                account=order.account,
                subscriber=item.subscriber,
                product=order.product,
                time_s=time_s,
            )
        else:
            self.charging.start_billing(
                key, subscription=item.subscription, product=order.product, time_s=time_s
            )
            result = self._journal[key] = None
        if step == "reserve":
            item.subscriber = result
        elif step == "profile":
            item.subscription = result

    def _compensate(self, order: ProductOrder, item: _Item, time_s: float) -> None:
        """Run an item's owed compensations in order; one that keeps failing stays pending,
        with those behind it."""
        owed = self._pending[(order.order_id, item.index)]
        while owed:
            step = owed[0]
            key: StepKey = (order.order_id, item.index, step)
            if not self._undo(step, key, item, time_s):
                return
            owed.pop(0)
        del self._pending[(order.order_id, item.index)]

    def _undo(self, step: Step, key: StepKey, item: _Item, time_s: float) -> bool:
        if key in self._compensated:
            return True
        for attempt in range(1, self.compensation_attempts + 1):
            try:
                if step == "reserve":
                    self.network.release_subscription(item.subscriber)
                elif step == "profile":
                    self.profiles.remove_subscription(key)
                else:
                    self.charging.stop_billing(key)
            except Exception as error:  # retried, and recorded each time
                self._record(
                    key, time_s, "undo", "error", attempt, f"{type(error).__name__}: {error}"
                )
                continue
            self._record(key, time_s, "undo", "done", attempt)
            self._compensated.add(key)
            return True
        self._record(key, time_s, "undo", "pending", self.compensation_attempts, "retried later")
        return False

    def _record(
        self,
        key: StepKey,
        time_s: float,
        action: Literal["do", "undo"],
        outcome: Literal["done", "refused", "error", "pending"],
        attempt: int,
        detail: str = "",
    ) -> None:
        order_id, index, step = key
        self.bus.publish(
            SagaStep(time_s, order_id, index, cast(Step, step), action, outcome, attempt, detail)
        )

    def _publish_item(self, order: ProductOrder, item: _Item, time_s: float) -> None:
        self.bus.publish(
            OrderItemChange(
                time_s,
                order.order_id,
                item.index,
                item.state,
                item.subscriber if item.state == "completed" else -1,
                item.subscription if item.state == "completed" else "",
                item.reason,
            )
        )


def attach_ordering(
    bus: Bus,
    network: NetworkCommands,
    profiles: Profiles,
    charging: Charging,
    *,
    products: Collection[str] | None = None,
) -> Ordering:
    """Put ordering on a run's bus: orders from the bus's ``order`` events (and
    :meth:`Ordering.place`) activate on ``network`` (the simulation), ``profiles`` (customers)
    and ``charging`` (billing). Attach it before the simulation starts, so that it sees the
    inventory."""
    return Ordering(bus, network, profiles, charging, products=products)


def order_counts(states: Iterable[str]) -> dict[str, int]:
    """Count orders per state, every TMF622 state of :data:`ORDER_STATES` named (0 if none)."""
    counts: dict[str, int] = dict.fromkeys(ORDER_STATES, 0)
    for state in states:
        counts[state] += 1
    return counts

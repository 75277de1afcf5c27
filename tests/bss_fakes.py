"""In-memory participants of the activation saga that honour twin.bss.contracts, with failure
injection: stand-ins for customers and billing until their real modules are merged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twin.bss.contracts import StepKey, StepRefused
from twin.feed import Admission, NetworkCommands, Release

# What a step does when injected: "refuse" (StepRefused), "error" (raises before doing
# anything) or "commit_then_error" (does it, then raises: a timeout after the commit).
Fault = Callable[[StepKey], str | None]


def no_fault(_key: StepKey) -> str | None:
    return None


@dataclass
class FakeProfiles:
    """Customers' part: one profile per key; ``undo_failures`` makes the next removals raise."""

    fault: Fault = no_fault
    undo_failures: int = 0
    profiles: dict[StepKey, dict[str, Any]] = field(default_factory=dict)
    creates: int = 0  # calls that created a profile

    def create_subscription(
        self, key: StepKey, *, account: str, subscriber: int, product: str, time_s: float
    ) -> str:
        if key in self.profiles:
            return str(self.profiles[key]["subscription"])
        kind = self.fault(key)
        if kind == "refuse":
            raise StepRefused("customer record locked")
        if kind == "error":
            raise TimeoutError("customers did not answer")
        subscription = f"sub-{key[0]}-{key[1]}"
        self.profiles[key] = {
            "subscription": subscription,
            "account": account,
            "subscriber": subscriber,
            "product": product,
            "since_s": time_s,
        }
        self.creates += 1
        if kind == "commit_then_error":
            raise TimeoutError("customers answered too late")
        return subscription

    def remove_subscription(self, key: StepKey) -> None:
        if self.undo_failures:
            self.undo_failures -= 1
            raise ConnectionError("customers unavailable")
        self.profiles.pop(key, None)


@dataclass
class FakeCharging:
    """Billing's part: one charging record per key."""

    fault: Fault = no_fault
    undo_failures: int = 0
    billing: dict[StepKey, tuple[str, str, float]] = field(default_factory=dict)
    starts: int = 0

    def start_billing(
        self, key: StepKey, *, subscription: str, product: str, time_s: float
    ) -> None:
        if key in self.billing:
            return
        kind = self.fault(key)
        if kind == "refuse":
            raise StepRefused("no rating plan for the product")
        if kind == "error":
            raise TimeoutError("billing did not answer")
        self.billing[key] = (subscription, product, time_s)
        self.starts += 1
        if kind == "commit_then_error":
            raise TimeoutError("billing answered too late")

    def stop_billing(self, key: StepKey) -> None:
        if self.undo_failures:
            self.undo_failures -= 1
            raise ConnectionError("billing unavailable")
        self.billing.pop(key, None)


@dataclass
class FlakyNetwork:
    """The simulation's southbound commands, with failure injection: ``refuse`` makes the
    n-th admissions (counted from 1) refused, ``undo_failures`` the next releases raise."""

    network: NetworkCommands
    refuse: set[int] = field(default_factory=set)
    undo_failures: int = 0
    asked: int = 0

    def admit_subscription(self, tower: str, product: str) -> Admission:
        self.asked += 1
        if self.asked in self.refuse:
            return Admission(False, tower, "admission control timed out")
        return self.network.admit_subscription(tower, product)

    def release_subscription(self, subscriber: int) -> Release:
        if self.undo_failures:
            self.undo_failures -= 1
            raise ConnectionError("network management unavailable")
        return self.network.release_subscription(subscriber)

"""What the ordering saga asks of the systems it activates a subscription in.

Activation is a saga over three systems (docs/bss.md): the network reserves capacity on the
home tower (:class:`twin.feed.NetworkCommands`), customers create the subscription profile
(:class:`Profiles`), billing starts charging it (:class:`Charging`). Each step has a
compensation that undoes it, run in reverse when a later step fails.

Every call is idempotent, keyed by a :data:`StepKey` ``(order id, item index, step name)``: the
same key a second time returns the first call's result and changes nothing, and a
compensation for a key that did nothing is a no-op. A participant refuses a step by raising
:class:`StepRefused` with the reason an operator would read.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Charging", "Profiles", "StepKey", "StepRefused"]

StepKey = tuple[str, int, str]


class StepRefused(Exception):
    """A participant refused a saga step; ``str(error)`` is the reason."""


class Profiles(Protocol):
    """The customer system's part of activation (implemented by ``twin.bss.customers``)."""

    def create_subscription(
        self, key: StepKey, *, account: str, subscriber: int, product: str, time_s: float
    ) -> str:
        """Create the subscription profile once per ``key`` and return its id."""
        ...

    def remove_subscription(self, key: StepKey) -> None:
        """Compensation: remove the profile the same ``key`` created, if any."""
        ...


class Charging(Protocol):
    """The billing system's part of activation (implemented by ``twin.bss.billing``)."""

    def start_billing(
        self, key: StepKey, *, subscription: str, product: str, time_s: float
    ) -> None:
        """Start charging a subscription from ``time_s``, once per ``key``."""
        ...

    def stop_billing(self, key: StepKey) -> None:
        """Compensation: undo what ``start_billing`` did for the same ``key``, if anything."""
        ...

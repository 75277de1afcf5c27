"""Customers: accounts and the subscriptions they hold, built from the network's subscribers.

The network's inventory names each subscriber's home cell and product; the BSS groups them into
accounts by a seeded rule (docs/bss.md): account sizes are drawn from ``customers.account_sizes``
with a generator seeded by the run's seed, and consecutive subscriber indices fill each account
in turn. Subscription ``SUB-<n>`` is the n-th subscription (the n-th subscriber of the start
inventory); accounts are ``ACC-<n>``. The ordering saga adds subscriptions through
:meth:`Customers.create_subscription` (the :class:`~twin.bss.contracts.Profiles` contract) and
removes them, as compensation, through :meth:`Customers.remove_subscription`: a removed
subscription leaves no trace (no profile, not billed, not stored).

At the end of the run it publishes the customer base (:class:`~twin.bss.records.CustomerBase`)
for the store.
"""

from __future__ import annotations

import numpy as np

from sim.scenario import Customers as CustomersConfig
from twin.bss.contracts import StepKey, StepRefused
from twin.bss.records import CustomerBase, account_id, subscription_id

__all__ = ["Customers", "account_sizes"]

# one child stream of the run's seed for the twin's customer grouping
_STREAM = 0xB55C057


def account_sizes(subscribers: int, config: CustomersConfig, seed: int) -> np.ndarray:
    """The size of each account holding ``subscribers`` subscriptions in index order, drawn
    from ``config.account_sizes`` (the last account takes what is left)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, _STREAM]))
    sizes = np.array(sorted(config.account_sizes), dtype=np.int64)
    shares = np.array([config.account_sizes[s] for s in sizes], dtype=float)
    mean = float((sizes * shares).sum())
    draws = rng.choice(sizes, size=int(subscribers / mean) + 16, p=shares / shares.sum())
    while int(draws.sum()) < subscribers:  # rare: the draw fell short of the mean
        draws = np.concatenate([draws, rng.choice(sizes, size=16, p=shares / shares.sum())])
    ends = np.cumsum(draws)
    count = int(np.searchsorted(ends, subscribers)) + 1
    out = draws[:count].copy()
    out[-1] -= int(ends[count - 1]) - subscribers
    return out


class Customers:
    """The accounts and subscriptions, in columnar arrays indexed by subscription ordinal."""

    def __init__(self, config: CustomersConfig, products: tuple[str, ...]):
        self.config = config
        self.products = list(products)  # product index -> id (the catalog's order)
        self.subscriber = np.zeros(0, dtype=np.int64)  # network subscriber index
        self.account = np.zeros(0, dtype=np.int64)  # account ordinal
        self.product = np.zeros(0, dtype=np.int64)
        self.cell = np.zeros(0, dtype=np.int64)  # home cell, index into the inventory
        self.start_s = np.zeros(0, dtype=float)
        self.removed = np.zeros(0, dtype=bool)
        self.accounts = 0
        self.account_names: dict[str, int] = {}  # named by the saga, beyond ACC-<n>
        self._labels: dict[int, str] = {}  # the same, by ordinal
        self._of_subscriber = np.full(0, -1, dtype=np.int64)
        self._created: dict[StepKey, int] = {}
        self._compensated: set[StepKey] = set()
        self.cell_ids: tuple[str, ...] = ()
        self.cell_tower: tuple[str, ...] = ()
        self.admitted_cell: dict[int, int] = {}  # subscriber -> cell, from the network

    # --- building --------------------------------------------------------------------------

    def load_inventory(
        self,
        subscriber_cell: np.ndarray,
        subscriber_product: np.ndarray,
        product_names: tuple[str, ...],
        cell_ids: tuple[str, ...],
        cell_tower: tuple[str, ...],
        seed: int,
    ) -> None:
        """Open one subscription per subscriber of the start inventory, grouped in accounts."""
        n = len(subscriber_cell)
        to_catalog = np.array(
            [self.products.index(p) if p in self.products else -1 for p in product_names],
            dtype=np.int64,
        )
        self.subscriber = np.arange(n, dtype=np.int64)
        self.product = to_catalog[subscriber_product] if n else np.zeros(0, dtype=np.int64)
        self.cell = np.asarray(subscriber_cell, dtype=np.int64).copy()
        self.start_s = np.zeros(n)
        self.removed = self.product < 0  # a product the catalog does not know is not ours
        sizes = account_sizes(n, self.config, seed) if n else np.zeros(0, dtype=np.int64)
        self.account = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        self.accounts = len(sizes)
        self._of_subscriber = np.where(self.removed, -1, self.subscriber)
        self.cell_ids, self.cell_tower = cell_ids, cell_tower

    def subscriptions_of(self, subscribers: np.ndarray) -> np.ndarray:
        """The subscription ordinal of each network subscriber index, -1 for none."""
        known = subscribers < len(self._of_subscriber)
        out = np.full(len(subscribers), -1, dtype=np.int64)
        out[known] = self._of_subscriber[subscribers[known]]
        return out

    def __len__(self) -> int:
        return len(self.subscriber)

    @staticmethod
    def subscription_id(ordinal: int) -> str:
        return subscription_id(ordinal)

    def account_id(self, ordinal: int) -> str:
        """An account's id: ``ACC-<n>``, or the name the saga opened it with."""
        return account_id(ordinal, self._labels)

    def account_labels(self) -> dict[int, str]:
        """The accounts the saga named, by ordinal (a copy)."""
        return dict(self._labels)

    def ordinal(self, subscription: str) -> int:
        """The ordinal of subscription id ``SUB-<n>``, or -1 when there is none."""
        if not subscription.startswith("SUB-") or not subscription[4:].isdigit():
            return -1
        n = int(subscription[4:]) - 1
        return n if 0 <= n < len(self) and not self.removed[n] else -1

    # --- the saga's contract (twin.bss.contracts.Profiles) -----------------------------------

    def create_subscription(
        self, key: StepKey, *, account: str, subscriber: int, product: str, time_s: float
    ) -> str:
        """Create the subscription profile once per ``key`` and return its id.

        ``account`` is an account id (``ACC-<n>``, or any name, opened on first use; empty
        opens a new account). Refused for a product the catalog does not sell, a subscriber
        that already has a subscription, or a key already compensated.
        """
        if key in self._created:
            return self.subscription_id(self._created[key])
        if key in self._compensated:
            raise StepRefused(f"step {key} was compensated; a new attempt needs a new key")
        if product not in self.products:
            raise StepRefused(f"unknown product '{product}'")
        if subscriber < 0:
            raise StepRefused(f"no such subscriber {subscriber}")
        if subscriber < len(self._of_subscriber) and self._of_subscriber[subscriber] >= 0:
            raise StepRefused(f"subscriber {subscriber} already has a subscription")
        account_ordinal = self._account(account)
        n = len(self)
        self.subscriber = np.append(self.subscriber, subscriber)
        self.account = np.append(self.account, account_ordinal)
        self.product = np.append(self.product, self.products.index(product))
        # the network told its home cell when it admitted it (SubscriptionAdmitted)
        self.cell = np.append(self.cell, self.admitted_cell.get(subscriber, -1))
        self.start_s = np.append(self.start_s, time_s)
        self.removed = np.append(self.removed, False)
        if subscriber >= len(self._of_subscriber):
            grown = np.full(subscriber + 1, -1, dtype=np.int64)
            grown[: len(self._of_subscriber)] = self._of_subscriber
            self._of_subscriber = grown
        self._of_subscriber[subscriber] = n
        self._created[key] = n
        return self.subscription_id(n)

    def remove_subscription(self, key: StepKey) -> None:
        """Compensation: remove the profile ``key`` created, if any (a no-op otherwise)."""
        self._compensated.add(key)
        n = self._created.pop(key, None)
        if n is None or self.removed[n]:
            return
        self.removed[n] = True
        self._of_subscriber[self.subscriber[n]] = -1

    def set_cell(self, subscriber: int, cell: int) -> None:
        """The network's home cell of a subscriber admitted during the run."""
        if subscriber < len(self._of_subscriber) and self._of_subscriber[subscriber] >= 0:
            self.cell[self._of_subscriber[subscriber]] = cell

    def _account(self, account: str) -> int:
        if account.startswith("ACC-") and account[4:].isdigit():
            ordinal = int(account[4:]) - 1
            if 0 <= ordinal < self.accounts:
                return ordinal
        if account and account in self.account_names:
            return self.account_names[account]
        ordinal = self.accounts
        self.accounts += 1
        if account:
            self.account_names[account] = ordinal
            self._labels[ordinal] = account
        return ordinal

    def record(self, time_s: float, since: tuple[int, int] = (0, 0)) -> CustomerBase:
        """The customer base as it stands, removed subscriptions left out; with ``since``
        (subscriptions, accounts) as :meth:`extent` gave it, only what was added after."""
        first_subscription, first_account = since
        keep = np.flatnonzero(~self.removed)
        keep = keep[keep >= first_subscription]
        used = np.zeros(self.accounts, dtype=bool)
        used[self.account[keep]] = True
        used[:first_account] = False
        products = np.array(self.products, dtype=object)
        cells = np.array([*self.cell_ids, ""], dtype=object)
        return CustomerBase(
            time_s=time_s,
            account=np.flatnonzero(used),
            account_labels=self.account_labels(),
            subscription=keep,
            subscription_account=self.account[keep],
            subscriber=self.subscriber[keep],
            product=products[self.product[keep]],
            cell=cells[self.cell[keep]],  # -1 picks the last: ''
            start_s=self.start_s[keep],
        )

    def extent(self) -> tuple[int, int]:
        """How many subscriptions and accounts there are so far (for :meth:`record`)."""
        return len(self), self.accounts

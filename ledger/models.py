"""Plain, immutable records the ledger returns: accounts, transfers, holds, orders, payments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balance in minor units.

    `posted` is credits minus debits. `held` is reserved by pending holds. `available` is what may
    be spent now; `debt` is what a clawback left owing (a negative posted balance).
    """

    account_id: int
    posted: int
    held: int

    @property
    def available(self) -> int:
        return max(0, self.posted - self.held)

    @property
    def debt(self) -> int:
        return max(0, -self.posted)

    @property
    def shown(self) -> int:
        """The balance a message tells the user: what is available, or the debt as a negative
        balance (`core.notices.balance_now`)."""
        return self.posted if self.posted < 0 else self.available


class Transfer(NamedTuple):
    """One immutable movement of `amount` from `debit_account_id` to `credit_account_id`.

    A named tuple rather than a frozen dataclass like the other records: one is built for
    every transfer on the writer's hot path, and a tuple is built in a quarter of the time (a
    frozen dataclass sets each field through `object.__setattr__`)."""

    id: int
    key: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    kind: str
    memo: str
    order_id: int | None
    hold_id: int | None
    payment_id: int | None
    created_at: int


@dataclass(frozen=True, slots=True)
class Hold:
    """A pending reservation of credits (TigerBeetle's pending transfer)."""

    id: int
    key: str
    account_id: int
    amount: int
    state: str  # pending | posted | voided | expired
    order_id: int | None
    memo: str
    expires_at: int
    created_at: int
    resolved_at: int | None
    posted_amount: int


@dataclass(frozen=True, slots=True)
class PostResult:
    """The transfers a post created (one per credit account of the split)."""

    hold: Hold
    transfers: tuple[Transfer, ...]


@dataclass(frozen=True, slots=True)
class Order:
    """A top-up or a purchase, and where it stands."""

    id: int
    user_id: int
    kind: str  # topup | purchase
    service_id: str | None
    amount: int
    state: str  # open | paid | placed | failed | expired | cancelled | completed
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Payment:
    """Money that arrived from a provider, credited exactly once."""

    id: int
    provider: str
    external_id: str
    user_id: int
    order_id: int | None
    amount: int
    provider_amount: int
    provider_currency: str
    transfer_id: int
    refunded: int
    created_at: int


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """What `record_payment` did: `new` is False when the payment had been recorded before."""

    payment: Payment
    new: bool
    balance: Balance


@dataclass(frozen=True, slots=True)
class Purchase:
    """A purchase placed from the balance: the hold on the credits and the queued deployment."""

    order: Order
    hold: Hold
    deployment_id: int
    balance: Balance


@dataclass(frozen=True, slots=True)
class Placed:
    """A purchase asked for from the balance; `new` is False when this order had been placed
    already (the other tap of a double tap), which held nothing again."""

    purchase: Purchase
    new: bool


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One line of an account's history, from that account's side: `amount` is signed."""

    transfer_id: int
    created_at: int
    amount: int
    kind: str
    memo: str
    balance_after: int

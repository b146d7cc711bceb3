"""Credit a payment for an order and place its buy-now purchase, in the caller's ONE write.

A purchase order paid directly (Stars, card, Stripe link) is a buy-now: the purchase (hold and
queued deployment, with its "Queued" status message) is placed in the same transaction as the
credit. The rules:

* The purchase is tried only with the first credit of a payment: a redelivered payment never
  places, later and unasked, a purchase that was refused the first time.
* A refused purchase (the user owes a debt, say) rolls back alone, in its own SAVEPOINT: the
  credit stands and the result says why (`purchase_error`).
* A payment for an order that can no longer be placed (it failed, was cancelled, expired or was
  placed already, e.g. paid another way meanwhile) is credit on the balance: nothing is tried,
  and the result names the order's state (`unplaceable`) so the user is told.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import deployments, ops
from .errors import LedgerError
from .models import Order, PaymentResult, Purchase
from .savepoint import savepoint

__all__ = ["BuyNow", "PaymentCredit", "buy_now", "credit_order_payment"]


@dataclass(frozen=True, slots=True)
class BuyNow:
    """What a buy-now did: placed `purchase`, was refused (`error`), or could not be tried
    because the order can no longer be placed (`unplaceable`: the order's state)."""

    purchase: Purchase | None = None
    error: str | None = None
    unplaceable: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentCredit:
    """A credited payment (`payment.new` says if it was new), the order after it, and the
    buy-now outcome."""

    payment: PaymentResult
    order: Order
    buy: BuyNow

    @property
    def new(self) -> bool:
        return self.payment.new

    @property
    def purchase(self) -> Purchase | None:
        return self.buy.purchase

    @property
    def purchase_error(self) -> str | None:
        return self.buy.error

    @property
    def unplaceable(self) -> str | None:
        return self.buy.unplaceable


def buy_now(conn: sqlite3.Connection, now: int, order: Order, new_payment: bool,
            hold_ttl_s: int) -> BuyNow:
    """After a payment for `order` (as it was before the payment) was recorded: place the
    purchase if this was the payment's first credit and the order could still be placed."""
    if order.kind != "purchase" or not new_payment:
        return BuyNow()
    if order.state not in ("open", "paid"):
        return BuyNow(unplaceable=order.state)
    try:
        with savepoint(conn, "buy_now"):
            purchase = ops.purchase(conn, now, order.id, order.user_id, now + hold_ttl_s)
            deployments.enqueue_queued_status(conn, now, purchase.deployment_id)
    except LedgerError as exc:
        return BuyNow(error=str(exc))
    return BuyNow(purchase=purchase)


def credit_order_payment(
    conn: sqlite3.Connection, now: int, *, provider: str, external_id: str, user_id: int,
    order_id: int, provider_amount: int, provider_currency: str, hold_ttl_s: int,
) -> PaymentCredit:
    """Record the payment for `order_id` once (credited the order's amount) and, for a
    purchase order that can still be placed, place the purchase in the same write."""
    order = ops.get_order(conn, order_id)
    result = ops.record_payment(conn, now, provider, external_id, user_id, order.amount,
                                provider_amount, provider_currency, order.id)
    bought = buy_now(conn, now, order, result.new, hold_ttl_s)
    if bought.purchase is not None:
        result = PaymentResult(result.payment, result.new, bought.purchase.balance)
    return PaymentCredit(result, ops.get_order(conn, order.id), bought)

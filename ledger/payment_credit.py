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
* The user hears of it once, in the same write: a placed purchase in its status ("Paid with
  308 Stars, queued"), anything else in a receipt; both go into the order's message when the
  chat showed one (`order_messages`), so its pay buttons go.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core import notices

from . import deployments, ops, order_messages
from .errors import LedgerError
from .models import Order, PaymentResult, Purchase
from .savepoint import savepoint

__all__ = ["BuyNow", "PaymentCredit", "buy_now", "credit_order_payment", "tell_receipt"]


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


def buy_now(conn: sqlite3.Connection, now: int, order: Order, payment: PaymentResult,
            hold_ttl_s: int) -> BuyNow:
    """After `payment` for `order` (as it was before the payment) was recorded: place the
    purchase if this was the payment's first credit and the order could still be placed. Its
    "Paid, queued" status goes into the order message (or a new one), as the receipt."""
    if order.kind != "purchase" or not payment.new:
        return BuyNow()
    if order.state not in ("open", "paid"):
        return BuyNow(unplaceable=order.state)
    paid = payment.payment
    try:
        with savepoint(conn, "buy_now"):
            purchase = ops.purchase(conn, now, order.id, order.user_id, now + hold_ttl_s)
            deployments.enqueue_queued_status(conn, now, purchase.deployment_id, lambda: notices.paid_with(
                paid.provider, paid.provider_amount, paid.provider_currency, paid.amount))
    except LedgerError as exc:
        return BuyNow(error=str(exc))
    return BuyNow(purchase=purchase)


def tell_receipt(conn: sqlite3.Connection, now: int, credit: PaymentCredit) -> None:
    """The answer to a new payment for an order: a placed purchase was told by its status; a
    top-up, or a purchase that could not be placed, gets its receipt in the order message (its
    pay buttons go) or a new message. Once per payment."""
    if not credit.new or credit.purchase is not None:
        return
    paid, order, balance = credit.payment.payment, credit.order, credit.payment.balance
    available = balance.available

    def receipt() -> str:
        how = notices.paid_with(paid.provider, paid.provider_amount, paid.provider_currency, paid.amount)
        if order.kind == "topup":
            return notices.topup_paid(order.id, order.amount, how, available)
        return notices.purchase_paid_not_placed(order.id, how, paid.amount, available, credit.unplaceable,
                                                credit.purchase_error)

    order_messages.tell(conn, now, order.id, order.user_id, receipt, key=f"receipt:{paid.provider}:{paid.external_id}")


def credit_order_payment(
    conn: sqlite3.Connection, now: int, *, provider: str, external_id: str, user_id: int,
    order_id: int, provider_amount: int, provider_currency: str, hold_ttl_s: int,
) -> PaymentCredit:
    """Record the payment for `order_id` once (credited the order's amount) and, for a
    purchase order that can still be placed, place the purchase in the same write."""
    order = ops.get_order(conn, order_id)
    result = ops.record_payment(conn, now, provider, external_id, user_id, order.amount,
                                provider_amount, provider_currency, order.id)
    bought = buy_now(conn, now, order, result, hold_ttl_s)
    if bought.purchase is not None:
        result = PaymentResult(result.payment, result.new, bought.purchase.balance)
    credit = PaymentCredit(result, ops.get_order(conn, order.id), bought)
    tell_receipt(conn, now, credit)
    return credit

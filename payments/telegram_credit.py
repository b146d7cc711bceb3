"""Credit a Telegram payment (Stars or card) to its order in ONE ledger transaction.

Used by the successful_payment handler and by the Stars reconciliation job, so a payment is
credited the same way whichever path sees it first. The dedupe key is the
`telegram_payment_charge_id` (`UNIQUE(provider, external_id)` in the ledger), never the payload:
an old invoice can be paid again and each charge is real money.

For a purchase order paid directly (buy-now), the purchase (hold + queued deployment) is placed
in the same transaction as the credit, together with its "Queued" status message (outbox), which
the deployment worker then edits. If the purchase cannot be placed (say the user is in debt), the
credit still stands: the purchase runs in its own SAVEPOINT and is rolled back alone.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from ledger import Ledger, LedgerError, Order, PaymentResult, Purchase, deployments, inbox, ops

__all__ = ["CreditResult", "credit_order_payment", "keep_unapplied", "provider_for_currency"]


@dataclass(frozen=True, slots=True)
class CreditResult:
    """What crediting did: the payment (with `new`), and the buy-now purchase if one was placed."""

    payment: PaymentResult
    order: Order
    purchase: Purchase | None
    purchase_error: str | None

    @property
    def new(self) -> bool:
        return self.payment.new


def provider_for_currency(currency: str) -> str:
    """The ledger's provider name for a Telegram payment in `currency`."""
    return "stars" if currency == "XTR" else "telegram_card"


async def credit_order_payment(
    ledger: Ledger, *, provider: str, charge_id: str, user_id: int, order_id: int,
    provider_amount: int, provider_currency: str,
) -> CreditResult:
    """Record the payment for `order_id` once and, for a purchase order, place the purchase."""
    hold_ttl = ledger.hold_ttl_s

    def op(conn: sqlite3.Connection, now: int) -> CreditResult:
        order = ops.get_order(conn, order_id)
        result = ops.record_payment(
            conn, now, provider, charge_id, user_id, order.amount, provider_amount,
            provider_currency, order.id,
        )
        purchase: Purchase | None = None
        error: str | None = None
        # Only with the first credit: the purchase was tried in that same transaction, so a
        # redelivered charge must not place a refused buy-now later, unasked (as Stripe's path).
        # A second real payment for an order already placed is credit on the balance, not a buy.
        if order.kind == "purchase" and result.new and order.state not in ops.PLACED_STATES:
            conn.execute("SAVEPOINT buy_now")
            try:
                purchase = ops.purchase(conn, now, order.id, user_id, now + hold_ttl)
                deployments.enqueue_queued_status(conn, now, purchase.deployment_id)
            except LedgerError as exc:
                conn.execute("ROLLBACK TO buy_now")
                error = str(exc)
            conn.execute("RELEASE buy_now")
        final = ops.get_order(conn, order.id)
        if purchase is not None:
            result = PaymentResult(result.payment, result.new, purchase.balance)
        return CreditResult(result, final, purchase, error)

    return await ledger.write(op)


async def keep_unapplied(ledger: Ledger, *, provider: str, charge_id: str, kind: str,
                         payload: dict[str, object], reason: str) -> bool:
    """Keep a payment we could not credit (bad payload, foreign order) for an admin to resolve."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return await ledger.write(lambda conn, now: inbox.keep(conn, now, provider, charge_id, kind, text, reason))

"""Refund a Stripe payment, in full or in part: the Refunds API, then the ledger clawback.

Stripe first (a refused refund must not debit the user), with an idempotency key the caller
derives from its request, so a retry after a crash gets the same refund back instead of a
second one. The clawback then follows the webhook's rule for `charge.refunded` exactly: the key
is `stripe:refund:<charge>:<cumulative amount refunded>` with the same memo, and the amount is
the cumulative total minus what refunds already took back. So whichever comes first, this call
or the webhook, the other finds the work done and the credits are taken back once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import stripe

from ledger import Ledger, Payment, ops

from .stripe_refund_due import REFUND_KEY, refund_due

__all__ = [
    "REFUND_KEY", "StripeRefund", "StripeRefundError", "clawback_refunded", "create_refund", "make_client_for",
    "payment_intent_of", "refund_payment",
]

PROVIDER = "stripe"
# REFUND_KEY (from payments.stripe_refund_due) is the prefix stripe_events uses for charge.refunded


class StripeRefundError(Exception):
    """Stripe refused or could not be reached; nothing was debited."""


@dataclass(frozen=True, slots=True)
class StripeRefund:
    refund_id: str
    charge_id: str
    amount: int  # cents refunded by this refund
    charge_amount_refunded: int  # cumulative on the charge, after it


async def payment_intent_of(client: stripe.StripeClient, payment: Payment) -> str:
    """The PaymentIntent behind a Stripe payment (recorded under its Checkout Session id)."""
    try:
        session = await client.v1.checkout.sessions.retrieve_async(payment.external_id)
    except stripe.StripeError as exc:
        raise StripeRefundError(f"Stripe: {exc.user_message or exc}") from exc
    intent = session.payment_intent
    if isinstance(intent, str) and intent:
        return intent
    if intent is not None and getattr(intent, "id", None):
        return str(intent.id)
    raise StripeRefundError(f"session {payment.external_id} has no payment to refund")


async def create_refund(
    client: stripe.StripeClient, payment: Payment, amount: int, idempotency_key: str,
    reason: str = "requested_by_customer",
) -> StripeRefund:
    """Create the refund at Stripe (once per `idempotency_key`) and read the charge's total."""
    intent = await payment_intent_of(client, payment)
    params: dict[str, Any] = {"payment_intent": intent, "amount": amount, "reason": reason,
                              "metadata": {"payment_id": str(payment.id)}}
    try:
        refund = await client.v1.refunds.create_async(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": idempotency_key},
        )
        charge_id = refund.charge if isinstance(refund.charge, str) else refund.charge.id  # type: ignore[union-attr]
        charge = await client.v1.charges.retrieve_async(charge_id)
    except stripe.StripeError as exc:
        raise StripeRefundError(f"Stripe refused the refund: {exc.user_message or exc}") from exc
    return StripeRefund(refund.id, charge_id, int(refund.amount), int(charge.amount_refunded))


def clawback_refunded(
    conn: sqlite3.Connection, now: int, payment: Payment, refund: StripeRefund
) -> int:
    """Take back what Stripe refunded and the ledger has not yet; returns the amount taken now."""
    due = refund_due(conn, payment, refund.charge_id, refund.charge_amount_refunded)
    if due.amount <= 0:
        return 0
    ops.clawback(conn, now, PROVIDER, payment.external_id, due.key, due.amount, due.memo)
    return due.amount


def make_client_for(api_key: str, api_base: str) -> stripe.StripeClient:
    """A client built like the checkout's (payments.stripe_checkout.make_client)."""
    from .stripe_checkout import make_client

    return make_client(api_key, api_base)



async def refund_payment(
    ledger: Ledger, client: stripe.StripeClient, payment: Payment, amount: int, idempotency_key: str
) -> tuple[StripeRefund, int]:
    """Refund and claw back in one go (no admin log); for callers outside the chat."""
    refund = await create_refund(client, payment, amount, idempotency_key)
    taken = await ledger.write(lambda conn, now: clawback_refunded(conn, now, payment, refund))
    return refund, taken

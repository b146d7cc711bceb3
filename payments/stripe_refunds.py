"""Refund a Stripe payment, in full or in part: the Refunds API, then the ledger clawback.

Stripe first (a refused refund must not debit the user). An outcome the shop does not know (a
timeout, a dropped answer, a 5xx) is `StripeRefundPending`, never a refusal: Stripe may have
refunded. So before any refund the charge's refunds are looked up (`GET /v1/refunds`): when
Stripe has refunded more than the ledger has taken back, that refund is the one (a lost answer,
or a refund made in the dashboard whose webhook is still coming) and no new one is made. The
idempotency key is per payment, amount and what the ledger had taken back before
(`gridshop-refund-<payment>-<amount>-<taken>`), not per admin request, so a retry gets the same
refund back. The clawback then follows the webhook's rule (`ledger.stripe_refund_due`): the
charge's refunded total as Stripe shows it, so whichever comes first, this or the webhook, the
credits are taken back once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import stripe

from ledger import Ledger, Payment, clawbacks, ops
from ledger.stripe_refund_due import REFUND_FAILED_KEY, REFUND_KEY, refund_due, take_or_give_back

__all__ = [
    "REFUND_KEY", "StripeRefund", "StripeRefundError", "StripeRefundPending", "clawback_refunded",
    "create_refund", "payment_intent_of", "refund_payment", "taken_back",
]

PROVIDER = "stripe"
# Refund states that hold money back from the customer's card (the others: failed, canceled).
_HOLDING = ("succeeded", "pending", "requires_action")
_KEYS = 10  # idempotency keys tried in a row past stored 500s


class StripeRefundError(Exception):
    """Stripe refused the refund; nothing was refunded, nothing was debited."""


class StripeRefundPending(StripeRefundError):
    """Stripe's answer is not known (timeout, lost answer, 5xx): it may have refunded. Nothing
    was debited yet; asking again looks it up and never refunds twice."""


@dataclass(frozen=True, slots=True)
class StripeRefund:
    refund_id: str
    charge_id: str
    amount: int  # cents refunded by this refund
    charge_amount_refunded: int  # cumulative on the charge, after it
    found: bool = False  # an earlier refund found at Stripe, not one made now


def _failure(exc: stripe.StripeError, what: str) -> StripeRefundError:
    status = exc.http_status or 0
    if isinstance(exc, stripe.APIConnectionError) or status >= 500 or status in (409, 429):
        return StripeRefundPending(f"Stripe did not answer {what}: {exc.user_message or exc}")
    return StripeRefundError(f"Stripe refused the refund: {exc.user_message or exc}")


def taken_back(conn: sqlite3.Connection, payment: Payment) -> int:
    """What refunds of this payment took back in the ledger, net of failed refunds."""
    return clawbacks.net_taken_back(conn, payment.id, REFUND_KEY, REFUND_FAILED_KEY)


async def payment_intent_of(client: stripe.StripeClient, payment: Payment) -> str:
    """The PaymentIntent behind a Stripe payment (recorded under its Checkout Session id)."""
    try:
        session = await client.v1.checkout.sessions.retrieve_async(payment.external_id)
    except stripe.StripeError as exc:
        raise _failure(exc, "about the payment") from exc
    intent = session.payment_intent
    if isinstance(intent, str):
        if intent:
            return intent
    elif intent is not None and intent.id:
        return str(intent.id)
    raise StripeRefundError(f"session {payment.external_id} has no payment to refund")


async def create_refund(
    client: stripe.StripeClient, payment: Payment, amount: int, taken: int,
    reason: str = "requested_by_customer",
) -> StripeRefund:
    """Refund `amount` at Stripe once, or find the refund an earlier try made; `taken` is what
    the ledger has taken back for refunds of this payment (`taken_back`)."""
    intent = await payment_intent_of(client, payment)
    try:
        listed = await client.v1.refunds.list_async(params={"payment_intent": intent, "limit": 100})
        holding = [r for r in listed.data if r.status in _HOLDING]
        at_stripe = sum(int(r.amount) for r in holding)
        if holding and at_stripe > taken:
            # Stripe refunded what the ledger has not taken back: an earlier try went through.
            newest = holding[0]
            return StripeRefund(newest.id, _charge_id(newest), at_stripe - taken, at_stripe,
                                found=True)
        params: dict[str, Any] = {"payment_intent": intent, "amount": amount, "reason": reason,
                                  "metadata": {"payment_id": str(payment.id)}}
        base = f"gridshop-refund-{payment.id}-{amount}-{taken}"
        for attempt in range(_KEYS):
            # A 500 Stripe stored under a key is replayed to every retry with it; the lookup
            # above showed nothing was refunded, so the next key in the series is safe.
            key = base if attempt == 0 else f"{base}-after-500-{attempt}"
            try:
                refund = await client.v1.refunds.create_async(
                    params=params,  # type: ignore[arg-type]
                    options={"idempotency_key": key},
                )
                break
            except stripe.APIError as exc:
                if not _replayed(exc):
                    raise
        else:
            raise StripeRefundPending("Stripe answered 500 to every try")
        charge = await client.v1.charges.retrieve_async(_charge_id(refund))
    except stripe.StripeError as exc:
        raise _failure(exc, "about the refund") from exc
    return StripeRefund(refund.id, charge.id, int(refund.amount), int(charge.amount_refunded))


def _replayed(exc: stripe.StripeError) -> bool:
    """A 5xx Stripe replayed from its store for the key, not a new failure."""
    headers = {str(k).lower(): v for k, v in (exc.headers or {}).items()}
    return (exc.http_status or 0) >= 500 and headers.get("idempotent-replayed") == "true"


def _charge_id(refund: Any) -> str:
    return refund.charge if isinstance(refund.charge, str) else refund.charge.id


def clawback_refunded(
    conn: sqlite3.Connection, now: int, payment: Payment, refund: StripeRefund
) -> int:
    """Take back what Stripe refunded and the ledger has not yet; returns the amount taken now."""
    due = refund_due(conn, payment, refund.charge_id, refund.charge_amount_refunded)
    if due.amount <= 0:
        return 0  # the webhook was first (a failed refund is given back by its own event)
    return take_or_give_back(conn, now, payment, due)


def refund_taken_back(conn: sqlite3.Connection, now: int, payment: Payment, refund: StripeRefund) -> int:
    """`clawback_refunded`, returning what this refund's clawback took back, whichever path took
    it (an admin racing the charge.refunded webhook sees the real amount, not 0)."""
    clawback_refunded(conn, now, payment, refund)
    transfer = ops.transfer_by_key(conn, message_key(conn, payment, refund))
    return transfer.amount if transfer is not None else 0


def message_key(conn: sqlite3.Connection, payment: Payment, refund: StripeRefund) -> str:
    """The key the user's message about this refund is queued under by the webhook too, so
    the user hears of one refund once."""
    return refund_due(conn, payment, refund.charge_id, refund.charge_amount_refunded).key


async def refund_payment(
    ledger: Ledger, client: stripe.StripeClient, payment: Payment, amount: int
) -> tuple[StripeRefund, int]:
    """Refund and claw back in one go (no admin log); for callers outside the chat."""
    taken = await ledger.read(lambda conn: taken_back(conn, payment))
    refund = await create_refund(client, payment, amount, taken)
    now_taken = await ledger.write(lambda conn, now: clawback_refunded(conn, now, payment, refund))
    return refund, now_taken

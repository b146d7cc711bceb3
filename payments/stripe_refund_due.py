"""What a Stripe charge's refunds still owe the ledger: one rule for the `charge.refunded`
webhook (`payments.stripe_events`) and an admin's refund (`payments.stripe_refunds`).

Stripe's `amount_refunded` is cumulative per charge, so the amount to take back now is that
total (capped at the payment) minus what refund clawbacks already took back, and never more
than what is left of the payment. The clawback key `stripe:refund:<charge>:<total>` and its memo
are the same on both paths, so whichever comes first, the other finds the work done.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ledger import PaymentNotFound, ops, stripe_state
from ledger.models import Payment

__all__ = ["REFUND_KEY", "RefundDue", "refund_due"]

PROVIDER = "stripe"
REFUND_KEY = "stripe:refund:"


@dataclass(frozen=True, slots=True)
class RefundDue:
    total: int  # refunded at Stripe on the charge, capped at the payment
    done: int  # already taken back by refund clawbacks
    amount: int  # to take back now; nothing when <= 0
    key: str  # the clawback's idempotency key
    memo: str  # the clawback's memo (part of its idempotent content)


def refund_due(conn: sqlite3.Connection, payment: Payment, charge_id: str, amount_refunded: int) -> RefundDue:
    """The refund arithmetic for `payment`, whose charge `charge_id` has `amount_refunded` in all."""
    total = min(amount_refunded, payment.amount)
    done = stripe_state.clawed_back(conn, payment.id, REFUND_KEY)
    fresh = ops.get_payment(conn, PROVIDER, payment.external_id)
    if fresh is None:
        raise PaymentNotFound(f"no Stripe payment {payment.external_id!r} is recorded")
    amount = min(total - done, fresh.amount - fresh.refunded)
    return RefundDue(total, done, amount, f"{REFUND_KEY}{charge_id}:{total}",
                     f"stripe refund of {payment.external_id}")

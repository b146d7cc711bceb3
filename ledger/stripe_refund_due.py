"""What a Stripe charge's refunds owe the ledger, both ways: one rule for the refund events
(`charge.refunded`, `refund.updated`, `charge.refund.updated`, through `ledger.stripe_events`)
and an admin's refund (`payments.stripe_refunds`).

Stripe's `amount_refunded` is the charge's refunded total, and it drops again when a refund
fails or is cancelled (the refund's `failure_balance_transaction` reverses it). So the ledger
follows that total, read back from Stripe: what refunds took back (clawbacks keyed
`stripe:refund:<charge>:<total>`), less what failed refunds gave back (reversals keyed
`stripe:refund-failed:<refund or charge>:...`), must equal it (capped at the payment). More is
taken back when it is higher, given back when it is lower; keys and memos are the same on
both paths, so whichever comes first, the other finds the work done.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import PaymentNotFound, clawbacks, ops
from .models import Payment

__all__ = ["REFUND_KEY", "REFUND_FAILED_KEY", "RefundDue", "refund_due", "take_or_give_back"]

PROVIDER = "stripe"
REFUND_KEY = "stripe:refund:"
REFUND_FAILED_KEY = "stripe:refund-failed:"


@dataclass(frozen=True, slots=True)
class RefundDue:
    total: int  # refunded at Stripe on the charge, capped at the payment
    done: int  # already taken back by refund clawbacks, net of failed refunds given back
    amount: int  # to take back now (> 0) or give back (< 0)
    key: str  # the idempotency key of that clawback or reversal
    memo: str  # its memo (part of its idempotent content)


def refund_due(conn: sqlite3.Connection, payment: Payment, charge_id: str, amount_refunded: int,
               refund_id: str | None = None) -> RefundDue:
    """The refund arithmetic for `payment`, whose charge `charge_id` has `amount_refunded` in
    all now; `refund_id` names the refund whose failure is being applied, if any."""
    total = min(amount_refunded, payment.amount)
    done = clawbacks.net_taken_back(conn, payment.id, REFUND_KEY, REFUND_FAILED_KEY)
    fresh = ops.get_payment(conn, PROVIDER, payment.external_id)
    if fresh is None:
        raise PaymentNotFound(f"no Stripe payment {payment.external_id!r} is recorded")
    if total >= done:
        # A total seen again after a failed refund gave credits back is a new clawback.
        failures = _failed_refunds_given_back(conn, payment.id)
        suffix = f":after-{failures}" if failures else ""
        return RefundDue(total, done, min(total - done, fresh.amount - fresh.refunded),
                         f"{REFUND_KEY}{charge_id}:{total}{suffix}",
                         f"stripe refund of {payment.external_id}")
    what = refund_id or f"{charge_id}:{total}"
    return RefundDue(total, done, total - done, f"{REFUND_FAILED_KEY}{what}",
                     f"stripe refund of {payment.external_id} failed")


def take_or_give_back(conn: sqlite3.Connection, now: int, payment: Payment, due: RefundDue) -> int:
    """Apply `due`: the amount taken back (> 0), given back (< 0) or 0 when nothing is owed."""
    if due.amount > 0:
        ops.clawback(conn, now, PROVIDER, payment.external_id, due.key, due.amount, due.memo)
    elif due.amount < 0:
        clawbacks.reverse_clawback(conn, now, PROVIDER, payment.external_id, due.key,
                                   -due.amount, due.memo)
    return due.amount


def _failed_refunds_given_back(conn: sqlite3.Connection, payment_id: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM transfers WHERE payment_id = ? AND kind = ? AND substr(key, 1, ?) = ?",
        (payment_id, clawbacks.REVERSAL, len(REFUND_FAILED_KEY), REFUND_FAILED_KEY),
    ).fetchone()
    return int(row[0])

"""What a Stripe dispute does to the ledger, following Stripe's lifecycle: an inquiry
(`warning_needs_response`) moves nothing; funds withdrawn (a negative balance transaction on
the dispute) take the credits back; funds reinstated (a positive one, a won chargeback) give
them back; the user and the admins are told at each step.

Every dispute event is applied from the dispute as Stripe shows it now (read back from the API
before the write), so the events may come in any order and any number of times: each step is
keyed by the dispute id and happens once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from core import notices

from . import clawbacks, ops, outbox, stripe_state
from .models import Payment
from .stripe_event_model import PROVIDER, Outcome, Policy, StripeEvent, tell_admins

DISPUTE_KEY = "stripe:dispute:"
INQUIRY_STATUSES = ("warning_needs_response", "warning_under_review", "warning_closed")
CLOSED_STATUSES = ("warning_closed", "won", "lost", "charge_refunded")


def apply_dispute(conn: sqlite3.Connection, now: int, event: StripeEvent, payment: Payment,
                  policy: Policy) -> Outcome:
    """Bring the ledger to the dispute's state: flag, take back, give back, tell."""
    dispute_id = event.object_id
    key = f"{DISPUTE_KEY}{dispute_id}"
    amount = event.amount or 0
    status = event.status or ""
    flag = f"stripe dispute {dispute_id}"
    stripe_state.set_account_flag(conn, payment.user_id, flag)
    if payment.order_id is not None:
        stripe_state.set_order_flag(conn, now, payment.order_id, flag)
    steps: list[str] = []

    def told(step: str, user_text: Callable[[], str], moved: int = 0) -> None:
        # One message per step and dispute, however often the events come.
        if outbox.queued(conn, f"{key}:{step}"):
            return
        balance = _balance(conn, now, payment)
        with_balance = step in ("withdrawn", "reinstated")
        outbox.enqueue(conn, now, payment.user_id, lambda: user_text() + (
            " " + notices.balance_now(balance) if with_balance else ""), key=f"{key}:{step}")
        tell_admins(conn, now, policy, f"{key}:{step}", lambda: notices.admin_stripe_dispute(
            dispute_id, payment.user_id, payment.order_id, status, amount,
            notices.dispute_moved(step, moved), balance))
        steps.append(step)

    if status in INQUIRY_STATUSES and not event.withdrawn:
        told("inquiry", lambda: notices.dispute_inquiry(payment.order_id, amount))
    taken = ops.transfer_by_key(conn, key)
    if event.withdrawn and taken is None:
        remaining = payment.amount - _refunded(conn, payment)
        take = min(amount, remaining)
        if take > 0:
            taken = ops.clawback(conn, now, PROVIDER, payment.external_id, key, take,
                                 f"stripe dispute of {payment.external_id}", flag=flag)
        told("withdrawn", lambda: notices.dispute_withdrawn(payment.order_id, take), take)
    if (event.reinstated or status == "won") and taken is not None:
        back_key = f"{key}:reinstated"
        if clawbacks.given_back(conn, back_key) == 0:
            clawbacks.reverse_clawback(conn, now, PROVIDER, payment.external_id, back_key,
                                       taken.amount, f"stripe dispute of {payment.external_id} won")
            told("reinstated", lambda: notices.dispute_reinstated(payment.order_id, taken.amount),
                 taken.amount)
    if status in ("lost", "warning_closed"):
        told("closed", lambda: notices.dispute_closed(payment.order_id, status))
    if not steps:
        return Outcome("duplicate", f"dispute {dispute_id} is {status}; nothing new",
                       payment.order_id)
    moved = "given_back" if "reinstated" in steps else (
        "clawed_back" if "withdrawn" in steps else "told")
    return Outcome(moved, f"dispute {dispute_id}: {', '.join(steps)}", payment.order_id)


def _refunded(conn: sqlite3.Connection, payment: Payment) -> int:
    fresh = ops.get_payment(conn, PROVIDER, payment.external_id)
    assert fresh is not None
    return fresh.refunded


def _balance(conn: sqlite3.Connection, now: int, payment: Payment) -> int:
    return ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id)).posted

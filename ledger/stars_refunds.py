"""Taking back a refunded Telegram Stars payment, once per charge, whichever path comes first:
our refundStarPayment call, Telegram's refunded_payment message, an admin's /refund, or the
reconciliation that finds a refund the ledger missed.

Telegram refunds a Stars payment only in full, so the clawback is the whole payment, under the
fixed key `refund:stars:<charge id>` with one memo (both part of its idempotent content). It may
leave the user in debt (credits already spent).

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from core import notices

from . import ops, outbox
from .errors import PaymentNotFound
from .models import Transfer
from .refund_message import refund_message

__all__ = [
    "REFUND_MEMO", "RefundNotice", "clawback_and_tell", "clawback_missed_refund", "clawback_star_payment",
    "refund_key", "take_back", "taken_back",
]

PROVIDER = "stars"
REFUND_MEMO = "Telegram Stars refund"


def refund_key(charge_id: str) -> str:
    return f"refund:stars:{charge_id}"


def clawback_star_payment(conn: sqlite3.Connection, now: int, charge_id: str) -> Transfer:
    """Take back the whole payment, once per charge id; the first clawback on a replay."""
    payment = ops.get_payment(conn, PROVIDER, charge_id)
    if payment is None:
        raise PaymentNotFound(f"no Stars payment {charge_id!r} is recorded")
    return ops.clawback(conn, now, PROVIDER, charge_id, refund_key(charge_id), payment.amount,
                        REFUND_MEMO)


def take_back(conn: sqlite3.Connection, now: int, charge_id: str) -> int:
    """`clawback_star_payment`, returning what this call took back (0 when done before)."""
    done_before = ops.transfer_by_key(conn, refund_key(charge_id)) is not None
    transfer = clawback_star_payment(conn, now, charge_id)
    return 0 if done_before else transfer.amount


def taken_back(conn: sqlite3.Connection, now: int, charge_id: str) -> int:
    """`clawback_star_payment`, returning the amount the refund took back, whichever path took
    it (an admin racing Telegram's refunded_payment update sees the real amount, not 0)."""
    return clawback_star_payment(conn, now, charge_id).amount


@dataclass(frozen=True, slots=True)
class RefundNotice:
    """A Stars refund taken back, and the user's message about it if this write queued it
    (None when another path, an admin's refund or reconciliation, already did)."""

    transfer: Transfer
    notification_id: int | None
    text: str


def clawback_and_tell(conn: sqlite3.Connection, now: int, charge_id: str, delay_s: int = 0) -> RefundNotice:
    """Take a refunded Stars payment back (once, `refund_key`) and queue the one message to the
    user about it, keyed on the charge too: whichever path sees the refund first, the user is
    told once, of the amount really taken back."""
    transfer = clawback_star_payment(conn, now, charge_id)
    payment = ops.get_payment(conn, PROVIDER, charge_id)
    assert payment is not None
    text = outbox.render(conn, payment.user_id, refund_message(conn, now, payment, transfer.amount))
    key = refund_key(charge_id)
    if conn.execute("SELECT 1 FROM notifications WHERE key = ?", (key,)).fetchone() is not None:
        return RefundNotice(transfer, None, text)
    return RefundNotice(transfer, outbox.enqueue(conn, now, payment.user_id, text, key=key, delay_s=delay_s),
                        text)


def clawback_missed_refund(conn: sqlite3.Connection, now: int, charge_id: str,
                           admin_ids: Sequence[int]) -> Transfer:
    """Take back a refund the ledger missed and queue the messages about it, in one write.

    The messages go only when this write takes the payment back: if another path (the
    refunded_payment update, an admin's refund) got there first, it told the user itself."""
    payment = ops.get_payment(conn, PROVIDER, charge_id)
    missed = payment is not None and payment.refunded < payment.amount
    transfer = clawback_star_payment(conn, now, charge_id)
    if payment is None or not missed:
        return transfer
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id))
    key = refund_key(charge_id)
    outbox.enqueue(conn, now, payment.user_id, refund_message(conn, now, payment, transfer.amount), key=key)
    for admin_id in admin_ids:
        outbox.enqueue(conn, now, admin_id,
                       lambda: notices.admin_stars_refund_missed(charge_id, payment.user_id, transfer.order_id,
                                                         transfer.amount, balance.posted),
                       key=f"{key}:admin:{admin_id}")
    return transfer

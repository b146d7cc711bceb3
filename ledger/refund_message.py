"""The one message a user gets about a refund of their payment, whichever path applied it
(an admin's /refund, Telegram's refunded_payment update, Stripe's refund webhooks,
reconciliation): what was refunded, how much, to where, and the balance after."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from core import notices

from . import ops
from .models import Payment


def refund_message(conn: sqlite3.Connection, now: int, payment: Payment, taken: int) -> Callable[[], str]:
    """What writes the text for `payment` refunded with `taken` TFC cents of credits taken back
    (in the recipient's language, for `outbox.enqueue`), with the balance read after the
    clawback in the same write."""
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id)).shown
    if payment.provider == "stars":
        return lambda: notices.refunded_to_stars(payment.provider_amount, taken, payment.order_id, balance)
    return lambda: notices.refunded_to_card(taken, payment.order_id, balance)

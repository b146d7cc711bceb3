"""Giving back what a clawback took: a dispute won or its funds reinstated, a refund that
failed. The credit is a `clawback_reversal` transfer from the provider's source account to the
user, once per key, and lowers the payment's `refunded` (what is taken back, net), so the
audit's rule "refunded = clawbacks - reversals" holds.
"""

from __future__ import annotations

import sqlite3

from . import errors
from .models import Transfer
from .ops import ensure_user, get_payment, transfer, transfer_by_key
from .schema import SOURCE_ACCOUNT_BY_PROVIDER

REVERSAL = "clawback_reversal"


def reverse_clawback(
    conn: sqlite3.Connection, now: int, provider: str, external_id: str, key: str, amount: int,
    reason: str,
) -> Transfer:
    """Credit `amount` of a payment's clawbacks back to its user, once per `key`; never more
    than is taken back (net) of that payment."""
    payment = get_payment(conn, provider, external_id)
    if payment is None:
        raise errors.PaymentNotFound(f"no {provider} payment {external_id!r} is recorded")
    existing = transfer_by_key(conn, key)
    if existing is None and not 0 < amount <= payment.refunded:
        raise errors.InvalidRequest(
            f"cannot give back {amount}: {payment.refunded} of payment {provider}:{external_id} "
            "is taken back")
    account_id = ensure_user(conn, now, payment.user_id)
    result = transfer(conn, now, key, SOURCE_ACCOUNT_BY_PROVIDER[provider], account_id, amount,
                      REVERSAL, reason, payment.order_id, None, payment.id)
    if existing is None:
        conn.execute("UPDATE payments SET refunded = refunded - ? WHERE id = ?",
                     (amount, payment.id))
    return result


def net_taken_back(conn: sqlite3.Connection, payment_id: int, clawback_prefix: str,
                   reversal_prefix: str) -> int:
    """What clawbacks keyed `clawback_prefix...` took from the payment, less what reversals
    keyed `reversal_prefix...` gave back."""
    row = conn.execute(
        "SELECT coalesce(sum(CASE WHEN kind = 'clawback' AND substr(key, 1, ?) = ? THEN amount"
        " WHEN kind = ? AND substr(key, 1, ?) = ? THEN -amount ELSE 0 END), 0)"
        " FROM transfers WHERE payment_id = ?",
        (len(clawback_prefix), clawback_prefix, REVERSAL, len(reversal_prefix), reversal_prefix,
         payment_id),
    ).fetchone()
    return int(row[0])


def given_back(conn: sqlite3.Connection, key: str) -> int:
    """The amount the reversal `key` gave back, 0 if there is none."""
    found = transfer_by_key(conn, key)
    return found.amount if found is not None and found.kind == REVERSAL else 0

"""Order and payment queries the Stripe flows need: the session an order points at, the Stripe
payment of an order, how much of it refunds already took back, and the order flag.

Plain functions on a sqlite3 connection, usable inside `Ledger.write` (the ones that change
something) or `Ledger.read`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .models import Order, Payment
from .ops import _ORDER_COLUMNS, _PAYMENT_COLUMNS, get_order


@dataclass(frozen=True, slots=True)
class OrderRef:
    """An order with the columns a payment provider flow reads besides the `Order` record."""

    order: Order
    buy_now: bool
    provider_ref: str | None
    provider_ref_expires_at: int | None
    flag: str | None


def order_ref(conn: sqlite3.Connection, order_id: int) -> OrderRef | None:
    """The order and its provider columns, or None when there is no such order."""
    row = conn.execute(
        f"SELECT {_ORDER_COLUMNS}, buy_now, provider_ref, provider_ref_expires_at, flag "
        "FROM orders WHERE id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        return None
    return OrderRef(Order(*row[:8]), bool(row[8]), row[9], row[10], row[11])


def set_provider_ref(
    conn: sqlite3.Connection, now: int, order_id: int, ref: str | None, expires_at: int | None
) -> None:
    """Point the order at a provider object (a Checkout Session) valid until `expires_at`.

    `ref=None` with an `expires_at` records a planned session before the provider is called, so
    a retry after a crash reuses the same plan (and idempotency key).
    """
    get_order(conn, order_id)
    conn.execute(
        "UPDATE orders SET provider_ref = ?, provider_ref_expires_at = ?, updated_at = ? "
        "WHERE id = ?",
        (ref, expires_at, now, order_id),
    )


def set_order_flag(conn: sqlite3.Connection, now: int, order_id: int, flag: str) -> None:
    """Flag an order for the admins (amount mismatch, dispute...)."""
    conn.execute(
        "UPDATE orders SET flag = ?, updated_at = ? WHERE id = ?", (flag[:500], now, order_id)
    )


def set_account_flag(conn: sqlite3.Connection, user_id: int, flag: str) -> None:
    conn.execute("UPDATE accounts SET flagged = ? WHERE user_id = ?", (flag[:500], user_id))


def account_flag(conn: sqlite3.Connection, user_id: int) -> str | None:
    row = conn.execute("SELECT flagged FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    return row[0] if row else None


def payment_of_order(conn: sqlite3.Connection, provider: str, order_id: int) -> Payment | None:
    """The first payment of `provider` recorded for the order, if any."""
    row = conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE provider = ? AND order_id = ? "
        "ORDER BY id LIMIT 1",
        (provider, order_id),
    ).fetchone()
    return Payment(*row) if row is not None else None


def clawed_back(conn: sqlite3.Connection, payment_id: int, key_prefix: str) -> int:
    """The sum of the payment's clawbacks whose key starts with `key_prefix`."""
    row = conn.execute(
        "SELECT coalesce(sum(amount), 0) FROM transfers WHERE payment_id = ? AND kind = 'clawback'"
        " AND substr(key, 1, ?) = ?",
        (payment_id, len(key_prefix), key_prefix),
    ).fetchone()
    return int(row[0])


def open_orders_with_ref(conn: sqlite3.Connection, limit: int = 500) -> list[OrderRef]:
    """Open orders that point at a provider object, oldest first (for reconciliation)."""
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM orders WHERE state = 'open' AND provider_ref IS NOT NULL ORDER BY id LIMIT ?",
        (limit,),
    )]
    return [ref for ref in (order_ref(conn, i) for i in ids) if ref is not None]


def set_buy_now(conn: sqlite3.Connection, now: int, order_id: int, buy_now: bool = True) -> None:
    """Mark a purchase order to be placed as soon as its payment is credited."""
    get_order(conn, order_id)
    conn.execute("UPDATE orders SET buy_now = ?, updated_at = ? WHERE id = ?",
                 (int(buy_now), now, order_id))

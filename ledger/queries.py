"""Read-only queries: balances, history, orders, payments, export. Run on the reader connection."""

from __future__ import annotations

import csv
import sqlite3
from typing import TextIO

from . import users
from .models import Balance, HistoryEntry, Order, Payment
from .ops import _ORDER_COLUMNS, _PAYMENT_COLUMNS
from .schema import SOURCE_ACCOUNT_BY_PROVIDER


def user_balance(conn: sqlite3.Connection, user_id: int) -> Balance:
    """The user's balance in O(1): one primary-key-sized lookup. Zero for an unknown user."""
    row = conn.execute(
        "SELECT id, balance, held FROM accounts WHERE user_id = ?", (user_id,)
    ).fetchone()
    return Balance(*row) if row is not None else Balance(0, 0, 0)


def history(
    conn: sqlite3.Connection, account_id: int, limit: int, before_id: int | None
) -> list[HistoryEntry]:
    """The account's transfers, newest first, `limit` at a time; page with `before_id`.

    Each side is read through its own (account, id) index and cut at `limit` before merging,
    so a page costs the same whether the db holds a thousand transfers or a million.
    """
    before = before_id if before_id is not None else 2**63 - 1
    rows = conn.execute(
        "SELECT * FROM ("
        " SELECT id, created_at, -amount, kind, memo, debit_balance_after FROM transfers"
        " WHERE debit_account_id = ? AND id < ? ORDER BY id DESC LIMIT ?) AS debits"
        " UNION ALL SELECT * FROM ("
        " SELECT id, created_at, amount, kind, memo, credit_balance_after FROM transfers"
        " WHERE credit_account_id = ? AND id < ? ORDER BY id DESC LIMIT ?) AS credits"
        " ORDER BY 1 DESC LIMIT ?",
        (account_id, before, limit, account_id, before, limit, limit),
    ).fetchall()
    return [HistoryEntry(*row) for row in rows]


def account_of_user(conn: sqlite3.Connection, user_id: int) -> int | None:
    row = conn.execute("SELECT id FROM accounts WHERE user_id = ?", (user_id,)).fetchone()
    return row[0] if row is not None else None


def user_is_known(conn: sqlite3.Connection, user_id: int) -> bool:
    """Whether the shop has met this Telegram user: a profile, or an account of their own."""
    return users.get(conn, user_id) is not None or account_of_user(conn, user_id) is not None


def orders_of_user(conn: sqlite3.Connection, user_id: int, limit: int) -> list[Order]:
    rows = conn.execute(
        f"SELECT {_ORDER_COLUMNS} FROM orders WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [Order(*row) for row in rows]


def payments_of_user(conn: sqlite3.Connection, user_id: int, limit: int) -> list[Payment]:
    rows = conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [Payment(*row) for row in rows]


def find_payment(conn: sqlite3.Connection, ref: str) -> Payment | None:
    """The payment an admin names: its id as /user shows it (`#12` or `12`), else the
    provider's charge or session id (the first payment recorded under it)."""
    ref = ref.lstrip("#")
    if ref.isdigit() and 0 < int(ref) < 2**63:
        row = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = ?",
                           (int(ref),)).fetchone()
        if row is not None:
            return Payment(*row)
    providers = ", ".join(f"'{p}'" for p in SOURCE_ACCOUNT_BY_PROVIDER)  # so the unique index serves
    row = conn.execute(
        f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE provider IN ({providers}) AND external_id = ? "
        "ORDER BY id LIMIT 1", (ref,),
    ).fetchone()
    return Payment(*row) if row is not None else None


EXPORT_COLUMNS = (
    "transfer_id", "created_at", "key", "kind", "debit_account", "credit_account", "amount",
    "order_id", "hold_id", "payment_id", "memo",
)


def export_transfers_csv(conn: sqlite3.Connection, out: TextIO) -> int:
    """Write every transfer as CSV (accounts by their codes); return the number of rows."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in conn.execute(
        "SELECT t.id, t.created_at, t.key, t.kind, d.code, c.code, t.amount, t.order_id, "
        "t.hold_id, t.payment_id, t.memo FROM transfers t "
        "JOIN accounts d ON d.id = t.debit_account_id "
        "JOIN accounts c ON c.id = t.credit_account_id ORDER BY t.id"
    ):
        writer.writerow(row)
        count += 1
    return count

"""A user's statement: their credit history as they read it, one entry per thing that happened
(a payment, a VM bought or renewed, a refund), each with the balance after it.

The ledger keeps a purchase as several transfers (the grid's part and the commission, one
transfer each, keys `<key>#0`, `<key>#1`); the statement shows them as one entry, their sum. The
balance after an entry is the one the ledger stored with its newest transfer
(`debit_balance_after` / `credit_balance_after`, written inside the write that moved it), so it
is right on every page without summing anything.

Paging is by keyset: a page ends at a whole entry and the next one starts before its oldest
transfer id. Each page reads the account's two (account, id) indexes from that id down, a few
rows more than the page, so it costs the same at a thousand transfers or a million.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

__all__ = ["StatementEntry", "StatementPage", "statement"]

_PART = re.compile(r"#\d+$")


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One line of the statement. `amount` is signed from the user's side; `what` says what it
    was: payment, purchase, renewal, vm_refund, refund, dispute, given_back, adjustment (`memo`:
    the reason), transfer (`memo`: the other user), or the transfer kind for anything else."""

    first_id: int  # the oldest transfer of the entry (the next page starts before it)
    created_at: int
    amount: int
    what: str
    memo: str
    order_id: int | None
    service_id: str | None
    provider: str | None
    balance_after: int


@dataclass(frozen=True, slots=True)
class StatementPage:
    entries: list[StatementEntry]
    next_before: int | None  # pass as `before_id` for the older page; None: this is the last


# One row per transfer of the account, newest first, from before the cursor; each side through
# its own index, cut at the limit before merging (see EXPLAIN QUERY PLAN in the tests).
_ROWS = (
    "SELECT t.id, t.created_at, t.amount * s.sign, t.kind, t.memo, t.key, t.order_id,"
    " o.service_id, p.provider, s.balance_after FROM ("
    " SELECT * FROM (SELECT id, -1 AS sign, debit_balance_after AS balance_after FROM transfers"
    "  WHERE debit_account_id = ? AND id < ? ORDER BY id DESC LIMIT ?) AS debits"
    " UNION ALL SELECT * FROM (SELECT id, 1, credit_balance_after FROM transfers"
    "  WHERE credit_account_id = ? AND id < ? ORDER BY id DESC LIMIT ?) AS credits"
    " ORDER BY id DESC LIMIT ?) s"
    " JOIN transfers t ON t.id = s.id"
    " LEFT JOIN orders o ON o.id = t.order_id"
    " LEFT JOIN payments p ON p.id = t.payment_id"
    " ORDER BY t.id DESC"
)


def _what(kind: str, key: str) -> str:
    if kind == "settlement":
        return "purchase"
    if kind == "refund":
        return "vm_refund"
    if kind == "clawback":
        return "dispute" if key.startswith("stripe:dispute") else "refund"
    if kind == "clawback_reversal":
        return "given_back"
    return kind


def _memo(kind: str, memo: str, amount: int) -> str:
    """The part of a memo a user may read: an adjustment's reason without the admin's id; for a
    transfer between users ('transfer from <a> to <b>'), the other user."""
    if kind == "adjustment" and memo.startswith("admin ") and ": " in memo:
        return memo.split(": ", 1)[1]
    if kind == "transfer" and memo.startswith("transfer from ") and " to " in memo:
        sender, recipient = memo.removeprefix("transfer from ").split(" to ", 1)
        return recipient if amount < 0 else sender
    return memo


def statement(conn: sqlite3.Connection, account_id: int, limit: int,
              before_id: int | None = None) -> StatementPage:
    """Up to `limit` entries of the account's statement, newest first, before transfer id
    `before_id` (None: from the newest)."""
    cursor = before_id if before_id is not None else 2**63 - 1
    chunk = 2 * limit + 2
    entries: list[StatementEntry] = []
    group: str | None = None  # the key of the newest entry's transfers, when it has parts
    while True:
        rows = conn.execute(_ROWS, (account_id, cursor, chunk, account_id, cursor, chunk, chunk)).fetchall()
        for tid, created_at, amount, kind, memo, key, order_id, service_id, provider, after in rows:
            base = _PART.sub("", key) if _PART.search(key) else None
            if base is not None and base == group:
                last = entries[-1]
                entries[-1] = StatementEntry(tid, last.created_at, last.amount + amount, last.what,
                                             last.memo, last.order_id, last.service_id, last.provider,
                                             last.balance_after)
                continue
            if len(entries) == limit:
                return StatementPage(entries, entries[-1].first_id)
            group = base
            entries.append(StatementEntry(tid, created_at, amount, _what(kind, key), _memo(kind, memo, amount),
                                          order_id, service_id, provider, after))
        if len(rows) < chunk:
            return StatementPage(entries, None)
        cursor = rows[-1][0]

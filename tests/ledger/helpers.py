"""Helpers shared by the ledger tests: a full dump of the database file, read from outside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ledger import Ledger


def dump(path: str | Path) -> list[str]:
    """Every table's schema and rows, as SQL, read through a brand-new connection."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def rows(path: str | Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Run one query on a brand-new connection (sees only what was committed)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def fund(ledger: Ledger, user_id: int, amount: int, external_id: str | None = None) -> int:
    """Credit `amount` to the user through a Stripe payment; return the user's account id."""
    await ledger.record_payment(
        "stripe", external_id or f"fund:{user_id}:{amount}", user_id=user_id, amount=amount,
        provider_amount=amount, provider_currency="usd",
    )
    return await ledger.user_account(user_id)

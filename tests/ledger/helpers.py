"""Helpers shared by the ledger tests, for either store: a full dump of the database and
queries run from outside the ledger (a brand-new connection sees only what was committed)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ledger import Ledger
from ledger.pg_conn import PgConnection
from ledger.pg_store import is_postgres_url

from ..pg_cluster import on_own_thread

STORES = ("sqlite", "postgresql")

Target = str | Path  # a SQLite file, or a postgresql:// URL


def dump(target: Target) -> list[str]:
    """Every table's schema and rows, as text, read through a brand-new connection."""
    if is_postgres_url(target):
        return on_own_thread(str(target), _pg_dump)
    conn = sqlite3.connect(target)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _pg_dump(conn: PgConnection) -> list[str]:
    lines: list[str] = []
    tables = [t for (t,) in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
        "ORDER BY table_name").fetchall()]
    for table in tables:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
            (table,)).fetchall()
        lines.append(f"TABLE {table} {columns}")
        order = ", ".join(str(n) for n in range(1, len(columns) + 1))
        lines += [f"{table} {row!r}" for row in
                  conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()]
    return lines


def rows(target: Target, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one query on a brand-new connection (sees only what was committed)."""
    if is_postgres_url(target):
        return on_own_thread(str(target), lambda conn: conn.execute(sql, params).fetchall())
    conn = sqlite3.connect(target)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(target: Target, *statements: str, params: tuple[Any, ...] = ()) -> None:
    """Run statements in one committed transaction from outside the ledger (tampering); a
    statement the database refuses raises a DB-API error (sqlite3's classes, for both)."""
    if is_postgres_url(target):
        def run(conn: PgConnection) -> None:
            conn.execute("BEGIN")
            try:
                for sql in statements:
                    conn.execute(sql, params)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        on_own_thread(str(target), run)
        return
    conn = sqlite3.connect(target)
    try:
        for sql in statements:
            conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def schema_version(target: Target) -> int:
    if is_postgres_url(target):
        return int(rows(target, "SELECT version FROM schema_version")[0][0])
    return int(rows(target, "PRAGMA user_version")[0][0])


def set_schema_version(target: Target, version: int) -> None:
    if is_postgres_url(target):
        execute(target, f"UPDATE schema_version SET version = {version}")
    else:
        execute(target, f"PRAGMA user_version = {version}")


async def fund(ledger: Ledger, user_id: int, amount: int, external_id: str | None = None) -> int:
    """Credit `amount` to the user through a Stripe payment; return the user's account id."""
    await ledger.record_payment(
        "stripe", external_id or f"fund:{user_id}:{amount}", user_id=user_id, amount=amount,
        provider_amount=amount, provider_currency="usd",
    )
    return await ledger.user_account(user_id)

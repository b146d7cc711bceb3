"""Typed readers of what a connection hands back: the id of the row an INSERT just wrote.

Every INSERT whose id is wanted ends in `RETURNING id`: both SQLite (3.35+) and PostgreSQL
answer it, so the same statement serves both stores. On the hot path `insert_row` runs such an
INSERT on SQLite without the clause and reads sqlite3's `lastrowid` instead (it has no
PostgreSQL counterpart): the same id, without a result row and its cursor description.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

__all__ = ["insert_row", "inserted_id"]

_RETURNING_ID = " RETURNING id"


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id the `INSERT ... RETURNING id` run on `cursor` wrote."""
    row = cursor.fetchone()
    if row is None:  # the statement inserted nothing, or lacks RETURNING id: a bug in the caller
        raise RuntimeError("the statement returned no inserted id")
    return int(row[0])


@lru_cache(maxsize=64)
def _without_returning(sql: str) -> str:
    # lastrowid names the inserted row only if the statement inserted exactly one row or
    # failed: a plain single-row INSERT, never one that may skip its row (OR IGNORE, ON CONFLICT).
    if (not sql.startswith("INSERT INTO ") or not sql.endswith(_RETURNING_ID)
            or "ON CONFLICT" in sql or sql.count("VALUES (") != 1):
        raise ValueError(f"insert_row runs a plain one-row INSERT ... RETURNING id, not {sql!r}")
    return sql[:-len(_RETURNING_ID)]


def insert_row(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run `sql`, a plain INSERT of one row ending in `RETURNING id`, and return that id."""
    if isinstance(conn, sqlite3.Connection):
        rowid = conn.execute(_without_returning(sql), params).lastrowid
        if rowid is None:
            raise RuntimeError("the statement inserted no row")
        return rowid
    return inserted_id(conn.execute(sql, params))

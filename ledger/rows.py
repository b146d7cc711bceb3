"""Typed readers of what a connection hands back: the id of the row an INSERT just wrote.

Every INSERT whose id is wanted ends in `RETURNING id`: both SQLite (3.35+) and PostgreSQL
answer it, so the same statement serves both stores (sqlite3's `lastrowid` has no PostgreSQL
counterpart).
"""

from __future__ import annotations

import sqlite3

__all__ = ["inserted_id"]


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id the `INSERT ... RETURNING id` run on `cursor` wrote."""
    row = cursor.fetchone()
    if row is None:  # the statement inserted nothing, or lacks RETURNING id: a bug in the caller
        raise RuntimeError("the statement returned no inserted id")
    return int(row[0])

"""Typed readers of what a connection hands back: the id of the row an INSERT just wrote.

Every INSERT whose id is wanted ends in `RETURNING id`: both SQLite (3.35+) and PostgreSQL
answer it, so the same statement serves both stores. On the hot path `insert_row` runs such an
INSERT on SQLite without the clause and reads sqlite3's `lastrowid` instead (it has no
PostgreSQL counterpart): the same id, without a result row and its cursor description.
"""

from __future__ import annotations

import re
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


# One row into named columns from one VALUES list of plain values: lastrowid names that row.
# Not for INSERT ... SELECT, several VALUES lists, OR IGNORE or ON CONFLICT: those may write
# no row, or several, and lastrowid would name another.
_ONE_ROW = re.compile(r"INSERT INTO \w+ \([\w, ]+\) VALUES \([?\w', ]*\) RETURNING id")


@lru_cache(maxsize=64)
def _without_returning(sql: str) -> str:
    if _ONE_ROW.fullmatch(sql) is None:
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

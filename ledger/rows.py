"""Typed readers of what sqlite3 hands back: the id of the row an INSERT just wrote."""

from __future__ import annotations

import sqlite3

__all__ = ["inserted_id"]


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row `cursor`'s INSERT wrote (sqlite3 types it as optional)."""
    rowid = cursor.lastrowid
    if rowid is None:  # only after a statement that inserted nothing: a bug in the caller
        raise RuntimeError("the statement inserted no row")
    return rowid

"""The admin log: every admin action, who did it and when, written in the action's transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .rows import inserted_id


@dataclass(frozen=True, slots=True)
class AdminAction:
    id: int
    key: str | None
    admin_id: int
    action: str
    target: str
    detail: str
    created_at: int


def record(
    conn: sqlite3.Connection, now: int, admin_id: int, action: str, target: str = "",
    detail: str = "", key: str | None = None,
) -> int:
    """Append an entry; with `key`, once per key (a re-delivered command logs once)."""
    if key is not None:
        row = conn.execute("SELECT id FROM admin_log WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return int(row[0])
    cur = conn.execute(
        "INSERT INTO admin_log (key, admin_id, action, target, detail, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (key, admin_id, action, target, detail, now),
    )
    return inserted_id(cur)


def recent(conn: sqlite3.Connection, limit: int = 20, before_id: int | None = None) -> list[AdminAction]:
    rows = conn.execute(
        "SELECT id, key, admin_id, action, target, detail, created_at FROM admin_log "
        "WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before_id if before_id is not None else 2**63 - 1, limit),
    ).fetchall()
    return [AdminAction(*row) for row in rows]

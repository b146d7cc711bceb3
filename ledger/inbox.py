"""Provider events the shop could not apply (unknown order, amount or currency mismatch), kept
for reconciliation and shown to admins instead of being dropped."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    id: int
    provider: str
    event_id: str
    kind: str
    payload: str
    reason: str
    state: str
    created_at: int


def keep(
    conn: sqlite3.Connection, now: int, provider: str, event_id: str, kind: str, payload: str,
    reason: str,
) -> bool:
    """Store an event once per (provider, event_id); True if it was new."""
    cur = conn.execute(
        "INSERT INTO provider_events (provider, event_id, kind, payload, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING",
        (provider, event_id, kind, payload, reason, now),
    )
    return cur.rowcount == 1


def resolve(conn: sqlite3.Connection, provider: str, event_id: str) -> None:
    conn.execute(
        "UPDATE provider_events SET state = 'resolved' WHERE provider = ? AND event_id = ?",
        (provider, event_id),
    )


def open_events(conn: sqlite3.Connection, limit: int = 50) -> list[ProviderEvent]:
    rows = conn.execute(
        "SELECT id, provider, event_id, kind, payload, reason, state, created_at "
        "FROM provider_events WHERE state = 'open' ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    return [ProviderEvent(*row) for row in rows]

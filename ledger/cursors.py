"""Where reconciliation got to in a provider's list (a stored cursor per name), and which
provider events were already applied, so a re-scan skips them.

Plain functions on a sqlite3 connection, for `Ledger.write` / `Ledger.read`.
"""

from __future__ import annotations

import sqlite3


def get(conn: sqlite3.Connection, name: str) -> str | None:
    row = conn.execute("SELECT value FROM provider_cursors WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def put(conn: sqlite3.Connection, now: int, name: str, value: str) -> None:
    conn.execute(
        "INSERT INTO provider_cursors (name, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (name, value, now))


def mark_applied(conn: sqlite3.Connection, now: int, provider: str, event_id: str) -> None:
    conn.execute(
        "INSERT INTO applied_events (provider, event_id, applied_at) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING", (provider, event_id, now))


def applied(conn: sqlite3.Connection, provider: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` were applied already."""
    found: set[str] = set()
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(r[0] for r in conn.execute(
            f"SELECT event_id FROM applied_events WHERE provider = ? AND event_id IN ({marks})",
            (provider, *chunk)))
    return found

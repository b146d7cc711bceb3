"""The Stripe inbox: verified webhook events accepted durably and not applied yet.

The webhook answers a busy burst of events by storing each verified body here (one INSERT in
the group commit; the 2xx follows the COMMIT) and a consumer (`payments.stripe_inbox`) applies
them: it claims due rows, reads each object back from Stripe, applies the event in the ledger
(which marks it applied in that write), then deletes the row. A row is deleted only after its
event was applied or kept, so nothing accepted is lost across a crash; applying is idempotent
by the event id (`applied_events`), so a row applied twice (a crash between the apply and the
delete, a lease that lapsed) changes nothing the second time.

Claims are leases (`lease_until`, `lease_owner`): a row claimed by an instance that died is
claimed again when its lease lapses or, on PostgreSQL, as soon as its instance lock is gone
(`ledger.dialect.POSTGRES.owner_gone`); on SQLite the one process that owns the file releases
every claim when its consumer starts. Plain functions on a connection, for `Ledger.write`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .dialect import dialect_of

PROVIDER = "stripe"
BACKOFF_S = (2, 5, 15, 30, 60, 120, 300)  # then every 300 s until Stripe answers


@dataclass(frozen=True, slots=True)
class Queued:
    event_id: str
    kind: str
    payload: str  # the verified body, as Stripe sent it
    attempts: int


def accept(conn: sqlite3.Connection, now: int, event_id: str, kind: str, payload: str) -> bool:
    """Store a verified event once; False when it was applied or queued already."""
    if conn.execute("SELECT 1 FROM applied_events WHERE provider = ? AND event_id = ?",
                    (PROVIDER, event_id)).fetchone():
        return False
    cur = conn.execute(
        "INSERT INTO stripe_inbox (event_id, kind, payload, received_at, next_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", (event_id, kind, payload, now, now))
    return cur.rowcount == 1


def claim(conn: sqlite3.Connection, now: int, limit: int, lease_s: int,
          owner: int | None) -> list[Queued]:
    """Claim up to `limit` due rows (oldest due first) for `lease_s` seconds."""
    dialect = dialect_of(conn)
    lapsed = "lease_until <= ?"
    if dialect.owner_gone:  # " OR lease_owner NOT IN (...)": true for NULL over no instance
        lapsed += f" OR (lease_owner IS NOT NULL AND ({dialect.owner_gone.removeprefix(' OR ')}))"
    rows = conn.execute(
        "SELECT event_id, kind, payload, attempts FROM stripe_inbox WHERE next_at <= ? AND "
        f"({lapsed}) ORDER BY next_at LIMIT ?" + dialect.skip_locked, (now, now, limit)).fetchall()
    if rows:
        marks = ",".join("?" * len(rows))
        conn.execute(f"UPDATE stripe_inbox SET lease_until = ?, lease_owner = ? "
                     f"WHERE event_id IN ({marks})", (now + lease_s, owner, *(r[0] for r in rows)))
    return [Queued(r[0], r[1], r[2], r[3]) for r in rows]


def done(conn: sqlite3.Connection, event_id: str) -> None:
    """The event was applied (or kept for the admins): it leaves the inbox."""
    conn.execute("DELETE FROM stripe_inbox WHERE event_id = ?", (event_id,))


def retry_later(conn: sqlite3.Connection, now: int, event_id: str, error: str) -> int:
    """The event could not be applied now (Stripe or the database failing): try it again
    after a backoff; returns the delay in seconds."""
    row = conn.execute("SELECT attempts FROM stripe_inbox WHERE event_id = ?",
                       (event_id,)).fetchone()
    attempts = int(row[0]) if row else 0
    delay = BACKOFF_S[min(attempts, len(BACKOFF_S) - 1)]
    conn.execute("UPDATE stripe_inbox SET attempts = attempts + 1, next_at = ?, lease_until = 0, "
                 "lease_owner = NULL, last_error = ? WHERE event_id = ?",
                 (now + delay, error[:500], event_id))
    return delay


def release(conn: sqlite3.Connection, event_ids: list[str]) -> None:
    """Free the claims of events this instance claimed and did not start (at its stop)."""
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start:start + 500]
        conn.execute(f"UPDATE stripe_inbox SET lease_until = 0, lease_owner = NULL "
                     f"WHERE event_id IN ({','.join('?' * len(chunk))})", chunk)


def release_all(conn: sqlite3.Connection) -> int:
    """Free every claim (SQLite, at the consumer's start: only a dead process held them)."""
    return conn.execute("UPDATE stripe_inbox SET lease_until = 0, lease_owner = NULL "
                        "WHERE lease_until <> 0").rowcount


def waiting(conn: sqlite3.Connection) -> tuple[int, int | None]:
    """How many events wait in the inbox, and when the oldest was received."""
    row = conn.execute("SELECT count(*), min(received_at) FROM stripe_inbox").fetchone()
    return int(row[0]), (int(row[1]) if row[1] is not None else None)


def next_due(conn: sqlite3.Connection) -> int | None:
    """When the next row may be claimed: due and its lease lapsed (None: the inbox is empty)."""
    row = conn.execute("SELECT min(CASE WHEN lease_until > next_at THEN lease_until "
                       "ELSE next_at END) FROM stripe_inbox").fetchone()
    return int(row[0]) if row[0] is not None else None

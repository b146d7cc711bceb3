"""Parked payments: provider events the shop could not apply (unknown order, amount or currency
mismatch, a refusal), kept for an admin instead of being dropped, and made visible.

Every parked event is told to the admins once (`alert_new`, through the outbox), listed by
`/parked` and `gridshop ledger parked`, counted by the audit while open, and resolved once by an
admin: credited to a user (`credit_parked`: a payment on the balance), refunded at the provider,
or closed (`close`). Functions take the sqlite3 connection (and `now`) first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from core import notices

from . import adminlog, ops, outbox
from .errors import LedgerError
from .models import PaymentResult

RESOLUTIONS = ("credited", "refunded", "closed")
_COLUMNS = (
    "id, provider, event_id, kind, payload, reason, state, created_at, alerted_at, resolution, "
    "resolved_by, resolved_at"
)


class ParkedNotFound(LedgerError, LookupError):
    """No parked event has that id."""


class ParkedResolved(LedgerError):
    """The parked event was resolved already (by another admin, or a double tap)."""


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    id: int
    provider: str
    event_id: str
    kind: str
    payload: str
    reason: str
    state: str  # open | resolved
    created_at: int
    alerted_at: int | None = None
    resolution: str | None = None  # credited | refunded | closed
    resolved_by: int | None = None
    resolved_at: int | None = None


def keep(
    conn: sqlite3.Connection, now: int, provider: str, event_id: str, kind: str, payload: str,
    reason: str,
) -> bool:
    """Store an event once per (provider, event_id); True if it was new. The admins hear of it
    through `alert_new` (the runtime calls it right after parking and on a timer)."""
    cur = conn.execute(
        "INSERT INTO provider_events (provider, event_id, kind, payload, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (provider, event_id) DO NOTHING",
        (provider, event_id, kind, payload, reason, now),
    )
    return cur.rowcount == 1


def alert_new(conn: sqlite3.Connection, now: int, admin_ids: Sequence[int], limit: int = 50) -> int:
    """Queue one message per admin for each open parked event not told yet; returns how many
    events were told. Without admins, nothing is marked, so the first admin configured hears."""
    if not admin_ids:
        return 0
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM provider_events WHERE state = 'open' AND alerted_at IS NULL "
        "ORDER BY id LIMIT ?", (limit,),
    ).fetchall()
    for row in rows:
        event = ProviderEvent(*row)
        for admin_id in admin_ids:
            outbox.enqueue(conn, now, admin_id, partial(notices.payment_parked, event.id, event.provider,
                                                        event.event_id, event.kind, event.reason),
                           key=f"parked:{event.id}:admin:{admin_id}")
        conn.execute("UPDATE provider_events SET alerted_at = ? WHERE id = ?", (now, event.id))
    return len(rows)


def get_event(conn: sqlite3.Connection, parked_id: int) -> ProviderEvent:
    row = conn.execute(f"SELECT {_COLUMNS} FROM provider_events WHERE id = ?", (parked_id,)).fetchone()
    if row is None:
        raise ParkedNotFound(f"no parked payment #{parked_id}")
    return ProviderEvent(*row)


def open_events(conn: sqlite3.Connection, limit: int = 50) -> list[ProviderEvent]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM provider_events WHERE state = 'open' ORDER BY id LIMIT ?",
        (limit,),
    ).fetchall()
    return [ProviderEvent(*row) for row in rows]


def count_open(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM provider_events WHERE state = 'open'").fetchone()[0])


def resolve(conn: sqlite3.Connection, provider: str, event_id: str) -> None:
    """The shop itself applied the event later (reconciliation): no admin action needed."""
    conn.execute(
        "UPDATE provider_events SET state = 'resolved' WHERE provider = ? AND event_id = ?",
        (provider, event_id),
    )


def close(conn: sqlite3.Connection, now: int, parked_id: int, resolution: str, admin_id: int,
          note: str = "") -> ProviderEvent:
    """Resolve an open parked event as `resolution` by `admin_id`, with its admin log entry."""
    if resolution not in RESOLUTIONS:
        raise LedgerError(f"a parked payment is resolved as one of {RESOLUTIONS}, not {resolution!r}")
    event = get_event(conn, parked_id)
    cur = conn.execute(
        "UPDATE provider_events SET state = 'resolved', resolution = ?, resolved_by = ?, "
        "resolved_at = ? WHERE id = ? AND state = 'open'",
        (resolution, admin_id, now, parked_id),
    )
    if cur.rowcount != 1:
        raise ParkedResolved(f"parked payment #{parked_id} is already resolved ({event.resolution or 'by the shop'})")
    adminlog.record(conn, now, admin_id, f"parked.{resolution}", f"parked {parked_id}",
                    f"{event.provider} {event.event_id}: {note or event.reason}"[:500],
                    key=f"parked:{parked_id}:{resolution}")
    return get_event(conn, parked_id)


def credit_parked(
    conn: sqlite3.Connection, now: int, parked_id: int, *, admin_id: int, external_id: str,
    user_id: int, amount: int, provider_amount: int, provider_currency: str,
) -> PaymentResult:
    """Resolve a parked payment by crediting `amount` TFC cents to `user_id`'s balance as the
    payment it is (deduped on the provider's payment id `external_id`, like every payment),
    and tell the user."""
    event = get_event(conn, parked_id)
    if event.state != "open":
        raise ParkedResolved(f"parked payment #{parked_id} is already resolved ({event.resolution or 'by the shop'})")
    result = ops.record_payment(conn, now, event.provider, external_id, user_id, amount,
                                provider_amount, provider_currency)
    close(conn, now, parked_id, "credited", admin_id, f"credited {amount} to user {user_id}")
    outbox.enqueue(conn, now, user_id, lambda: notices.parked_payment_credited(amount, result.balance.available),
                   key=f"parked:{parked_id}:credited")
    return result


def close_refunded(conn: sqlite3.Connection, now: int, parked_id: int, admin_id: int, note: str,
                   user_id: int | None, shown: str) -> None:
    """Close a parked payment the provider refunded, and tell the payer, in one write."""
    close(conn, now, parked_id, "refunded", admin_id, note)
    if user_id is not None:
        outbox.enqueue(conn, now, user_id, lambda: notices.parked_payment_refunded(shown),
                       key=f"parked:{parked_id}:refunded")

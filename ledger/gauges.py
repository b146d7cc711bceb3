"""The states of the shop an operator watches, read for `GET /metrics` at every scrape.

Each figure is one query that walks an index over the rows it counts, never a table: the open
parked payments (`provider_events_open`), the pending outbox (`notifications_due`, a partial
index on the pending rows) and the deployments in each state that is still live or asks for an
admin (`deployments_by_state`), and the Stripe inbox's backlog (`stripe_inbox_due`, covering).
Cancelled deployments, the ever-growing history, are not
counted. tests/webhooks/test_metrics.py checks the query plans.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["COUNTED_DEPLOYMENT_STATES", "QUERIES", "Gauges", "read"]

COUNTED_DEPLOYMENT_STATES = ("queued", "deploying", "ready", "cancelling", "failed")

_PARKED = "SELECT count(*) FROM provider_events WHERE state = 'open'"
_OUTBOX = "SELECT count(*), min(created_at) FROM notifications WHERE state = 'pending'"
_DEPLOYMENTS = (f"SELECT state, count(*) FROM deployments WHERE state IN "
                f"({', '.join('?' * len(COUNTED_DEPLOYMENT_STATES))}) GROUP BY state")
_STRIPE_INBOX = "SELECT count(*), min(received_at) FROM stripe_inbox"
QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (_PARKED, ()), (_OUTBOX, ()), (_DEPLOYMENTS, COUNTED_DEPLOYMENT_STATES), (_STRIPE_INBOX, ()))


@dataclass(frozen=True, slots=True)
class Gauges:
    parked: int  # payments parked for an admin, not resolved
    outbox_pending: int  # messages queued for Telegram and not sent yet
    outbox_oldest: int | None  # created_at (unix s) of the oldest of them
    deployments: dict[str, int]  # every state of COUNTED_DEPLOYMENT_STATES, 0 included
    stripe_inbox: int = 0  # Stripe events accepted (200) and not applied yet
    stripe_inbox_oldest: int | None = None  # received_at (unix s) of the oldest of them


def read(conn: sqlite3.Connection) -> Gauges:
    """The figures, from one read snapshot."""
    [parked] = conn.execute(_PARKED).fetchone()
    pending, oldest = conn.execute(_OUTBOX).fetchone()
    counts = dict.fromkeys(COUNTED_DEPLOYMENT_STATES, 0)
    counts.update(conn.execute(_DEPLOYMENTS, COUNTED_DEPLOYMENT_STATES).fetchall())
    queued, received = conn.execute(_STRIPE_INBOX).fetchone()
    return Gauges(int(parked), int(pending), oldest, counts, int(queued), received)

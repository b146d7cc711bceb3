"""Every Checkout Session made for an order, with what the shop last knew of it (open,
complete, expired). An order may have had several links; when it stops being open (paid
another way, cancelled, expired, failed), the ones still open are to be expired at Stripe.

Plain functions on a sqlite3 connection, for `Ledger.write` / `Ledger.read`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import stripe_state

STATES = ("open", "complete", "expired")


@dataclass(frozen=True, slots=True)
class OrderSession:
    session_id: str
    order_id: int
    expires_at: int
    state: str


def record(conn: sqlite3.Connection, now: int, order_id: int, session_id: str,
           expires_at: int) -> None:
    """Remember a session made for the order (once; a second call changes nothing)."""
    conn.execute(
        "INSERT INTO stripe_sessions (session_id, order_id, expires_at, state, created_at, "
        "updated_at) VALUES (?, ?, ?, 'open', ?, ?) ON CONFLICT (session_id) DO NOTHING",
        (session_id, order_id, expires_at, now, now))


def set_state(conn: sqlite3.Connection, now: int, session_id: str, state: str) -> None:
    """What Stripe says the session is now; a complete session never goes back to open."""
    if state not in STATES:
        raise ValueError(f"session state must be one of {STATES}")
    conn.execute(
        "UPDATE stripe_sessions SET state = ?, updated_at = ? WHERE session_id = ? "
        "AND state <> 'complete'", (state, now, session_id))


def of_order(conn: sqlite3.Connection, order_id: int) -> list[OrderSession]:
    """The order's sessions, newest first."""
    rows = conn.execute(
        "SELECT session_id, order_id, expires_at, state FROM stripe_sessions WHERE order_id = ? "
        "ORDER BY created_at DESC, rowid DESC", (order_id,)).fetchall()
    return [OrderSession(*row) for row in rows]


def open_of_closed_orders(conn: sqlite3.Connection, now: int, limit: int = 100) -> list[OrderSession]:
    """Sessions still open, not yet past their expiry, whose order is no longer open."""
    rows = conn.execute(
        "SELECT s.session_id, s.order_id, s.expires_at, s.state FROM stripe_sessions s "
        "JOIN orders o ON o.id = s.order_id WHERE s.state = 'open' AND s.expires_at > ? "
        "AND o.state <> 'open' ORDER BY s.created_at LIMIT ?", (now, limit)).fetchall()
    return [OrderSession(*row) for row in rows]


def adopt(conn: sqlite3.Connection, now: int, order_id: int, session_id: str, expires_at: int) -> None:
    """Make a new Checkout Session the order's payable link and remember it among its sessions."""
    stripe_state.set_provider_ref(conn, now, order_id, session_id, expires_at)
    record(conn, now, order_id, session_id, expires_at)

"""Read helpers the chat needs that the core ledger API does not offer (yet).

Only reads; the grid issue owns the deployments table's writes (ledger/deployments.py).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

__all__ = ["DeploymentRow", "deployments_of_user"]


@dataclass(frozen=True, slots=True)
class DeploymentRow:
    id: int
    order_id: int
    service_id: str
    state: str
    created_at: int
    updated_at: int


def deployments_of_user(conn: sqlite3.Connection, user_id: int, limit: int = 10) -> list[DeploymentRow]:
    """The user's deployments, newest first."""
    rows = conn.execute(
        "SELECT id, order_id, service_id, state, created_at, updated_at FROM deployments "
        "WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [DeploymentRow(*row) for row in rows]

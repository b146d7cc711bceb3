"""The /stats roll-ups (migration v13): which tables they are, rebuilding them from the rows
they summarise (after a copy into PostgreSQL), and the audit's check that they agree with those
rows, so a write that missed them (or a row changed by hand) is reported, not shown as figures.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from .schema import (
    DAYS_FROM_ROWS,
    DEPLOYMENT_STATES_FROM_ROWS,
    PAYERS_FROM_ROWS,
    PROVIDER_DAYS_FROM_ROWS,
    fill_rollups,
)

__all__ = ["TABLES", "drift", "rebuild"]

TABLES = ("stats_days", "stats_deployment_states", "stats_payers", "stats_provider_days")
rebuild = fill_rollups


def _by_key(rows: Iterable[tuple[Any, ...]], width: int) -> dict[tuple[Any, ...], tuple[int, ...]]:
    return {tuple(row[:width]): tuple(int(v) for v in row[width:]) for row in rows}


def _compare(table: str, columns: tuple[str, ...], stored: Iterable[tuple[Any, ...]],
             rows: Iterable[tuple[Any, ...]], width: int, *, latest: bool = False) -> list[str]:
    """A line per key (the first `width` columns) whose figures differ, a missing key counting
    as zeros. With `latest`, the last column is the latest time summarised, which may lie later
    than the rows' (never earlier: the day would look complete too soon)."""
    have_by_key, want_by_key = _by_key(stored, width), _by_key(rows, width)
    zero = (0,) * len(columns)
    found = []
    for key in sorted(set(have_by_key) | set(want_by_key), key=repr):
        have, want = have_by_key.get(key, zero), want_by_key.get(key, zero)
        agree = (have[:-1] == want[:-1] and have[-1] >= want[-1]) if latest else have == want
        if not agree:
            found.append(
                f"/stats roll-up {table} {'/'.join(map(str, key))}: "
                + ", ".join(f"{c} {h}" for c, h in zip(columns, have, strict=True))
                + "; the rows say " + ", ".join(f"{c} {w}" for c, w in zip(columns, want, strict=True)))
    return found


def _payers(conn: sqlite3.Connection, most: int = 50) -> list[str]:
    """The payers whose latest payment differs (exact: paying users in a period are counted by
    it), compared in SQL: one row per user who ever paid, too many to hold in Python."""
    stored = "SELECT user_id, last_paid_at FROM stats_payers"
    wrong = dict(conn.execute(f"SELECT * FROM ({stored} EXCEPT {PAYERS_FROM_ROWS}) AS w LIMIT {most}").fetchall())
    missed = dict(conn.execute(f"SELECT * FROM ({PAYERS_FROM_ROWS} EXCEPT {stored}) AS m LIMIT {most}").fetchall())
    return [f"/stats roll-up stats_payers {user}: last paid at {wrong.get(user, 'never')}; "
            f"the payments say {missed.get(user, 'never')}" for user in sorted(set(wrong) | set(missed))]


def drift(conn: sqlite3.Connection) -> list[str]:
    """Every roll-up figure that differs from what its rows say (empty when they agree)."""
    q = conn.execute
    return [
        *_compare("stats_provider_days", ("revenue", "refunded", "last_at"),
                  q("SELECT day, provider, revenue, refunded, last_at FROM stats_provider_days"),
                  q(PROVIDER_DAYS_FROM_ROWS), 2, latest=True),
        *_compare("stats_days", ("commission", "deployments", "grid_cost", "grid_sold", "last_at"),
                  q("SELECT day, commission, deployments, grid_cost, grid_sold, last_at FROM stats_days"),
                  q(DAYS_FROM_ROWS), 1, latest=True),
        *_payers(conn),
        *_compare("stats_deployment_states", ("deployments",),
                  q("SELECT state, deployments FROM stats_deployment_states"),
                  q(DEPLOYMENT_STATES_FROM_ROWS), 1),
    ]

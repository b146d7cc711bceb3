"""The grid side of deployments, as contract reconciliation finds it (thread-side functions).

Like `ledger.deployments`, each takes the connection and `now` and runs inside one
`ledger.write`: what gridproxy lists for the operator's twin is matched to deployments by name;
contract ids and the grid's bills are recorded on the deployment; contracts no live deployment
owns are kept in `grid_orphans` until gridproxy stops listing them; admins (and, for a VM that
vanished, its user) are told through the outbox, once per finding.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Sequence
from functools import partial

from core import notices

from . import deployments as jobs
from . import outbox
from .deployments import DeploymentRecord


def by_names(conn: sqlite3.Connection, names: Iterable[str]) -> dict[str, DeploymentRecord]:
    """The deployments with these grid names."""
    found: dict[str, DeploymentRecord] = {}
    for name in set(names):
        row = conn.execute("SELECT id FROM deployments WHERE name = ?", (name,)).fetchone()
        if row is not None:
            found[name] = jobs.get(conn, row[0])
    return found


def ready_before(conn: sqlite3.Connection, ready_before_ts: int) -> list[DeploymentRecord]:
    """Ready deployments that became ready before `ready_before_ts` (the indexer has had time)."""
    rows = conn.execute(
        "SELECT id FROM deployments WHERE state = 'ready' AND name IS NOT NULL AND ready_at <= ?",
        (ready_before_ts,)).fetchall()
    return [jobs.get(conn, r[0]) for r in rows]


def with_contracts(conn: sqlite3.Connection, since: int) -> list[DeploymentRecord]:
    """Deployments with known contracts whose bills may still grow: not closed, or closed
    since `since`."""
    rows = conn.execute(
        "SELECT id FROM deployments WHERE contract_ids IS NOT NULL AND "
        "(state NOT IN ('failed', 'cancelled') OR updated_at >= ?)", (since,)).fetchall()
    return [jobs.get(conn, r[0]) for r in rows]


def record_contracts(conn: sqlite3.Connection, now: int, deployment_id: int,
                     contract_ids: Collection[int]) -> list[int]:
    """Add `contract_ids` to those known for the deployment; returns them all."""
    dep = jobs.get(conn, deployment_id)
    ids = sorted(set(dep.contract_ids) | {int(c) for c in contract_ids})
    conn.execute("UPDATE deployments SET contract_ids = ?, grid_checked_at = ? WHERE id = ?",
                 (json.dumps(ids), now, deployment_id))
    return ids


def record_cost(conn: sqlite3.Connection, now: int, deployment_id: int, billed: int) -> None:
    """What the grid billed for the deployment's contracts so far (TFT, units of 1e-7); it only
    grows, so a partial answer never lowers it."""
    # CASE, not SQLite's two-argument max(), which PostgreSQL does not have.
    conn.execute("UPDATE deployments SET grid_cost = CASE WHEN grid_cost > ? THEN grid_cost ELSE ? END, "
                 "grid_checked_at = ? WHERE id = ?", (int(billed), int(billed), now, deployment_id))


def note_orphans(conn: sqlite3.Connection, now: int, name: str, contract_ids: Sequence[int], reason: str,
                 admin_ids: Sequence[int], *, dry_run: bool) -> bool:
    """Remember contracts of `name` that no live deployment owns; tell admins the first time.
    Returns True when they were new."""
    new = [c for c in contract_ids
           if conn.execute("SELECT 1 FROM grid_orphans WHERE contract_id = ? AND gone_at IS NULL",
                           (c,)).fetchone() is None]
    for contract_id in contract_ids:
        conn.execute(
            "INSERT INTO grid_orphans (contract_id, name, reason, first_seen_at, last_seen_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (contract_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, "
            "gone_at = NULL", (contract_id, name, reason, now, now))
    if new:
        for admin in admin_ids:
            outbox.enqueue(conn, now, admin, partial(notices.admin_grid_orphans, name, list(new), reason, dry_run),
                           key=f"grid:orphan:{min(new)}:{'dry' if dry_run else 'cancel'}:admin:{admin}")
    return bool(new)


def orphan_cancel_tried(conn: sqlite3.Connection, now: int, contract_ids: Sequence[int],
                        error: str | None) -> None:
    for contract_id in contract_ids:
        conn.execute("UPDATE grid_orphans SET cancel_attempts = cancel_attempts + 1, last_error = ? "
                     "WHERE contract_id = ?", (error[:500] if error else None, contract_id))


def orphans_gone(conn: sqlite3.Connection, now: int, listed: Collection[int],
                 admin_ids: Sequence[int]) -> list[int]:
    """Orphans gridproxy no longer lists are cancelled at last: mark them, tell admins."""
    rows = conn.execute("SELECT contract_id, name FROM grid_orphans WHERE gone_at IS NULL").fetchall()
    gone: dict[str, list[int]] = {}
    for contract_id, name in rows:
        if contract_id not in listed:
            gone.setdefault(name, []).append(contract_id)
            conn.execute("UPDATE grid_orphans SET gone_at = ? WHERE contract_id = ?", (now, contract_id))
    for name, ids in gone.items():
        for admin in admin_ids:
            outbox.enqueue(conn, now, admin, partial(notices.admin_grid_orphans_gone, name, ids),
                           key=f"grid:orphan-gone:{min(ids)}:admin:{admin}")
    return sorted(c for ids in gone.values() for c in ids)


def open_orphans(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(contract id, name) of the orphans still listed at the last look."""
    return [(int(c), str(n)) for c, n in conn.execute(
        "SELECT contract_id, name FROM grid_orphans WHERE gone_at IS NULL ORDER BY contract_id")]


def flag_vanished(conn: sqlite3.Connection, now: int, dep: DeploymentRecord,
                  admin_ids: Sequence[int]) -> None:
    """A ready deployment with no contract listed: tell its user and the admins, once."""
    name = dep.name or ""
    outbox.enqueue(conn, now, dep.chat_id, partial(notices.grid_vanished, dep.title), key=f"grid:vanished:{dep.id}")
    for admin in admin_ids:
        outbox.enqueue(conn, now, admin, partial(notices.admin_grid_vanished, dep.id, name, dep.user_id),
                       key=f"grid:vanished:{dep.id}:admin:{admin}")

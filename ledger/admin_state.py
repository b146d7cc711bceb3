"""State behind the admin chat commands: requests awaiting a confirm button, catalogue overrides,
and the admin-side deployment operations (retry with a fresh hold, cancel with a refund choice).

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`, and
run inside `await ledger.write(lambda conn, now: ...)` together with `adminlog.record`, so an
admin action and its log entry commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from core import notices

from . import deployments as jobs
from . import ops, outbox
from .commission import split_commission
from .errors import InvalidRequest, LedgerError
from .rows import inserted_id
from .schema import PAYABLE_GRID, REVENUE_COMMISSION

_REQUEST_COLUMNS = (
    "id, key, admin_id, action, params, state, chat_id, prompt_message_id, result, created_at, "
    "updated_at"
)


class RequestNotFound(LedgerError, LookupError):
    """No admin request has that id."""


@dataclass(frozen=True, slots=True)
class AdminRequest:
    """An admin action waiting for (or past) its confirm button."""

    id: int
    key: str
    admin_id: int
    action: str
    params_json: str
    state: str  # pending | done | cancelled | failed
    chat_id: int
    prompt_message_id: int | None
    result: str
    created_at: int
    updated_at: int

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = json.loads(self.params_json)
        return params


@dataclass(frozen=True, slots=True)
class Opened:
    """What `open_request` did: `new` is False when the key had been used before."""

    request: AdminRequest
    new: bool


# --- requests ---------------------------------------------------------------------------------


def get_request(conn: sqlite3.Connection, request_id: int) -> AdminRequest:
    row = conn.execute(f"SELECT {_REQUEST_COLUMNS} FROM admin_requests WHERE id = ?",
                       (request_id,)).fetchone()
    if row is None:
        raise RequestNotFound(f"admin request {request_id} does not exist")
    return AdminRequest(*row)


def open_request(
    conn: sqlite3.Connection, now: int, key: str, admin_id: int, action: str,
    params: dict[str, Any], chat_id: int,
) -> Opened:
    """Open a pending request once per `key` (the command message); a replay returns the first."""
    row = conn.execute(f"SELECT {_REQUEST_COLUMNS} FROM admin_requests WHERE key = ?", (key,)).fetchone()
    if row is not None:
        return Opened(AdminRequest(*row), False)
    cur = conn.execute(
        "INSERT INTO admin_requests (key, admin_id, action, params, state, chat_id, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id",
        (key, admin_id, action, json.dumps(params, sort_keys=True), chat_id, now, now),
    )
    return Opened(get_request(conn, inserted_id(cur)), True)


def set_prompt(conn: sqlite3.Connection, now: int, request_id: int, message_id: int) -> None:
    conn.execute("UPDATE admin_requests SET prompt_message_id = ?, updated_at = ? WHERE id = ?",
                 (message_id, now, request_id))


def finish_request(
    conn: sqlite3.Connection, now: int, request_id: int, state: str, result: str = ""
) -> bool:
    """Move a pending request to `state`; False when it was no longer pending (a double tap)."""
    if state not in ("done", "cancelled", "failed"):
        raise InvalidRequest(f"a request cannot finish as {state!r}")
    cur = conn.execute(
        "UPDATE admin_requests SET state = ?, result = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
        (state, result[:2000], now, request_id),
    )
    return cur.rowcount == 1


def set_result(conn: sqlite3.Connection, now: int, request_id: int, result: str) -> None:
    conn.execute("UPDATE admin_requests SET result = ?, updated_at = ? WHERE id = ?",
                 (result[:2000], now, request_id))


def requests_by_action(
    conn: sqlite3.Connection, action: str, state: str, limit: int = 20
) -> list[AdminRequest]:
    rows = conn.execute(
        f"SELECT {_REQUEST_COLUMNS} FROM admin_requests WHERE action = ? AND state = ? "
        "ORDER BY id DESC LIMIT ?", (action, state, limit),
    ).fetchall()
    return [AdminRequest(*r) for r in rows]


# --- catalogue overrides ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceOverride:
    service_id: str
    enabled: bool | None  # None: as in config.toml
    price: int | None  # TFC cents; None: as in config.toml
    admin_id: int
    updated_at: int


def service_overrides(conn: sqlite3.Connection) -> dict[str, ServiceOverride]:
    rows = conn.execute(
        "SELECT service_id, enabled, price, admin_id, updated_at FROM service_overrides"
    ).fetchall()
    return {r[0]: ServiceOverride(r[0], None if r[1] is None else bool(r[1]), r[2], r[3], r[4])
            for r in rows}


def set_service_override(
    conn: sqlite3.Connection, now: int, service_id: str, admin_id: int, *,
    enabled: bool | None = None, price: int | None = None,
) -> ServiceOverride:
    """Set the enabled flag and/or the price of a service (each left as it was when None)."""
    if price is not None and (type(price) is not int or price <= 0):
        raise InvalidRequest(f"price must be a positive number of cents, not {price!r}")
    conn.execute(
        "INSERT INTO service_overrides (service_id, enabled, price, admin_id, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (service_id) DO UPDATE SET "
        "enabled = coalesce(excluded.enabled, service_overrides.enabled), "
        "price = coalesce(excluded.price, service_overrides.price), "
        "admin_id = excluded.admin_id, updated_at = excluded.updated_at",
        (service_id, None if enabled is None else int(enabled), price, admin_id, now),
    )
    return service_overrides(conn)[service_id]


# --- deployments ------------------------------------------------------------------------------


def retry_deployment(
    conn: sqlite3.Connection, now: int, deployment_id: int, *, hold_ttl_s: int, key: str
) -> jobs.DeploymentRecord:
    """Queue a failed deployment again, due now, with its attempts reset.

    The failure voided the hold (the credits went back), so the price is held afresh from the
    user's balance under `key` (refused with InsufficientFunds or AccountInDebt when it does not
    cover it: nothing changes). A queued job waiting out a backoff is simply made due now.
    The grid name stays the same, so the deploy stays idempotent.
    """
    dep = jobs.get(conn, deployment_id)
    if dep.state == "queued":
        conn.execute("UPDATE deployments SET next_attempt_at = ?, updated_at = ? WHERE id = ?",
                     (now, now, deployment_id))
        return jobs.get(conn, deployment_id)
    if dep.state != "failed":
        raise jobs.DeploymentStateError(
            f"deployment {deployment_id} is {dep.state}; only a failed or queued one can be retried")
    old = ops.get_hold(conn, dep.hold_id)
    hold_id = old.id
    if not (old.state == "pending" and old.expires_at > now):
        order = ops.get_order(conn, dep.order_id)
        account_id = ops.ensure_user(conn, now, dep.user_id)
        hold = ops.place_hold(conn, now, key, account_id, order.amount, now + hold_ttl_s,
                              order.id, f"purchase {dep.service_id} (retry)")
        hold_id = hold.id
    conn.execute(
        "UPDATE deployments SET state = 'queued', hold_id = ?, attempts = 0, next_attempt_at = ?, "
        "error = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
        (hold_id, now, now, deployment_id),
    )
    ops.set_order_state(conn, now, dep.order_id, "placed", ("failed",))
    outbox.enqueue(conn, now, dep.chat_id, lambda: notices.deployment_retried(dep.title),
                   key=f"deploy:{dep.id}:retry:{key}")
    return jobs.get(conn, deployment_id)


def refund_period(
    conn: sqlite3.Connection, now: int, deployment_id: int, amount: int, *, commission_ppm: int,
    key: str,
) -> int:
    """Give `amount` of a settled period back to the user's credits, reversing the settlement's
    split (grid payable and commission), once per `key`. Returns the amount given back."""
    if amount <= 0:
        return 0
    dep = jobs.get(conn, deployment_id)
    account_id = ops.ensure_user(conn, now, dep.user_id)
    payable, commission = split_commission(amount, commission_ppm)
    memo = f"refund of deployment {deployment_id}"
    for index, (source, part) in enumerate(((PAYABLE_GRID, payable), (REVENUE_COMMISSION, commission))):
        if part > 0:
            ops.transfer(conn, now, f"{key}#{index}", source, account_id, part, "refund", memo,
                         dep.order_id)
    return amount


def paid_for(conn: sqlite3.Connection, dep: jobs.DeploymentRecord) -> int:
    """What the user paid for the deployment's time, net: its settled purchase and every renewal,
    less what refunds of it gave back."""
    row = conn.execute(
        "SELECT coalesce(sum(CASE WHEN kind = 'refund' THEN -amount ELSE amount END), 0) FROM transfers "
        "WHERE order_id = ? AND kind IN ('settlement', 'renewal', 'refund')", (dep.order_id,),
    ).fetchone()
    return max(0, int(row[0]))


def unused_share(dep: jobs.DeploymentRecord, now: int, price: int, paid: int | None = None) -> int:
    """The pro-rata part of `price` per period for all the prepaid time still ahead (renewals
    can prepay several periods), rounded down to a cent, never more than `paid` (what the user
    paid for the deployment, net) when given."""
    if dep.expires_at is None or not dep.period_days or dep.expires_at <= now:
        return 0
    left = dep.expires_at - now
    period = dep.period_days * jobs.DAY_S
    share = price * left // period
    return share if paid is None else min(paid, share)


def unused_refund(conn: sqlite3.Connection, now: int, dep: jobs.DeploymentRecord, price: int) -> int:
    """The "refund the unused part" amount: the unused prepaid time at `price` a period, capped
    at what was paid for the deployment."""
    return unused_share(dep, now, price, paid_for(conn, dep))

"""The deployment queue: thread-side functions over the `deployments` table.

Each function takes the sqlite3 connection and the clock reading `now` first, like `ledger.ops`,
and is meant to run inside `await ledger.write(lambda conn, now: ...)`, so a state change, the
money it moves and the message it sends to the user commit together or not at all.

States: queued -> deploying -> ready -> cancelling -> cancelled, with deploying -> queued for a
retry and queued/deploying -> failed (hold voided, credits back). A queued job may also be
cancelled (hold voided): directly if it never ran, through 'cancelling' if an attempt ran (it
may have left a contract). `cancelling` means the grid contract is still to be cancelled;
the periods job retries that until it is done.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from core import i18n, notices

from . import ops, order_messages, outbox, shop_meta, users
from .commission import split_commission
from .dialect import dialect_of
from .errors import InvalidRequest, LedgerError
from .schema import PAYABLE_GRID, REVENUE_COMMISSION

DAY_S = 86_400
CLOSED_STATES = ("failed", "cancelled")
_COLUMNS = (
    "id, order_id, user_id, service_id, hold_id, state, created_at, updated_at, name, attempts, "
    "lease_until, next_attempt_at, details, error, status_chat_id, status_message_id, "
    "period_days, started_at, ready_at, expires_at, auto_renew, warned_at, error_detail, "
    "contract_ids, grid_cost, label"
)


class DeploymentNotFound(LedgerError, LookupError):
    """No deployment has that id (or it belongs to someone else)."""


class DeploymentStateError(LedgerError):
    """The deployment is not in a state that allows the operation."""


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    """One row of the deployment queue."""

    id: int
    order_id: int
    user_id: int
    service_id: str
    hold_id: int
    state: str  # queued | deploying | ready | failed | cancelling | cancelled
    created_at: int
    updated_at: int
    name: str | None
    attempts: int
    lease_until: int | None
    next_attempt_at: int
    details_json: str | None
    error: str | None
    status_chat_id: int | None
    status_message_id: int | None
    period_days: int | None
    started_at: int | None
    ready_at: int | None
    expires_at: int | None
    auto_renew: bool
    warned_at: int | None
    error_detail: str | None = None  # the grid tool's text, scrubbed; for admins only
    contract_ids_json: str | None = None
    grid_cost: int = 0  # what the grid billed, TFT in its smallest unit (1e-7 TFT)
    label: str | None = None  # the VM's name as its owner reads it (`title`)

    @property
    def title(self) -> str:
        """The one name the user reads for this VM, in every message: the name they gave it,
        else the one it got when bought ("Small VM #3"). The grid knows it by `name`."""
        return self.label or f"VM #{self.id}"

    @property
    def contract_ids(self) -> list[int]:
        """The grid contracts of this deployment (network and VM), as last seen."""
        return [int(c) for c in json.loads(self.contract_ids_json)] if self.contract_ids_json else []

    @property
    def details(self) -> dict[str, Any]:
        """Connection details (contract_id, node_id, mycelium_ip, ipv4, ipv6, ssh_command)."""
        return json.loads(self.details_json) if self.details_json else {}

    @property
    def chat_id(self) -> int:
        """Where messages about this deployment go: the status chat, else the user's private chat."""
        return self.status_chat_id if self.status_chat_id is not None else self.user_id


def deployment_name(deployment_id: int, prefix: str = "gs", shop: str = "") -> str:
    """The grid name of a deployment: fixed by this shop's id and the deployment id, so every
    retry reuses the same one and no other shop on the same tfcmd login has it
    ("gs<shop>_<id>"; without a shop id, the old "gs<id>")."""
    return f"{prefix}{shop}_{deployment_id}" if shop else f"{prefix}{deployment_id}"


def shop_name_prefix(prefix: str, shop: str) -> str:
    """What every grid name of this shop starts with."""
    return f"{prefix}{shop}_"


def status_key(deployment_id: int) -> str:
    """Outbox key of the first ("Queued") status message; its sent message id becomes the one
    later statuses edit, when the chat did not call `attach_status_message`."""
    return f"deploy:{deployment_id}:status"


# --- reads ------------------------------------------------------------------------------------


def _row(row: Sequence[Any]) -> DeploymentRecord:
    values = list(row)
    values[20] = bool(values[20])
    return DeploymentRecord(*values)


def find(conn: sqlite3.Connection, deployment_id: int) -> DeploymentRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
    return _row(row) if row is not None else None


def get(conn: sqlite3.Connection, deployment_id: int, user_id: int | None = None) -> DeploymentRecord:
    """The deployment; with `user_id`, only if it is theirs (else DeploymentNotFound)."""
    dep = find(conn, deployment_id)
    if dep is None or (user_id is not None and dep.user_id != user_id):
        raise DeploymentNotFound(f"deployment {deployment_id} does not exist")
    return dep


def by_order(conn: sqlite3.Connection, order_id: int) -> DeploymentRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM deployments WHERE order_id = ?", (order_id,)).fetchone()
    return _row(row) if row is not None else None


def list_by_user(
    conn: sqlite3.Connection, user_id: int, limit: int = 20, include_closed: bool = False
) -> list[DeploymentRecord]:
    """The user's deployments, newest first; failed and cancelled ones only if asked for."""
    closed = "" if include_closed else f" AND state NOT IN {CLOSED_STATES!r}"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deployments WHERE user_id = ?{closed} ORDER BY id DESC LIMIT ?",
        (user_id, limit),
    ).fetchall()
    return [_row(r) for r in rows]


def list_by_state(conn: sqlite3.Connection, state: str, limit: int = 100) -> list[DeploymentRecord]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deployments WHERE state = ? ORDER BY id LIMIT ?", (state, limit)
    ).fetchall()
    return [_row(r) for r in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT state, count(*) FROM deployments GROUP BY state").fetchall())


def due_for_warning(
    conn: sqlite3.Connection, now: int, warn_s: int, limit: int = 100
) -> list[DeploymentRecord]:
    """Ready deployments expiring within `warn_s` that were not warned in this period."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deployments WHERE state = 'ready' AND warned_at IS NULL "
        "AND expires_at > ? AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        (now, now + warn_s, limit),
    ).fetchall()
    return [_row(r) for r in rows]


def due_for_expiry(conn: sqlite3.Connection, now: int, limit: int = 100) -> list[DeploymentRecord]:
    """Ready deployments whose paid period has ended."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM deployments WHERE state = 'ready' AND expires_at <= ? "
        "ORDER BY expires_at LIMIT ?",
        (now, limit),
    ).fetchall()
    return [_row(r) for r in rows]


# --- status message ---------------------------------------------------------------------------


Status = tuple[outbox.Text, dict[str, Any] | None]  # a status text and its buttons


def _ready_status(conn: sqlite3.Connection, dep: DeploymentRecord) -> Status:
    """A running VM's status: how to reach it, with the "My VM" button (in the user's language)."""
    expires_at = dep.expires_at or 0
    with i18n.using(users.locale(conn, dep.chat_id)):
        markup = notices.my_vm_markup(dep.id)
    return (lambda: notices.deployment_ready(dep.title, dep.details, expires_at, dep.auto_renew)), markup


def _current_status(conn: sqlite3.Connection, now: int, dep: DeploymentRecord,
                    paid: Callable[[], str] | None = None) -> Status | None:
    """The status text for a job that moved on before its status message was attached (or,
    with `paid`, the queued one that says how it was paid)."""
    took = now - dep.created_at
    if dep.state == "queued" and paid is not None:
        return (lambda: notices.deployment_queued(dep.title, took, paid())), None
    if dep.state == "deploying":
        return (lambda: notices.deployment_deploying(dep.title, took, 1, 1)), None
    if dep.state == "ready":
        return _ready_status(conn, dep)
    hold = ops.get_hold(conn, dep.hold_id)
    refunded = hold.amount if hold.state in ("voided", "expired") else 0
    balance = _shown_balance(conn, now, dep.user_id)
    if dep.state == "failed":
        return (lambda: notices.deployment_failed(dep.title, dep.updated_at - dep.created_at,
                                                  dep.error or "unknown error", refunded, balance)), None
    if dep.state == "cancelled" and dep.ready_at is None:
        return (lambda: notices.deployment_cancelled_before_deploy(dep.title, refunded, balance)), None
    return None


def _shown_balance(conn: sqlite3.Connection, now: int, user_id: int) -> int:
    """The user's balance as a message tells it (`Balance.shown`)."""
    return ops.account_balance(conn, ops.ensure_user(conn, now, user_id)).shown


def attach_status_message(
    conn: sqlite3.Connection, now: int, deployment_id: int, chat_id: int, message_id: int
) -> DeploymentRecord:
    """Remember the chat's status message, so later statuses edit it instead of sending anew.

    The worker may have claimed (or finished) the job between the purchase and this write; its
    statuses then had no message to edit, so this one is brought up to date (an edit queued in
    the outbox, once per state)."""
    get(conn, deployment_id)
    conn.execute(
        "UPDATE deployments SET status_chat_id = ?, status_message_id = ?, updated_at = ? WHERE id = ?",
        (chat_id, message_id, now, deployment_id),
    )
    dep = get(conn, deployment_id)
    status = _current_status(conn, now, dep) if dep.state != "queued" else None
    if status is not None:
        outbox.enqueue(conn, now, chat_id, status[0], key=f"deploy:{dep.id}:attached:{dep.state}",
                       edit_message_id=message_id, reply_markup=status[1])
    return dep


def enqueue_queued_status(conn: sqlite3.Connection, now: int, deployment_id: int,
                          paid: Callable[[], str] | None = None) -> int:
    """Queue the first status message through the outbox (for flows with no chat at hand, such
    as a buy-now paid by webhook): "Queued" (saying how it was paid), or the state the job
    reached already. It goes into the order's message when the chat told us of one (an edit:
    the pay buttons go), else it is a new message; later statuses edit it once it is sent, or
    rewrite it while it waits."""
    dep = get(conn, deployment_id)
    shown = order_messages.where(conn, dep.order_id)
    if shown is not None:
        conn.execute("UPDATE deployments SET status_chat_id = ?, status_message_id = ? WHERE id = ?",
                     (shown.chat_id, shown.message_id, deployment_id))
        dep = get(conn, deployment_id)
    status = _current_status(conn, now, dep, paid) if dep.state != "queued" or paid else None
    text, markup = status or ((lambda: notices.deployment_queued(dep.title, now - dep.created_at)), None)
    return outbox.enqueue(conn, now, dep.chat_id, text, key=status_key(deployment_id), reply_markup=markup,
                          edit_message_id=shown.message_id if shown is not None else None)


def _status_message_id(conn: sqlite3.Connection, dep: DeploymentRecord) -> int | None:
    if dep.status_message_id is not None:
        return dep.status_message_id
    row = conn.execute(
        "SELECT message_id FROM notifications WHERE key = ? AND state = 'sent'", (status_key(dep.id),)
    ).fetchone()
    return row[0] if row is not None else None


def _edit_status(conn: sqlite3.Connection, now: int, dep: DeploymentRecord, text: outbox.Text, key: str,
                 reply_markup: dict[str, Any] | None = None) -> bool:
    """Bring the status message to `text`: edit it if it was sent, rewrite it while it still
    waits in the outbox (the outbox edits it afterwards if it was being sent just then).
    Returns False when there is no status message at all."""
    message_id = _status_message_id(conn, dep)
    if message_id is not None:
        outbox.enqueue(conn, now, dep.chat_id, text, key=key, edit_message_id=message_id, reply_markup=reply_markup)
        return True
    return outbox.rewrite_pending(conn, status_key(dep.id), text, reply_markup)


def _show_status(conn: sqlite3.Connection, now: int, dep: DeploymentRecord, text: outbox.Text, key: str,
                 reply_markup: dict[str, Any] | None = None) -> None:
    """A status the user must hear of (ready, failed, cancelled): into the status message, or,
    with none at all, as a message of its own."""
    if not _edit_status(conn, now, dep, text, key, reply_markup):
        outbox.enqueue(conn, now, dep.chat_id, text, key=key, reply_markup=reply_markup)


# --- the worker's side ------------------------------------------------------------------------


def claim_next(
    conn: sqlite3.Connection, now: int, lease_s: int, *, name_prefix: str = "gs",
    max_attempts: int = 1, exclude: Sequence[int] = (), owner: int | None = None,
) -> DeploymentRecord | None:
    """Claim the next job: queued and due, or deploying with a lapsed lease (a dead worker's),
    or, on PostgreSQL, deploying for an instance that is gone (`owner`: the claiming
    instance's id, `ledger.roles.PgRoles.instance_id`).

    The claim sets the deterministic grid name, state 'deploying' and a lease until
    `now + lease_s`, and edits the status message to "Deploying". On PostgreSQL a job another
    instance is claiming at the same moment is skipped (`FOR UPDATE SKIP LOCKED`).
    """
    dialect = dialect_of(conn)
    skip = ",".join(str(int(i)) for i in exclude) or "0"
    row = conn.execute(
        "SELECT id FROM deployments WHERE id NOT IN (" + skip + ") AND ("
        "(state = 'queued' AND next_attempt_at <= ?) OR "
        "(state = 'deploying' AND (coalesce(lease_until, 0) <= ?" + dialect.owner_gone + "))) "
        "ORDER BY next_attempt_at, id LIMIT 1" + dialect.skip_locked,
        (now, now),
    ).fetchone()
    if row is None:
        return None
    deployment_id = row[0]
    conn.execute(
        "UPDATE deployments SET state = 'deploying', name = coalesce(name, ?), lease_until = ?, "
        "lease_owner = ?, started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ?",
        (deployment_name(deployment_id, name_prefix, shop_meta.shop_id(conn)), now + lease_s,
         owner, now, now, deployment_id),
    )
    dep = get(conn, deployment_id)
    attempt = dep.attempts + 1
    _edit_status(conn, now, dep, lambda: notices.deployment_deploying(dep.title, now - dep.created_at, attempt, max_attempts),
                 f"deploy:{dep.id}:deploying:{dep.hold_id}:{attempt}")
    return dep


def extend_lease(conn: sqlite3.Connection, now: int, deployment_id: int, lease_s: int) -> bool:
    """Keep a claim alive during a long deploy; False if the job is no longer deploying."""
    cur = conn.execute(
        "UPDATE deployments SET lease_until = ? WHERE id = ? AND state = 'deploying'",
        (now + lease_s, deployment_id),
    )
    return cur.rowcount == 1


def release_leases(conn: sqlite3.Connection, now: int) -> int:
    """At startup: every job left deploying belongs to a dead worker; make it claimable now."""
    cur = conn.execute(
        "UPDATE deployments SET lease_until = ? WHERE state = 'deploying' "
        "AND coalesce(lease_until, 0) > ?",
        (now, now),
    )
    return cur.rowcount


def release_ownerless_leases(conn: sqlite3.Connection, now: int) -> int:
    """When instances share the database: make jobs left deploying with no owner claimable now.
    Every claim there names its instance (`claim_next`'s `owner`), so a job without one was
    claimed by a gridshop from before migration 10, stopped for the upgrade; its lease (up to
    twice tfcmd's timeout) would otherwise hold the VM back until it ran out."""
    cur = conn.execute(
        "UPDATE deployments SET lease_until = ? WHERE state = 'deploying' AND lease_owner IS NULL "
        "AND coalesce(lease_until, 0) > ?",
        (now, now),
    )
    return cur.rowcount


def backoff_s(attempts: int, base_s: int, max_s: int) -> int:
    """Delay before retry number `attempts` (1 after the first failure): base * 2^(n-1), capped."""
    return min(max_s, base_s * 2 ** max(0, attempts - 1))  # type: ignore[no-any-return]  # int ** int is Any to mypy


def record_attempt_failure(
    conn: sqlite3.Connection, now: int, deployment_id: int, error: str, *,
    backoff_base_s: int = 30, backoff_max_s: int = 600, detail: str | None = None,
) -> DeploymentRecord:
    """A transient failure: count the attempt and queue the job again after a backoff.

    `error` is what the buyer may be told, `detail` the grid tool's (scrubbed) text for admins.
    """
    dep = get(conn, deployment_id)
    if dep.state != "deploying":
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}, not deploying")
    attempts = dep.attempts + 1
    conn.execute(
        "UPDATE deployments SET state = 'queued', attempts = ?, next_attempt_at = ?, error = ?, "
        "error_detail = coalesce(?, error_detail), lease_until = NULL, updated_at = ? WHERE id = ?",
        (attempts, now + backoff_s(attempts, backoff_base_s, backoff_max_s), error[:500],
         detail[:2000] if detail else None, now, deployment_id),
    )
    return get(conn, deployment_id)


def attempt_key(dep: DeploymentRecord, what: str) -> str:
    """A key for resolving the deployment's current hold, or telling the user about it: one per
    hold, since an admin retry places a fresh hold that a second failure must void and report
    too (`holds.resolve_key` and outbox keys are UNIQUE)."""
    return f"{what}:{dep.id}:hold:{dep.hold_id}"


def _splits(amount: int, commission_ppm: int) -> list[tuple[int, int]]:
    payable, commission = split_commission(amount, commission_ppm)
    splits = [(PAYABLE_GRID, payable)] if payable else []
    return splits + ([(REVENUE_COMMISSION, commission)] if commission else [])


def _charge(
    conn: sqlite3.Connection, now: int, user_id: int, amount: int, commission_ppm: int, key: str,
    kind: str, memo: str, order_id: int | None,
) -> None:
    """Take `amount` from the user's balance, split payable/commission, once per `key`.

    Raises InsufficientFunds (rolling back the whole write) when the balance does not cover it.
    """
    account_id = ops.ensure_user(conn, now, user_id)
    for index, (credit, part) in enumerate(_splits(amount, commission_ppm)):
        ops.transfer(conn, now, f"{key}#{index}", account_id, credit, part, kind, memo, order_id)


def complete_success(
    conn: sqlite3.Connection, now: int, deployment_id: int, details_json: str, period_days: int,
    settle_key: str, *, commission_ppm: int,
) -> DeploymentRecord:
    """The VM runs: settle the hold (payable/commission split), state ready, tell the user.

    If the hold lapsed while the job waited, the price is charged from the balance instead
    (the same split); InsufficientFunds then means the VM must be cancelled and the job failed.
    """
    dep = get(conn, deployment_id)
    if dep.state == "ready":
        return dep  # a replay after a crash between COMMIT and the caller hearing of it
    if dep.state not in ("deploying", "queued"):
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}; it cannot become ready")
    hold = ops.get_hold(conn, dep.hold_id)
    if hold.state == "posted" or (hold.state == "pending" and hold.expires_at > now):
        ops.post_hold(conn, now, hold.id, settle_key, _splits(hold.amount, commission_ppm))
    else:
        if hold.state == "pending":
            ops.void_hold(conn, now, hold.id, f"expire:{hold.id}", "expired")
        _charge(conn, now, dep.user_id, hold.amount, commission_ppm, settle_key, "settlement",
                f"purchase {dep.service_id}", dep.order_id)
    expires_at = now + period_days * DAY_S
    conn.execute(
        "UPDATE deployments SET state = 'ready', details = ?, error = NULL, lease_until = NULL, "
        "period_days = ?, ready_at = ?, expires_at = ?, warned_at = NULL, updated_at = ? WHERE id = ?",
        (details_json, period_days, now, expires_at, now, deployment_id),
    )
    ops.set_order_state(conn, now, dep.order_id, "completed", ("placed",))
    dep = get(conn, deployment_id)
    text, markup = _ready_status(conn, dep)
    _show_status(conn, now, dep, text, f"deploy:{dep.id}:ready", markup)
    return dep


def complete_failure(
    conn: sqlite3.Connection, now: int, deployment_id: int, reason: str, detail: str | None = None
) -> DeploymentRecord:
    """Give up: void the hold (the credits come back), state failed with the reason, tell the user.

    `reason` is told to the user; `detail` (the grid tool's scrubbed text) is kept for admins.
    """
    dep = get(conn, deployment_id)
    if dep.state == "failed":
        return dep
    if dep.state not in ("deploying", "queued"):
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}; it cannot fail")
    hold = ops.get_hold(conn, dep.hold_id)
    refunded = 0
    if hold.state == "pending":
        ops.void_hold(conn, now, hold.id, attempt_key(dep, "deploy-failed"))
        refunded = hold.amount
    conn.execute(
        "UPDATE deployments SET state = 'failed', error = ?, error_detail = coalesce(?, error_detail), "
        "lease_until = NULL, updated_at = ? WHERE id = ?",
        (reason[:500], detail[:2000] if detail else None, now, deployment_id),
    )
    ops.set_order_state(conn, now, dep.order_id, "failed", ("placed",))
    dep = get(conn, deployment_id)
    balance = _shown_balance(conn, now, dep.user_id)
    _show_status(conn, now, dep, lambda: notices.deployment_failed(dep.title, now - dep.created_at, reason,
                                                                   refunded, balance),
                 f"deploy:{dep.id}:failed:{dep.hold_id}")
    return dep


# --- the user's side and the periods job ------------------------------------------------------


def set_auto_renew(
    conn: sqlite3.Connection, now: int, deployment_id: int, on: bool, user_id: int | None = None
) -> DeploymentRecord:
    dep = get(conn, deployment_id, user_id)
    if dep.state not in ("queued", "deploying", "ready"):
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}")
    conn.execute("UPDATE deployments SET auto_renew = ?, updated_at = ? WHERE id = ?",
                 (1 if on else 0, now, deployment_id))
    return get(conn, deployment_id)


def renew(
    conn: sqlite3.Connection, now: int, deployment_id: int, *, commission_ppm: int,
    price: int | None = None, period_days: int | None = None, for_expires_at: int | None = None,
    user_id: int | None = None, notify: bool = True,
) -> DeploymentRecord:
    """Pay one more period from the balance (payable/commission split) and extend the expiry.

    Idempotent per period: the key names the expiry being extended, and `for_expires_at` (the
    expiry the user saw) makes a double tap renew once. Refused with InsufficientFunds (nothing
    written) when the balance does not cover `price` (default: the order's amount).
    """
    dep = get(conn, deployment_id, user_id)
    if dep.state != "ready" or dep.expires_at is None:
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}; only a running one renews")
    if for_expires_at is not None and for_expires_at != dep.expires_at:
        if dep.expires_at > for_expires_at:
            return dep  # that period was renewed already
        raise DeploymentStateError(f"deployment {deployment_id} expires at {dep.expires_at}, not {for_expires_at}")
    amount = price if price is not None else ops.get_order(conn, dep.order_id).amount
    days = period_days or dep.period_days or 30
    _charge(conn, now, dep.user_id, amount, commission_ppm, f"renew:{dep.id}:{dep.expires_at}",
            "renewal", f"renew {dep.name} {days}d", dep.order_id)
    expires_at = dep.expires_at + days * DAY_S
    conn.execute(
        "UPDATE deployments SET expires_at = ?, period_days = ?, warned_at = NULL, updated_at = ? "
        "WHERE id = ?",
        (expires_at, days, now, deployment_id),
    )
    if notify:
        outbox.enqueue(conn, now, dep.chat_id, lambda: notices.period_renewed(dep.title, amount, expires_at),
                       key=f"deploy:{dep.id}:renewed:{dep.expires_at}")
    return get(conn, deployment_id)


@dataclass(frozen=True, slots=True)
class Renewal:
    """A renewal a user asked for: the deployment after it; `new` is False when the period the
    user saw had been renewed already (a double tap), which charged nothing again."""

    deployment: DeploymentRecord
    new: bool


def renew_for_user(
    conn: sqlite3.Connection, now: int, deployment_id: int, *, user_id: int, seen_expires_at: int,
    price: int, period_days: int, commission_ppm: int,
) -> Renewal:
    """The user's Renew button: one more period of their deployment at `price`, once for the
    expiry they saw. Refused with InsufficientFunds or AccountInDebt (nothing written) when the
    balance does not cover it, DeploymentStateError when it is not running or the button is
    out of date, DeploymentNotFound when it is not theirs."""
    new = get(conn, deployment_id, user_id).expires_at == seen_expires_at
    renewed = renew(conn, now, deployment_id, commission_ppm=commission_ppm, price=price,
                    period_days=period_days, for_expires_at=seen_expires_at, user_id=user_id,
                    notify=False)
    return Renewal(renewed, new)


MAX_LABEL = 64


def rename(conn: sqlite3.Connection, now: int, deployment_id: int, user_id: int, label: str) -> DeploymentRecord:
    """The owner's name for their VM (what they read everywhere; the grid name stays)."""
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise InvalidRequest(f"a VM's name is 1 to {MAX_LABEL} printable characters")
    get(conn, deployment_id, user_id)
    conn.execute("UPDATE deployments SET label = ?, updated_at = ? WHERE id = ?", (label, now, deployment_id))
    return get(conn, deployment_id)


def request_cancel(
    conn: sqlite3.Connection, now: int, deployment_id: int, reason: str, user_id: int | None = None
) -> DeploymentRecord:
    """Cancel a deployment: a queued one at once (hold voided, credits back); a running one moves
    to 'cancelling' (auto-renew off) until its grid contract is cancelled (`mark_cancelled`).

    A deploying job cannot be cancelled mid-flight (DeploymentStateError); a paid period is not
    refunded when the user cancels a running VM.
    """
    dep = get(conn, deployment_id, user_id)
    if dep.state in ("cancelling", "cancelled"):
        return dep
    if dep.state == "queued":
        # A queued retry may have left a contract on the grid (its clean-up cancel failed):
        # it goes through 'cancelling', so the grid is asked to cancel its name first.
        left_on_grid = dep.attempts > 0 and dep.name is not None
        hold = ops.get_hold(conn, dep.hold_id)
        refunded = 0
        if hold.state == "pending":
            ops.void_hold(conn, now, hold.id, attempt_key(dep, "deploy-cancelled"))
            refunded = hold.amount
        conn.execute(
            "UPDATE deployments SET state = ?, error = ?, updated_at = ? WHERE id = ?",
            ("cancelling" if left_on_grid else "cancelled", reason[:500], now, deployment_id),
        )
        ops.set_order_state(conn, now, dep.order_id, "cancelled", ("placed",))
        balance = _shown_balance(conn, now, dep.user_id)
        _show_status(conn, now, dep, lambda: notices.deployment_cancelled_before_deploy(dep.title, refunded, balance),
                     f"deploy:{dep.id}:cancelled")
        return get(conn, deployment_id)
    if dep.state != "ready":
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}; it cannot be cancelled now")
    conn.execute(
        "UPDATE deployments SET state = 'cancelling', auto_renew = 0, error = ?, updated_at = ? "
        "WHERE id = ?",
        (reason[:500], now, deployment_id),
    )
    return get(conn, deployment_id)


def removal_key(deployment_id: int) -> str:
    """Outbox key of the message that a running VM is gone: queued when its contract is
    cancelled, or earlier by whoever already told the user of the cancellation in full (an
    admin's cancel with a refund), so the user hears of it once."""
    return f"deploy:{deployment_id}:removed"


def mark_cancelled(conn: sqlite3.Connection, now: int, deployment_id: int, *, notify: bool = True) -> DeploymentRecord:
    """The grid contract is gone: state cancelled, and tell the user why (unless `notify` is
    False: the chat that asked for it says so in the message the user is looking at)."""
    dep = get(conn, deployment_id)
    if dep.state == "cancelled":
        return dep
    if dep.state != "cancelling":
        raise DeploymentStateError(f"deployment {deployment_id} is {dep.state}, not cancelling")
    conn.execute("UPDATE deployments SET state = 'cancelled', updated_at = ? WHERE id = ?",
                 (now, deployment_id))
    if dep.ready_at is not None and notify:  # a job cancelled before it ran was told so already
        outbox.enqueue(conn, now, dep.chat_id, lambda: notices.deployment_removed(dep.title, dep.error or notices.REASON_CANCELLED),
                       key=removal_key(dep.id))
    return get(conn, deployment_id)

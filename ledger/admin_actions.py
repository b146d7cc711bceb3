"""The admin's confirmed actions, each one ledger write.

An action closes its admin request (a second tap, or a re-delivered update, finds it no longer
pending and changes nothing), changes the money or the deployment, appends the admin log entry
and queues the user's message, so all of it commits together or not at all. A refused action is
recorded by `refuse`: the request is closed as failed with the refusal in the admin log. The
request keeps what was done (the log entry's detail) as its result.

Functions take the sqlite3 connection and the clock reading `now` first, like `ledger.ops`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from core import notices
from core.money import format_tfc

from . import admin_state as state
from . import adminlog, ops, outbox
from . import deployments as jobs
from .errors import InvalidRequest
from .models import Balance, Payment, Transfer
from .refund_message import refund_message

__all__ = [
    "REFUND_CHOICES", "Adjusted", "Cancelled", "Refunded", "adjust_balance", "cancel_deployment",
    "record_refund", "refuse", "retry_deployment", "set_service",
]

# What an admin may give back when cancelling a running deployment: nothing, the unused part
# of the period, or the whole period's price.
REFUND_CHOICES = ("none", "unused", "full")


@dataclass(frozen=True, slots=True)
class Adjusted:
    """An admin adjustment: `amount` is signed (positive: credited), `balance` is the user's
    after it; `new` is False for a replay of a request done before (nothing changed again)."""

    user_id: int
    amount: int
    transfer: Transfer
    balance: Balance
    new: bool = True


def adjust_balance(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, user_id: int,
    amount: int, reason: str,
) -> Adjusted | None:
    """Credit (amount > 0) or debit (amount < 0) the user for a confirmed /credit or /debit,
    with its admin log entry and the message to the user. A replay of a request done before
    returns the first adjustment (`new` False); one closed otherwise (cancelled, refused) None.
    Refused (nothing changes) when a debit is not covered by what the user has available."""
    key = f"admin:{request.key}"
    if not state.finish_request(conn, now, request.id, "done"):
        first = ops.transfer_by_key(conn, key)
        if first is None:
            return None
        account = first.credit_account_id if amount > 0 else first.debit_account_id
        return Adjusted(user_id, amount, first, ops.account_balance(conn, account), new=False)
    transfer = ops.adjust(conn, now, key, user_id, amount, request.admin_id, reason)
    detail = f"{format_tfc(abs(amount))}: {reason} (transfer {transfer.id})"
    adminlog.record(conn, now, request.admin_id, "credit" if amount > 0 else "debit",
                    f"user {user_id}", detail, key=request.key)
    after = ops.account_balance(conn, transfer.credit_account_id if amount > 0
                                else transfer.debit_account_id)
    told = notices.credited_by_shop if amount > 0 else notices.debited_by_shop
    outbox.enqueue(conn, now, user_id, lambda: told(abs(amount), reason, after.available),
                   key=key)
    state.set_result(conn, now, request.id, detail)
    return Adjusted(user_id, amount, transfer, after)


def retry_deployment(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, deployment_id: int,
    hold_ttl_s: int,
) -> jobs.DeploymentRecord | None:
    """Queue a failed deployment again for a confirmed /retry (its price held afresh when the
    failure released the hold), logged; None if the request was closed before."""
    if not state.finish_request(conn, now, request.id, "done"):
        return None
    dep = state.retry_deployment(conn, now, deployment_id, hold_ttl_s=hold_ttl_s,
                                 key=f"admin-retry:{request.key}")
    detail = f"hold {dep.hold_id}"
    adminlog.record(conn, now, request.admin_id, "retry", f"deployment {deployment_id}", detail,
                    key=request.key)
    state.set_result(conn, now, request.id, detail)
    return dep


@dataclass(frozen=True, slots=True)
class Cancelled:
    """A deployment cancelled by an admin: where it stands now and what went back to the user."""

    deployment: jobs.DeploymentRecord
    refund: int


def cancel_deployment(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, deployment_id: int,
    refund: str, commission_ppm: int,
) -> Cancelled | None:
    """Cancel a queued deployment (its hold released) or a running one (to 'cancelling', for the
    grid to remove) for a confirmed /cancel, giving back `refund` of a running one's period
    (one of REFUND_CHOICES), with the log entry and the user's message; None if the request
    was closed before."""
    if refund not in REFUND_CHOICES:
        raise InvalidRequest(f"refund must be one of {REFUND_CHOICES}, not {refund!r}")
    if not state.finish_request(conn, now, request.id, "done"):
        return None
    before = jobs.get(conn, deployment_id)
    price = ops.get_order(conn, before.order_id).amount
    amount = 0
    if before.state == "ready" and refund != "none":
        amount = price if refund == "full" else state.unused_refund(conn, now, before, price)
    dep = jobs.request_cancel(conn, now, deployment_id,
                              notices.reason_cancelled_by_shop(request.admin_id))
    state.refund_period(conn, now, deployment_id, amount, commission_ppm=commission_ppm,
                        key=f"admin-cancel-refund:{request.key}")
    if amount:
        # One message for the cancellation and its refund: keyed as the removal message, which
        # the grid's confirmation then finds queued already.
        shown = ops.account_balance(conn, ops.ensure_user(conn, now, dep.user_id)).shown
        name = dep.title
        outbox.enqueue(conn, now, dep.user_id,
                       lambda: notices.cancelled_by_shop_refunded(name, amount, shown),
                       key=jobs.removal_key(dep.id))
    detail = f"was {before.state}; refund {refund} {format_tfc(amount)}"
    adminlog.record(conn, now, request.admin_id, "cancel", f"deployment {deployment_id}", detail,
                    key=request.key)
    state.set_result(conn, now, request.id, detail)
    return Cancelled(dep, amount)


def set_service(
    conn: sqlite3.Connection, now: int, *, admin_id: int, service_id: str, key: str | None,
    was_enabled: bool, was_price: int, enabled: bool | None = None, price: int | None = None,
) -> dict[str, state.ServiceOverride]:
    """Put a service on or off sale, or reprice it (`was_*`: what the catalogue showed), logged
    when it changes something (once per `key`); returns every service's overrides after."""
    before = state.service_overrides(conn).get(service_id)
    state.set_service_override(conn, now, service_id, admin_id, enabled=enabled, price=price)
    change = f"enabled={enabled}" if enabled is not None else f"price={format_tfc(price or 0)}"
    was = f"was {'on' if was_enabled else 'off'}, {format_tfc(was_price)}"
    if before is None or (enabled is not None and before.enabled != enabled) or \
            (price is not None and before.price != price):
        adminlog.record(conn, now, admin_id, "service", service_id, f"{change} ({was})", key=key)
    return state.service_overrides(conn)


@dataclass(frozen=True, slots=True)
class Refunded:
    """An admin's refund recorded: the credits taken back now and the user's balance after."""

    taken: int
    balance: Balance


def record_refund(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, payment: Payment,
    take_back: Callable[[sqlite3.Connection, int], int], where: str,
    user_key: str | Callable[[sqlite3.Connection], str] | None = None,
) -> Refunded:
    """After the provider refunded `payment` for a confirmed /refund: take the credits back with
    `take_back` (the provider's clawback rule; it returns what it took now, nothing on a
    replay), close the request, log it and tell the user (`refund_message`), in one write.
    `where` is what went back and who refunded it, for the log.
    `user_key` keys the user's message when another path may tell of the same refund (a Stars
    refund's refunded_payment update, Stripe's charge.refunded webhook), or reads that key in
    the write: the user hears of it once."""
    taken = take_back(conn, now)
    if callable(user_key):
        user_key = user_key(conn)
    state.finish_request(conn, now, request.id, "done")
    detail = (f"{payment.provider} {payment.external_id}: {where}; credits taken back "
              f"{format_tfc(taken)}")
    adminlog.record(conn, now, request.admin_id, "refund", f"payment {payment.id}", detail,
                    key=request.key)
    after = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id))
    outbox.enqueue(conn, now, payment.user_id, refund_message(conn, now, payment, taken),
                   key=user_key or f"admin:{request.key}")
    state.set_result(conn, now, request.id, detail)
    return Refunded(taken, after)


def refuse(
    conn: sqlite3.Connection, now: int, request: state.AdminRequest, *, action: str, target: str,
    reason: str, result: str,
) -> None:
    """Close a request whose action was refused (`result` is what the admin was shown) and log
    the refusal (`action`, say 'adjust.refused'), once per request."""
    state.finish_request(conn, now, request.id, "failed", result)
    adminlog.record(conn, now, request.admin_id, action, target, reason, key=request.key)

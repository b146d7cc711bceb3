"""What a Stripe event does to the ledger, as ONE transaction: `apply_event(conn, now, event)`.

`parse_event` turns a verified event (a plain dict) into a `StripeEvent` outside the write, so
a malformed event can never raise inside the writer's transaction. `apply_event` then composes
ledger operations (record the payment once per Checkout Session id, credit, mark the order,
place a buy-now purchase, claw back refunds and disputes, queue messages in the outbox) and
returns an `Outcome`. Events arrive at least once and in any order; every branch is idempotent.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core import notices
from core.money import format_tfc
from ledger import deployments, errors, inbox, ops, outbox, stripe_state
from ledger.models import Payment

from .stripe_refund_due import (
    REFUND_KEY as REFUND_KEY,  # re-exported: the prefix of refund clawbacks
)
from .stripe_refund_due import refund_due

log = logging.getLogger(__name__)

PROVIDER = "stripe"
CURRENCY = "usd"  # 1 TFC = 1 USD; TFC cents are USD cents
DISPUTE_KEY = "stripe:dispute:"

SESSION_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
CHARGE_EVENTS = ("charge.refunded", "charge.dispute.created")
HANDLED_EVENTS = SESSION_EVENTS + CHARGE_EVENTS


@dataclass(frozen=True, slots=True)
class Policy:
    """What apply_event needs from the configuration."""

    admin_ids: Sequence[int] = ()
    hold_ttl_s: int = 2 * 3600


DEFAULT_POLICY = Policy()

@dataclass(frozen=True, slots=True)
class StripeEvent:
    """The fields of a Stripe event gridshop acts on; `raw` is kept for the inbox."""

    id: str
    type: str
    object_id: str
    order_id: int | None
    user_id: int | None
    amount: int | None  # session amount_total, charge amount, dispute amount
    currency: str | None
    payment_status: str | None  # sessions
    status: str | None  # session status
    amount_refunded: int | None  # charges
    payment_intent: str | None
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event did. `status` is one of: credited, duplicate, waiting, failed, expired,
    clawed_back, kept, ignored, need_session, noop."""

    status: str
    detail: str = ""
    order_id: int | None = None


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_event(raw: Mapping[str, Any]) -> StripeEvent:
    """Read the fields we use; never raises (a wrong shape gives None fields)."""
    obj = raw.get("data", {}).get("object", {}) if isinstance(raw.get("data"), dict) else {}
    if not isinstance(obj, dict):
        obj = {}
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    order_id = _int(metadata.get("order_id"))
    if order_id is None and obj.get("object") == "checkout.session":
        order_id = _int(obj.get("client_reference_id"))
    amount = obj.get("amount_total") if obj.get("object") == "checkout.session" else obj.get("amount")
    currency = _str(obj.get("currency"))
    return StripeEvent(
        id=_str(raw.get("id")) or "",
        type=_str(raw.get("type")) or "",
        object_id=_str(obj.get("id")) or "",
        order_id=order_id,
        user_id=_int(metadata.get("telegram_user_id")),
        amount=_int(amount),
        currency=currency.lower() if currency else None,
        payment_status=_str(obj.get("payment_status")),
        status=_str(obj.get("status")),
        amount_refunded=_int(obj.get("amount_refunded")),
        payment_intent=_str(obj.get("payment_intent")),
        raw=raw,
    )


def session_event(session: Mapping[str, Any], event_type: str, event_id: str) -> StripeEvent:
    """A synthetic event around a session read from the API (reconciliation, charge lookups)."""
    return parse_event({"id": event_id, "type": event_type, "data": {"object": dict(session)}})


def _keep(conn: sqlite3.Connection, now: int, event: StripeEvent, reason: str) -> None:
    payload = json.dumps(event.raw, sort_keys=True, default=str)
    inbox.keep(conn, now, PROVIDER, event.id or f"noid:{event.object_id}", event.type, payload,
               reason)
    log.warning("stripe event %s (%s) kept for reconciliation: %s", event.id, event.type, reason)


def _tell_admins(conn: sqlite3.Connection, now: int, policy: Policy, key: str, text: str) -> None:
    for admin_id in policy.admin_ids:
        outbox.enqueue(conn, now, admin_id, text, key=f"{key}:admin:{admin_id}")


def apply_event(
    conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy = Policy(),
    session: StripeEvent | None = None,
) -> Outcome:
    """Apply one Stripe event in the caller's transaction; idempotent under redelivery.

    `session` is the Checkout Session a charge event belongs to, when the caller had to look it
    up (a dispute names only the charge; a refund may come before the completed event).
    """
    if event.type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        return _paid(conn, now, event, policy)
    if event.type == "checkout.session.async_payment_failed":
        return _failed(conn, now, event)
    if event.type == "checkout.session.expired":
        return _expired(conn, now, event)
    if event.type in CHARGE_EVENTS:
        return _charge(conn, now, event, policy, session)
    return Outcome("ignored", f"event type {event.type!r} is not handled")


def _order(conn: sqlite3.Connection, now: int, event: StripeEvent) -> stripe_state.OrderRef | Outcome:
    if event.order_id is None:
        _keep(conn, now, event, "no order id in client_reference_id or metadata")
        return Outcome("kept", "no order id")
    ref = stripe_state.order_ref(conn, event.order_id)
    if ref is None:
        _keep(conn, now, event, f"unknown order {event.order_id}")
        return Outcome("kept", f"unknown order {event.order_id}", event.order_id)
    return ref


def _paid(conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    if event.payment_status != "paid":
        return Outcome("waiting", f"payment_status is {event.payment_status}", order.id)
    problems = []
    if event.amount != order.amount:
        problems.append(f"amount {event.amount} instead of {order.amount}")
    if event.currency != CURRENCY:
        problems.append(f"currency {event.currency} instead of {CURRENCY}")
    if event.user_id is not None and event.user_id != order.user_id:
        problems.append(f"user {event.user_id} instead of {order.user_id}")
    if problems:
        if ops.get_payment(conn, PROVIDER, event.object_id) is not None:
            return Outcome("duplicate", "already credited", order.id)
        reason = "; ".join(problems)
        _keep(conn, now, event, f"order {order.id}: {reason}; not credited")
        stripe_state.set_order_flag(conn, now, order.id, f"stripe mismatch: {reason}")
        _tell_admins(conn, now, policy, f"stripe:mismatch:{event.object_id}",
                     notices.admin_stripe_mismatch(event.object_id, order.id, order.user_id, reason))
        return Outcome("kept", reason, order.id)
    result = ops.record_payment(
        conn, now, PROVIDER, event.object_id, order.user_id, order.amount, event.amount or 0,
        CURRENCY.upper(), order.id,
    )
    if not result.new:
        return Outcome("duplicate", "already credited", order.id)
    text = notices.payment_credited(order.amount, result.balance.posted - result.balance.held)
    # A purchase order paid directly is a buy-now, as for Telegram payments: place it with the
    # credit. A second payment for an order already placed stays on the balance.
    if order.kind == "purchase" and order.state not in ops.PLACED_STATES:
        text = _buy_now(conn, now, order.id, order.user_id, policy, text)
    outbox.enqueue(conn, now, order.user_id, text, key=f"stripe:paid:{event.object_id}")
    return Outcome("credited", format_tfc(order.amount), order.id)


def _buy_now(conn: sqlite3.Connection, now: int, order_id: int, user_id: int, policy: Policy,
             text: str) -> str:
    # A refused purchase (debt to repay first) must not undo the credit: its own savepoint.
    conn.execute("SAVEPOINT buy_now")
    try:
        purchase = ops.purchase(conn, now, order_id, user_id, now + policy.hold_ttl_s)
    except errors.LedgerError as exc:
        conn.execute("ROLLBACK TO buy_now")
        conn.execute("RELEASE buy_now")
        return f"{text}\n{notices.purchase_not_placed(str(exc))}"
    conn.execute("RELEASE buy_now")
    deployments.enqueue_queued_status(conn, now, purchase.deployment_id)
    return f"{text}\n{notices.purchase_placed(purchase.order.service_id, order_id)}"


def _failed(conn: sqlite3.Connection, now: int, event: StripeEvent) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    if ops.get_payment(conn, PROVIDER, event.object_id) is not None or order.state != "open":
        return Outcome("noop", f"order is {order.state}", order.id)
    ops.set_order_state(conn, now, order.id, "failed", ("open",))
    outbox.enqueue(conn, now, order.user_id, notices.bank_payment_failed(order.id, order.amount),
                   key=f"stripe:failed:{event.object_id}")
    return Outcome("failed", "", order.id)


def _expired(conn: sqlite3.Connection, now: int, event: StripeEvent) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    # Only the session the order points at expires it: an older session expiring after a new
    # link was made, or after payment, changes nothing.
    if order.state != "open" or ref.provider_ref != event.object_id:
        return Outcome("noop", f"order is {order.state}, session {ref.provider_ref}", order.id)
    ops.set_order_state(conn, now, order.id, "expired", ("open",))
    return Outcome("expired", "", order.id)


def _charge(conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy,
            session: StripeEvent | None) -> Outcome:
    payment: Payment | None = None
    if session is not None:
        payment = ops.get_payment(conn, PROVIDER, session.object_id)
        if payment is None:
            if session.payment_status != "paid":
                _keep(conn, now, event, f"session {session.object_id} is not paid")
                return Outcome("kept", "session not paid")
            # The refund or dispute came before the completed event: credit first, then claw back.
            credited = _paid(conn, now, session, policy)
            if credited.status not in ("credited", "duplicate"):
                _keep(conn, now, event, f"session {session.object_id}: {credited.detail}")
                return Outcome("kept", credited.detail, credited.order_id)
            payment = ops.get_payment(conn, PROVIDER, session.object_id)
    elif event.order_id is not None and _payments_of_order(conn, event.order_id) == 1:
        # With two or more (an old link paid after a new one was made), only the charge's own
        # session tells which payment it is: "need_session" has it looked up.
        payment = stripe_state.payment_of_order(conn, PROVIDER, event.order_id)
    if payment is None:
        return Outcome("need_session", "payment not found locally", event.order_id)
    if event.currency != CURRENCY:
        _keep(conn, now, event, f"currency {event.currency} on payment {payment.external_id}")
        return Outcome("kept", "currency mismatch", payment.order_id)
    if event.type == "charge.refunded":
        return _refunded(conn, now, event, payment, policy)
    return _disputed(conn, now, event, payment, policy)


def _payments_of_order(conn: sqlite3.Connection, order_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM payments WHERE provider = ? AND order_id = ?",
                       (PROVIDER, order_id)).fetchone()
    return int(row[0])


def _remaining(conn: sqlite3.Connection, payment: Payment) -> int:
    fresh = ops.get_payment(conn, PROVIDER, payment.external_id)
    assert fresh is not None
    return fresh.amount - fresh.refunded


def _refunded(conn: sqlite3.Connection, now: int, event: StripeEvent, payment: Payment,
              policy: Policy) -> Outcome:
    # amount_refunded is cumulative per charge, so the delta against what refunds already took
    # back is right whatever order refund events come in and however often.
    due = refund_due(conn, payment, event.object_id, event.amount_refunded or 0)
    amount, key = due.amount, due.key
    if amount <= 0:
        return Outcome("duplicate", f"refunds of {format_tfc(due.total)} already taken back", payment.order_id)
    ops.clawback(conn, now, PROVIDER, payment.external_id, key, amount, due.memo)
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id))
    text = notices.card_refunded(amount)
    if balance.posted < 0:
        text += " " + notices.now_in_debt(balance.posted)
        _tell_admins(conn, now, policy, key, notices.admin_debt_after_stripe_refund(
            payment.user_id, -balance.posted, amount, payment.order_id))
    outbox.enqueue(conn, now, payment.user_id, text, key=key)
    return Outcome("clawed_back", format_tfc(amount), payment.order_id)


def _disputed(conn: sqlite3.Connection, now: int, event: StripeEvent, payment: Payment,
              policy: Policy) -> Outcome:
    key = f"{DISPUTE_KEY}{event.object_id}"
    if ops._transfer_by_key(conn, key) is not None:
        return Outcome("duplicate", "dispute already taken back", payment.order_id)
    amount = min(event.amount or 0, _remaining(conn, payment))
    flag = f"stripe dispute {event.object_id}"
    if amount > 0:
        ops.clawback(conn, now, PROVIDER, payment.external_id, key, amount,
                     f"stripe dispute of {payment.external_id}", flag=flag)
    stripe_state.set_account_flag(conn, payment.user_id, flag)
    if payment.order_id is not None:
        stripe_state.set_order_flag(conn, now, payment.order_id, flag)
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id))
    _tell_admins(conn, now, policy, key, notices.admin_stripe_dispute(
        event.object_id, payment.user_id, payment.order_id, event.amount or 0, amount, balance.posted))
    return Outcome("clawed_back", format_tfc(amount), payment.order_id)

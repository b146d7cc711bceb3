"""What a Stripe event does to the ledger, as ONE transaction: `apply_event(conn, now, event)`.

The event's object is the one Stripe shows now, read back from the API by the caller
(`payments.stripe_confirm`), never the signed body as it came. `apply_event` composes ledger
operations (record the payment once per Checkout Session id, credit, mark the order, place a
buy-now purchase, follow refunds and disputes both ways, queue messages in the outbox) and
returns an `Outcome`. Events arrive at least once and in any order; every branch is idempotent.
"""

from __future__ import annotations

import logging
import sqlite3

from core import notices
from core.money import format_tfc

from . import cursors, inbox, ops, outbox, stripe_sessions, stripe_state
from .models import Payment
from .payment_credit import credit_order_payment
from .refund_message import refund_message
from .stripe_disputes import DISPUTE_KEY as DISPUTE_KEY
from .stripe_disputes import apply_dispute
from .stripe_event_model import (
    CHARGE_EVENTS,
    CURRENCY,
    DEFAULT_POLICY,
    DISPUTE_EVENTS,
    HANDLED_EVENTS,
    PROVIDER,
    REFUND_EVENTS,
    SESSION_EVENTS,
    Outcome,
    Policy,
    StripeEvent,
    keep,
    parse_event,
    session_event,
    tell_admins,
)
from .stripe_refund_due import (
    REFUND_KEY as REFUND_KEY,  # re-exported: the prefix of refund clawbacks
)
from .stripe_refund_due import refund_due, take_or_give_back

__all__ = [
    "CHARGE_EVENTS", "CURRENCY", "DEFAULT_POLICY", "DISPUTE_EVENTS", "DISPUTE_KEY",
    "HANDLED_EVENTS", "PROVIDER", "REFUND_EVENTS", "REFUND_KEY", "SESSION_EVENTS", "Outcome",
    "Policy", "StripeEvent", "apply_event", "parse_event", "session_event",
]

log = logging.getLogger(__name__)


def apply_event(
    conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy = DEFAULT_POLICY,
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
        keep(conn, now, event, "no order id in client_reference_id or metadata")
        return Outcome("kept", "no order id")
    ref = stripe_state.order_ref(conn, event.order_id)
    if ref is None:
        keep(conn, now, event, f"unknown order {event.order_id}")
        return Outcome("kept", f"unknown order {event.order_id}", event.order_id)
    return ref


def _paid(conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    if event.mode != "payment" or event.status != "complete" or event.payment_status != "paid":
        return Outcome("waiting", f"session is {event.mode}/{event.status}/"
                       f"{event.payment_status}, not a complete paid payment", order.id)
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
        keep(conn, now, event, f"order {order.id}: {reason}; not credited")
        stripe_state.set_order_flag(conn, now, order.id, f"stripe mismatch: {reason}")
        tell_admins(conn, now, policy, f"stripe:mismatch:{event.object_id}",
                     lambda: notices.admin_stripe_mismatch(event.object_id, order.id, order.user_id, reason))
        return Outcome("kept", reason, order.id)
    # A purchase order paid directly is a buy-now, as for Telegram payments: placed with the
    # credit, its status the receipt. A payment for an order that can no longer be placed stays
    # on the balance. Either is told in the order's message (`payment_credit`).
    credit = credit_order_payment(
        conn, now, provider=PROVIDER, external_id=event.object_id, user_id=order.user_id, order_id=order.id,
        provider_amount=event.amount or 0, provider_currency=CURRENCY.upper(), hold_ttl_s=policy.hold_ttl_s)
    stripe_sessions.set_state(conn, now, event.object_id, "complete")
    if not credit.new:
        return Outcome("duplicate", "already credited", order.id)
    return Outcome("credited", format_tfc(order.amount), order.id)


def _failed(conn: sqlite3.Connection, now: int, event: StripeEvent) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    if ops.get_payment(conn, PROVIDER, event.object_id) is not None or order.state != "open":
        return Outcome("noop", f"order is {order.state}", order.id)
    ops.set_order_state(conn, now, order.id, "failed", ("open",))
    outbox.enqueue(conn, now, order.user_id, lambda: notices.bank_payment_failed(order.id, order.amount),
                   key=f"stripe:failed:{event.object_id}")
    return Outcome("failed", "", order.id)


def _expired(conn: sqlite3.Connection, now: int, event: StripeEvent) -> Outcome:
    ref = _order(conn, now, event)
    if isinstance(ref, Outcome):
        return ref
    order = ref.order
    stripe_sessions.set_state(conn, now, event.object_id, "expired")
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
                keep(conn, now, event, f"session {session.object_id} is not paid")
                return Outcome("kept", "session not paid")
            # The refund or dispute came before the completed event: credit first, then claw back.
            credited = _paid(conn, now, session, policy)
            if credited.status not in ("credited", "duplicate"):
                keep(conn, now, event, f"session {session.object_id}: {credited.detail}")
                return Outcome("kept", credited.detail, credited.order_id)
            payment = ops.get_payment(conn, PROVIDER, session.object_id)
    elif event.order_id is not None and _payments_of_order(conn, event.order_id) == 1:
        # With two or more (an old link paid after a new one was made), only the charge's own
        # session tells which payment it is: "need_session" has it looked up.
        payment = stripe_state.payment_of_order(conn, PROVIDER, event.order_id)
    if payment is None:
        return Outcome("need_session", "payment not found locally", event.order_id)
    if event.currency != CURRENCY:
        keep(conn, now, event, f"currency {event.currency} on payment {payment.external_id}")
        return Outcome("kept", "currency mismatch", payment.order_id)
    if event.type in REFUND_EVENTS:
        return _refunded(conn, now, event, payment, policy)
    return apply_dispute(conn, now, event, payment, policy)


def _payments_of_order(conn: sqlite3.Connection, order_id: int) -> int:
    row = conn.execute("SELECT count(*) FROM payments WHERE provider = ? AND order_id = ?",
                       (PROVIDER, order_id)).fetchone()
    return int(row[0])


def _refunded(conn: sqlite3.Connection, now: int, event: StripeEvent, payment: Payment,
              policy: Policy) -> Outcome:
    # The charge's refunded total as Stripe shows it now: more than the ledger took back is
    # taken back; less (a refund failed or was cancelled) is given back.
    if event.amount_refunded is None or event.charge_id is None:
        keep(conn, now, event, f"no refunded total for payment {payment.external_id}")
        return Outcome("kept", "no refunded total", payment.order_id)
    refund_id = event.object_id if event.object_id.startswith("re_") else None
    due = refund_due(conn, payment, event.charge_id, event.amount_refunded, refund_id)
    if due.amount == 0:
        return Outcome("duplicate", f"refunds of {format_tfc(due.total)} already applied", payment.order_id)
    take_or_give_back(conn, now, payment, due)
    balance = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id)).posted
    if due.amount < 0:
        given = -due.amount
        reason = event.failure_reason if event.failure_reason in _FAILURE_REASONS else "unknown"
        tell_admins(conn, now, policy, due.key, lambda: notices.admin_stripe_refund_failed(
            event.object_id, payment.user_id, given, reason))
        outbox.enqueue(conn, now, payment.user_id, lambda: " ".join((
            notices.card_refund_failed(given), notices.balance_now(balance))), key=due.key)
        return Outcome("given_back", format_tfc(given), payment.order_id)
    if balance < 0:
        tell_admins(conn, now, policy, due.key, lambda: notices.admin_debt_after_stripe_refund(
            payment.user_id, -balance, due.amount, payment.order_id))
    outbox.enqueue(conn, now, payment.user_id, refund_message(conn, now, payment, due.amount), key=due.key)
    return Outcome("clawed_back", format_tfc(due.amount), payment.order_id)


# Stripe's documented values (components/schemas/refund.failure_reason); anything else is
# shown as "unknown", so no text from outside reaches a chat raw.
_FAILURE_REASONS = ("lost_or_stolen_card", "expired_or_canceled_card",
                    "charge_for_pending_refund_disputed", "insufficient_funds", "declined",
                    "merchant_request", "unknown")


def apply_and_mark(conn: sqlite3.Connection, now: int, event: StripeEvent, policy: Policy,
                   session: StripeEvent | None) -> Outcome:
    """`apply_event`, and mark a real event applied in the same write, so reconciliation skips
    what was applied, and only that."""
    outcome = apply_event(conn, now, event, policy, session)
    if outcome.status != "need_session" and event.id.startswith("evt_"):
        cursors.mark_applied(conn, now, PROVIDER, event.id)
    return outcome


def keep_and_mark(conn: sqlite3.Connection, now: int, event: StripeEvent, reason: str) -> None:
    """Keep the event for the admins (not applied, not tried again) and mark it handled."""
    keep(conn, now, event, reason)
    if event.id.startswith("evt_"):
        cursors.mark_applied(conn, now, PROVIDER, event.id)


def keep_unapplied(conn: sqlite3.Connection, now: int, event_id: str, event_type: str, payload: str,
                   reason: str) -> None:
    """Keep a listed event that could not be applied for the admins and mark it handled, so
    reconciliation goes on with the events after it."""
    inbox.keep(conn, now, PROVIDER, event_id, event_type, payload, reason)
    cursors.mark_applied(conn, now, PROVIDER, event_id)

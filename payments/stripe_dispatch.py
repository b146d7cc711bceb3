"""Apply a verified Stripe event to the ledger: the shared path of the webhook and reconciliation.

`handle_event` parses the event, applies it in ONE ledger write, and, when a charge event
(refund, dispute) names a payment the ledger cannot find by itself, looks the Checkout Session
up by its PaymentIntent through the API and applies it again with the session. It returns
only after COMMIT, so a caller may acknowledge the event then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import stripe

from ledger import Ledger, LedgerError, StoreError, inbox

from .stripe_events import (
    DEFAULT_POLICY,
    HANDLED_EVENTS,
    PROVIDER,
    Outcome,
    Policy,
    StripeEvent,
    apply_event,
    parse_event,
    session_event,
)

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The event cannot be applied now (Stripe's API or the database is unavailable); the
    sender should deliver it again. Nothing was changed."""


async def find_session(client: stripe.StripeClient, payment_intent: str) -> dict[str, Any] | None:
    """The Checkout Session that created `payment_intent`, as a plain dict, or None."""
    try:
        page = await client.v1.checkout.sessions.list_async(
            params={"payment_intent": payment_intent, "limit": 1}
        )
    except stripe.StripeError as exc:
        raise RetryLater(f"Stripe session lookup failed: {exc}") from exc
    return page.data[0].to_dict() if page.data else None


async def _write(ledger: Ledger, event: StripeEvent, policy: Policy,
                 session: StripeEvent | None) -> Outcome:
    try:
        return await ledger.write(partial(apply_event, event=event, policy=policy, session=session))
    except StoreError as exc:
        raise RetryLater(f"ledger unavailable: {exc}") from exc
    except LedgerError as exc:
        # A refusal that a redelivery would meet again (e.g. a payment id reused with other
        # content): keep it for the admins instead of having Stripe retry it for three days.
        log.error("stripe event %s (%s) refused by the ledger: %s", event.id, event.type, exc)
        payload = json.dumps(event.raw, sort_keys=True, default=str)
        reason = f"refused by the ledger: {exc}"
        await ledger.write(lambda conn, now: inbox.keep(
            conn, now, PROVIDER, event.id, event.type, payload, reason))
        return Outcome("kept", str(exc), event.order_id)


async def handle_event(
    ledger: Ledger,
    raw: Mapping[str, Any],
    policy: Policy = DEFAULT_POLICY,
    client: stripe.StripeClient | None = None,
) -> Outcome:
    """Apply one verified event exactly once; raises `RetryLater` when it must come again."""
    event = parse_event(raw)
    if event.type not in HANDLED_EVENTS:
        return Outcome("ignored", f"event type {event.type!r} is not handled")
    outcome = await _write(ledger, event, policy, None)
    if outcome.status != "need_session":
        return outcome
    if event.payment_intent is None:
        outcome = await _keep(ledger, event, "charge event without a payment_intent")
        return outcome
    if client is None:
        raise RetryLater("payment not recorded yet and no Stripe client to look it up")
    session = await find_session(client, event.payment_intent)
    if session is None:
        return await _keep(ledger, event, f"no checkout session for {event.payment_intent}")
    synthetic = session_event(session, "checkout.session.completed", f"lookup:{session.get('id')}")
    return await _write(ledger, event, policy, synthetic)


async def _keep(ledger: Ledger, event: StripeEvent, reason: str) -> Outcome:
    payload = json.dumps(event.raw, sort_keys=True, default=str)
    await ledger.write(lambda conn, now: inbox.keep(
        conn, now, PROVIDER, event.id, event.type, payload, reason))
    log.warning("stripe event %s kept: %s", event.id, reason)
    return Outcome("kept", reason, event.order_id)

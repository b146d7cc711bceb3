"""Apply a verified Stripe event to the ledger: the shared path of the webhook and reconciliation.

`handle_event` reads the event's object back from Stripe (`payments.stripe_confirm`: money
moves only on what Stripe itself shows), parses it, applies it in ONE ledger write, and, when a
charge event (refund, dispute) names a payment the ledger cannot find by itself, looks the
Checkout Session up by its PaymentIntent through the API and applies it again with the session.
It returns only after COMMIT, so a caller may acknowledge the event then.

An event whose id the ledger marked applied (`ledger.cursors`, in the write that applied it)
is a redelivery: it is answered from one read, without asking Stripe and without a write, as
reconciliation skips it too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import stripe

from core.metrics import PAYMENTS_CREDITED
from ledger import Ledger, LedgerError, StoreError, cursors, stripe_sessions
from ledger.stripe_events import (
    DEFAULT_POLICY,
    HANDLED_EVENTS,
    PROVIDER,
    Outcome,
    Policy,
    StripeEvent,
    apply_and_mark,
    keep_and_mark,
    parse_event,
    session_event,
)

from .stripe_confirm import NotAtStripe, read_back

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
        outcome = await ledger.write(partial(apply_and_mark, event=event, policy=policy,
                                             session=session))
    except StoreError as exc:
        raise RetryLater(f"ledger unavailable: {exc}") from exc
    except LedgerError as exc:
        # A refusal that a redelivery would meet again (e.g. a payment id reused with other
        # content): keep it for the admins instead of having Stripe retry it for three days.
        log.error("stripe event %s (%s) refused by the ledger: %s", event.id, event.type, exc)
        await _keep(ledger, event, f"refused by the ledger: {exc}")
        return Outcome("kept", str(exc), event.order_id)
    if outcome.status == "credited":
        PAYMENTS_CREDITED.labels("stripe").inc()
    return outcome


async def apply_session(ledger: Ledger, client: stripe.StripeClient, session_id: str,
                        policy: Policy, source: str) -> Outcome | None:
    """Read a Checkout Session from Stripe and apply what it shows (paid: credited, once;
    expired: the order expires), as the webhook would; None while it is open and unpaid.
    Raises `stripe.StripeError` when Stripe cannot be asked, `RetryLater` from the write."""
    session = (await client.v1.checkout.sessions.retrieve_async(session_id)).to_dict()
    if session.get("payment_status") == "paid":
        kind = "checkout.session.completed"
    elif session.get("status") == "expired":
        kind = "checkout.session.expired"
    else:
        return None
    raw = {"id": f"{source}:{session_id}", "type": kind, "data": {"object": session}}
    return await handle_event(ledger, raw, policy, client, read_from_stripe=False)


async def apply_order_sessions(ledger: Ledger, client: stripe.StripeClient, order_id: int,
                               policy: Policy) -> list[Outcome]:
    """Coming back from Checkout: read the order's sessions still open in the ledger from
    Stripe and apply what they show (a paid one is credited, once, as by its webhook). What
    Stripe cannot tell now is left to the webhook and reconciliation."""
    known = await ledger.read(lambda conn: stripe_sessions.of_order(conn, order_id))
    outcomes = []
    for session in known:
        if session.state != "open":
            continue
        try:
            outcome = await apply_session(ledger, client, session.session_id, policy, "return")
        except (stripe.StripeError, RetryLater) as exc:
            log.warning("order %s: session %s not read back now: %s", order_id,
                        session.session_id, exc)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


async def handle_event(
    ledger: Ledger,
    raw: Mapping[str, Any],
    policy: Policy = DEFAULT_POLICY,
    client: stripe.StripeClient | None = None,
    *,
    read_from_stripe: bool = True,
) -> Outcome:
    """Apply one verified event exactly once; raises `RetryLater` when it must come again.

    `read_from_stripe=False` only for an event built around an object the caller has just
    read from the API itself."""
    if raw.get("type") not in HANDLED_EVENTS:
        return Outcome("ignored", f"event type {raw.get('type')!r} is not handled")
    if await _applied_already(ledger, raw.get("id")):
        return Outcome("duplicate", "event applied already")
    if client is None:
        raise RetryLater("no Stripe client to confirm the event with")
    confirmed = raw
    if read_from_stripe:
        try:
            confirmed = await read_back(client, raw)
        except NotAtStripe as exc:
            return await _keep(ledger, parse_event(raw), f"not confirmed by Stripe: {exc}")
        except stripe.StripeError as exc:
            raise RetryLater(f"Stripe read-back failed: {exc}") from exc
    event = parse_event(confirmed)
    outcome = await _write(ledger, event, policy, None)
    if outcome.status != "need_session":
        return outcome
    if event.payment_intent is None:
        return await _keep(ledger, event, "charge event without a payment_intent")
    session = await find_session(client, event.payment_intent)
    if session is None:
        return await _keep(ledger, event, f"no checkout session for {event.payment_intent}")
    synthetic = session_event(session, "checkout.session.completed", f"lookup:{session.get('id')}")
    return await _write(ledger, event, policy, synthetic)


async def _applied_already(ledger: Ledger, event_id: object) -> bool:
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        return False
    try:
        return bool(await ledger.read(lambda conn: cursors.applied(conn, PROVIDER, [event_id])))
    except StoreError as exc:
        raise RetryLater(f"ledger unavailable: {exc}") from exc


async def _keep(ledger: Ledger, event: StripeEvent, reason: str) -> Outcome:
    """Keep the event for the admins: it is not applied, and not tried again."""
    try:
        await ledger.write(partial(keep_and_mark, event=event, reason=reason))
    except StoreError as exc:
        raise RetryLater(f"ledger unavailable: {exc}") from exc
    return Outcome("kept", reason, event.order_id)

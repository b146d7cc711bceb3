"""Read an event's object back from Stripe before money moves on it.

A correctly signed event is only a hint: if the webhook secret leaked, anyone could sign one.
The shop holds the API key, so it asks Stripe for the object the event names (the Checkout
Session, the charge, the refund with its charge, the dispute) and applies the event with
Stripe's current view of it. An object Stripe does not know is `NotAtStripe` (kept for the
admins, answered 2xx); Stripe unreachable or failing is `stripe.StripeError` for the caller to
turn into "retry later".
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import stripe

from ledger.stripe_event_model import DISPUTE_EVENTS, REFUND_EVENTS, SESSION_EVENTS


class NotAtStripe(Exception):
    """The event names an object Stripe does not have (a forged or foreign event)."""


async def read_back(client: stripe.StripeClient, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The event with `data.object` replaced by the object as Stripe shows it now."""
    obj = raw.get("data", {}).get("object", {}) if isinstance(raw.get("data"), dict) else {}
    object_id = obj.get("id") if isinstance(obj, dict) else None
    kind = raw.get("type")
    if not isinstance(object_id, str) or not object_id:
        raise NotAtStripe(f"event {raw.get('id')!r} names no object")
    try:
        fresh = await _retrieve(client, str(kind), object_id)
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing" or exc.http_status == 404:
            raise NotAtStripe(f"Stripe does not know {object_id}") from exc
        raise
    confirmed = copy.deepcopy(dict(raw))
    confirmed["data"] = {**confirmed.get("data", {}), "object": fresh}
    return confirmed


async def _retrieve(client: stripe.StripeClient, kind: str, object_id: str) -> dict[str, Any]:
    v1 = client.v1
    if kind in SESSION_EVENTS:
        found: Any = await v1.checkout.sessions.retrieve_async(object_id)
    elif kind == "charge.refunded":
        found = await v1.charges.retrieve_async(object_id)
    elif kind in REFUND_EVENTS:
        found = await v1.refunds.retrieve_async(object_id, params={"expand": ["charge"]})
    elif kind in DISPUTE_EVENTS:
        found = await v1.disputes.retrieve_async(object_id)
    else:
        raise NotAtStripe(f"no read-back for {kind}")
    as_dict: dict[str, Any] = found.to_dict()
    return as_dict

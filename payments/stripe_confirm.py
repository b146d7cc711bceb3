"""Read an event's object back from Stripe before money moves on it.

A correctly signed event is only a hint: if the webhook secret leaked, anyone could sign one.
The shop holds the API key, so it asks Stripe for the object the event names (the Checkout
Session, the charge, the refund with its charge, the dispute) and applies the event with
Stripe's current view of it. An object Stripe does not know is `NotAtStripe` (kept for the
admins, answered 2xx); Stripe unreachable or failing is `stripe.StripeError` for the caller to
turn into "retry later".

The object is read with the SDK's `raw_request_async` (its authentication, retries and error
classes) and kept as the parsed JSON: the handler reads plain dicts, so no `StripeObject` tree
is built for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

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
    return {**raw, "data": {**raw["data"], "object": fresh}}


async def _retrieve(client: stripe.StripeClient, kind: str, object_id: str) -> dict[str, Any]:
    ident = quote(object_id, safe="")
    params: dict[str, Any] = {}
    if kind in SESSION_EVENTS:
        path = f"/v1/checkout/sessions/{ident}"
    elif kind == "charge.refunded":
        path = f"/v1/charges/{ident}"
    elif kind in REFUND_EVENTS:
        path, params = f"/v1/refunds/{ident}", {"expand": ["charge"]}
    elif kind in DISPUTE_EVENTS:
        path = f"/v1/disputes/{ident}"
    else:
        raise NotAtStripe(f"no read-back for {kind}")
    response = await client.raw_request_async("get", path, **params)
    found = response.data
    if not isinstance(found, dict) or found.get("id") != object_id:
        raise stripe.APIError(f"Stripe answered {path} with something else than {object_id}")
    return found

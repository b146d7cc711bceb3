"""Webhook endpoints as objects of the API: `/v1/webhook_endpoints` create, list, retrieve,
update and delete (spec: paths./v1/webhook_endpoints and
paths./v1/webhook_endpoints/{webhook_endpoint}; object components/schemas/webhook_endpoint).

As on Stripe: `url` and `enabled_events` are required on create; `api_version` can be chosen
only on create (update has no such parameter); the signing `secret` is "Only returned at
creation" (the create answer carries it, retrieve/list/update do not). The emulator records
these endpoints but delivers only to the one given to `StripeEmulator(webhook_url=...)`.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

from . import stripe_objects as obj
from .stripe_params import invalid, missing, not_found

# The event types the emulator knows how to produce, plus "*" (subset of the spec's enum).
KNOWN_EVENTS = frozenset({
    "*", "charge.dispute.closed", "charge.dispute.created", "charge.dispute.funds_reinstated",
    "charge.dispute.funds_withdrawn", "charge.dispute.updated", "charge.failed",
    "charge.pending", "charge.refund.updated", "charge.refunded", "charge.succeeded",
    "checkout.session.async_payment_failed", "checkout.session.async_payment_succeeded",
    "checkout.session.completed", "checkout.session.expired", "payment_intent.created",
    "payment_intent.payment_failed", "payment_intent.processing", "payment_intent.succeeded",
    "refund.created", "refund.updated",
})


class WebhookEndpoints:
    """The account's webhook endpoints, oldest first."""

    def __init__(self, default_api_version: str) -> None:
        self.default_api_version = default_api_version
        self.endpoints: dict[str, dict[str, Any]] = {}

    def create(self, p: dict[str, Any], created: int) -> dict[str, Any]:
        for name in ("url", "enabled_events"):
            if name not in p:
                raise missing(name)
        self._check_events(p["enabled_events"])
        ep = {
            "id": obj.new_id("we_"), "object": "webhook_endpoint",
            "api_version": p.get("api_version"), "application": None, "created": created,
            "description": p.get("description"), "enabled_events": list(p["enabled_events"]),
            "livemode": False, "metadata": p.get("metadata", {}), "status": "enabled",
            "url": p["url"],
        }
        self.endpoints[ep["id"]] = ep
        return ep | {"secret": "whsec_" + secrets.token_hex(16)}

    def get(self, eid: str) -> dict[str, Any]:
        if eid not in self.endpoints:
            raise not_found("webhook_endpoint", eid, "webhook_endpoint")
        return copy.deepcopy(self.endpoints[eid])

    def update(self, eid: str, p: dict[str, Any]) -> dict[str, Any]:
        ep = self.endpoints.get(eid)
        if ep is None:
            raise not_found("webhook_endpoint", eid, "webhook_endpoint")
        if "enabled_events" in p:
            self._check_events(p["enabled_events"])
            ep["enabled_events"] = list(p["enabled_events"])
        for name in ("url", "description"):
            if name in p:
                ep[name] = p[name]
        if "metadata" in p:
            ep["metadata"] = p["metadata"]
        if "disabled" in p:
            ep["status"] = "disabled" if p["disabled"] else "enabled"
        return copy.deepcopy(ep)

    def delete(self, eid: str) -> dict[str, Any]:
        if self.endpoints.pop(eid, None) is None:
            raise not_found("webhook_endpoint", eid, "webhook_endpoint")
        return {"id": eid, "object": "webhook_endpoint", "deleted": True}

    def newest_first(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(e) for e in reversed(self.endpoints.values())]

    @staticmethod
    def _check_events(events: list[str]) -> None:
        if not events:
            raise invalid("enabled_events must contain at least one event.", "enabled_events")
        for n, name in enumerate(events):
            if name not in KNOWN_EVENTS:
                raise invalid(f"Invalid enabled_events[{n}]: must be one of the event types "
                              "Stripe sends", f"enabled_events[{n}]")

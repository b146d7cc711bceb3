"""Register (or update) the shop's webhook endpoint at Stripe, for `gridshop stripe setup`.

Through the API (`/v1/webhook_endpoints`, spec paths./v1/webhook_endpoints): the endpoint for
`url` subscribes to exactly the events the shop handles (`HANDLED_EVENTS`) and, when created,
renders them in the API version the SDK pins (`stripe.api_version`), so every field is where
the shop reads it. Stripe returns the signing secret only in the answer to the create; an
update cannot change the API version (the endpoint must be made again for that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import stripe

from ledger.stripe_event_model import HANDLED_EVENTS


class SetupError(Exception):
    """Stripe refused or could not be reached."""


class BadWebhookUrl(SetupError, ValueError):
    """The URL cannot take Stripe's webhooks."""


@dataclass(frozen=True, slots=True)
class EndpointSetup:
    endpoint_id: str
    created: bool
    secret: str | None  # only when created: Stripe shows it once
    api_version: str | None  # what the endpoint renders events in
    events: tuple[str, ...]

    @property
    def version_differs(self) -> bool:
        return self.api_version not in (None, stripe.api_version)


def check_url(url: str) -> str:
    """An https URL (plain http only to this machine, for the emulator)."""
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise BadWebhookUrl(f"{url!r}: Stripe delivers webhooks to https:// URLs only")
    if not parts.hostname:
        raise BadWebhookUrl(f"{url!r} has no host")
    return url


async def setup_endpoint(client: stripe.StripeClient, url: str) -> EndpointSetup:
    """Create the endpoint for `url`, or bring the existing one's event list up to date."""
    check_url(url)
    events = list(HANDLED_EVENTS)
    try:
        page = await client.v1.webhook_endpoints.list_async(params={"limit": 100})
        existing = [e async for e in page.auto_paging_iter() if e.url == url]
        if existing:
            # The SDK types event names as literals; these are checked against HANDLED_EVENTS.
            update: Any = {"enabled_events": events, "disabled": False}
            endpoint = await client.v1.webhook_endpoints.update_async(
                existing[0].id, params=update)
            return EndpointSetup(endpoint.id, False, None, endpoint.api_version,
                                 tuple(endpoint.enabled_events))
        create: Any = {"url": url, "enabled_events": events, "api_version": stripe.api_version,
                       "description": "gridshop"}
        endpoint = await client.v1.webhook_endpoints.create_async(params=create)
    except stripe.StripeError as exc:
        raise SetupError(f"Stripe: {exc.user_message or exc}") from exc
    return EndpointSetup(endpoint.id, True, endpoint.secret, endpoint.api_version,
                         tuple(endpoint.enabled_events))

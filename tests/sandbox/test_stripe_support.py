"""Shared helpers for the Stripe emulator tests: a webhook receiver and session params.

The receiver is a real aiohttp server that checks every delivery with the real
`stripe.Webhook.construct_event`, as gridshop's own endpoint does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import stripe
from aiohttp import web

API_KEY = "sk_test_emulator_key_1234"
SECRET = "whsec_test_emulator_secret"


def session_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "success_url": "https://example.com/ok",
        "cancel_url": "https://example.com/cancel",
        "client_reference_id": "order-1",
        "metadata": {"telegram_user_id": "42"},
        "line_items": [{
            "quantity": 1,
            "price_data": {"currency": "usd", "unit_amount": 1500,
                           "product_data": {"name": "VM small, 30 days"}},
        }],
    }
    params.update(overrides)
    return params


@dataclass
class Receiver:
    """Records verified webhook events; answers `fail_first` requests with 500."""

    fail_first: int = 0
    status_when_failing: int = 500
    events: list[Any] = field(default_factory=list)
    bad_signatures: int = 0
    requests: int = 0
    url: str = ""
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        try:
            event = stripe.Webhook.construct_event(
                body, request.headers.get("Stripe-Signature"), SECRET)
        except stripe.SignatureVerificationError:
            self.bad_signatures += 1
            return web.Response(status=400)
        if self.requests <= self.fail_first:
            return web.Response(status=self.status_when_failing)
        self.events.append(event)
        return web.json_response({"received": True})

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/webhooks/stripe", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/webhooks/stripe"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def client(base_url: str, api_key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": base_url},
                               http_client=stripe.HTTPXClient(), max_network_retries=0)

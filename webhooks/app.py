"""The one aiohttp application of gridshop: Stripe and Telegram webhooks and the health check.

    app = make_app(ledger, stripe_secret=..., telegram_application=..., telegram_secret=...)
    runner = web.AppRunner(app); await runner.setup(); await web.TCPSite(runner, host, port).start()

Routes are added only for what is configured: `/webhooks/stripe` needs a Stripe webhook secret,
`/webhooks/telegram` a PTB Application and a secret token; `/healthz` is always there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import stripe
from aiohttp import web
from telegram.ext import Application

from ledger import Ledger
from payments.stripe_events import Policy

from .health import Health
from .stripe import StripeWebhook
from .telegram import TelegramWebhook

STRIPE_PATH = "/webhooks/stripe"
TELEGRAM_PATH = "/webhooks/telegram"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 256 * 1024


def make_app(
    ledger: Ledger,
    *,
    stripe_secret: str | None = None,
    stripe_client: stripe.StripeClient | None = None,
    admin_ids: Sequence[int] = (),
    hold_ttl_s: int = 2 * 3600,
    telegram_application: Application[Any, Any, Any, Any, Any, Any] | None = None,
    telegram_secret: str | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> web.Application:
    """Build the aiohttp application; bodies over `max_body_bytes` are refused with 413."""
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_get(HEALTH_PATH, Health(ledger).handle)
    if stripe_secret:
        policy = Policy(admin_ids=tuple(admin_ids), hold_ttl_s=hold_ttl_s)
        app.router.add_post(STRIPE_PATH, StripeWebhook(ledger, stripe_secret, policy, stripe_client).handle)
    if telegram_application is not None:
        if not telegram_secret:
            raise ValueError("the Telegram webhook needs a secret token")
        hook = TelegramWebhook(telegram_application, telegram_secret)
        hook.install()
        app.router.add_post(TELEGRAM_PATH, hook.handle)
    return app

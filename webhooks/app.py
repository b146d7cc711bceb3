"""The one aiohttp application of gridshop: Stripe and Telegram webhooks and the health check.

    settings = WebhookSettings.from_config(config, secrets)
    app = make_app(ledger, settings, stripe_client=..., telegram_application=...)
    runner = web.AppRunner(app); await runner.setup(); await web.TCPSite(runner, host, port).start()

Routes are added only for what is configured: `/webhooks/stripe` needs a Stripe webhook secret,
`/webhooks/telegram` a PTB Application and a secret token; `/healthz` is always there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import stripe
from aiohttp import web
from telegram.ext import Application

from core.metrics import WEBHOOK_RESPONSES
from core.settings import Config, Secrets
from ledger import Ledger
from ledger.stripe_events import Policy

from .health import Health
from .stripe import INLINE_MAX, StripeWebhook
from .telegram import TelegramWebhook

STRIPE_PATH = "/webhooks/stripe"
TELEGRAM_PATH = "/webhooks/telegram"
HEALTH_PATH = "/healthz"
STRIPE_WEBHOOK: web.AppKey[StripeWebhook] = web.AppKey("stripe_webhook", StripeWebhook)
_ENDPOINTS = {STRIPE_PATH: "stripe", TELEGRAM_PATH: "telegram"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def count_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each webhook answer by endpoint and status (`gridshop_webhook_responses_total`)."""
    endpoint = _ENDPOINTS.get(request.path)
    if endpoint is None:
        return await handler(request)
    status = 500  # an exception no handler turned into an answer
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # e.g. 413 from aiohttp for a body over the limit
        status = exc.status
        raise
    finally:
        WEBHOOK_RESPONSES.labels(endpoint, str(status)).inc()


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """What the HTTP server takes from config.toml and the environment."""

    max_body_bytes: int  # `server.max_body_bytes`: larger bodies are refused with 413
    stripe_policy: Policy  # admins to tell and the hold a buy-now paid through Stripe gets
    stripe_secret: str | None  # STRIPE_WEBHOOK_SECRET, when `stripe.enabled`: adds /webhooks/stripe
    telegram_secret: str | None  # TELEGRAM_WEBHOOK_SECRET: each update to /webhooks/telegram must carry it
    # Stripe events applied before the answer at once; more in flight are queued in the inbox
    # (0: every handled event is queued; the tests of the inbox use that).
    stripe_inline_max: int = INLINE_MAX

    @classmethod
    def from_config(cls, config: Config, secrets: Secrets) -> WebhookSettings:
        stripe_secret = secrets.stripe_webhook_secret if config.stripe.enabled else None
        telegram_secret = secrets.telegram_webhook_secret
        return cls(
            max_body_bytes=config.server.max_body_bytes,
            stripe_policy=Policy.of(config),
            stripe_secret=stripe_secret.get_secret_value() if stripe_secret else None,
            telegram_secret=telegram_secret.get_secret_value() if telegram_secret else None,
        )


def make_app(
    ledger: Ledger,
    settings: WebhookSettings,
    *,
    stripe_client: stripe.StripeClient | None = None,
    telegram_application: Application[Any, Any, Any, Any, Any, Any] | None = None,
    instance_id: int | None = None,
) -> web.Application:
    """Build the aiohttp application; `telegram_application` only in webhook mode.
    `instance_id`: this instance's among several on PostgreSQL (`ledger.roles`), which the
    Stripe inbox's claims carry. The inbox's consumer starts and stops with the application."""
    app = web.Application(client_max_size=settings.max_body_bytes, middlewares=[count_answers])
    app.router.add_get(HEALTH_PATH, Health(ledger).handle)
    if settings.stripe_secret:
        hook = StripeWebhook(ledger, settings.stripe_secret, settings.stripe_policy, stripe_client,
                             inline_max=settings.stripe_inline_max, owner=instance_id)
        app.router.add_post(STRIPE_PATH, hook.handle)
        app.on_startup.append(hook.on_startup)
        app.on_cleanup.append(hook.on_cleanup)
        app[STRIPE_WEBHOOK] = hook
    if telegram_application is not None:
        if not settings.telegram_secret:
            raise ValueError("the Telegram webhook needs a secret token")
        telegram = TelegramWebhook(telegram_application, settings.telegram_secret)
        telegram.install()
        app.router.add_post(TELEGRAM_PATH, telegram.handle)
    return app

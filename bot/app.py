"""Build the PTB `Application` for the shop: Bot API endpoint, the shop's rate limiter
(`bot.flood_control`), every chat handler, setMyCommands at startup, and the Stars
reconciliation job; plus polling with the update types the shop needs (pre_checkout_query and
my_chat_member are not optional).

Updates are handled `CONCURRENT_UPDATES` at a time, pre-checkout queries as they come
(`bot.update_processor`), and the Bot API is reached over aiohttp (`bot.bot_api_request`: httpx's
pool does bookkeeping over every connection on each request, which was most of the CPU of a
busy shop) through a pool of `CONNECTION_POOL` connections (docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from handlers.deps import CONTEXT_TYPES, Shop, ShopApplication
from handlers.payments import parked_alert_job, reconcile_job, spool_job
from handlers.registry import Extension, install, set_commands

from .bot_api_request import AiohttpRequest
from .config import ConfigError
from .flood_control import ShopRateLimiter
from .update_processor import PaymentsFirst

__all__ = ["ALLOWED_UPDATES", "build_application", "run_polling", "start_polling", "stop_polling"]

ALLOWED_UPDATES: list[str] = [
    Update.MESSAGE, Update.CALLBACK_QUERY, Update.PRE_CHECKOUT_QUERY, Update.MY_CHAT_MEMBER,
]
RECONCILE_JOB = "stars-reconcile"
SPOOL_JOB = "payment-spool"
PARKED_ALERT_JOB = "parked-alert"
CONCURRENT_UPDATES = 32
# The updates in flight and the pre-checkout answers of a burst of payers, plus the outbox
# sender and the jobs.
CONNECTION_POOL = 128


def build_application(
    shop: Shop,
    *,
    base_url: str | None = None,
    extra: Iterable[Extension] = (),
    reconcile_interval_s: float | None = 600.0,
    rate_limit_retries: int = 3,
    spool_interval_s: float = 10.0,
    parked_alert_interval_s: float = 30.0,
) -> ShopApplication:
    """The shop's Application, holding `shop` (built whole by the caller, see bot.runtime);
    `base_url` overrides `config.telegram.api_base + "/bot"`.

    `extra` hooks `(application, shop) -> None` add more handlers before the catch-alls.
    `reconcile_interval_s=None` runs the Stars reconciliation only once, at start. The payment
    spool (payments a passing store error kept) is replayed every `spool_interval_s`, and the
    admins are told of newly parked payments every `parked_alert_interval_s`.
    """
    config, secrets = shop.config, shop.secrets
    if secrets.bot_token is None:
        raise ConfigError("environment: BOT_TOKEN not set")
    if secrets.payload_secret is None:
        raise ConfigError("environment: PAYLOAD_SECRET not set (it signs invoice payloads)")
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = ApplicationBuilder()
    if config.telegram.rate_limit:
        builder = builder.rate_limiter(ShopRateLimiter(max_retries=rate_limit_retries))
    application = (
        builder
        .application_class(ShopApplication, kwargs={"shop": shop})
        .context_types(CONTEXT_TYPES)
        .token(secrets.bot_token.get_secret_value())
        .base_url(base_url or config.telegram.api_base + "/bot")
        .concurrent_updates(PaymentsFirst(CONCURRENT_UPDATES))
        .request(AiohttpRequest(connection_pool_size=CONNECTION_POOL))
        .get_updates_request(AiohttpRequest(connection_pool_size=1))
        .post_init(set_commands)
        .build()
    )
    assert isinstance(application, ShopApplication)
    install(application, extra)
    jobs = application.job_queue
    if jobs is None:
        raise RuntimeError("PTB's job queue is missing; install python-telegram-bot[job-queue]")
    if reconcile_interval_s is None:
        jobs.run_once(reconcile_job, when=0, name=RECONCILE_JOB)
    else:
        jobs.run_repeating(reconcile_job, interval=reconcile_interval_s, first=0, name=RECONCILE_JOB)
    jobs.run_repeating(spool_job, interval=spool_interval_s, first=0, name=SPOOL_JOB)
    jobs.run_repeating(parked_alert_job, interval=parked_alert_interval_s, first=0, name=PARKED_ALERT_JOB)
    return application


async def start_polling(application: Application, *, poll_timeout: int = 10) -> None:  # type: ignore[type-arg]
    """Initialize, start and poll (for running inside an existing event loop)."""
    await application.initialize()
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=poll_timeout,
                                            allowed_updates=ALLOWED_UPDATES)


async def stop_polling(application: Application) -> None:  # type: ignore[type-arg]
    if application.updater is not None and application.updater.running:
        await application.updater.stop()
    if application.running:
        await application.stop()
    await application.shutdown()


def run_polling(application: Application) -> None:  # type: ignore[type-arg]
    """Blocking: poll until Ctrl-C/SIGTERM (PTB manages the loop and calls post_init)."""
    application.run_polling(allowed_updates=ALLOWED_UPDATES)

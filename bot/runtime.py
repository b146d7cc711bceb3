"""Run gridshop as one process: the bot (polling or webhook), the HTTP server, and the workers
(notification outbox, deployments, periods, hold expiry, Stripe reconciliation and session
expiry), with a graceful shutdown on SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger

from core.catalog import Catalogue
from core.heap import freeze_startup_heap
from grid.deployer import Deployer
from grid.factory import make_deployer, make_gridproxy
from grid.periods import PeriodKeeper
from grid.reconcile import ContractReconciler
from grid.worker import DeploymentWorker, WorkerOptions
from handlers.deps import Shop
from handlers.registry import set_commands
from ledger import Ledger, Order, admin_state, rate_to_ppm, users
from payments.notifier import Notifier
from payments.payment_spool import PaymentSpool
from payments.stripe_checkout import ShopStripeClient, StripeCheckout, make_client
from payments.stripe_reconcile import StripeReconciler
from payments.stripe_session_expiry import StripeSessionExpiry
from webhooks.app import WebhookSettings, make_app
from webhooks.metrics import make_metrics_app

from . import polling_guard
from .app import ALLOWED_UPDATES, build_application
from .bot_api_check import StartupError, initialize
from .config import Config, ConfigError, Secrets, check_secrets
from .roles import hold_role, instance_roles

log = logging.getLogger(__name__)

HOLD_EXPIRY_INTERVAL_S = 60.0
# Open Checkout Sessions of orders that stopped being open are expired within this long.
SESSION_EXPIRY_INTERVAL_S = 15.0
PERIODS_INTERVAL_S = 60.0


async def load_catalogue(ledger: Ledger, config: Config) -> Catalogue:
    """The services of `config` with the admins' overrides kept in the ledger."""
    return Catalogue(config.services, await ledger.read(admin_state.service_overrides))


def stripe_client_for(config: Config, secrets: Secrets) -> ShopStripeClient | None:
    """The Stripe client when STRIPE_SECRET_KEY is set: admins refund Stripe payments with it
    even while new checkouts are off (`stripe.enabled = false`)."""
    key = secrets.stripe_secret_key
    return make_client(key.get_secret_value(), config.stripe.api_base) if key is not None else None


def payment_spool_for(config: Config) -> PaymentSpool:
    """The spool of Telegram payments not yet recorded: a file beside the database."""
    path = config.database.path
    return PaymentSpool(Path(f"{path}.payments-spool.jsonl") if str(path) != ":memory:" else None)


async def _every(interval_s: float, stop: asyncio.Event, job: Callable[[], Awaitable[Any]],
                 name: str) -> None:
    while not stop.is_set():
        try:
            await job()
        except Exception:  # a failed round is logged and retried next round, never fatal
            log.exception("%s failed", name)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def open_ledger(config: Config, clock: Callable[[], float] = time.time) -> Ledger:
    """The shop's ledger as `[database]` and `[marketplace]` configure it."""
    return await Ledger.open(
        config.database.target,
        busy_timeout_ms=config.database.busy_timeout_ms,
        commission_ppm=rate_to_ppm(config.marketplace.commission_rate),
        hold_ttl_s=config.marketplace.hold_ttl_s,
        clock=clock,
    )


def make_configured_deployer(config: Config) -> Deployer:
    """The grid backend `[grid]` asks for."""
    return make_deployer(config.grid)


def web_runner(app: web.Application, config: Config) -> web.AppRunner:
    """The runner of the shop's HTTP server, with aiohttp's access log only when
    `server.access_log` asks for it."""
    return web.AppRunner(app, access_log=access_logger if config.server.access_log else None)


async def serve(config: Config, secrets: Secrets, stop: asyncio.Event, *,
                clock: Callable[[], float] = time.time, deployer: Deployer | None = None,
                claim_polling: bool = True) -> None:
    """Start everything, run until `stop` is set, then shut down in order.

    `clock` is the shop's clock (unix seconds) and `deployer` a grid backend built by the
    caller (default: `make_configured_deployer(config)`); `gridshop run` passes neither.
    `claim_polling=False` skips the check that no one else polls the bot (`polling_guard`),
    for a caller that has just started the Bot API emulator it points the shop at.
    """
    ledger = await open_ledger(config, clock)
    try:
        board = await instance_roles(ledger, polling=config.telegram.mode == "polling")
    except BaseException:
        await ledger.close()
        raise
    catalogue = await load_catalogue(ledger, config)
    deployer = deployer if deployer is not None else make_configured_deployer(config)
    # The tfcmd backend's gridproxy knows the operator's twin, so capacity counts what it may use.
    gridproxy = getattr(deployer, "gridproxy", None) or (
        make_gridproxy(config.grid.gridproxy_url, farm_ids=config.grid.farm_ids)
        if config.grid.gridproxy_url else None)
    owns_gridproxy = gridproxy is not getattr(deployer, "gridproxy", None)

    stripe_client = stripe_client_for(config, secrets)
    stripe_on = config.stripe.enabled and stripe_client is not None
    checkout = None
    if stripe_on:
        assert stripe_client is not None
        checkout = StripeCheckout(ledger, stripe_client, bot_username=config.telegram.bot_username,
                                  expiry_minutes=config.stripe.checkout_expiry_minutes)

    async def stripe_link(order: Order, user_id: int) -> str:
        assert checkout is not None
        return await checkout.checkout_url(order)

    options = WorkerOptions.from_config(config, services=catalogue)

    async def ssh_key_for(user_id: int) -> str | None:
        return await ledger.read(partial(users.ssh_key, user_id=user_id))

    worker = DeploymentWorker(ledger, deployer, options, ssh_key_for=ssh_key_for,
                              instance_id=board.locks.instance_id)
    webhooks = WebhookSettings.from_config(config, secrets)
    shop = Shop(config=config, secrets=secrets, ledger=ledger, catalogue=catalogue,
                payment_spool=payment_spool_for(config), stripe_policy=webhooks.stripe_policy,
                stripe_checkout=stripe_link if checkout else None, stripe_client=stripe_client,
                deployer=deployer, worker=worker, gridproxy=gridproxy)
    application = build_application(shop)

    webhook_mode = config.telegram.mode == "webhook"
    web_app = make_app(ledger, webhooks, stripe_client=stripe_client if stripe_on else None,
                       telegram_application=application if webhook_mode else None,
                       instance_id=board.locks.instance_id)
    runner = web_runner(web_app, config)
    await runner.setup()
    site = web.TCPSite(runner, config.server.host, config.server.port)
    metrics_runner = web.AppRunner(make_metrics_app(ledger), access_log=None)
    await metrics_runner.setup()
    tasks: list[asyncio.Task[Any]] = []
    started = False
    try:
        # The Bot API first: a wrong token or address stops the start before anything is logged.
        await initialize(application, config.telegram.api_base)
        if not webhook_mode:  # and nobody else polls this bot (else the start stops here)
            hook = (await application.bot.get_webhook_info()).url
            if hook:
                log.warning("deleting the webhook set to %s: this instance polls (is one in "
                            "webhook mode still running?)", hook)
            await application.bot.delete_webhook()
            if claim_polling:
                await polling_guard.claim(application.bot, ALLOWED_UPDATES)
        started = True
        await site.start()
        log.info("HTTP server on %s:%s", config.server.host, config.server.port)
        if config.server.metrics_port:
            await web.TCPSite(metrics_runner, config.server.metrics_host,
                              config.server.metrics_port).start()
            log.info("metrics on http://%s:%s/metrics", config.server.metrics_host,
                     config.server.metrics_port)
        await set_commands(application)
        await application.start()
        if webhook_mode:
            await application.bot.set_webhook(
                config.telegram.webhook_url, allowed_updates=ALLOWED_UPDATES,
                secret_token=webhooks.telegram_secret,
            )
            log.info("Telegram webhook set to %s", config.telegram.webhook_url)
        else:
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES,
                                                    error_callback=polling_guard.on_error)
            log.info("polling %s for updates", config.telegram.api_base)

        notifier = Notifier(ledger, application.bot)
        periods = PeriodKeeper(ledger, deployer, options)
        # Every instance deploys (each job claimed by one); the rest are roles, run by one
        # instance at a time when several share the database (bot.roles).
        roles: dict[str, Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = {
            "outbox": notifier.run,
            "periods": partial(periods.run, interval_s=PERIODS_INTERVAL_S),
            "hold-expiry": lambda s: _every(HOLD_EXPIRY_INTERVAL_S, s, ledger.expire_holds,
                                            "hold expiry"),
        }
        if stripe_on:
            assert stripe_client is not None
            reconciler = StripeReconciler(ledger, stripe_client, webhooks.stripe_policy)
            roles["stripe-reconcile"] = reconciler.run
            expiry = StripeSessionExpiry(ledger, stripe_client)
            roles["stripe-session-expiry"] = lambda s: _every(
                SESSION_EXPIRY_INTERVAL_S, s, expiry.run_once, "stripe session expiry")
        # Contracts are listed through the backend's own gridproxy (it knows the operator's twin).
        if config.grid.backend == "tfcmd" and gridproxy is not None and not owns_gridproxy:
            contracts = ContractReconciler(ledger, deployer, gridproxy, admin_ids=config.admin.user_ids)
            roles["grid-reconcile"] = partial(contracts.run,
                                              interval_s=config.grid.reconcile_interval_s)
        tasks = [asyncio.create_task(worker.run(stop), name="deployments")] + [
            asyncio.create_task(hold_role(board, role, stop, job), name=f"role-{role}")
            for role, job in roles.items()]
        freeze_startup_heap()  # full collections no longer walk what startup built (core.heap)
        log.info("gridshop is running; roles held: %s", board.describe())
        await stop.wait()
    finally:
        if started:
            log.info("gridshop is stopping")
        stop.set()
        if application.updater is not None and application.updater.running:
            await application.updater.stop()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=30)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if application.running:
            await application.stop()
        await metrics_runner.cleanup()
        await runner.cleanup()
        await application.shutdown()
        if stripe_client is not None:
            await stripe_client.aclose()
        if gridproxy is not None and owns_gridproxy:
            await gridproxy.close()
        close = getattr(deployer, "aclose", None)
        if close is not None:
            await close()
        await board.locks.close()
        await ledger.close()
        if started:
            log.info("gridshop stopped")


async def _main(config: Config, secrets: Secrets) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(config, secrets, stop)


def run(config: Config, secrets: Secrets) -> int:
    """Blocking entry point of `gridshop run`; returns the exit status."""
    try:
        check_secrets(config, secrets)
    except ConfigError as exc:
        print(f"gridshop: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_main(config, secrets))
    except StartupError as exc:
        print(f"gridshop: {exc}", file=sys.stderr)
        return exc.exit_status
    return 0

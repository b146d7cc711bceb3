"""Admin commands about what is sold and deployed: /fleet [state], /retry <deployment>,
/cancelvm <deployment> (with a refund choice), and /service (the list, enable|disable|price).

Catalogue changes are kept in the database (`service_overrides`) and applied to the shop's
`core.catalog.Catalogue`, loaded with them at start, on every change. Orders keep the amount they were opened with, so a
price change applies to new orders only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from telegram import InlineKeyboardButton, Update

from ledger import InsufficientFunds, LedgerError, Order, admin_actions, ops
from ledger import admin_state as state
from ledger import deployments as jobs
from ledger.deployments import DeploymentRecord

from . import admin_texts
from .admin_common import (
    RunResult,
    Usage,
    admin_button,
    admin_command,
    ask,
    button_asks,
    button_key,
    command_key,
    parse_amount,
    parse_id,
    refused,
    reply,
    runner,
    user_label,
)
from .admin_screen import Screen, screen, show
from .callbacks import encode
from .common import answer, parse
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

# --- /fleet -----------------------------------------------------------------------------------


async def fleet_screen(shop: Shop, wanted_state: str | None) -> Screen:
    """Counts by state, and the VMs in one state (default: those that need an eye)."""
    wanted = [wanted_state] if wanted_state else list(admin_texts.OPEN_STATES)

    def read(conn: sqlite3.Connection) -> tuple[dict[str, int], list[DeploymentRecord]]:
        rows = [d for s in wanted for d in jobs.list_by_state(conn, s, 30)]
        return jobs.counts(conn), rows

    counts, rows = await shop.ledger.read(read)
    return screen(admin_texts.fleet(counts, wanted_state, rows))


@admin_command("fleet")
async def fleet_command(update: Update, context: CustomContext) -> None:
    """/fleet [state]: every VM of the shop by state."""
    args = context.args or []
    if len(args) > 1 or (args and args[0] not in admin_texts.DEPLOYMENT_STATES):
        raise Usage(admin_texts.USAGE_FLEET)
    await show(update, await fleet_screen(context.shop, args[0] if args else None))


# --- /retry -----------------------------------------------------------------------------------


async def _ask_retry(update: Update, shop: Shop, key: str, deployment_id: int) -> None:
    def read(conn: sqlite3.Connection) -> tuple[DeploymentRecord, Any, Any]:
        dep = jobs.get(conn, deployment_id)
        return dep, ops.get_hold(conn, dep.hold_id), ops.get_order(conn, dep.order_id)

    try:
        dep, hold, order = await shop.ledger.read(read)
    except jobs.DeploymentNotFound:
        raise Usage(admin_texts.no_deployment(deployment_id)) from None
    if dep.state not in ("failed", "queued"):
        raise Usage(admin_texts.not_retryable(dep.id, dep.state))
    balance = await shop.ledger.balance(dep.user_id)
    if dep.state == "queued":
        text = admin_texts.ask_retry_queued(dep.id, dep.attempts + 1, _admin_error(dep))
    elif hold.state == "pending" and hold.expires_at > shop.ledger.now():
        text = admin_texts.ask_retry_on_hold(dep.id, dep.service_id, hold.amount, _admin_error(dep))
    elif order.amount > balance.available:  # the fresh hold would be refused: no button to press
        raise Usage(admin_texts.retry_not_covered(dep.id, order.amount, dep.user_id,
                                                  await user_label(shop, dep.user_id), balance))
    else:
        text = admin_texts.ask_retry_new_hold(dep.id, dep.service_id, await user_label(shop, dep.user_id),
                                              order.amount, balance.available, _admin_error(dep))
    await ask(update, shop, key, "retry", {"deployment_id": dep.id}, text, [(admin_texts.BTN_RETRY, "go")])


@admin_command("retry")
async def retry_command(update: Update, context: CustomContext) -> None:
    """/retry <deployment>: requeue a failed deployment (a fresh hold when the old was voided)."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(admin_texts.USAGE_RETRY)
    await _ask_retry(update, context.shop, command_key(update), parse_id(args[0], "deployment", admin_texts.USAGE_RETRY))


@runner("retry")
async def run_retry(update: Update, context: CustomContext, request: state.AdminRequest,
                    option: str) -> RunResult:
    shop = context.shop
    deployment_id = int(request.params["deployment_id"])

    try:
        dep = await shop.ledger.write(partial(
            admin_actions.retry_deployment, request=request, deployment_id=deployment_id,
            hold_ttl_s=shop.ledger.hold_ttl_s))
    except LedgerError as exc:
        return await refused(shop, request, "retry.refused", f"deployment {deployment_id}", exc,
                             await _not_retried(shop, deployment_id, exc))
    if dep is None:
        return admin_texts.ALREADY_DONE
    result = admin_texts.retried(deployment_id, dep.hold_id)
    if shop.worker is not None:
        shop.worker.wake()
    return result


async def _not_retried(shop: Shop, deployment_id: int, exc: LedgerError) -> str:
    """A retry the ledger refused at the tap, said with the facts as they are now."""
    def read(conn: sqlite3.Connection) -> tuple[DeploymentRecord, Order]:
        dep = jobs.get(conn, deployment_id)
        return dep, ops.get_order(conn, dep.order_id)

    dep, order = await shop.ledger.read(read)
    if isinstance(exc, InsufficientFunds):
        return admin_texts.retry_not_covered(dep.id, order.amount, dep.user_id, await user_label(shop, dep.user_id),
                                             await shop.ledger.balance(dep.user_id))
    if isinstance(exc, jobs.DeploymentStateError):
        return admin_texts.not_retryable(dep.id, dep.state)
    return admin_texts.not_retried(admin_texts.ledger_refusal(exc))


# --- /cancelvm <deployment> -------------------------------------------------------------------


def _cancel_facts(conn: sqlite3.Connection, now: int, deployment_id: int) -> tuple[DeploymentRecord, Order, int]:
    dep = jobs.get(conn, deployment_id)
    order = ops.get_order(conn, dep.order_id)
    return dep, order, state.unused_refund(conn, now, dep, order.amount)


async def _ask_cancel(update: Update, shop: Shop, key: str, deployment_id: int) -> None:
    try:
        dep, order, unused = await shop.ledger.read(lambda conn: _cancel_facts(conn, shop.ledger.now(), deployment_id))
    except jobs.DeploymentNotFound:
        raise Usage(admin_texts.no_deployment(deployment_id)) from None
    who = await user_label(shop, dep.user_id)
    if dep.state == "queued":
        text = admin_texts.ask_cancel_queued(dep.id, dep.service_id, who)
        options = [(admin_texts.BTN_CANCEL_RELEASE, "none")]
    elif dep.state == "ready":
        text = admin_texts.ask_cancel_running(dep, who, order.amount)
        options = [(admin_texts.BTN_NO_REFUND, "none")]
        if unused:
            options.append((admin_texts.btn_refund_unused(unused), "unused"))
        options.append((admin_texts.btn_refund_period(order.amount), "full"))
    else:
        raise Usage(admin_texts.not_cancellable(dep.id, dep.state))
    await ask(update, shop, key, "cancel", {"deployment_id": dep.id}, text, options)


@admin_command("cancelvm")
async def cancel_command(update: Update, context: CustomContext) -> None:
    """/cancelvm <deployment>: cancel a queued or running VM, with a refund choice."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(admin_texts.USAGE_CANCEL)
    await _ask_cancel(update, context.shop, command_key(update),
                      parse_id(args[0], "deployment", admin_texts.USAGE_CANCEL))


@runner("cancel")
async def run_cancel(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> RunResult:
    shop = context.shop
    deployment_id = int(request.params["deployment_id"])
    if option not in admin_actions.REFUND_CHOICES:
        return admin_texts.UNKNOWN_CHOICE
    try:
        cancelled = await shop.ledger.write(partial(
            admin_actions.cancel_deployment, request=request, deployment_id=deployment_id,
            refund=option, commission_ppm=shop.ledger.commission_ppm))
    except jobs.DeploymentStateError as exc:
        dep = await shop.ledger.read(lambda conn: jobs.get(conn, deployment_id))
        return await refused(shop, request, "cancel.refused", f"deployment {deployment_id}", exc,
                             admin_texts.not_cancellable(deployment_id, dep.state))
    except LedgerError as exc:
        return await refused(shop, request, "cancel.refused", f"deployment {deployment_id}", exc,
                             admin_texts.not_cancelled(admin_texts.ledger_refusal(exc)))
    if cancelled is None:
        return admin_texts.ALREADY_DONE
    dep, refund = cancelled.deployment, cancelled.refund
    result = admin_texts.cancelled(deployment_id, dep.state, refund)
    deployer = shop.deployer
    if dep.state == "cancelling" and deployer is not None:
        from grid.periods import finish_cancel
        from grid.worker import LedgerWriter

        try:
            dep = await finish_cancel(LedgerWriter(shop.ledger), deployer, dep)
            result += admin_texts.grid_contract_cancelled(dep.state)
        except Exception as exc:  # the periods job retries every 'cancelling' deployment
            log.warning("deployment %s: grid cancel failed: %s", deployment_id, exc)
            result += admin_texts.GRID_CANCEL_RETRIED
    elif dep.state == "cancelling":
        result += admin_texts.GRID_CANCEL_BY_PERIODS
    return result


async def _deployment_button(update: Update, context: CustomContext, prefix: str,
                             ask: Callable[[Update, Shop, str, int], Awaitable[None]]) -> None:
    """A deployment's Retry or Cancel button on /user or /deployments: the same confirm step as
    the command, keyed on the button so a double tap asks once."""
    parsed = await parse(update)
    if parsed is None:
        return
    data = parsed[1]
    await button_asks(update, ask(update, context.shop, button_key(update, f"{prefix}:{data.args[0]}"),
                                  data.int_arg(0)))


@admin_button
async def retry_button(update: Update, context: CustomContext) -> None:
    await _deployment_button(update, context, "ret", _ask_retry)


@admin_button
async def cancel_button(update: Update, context: CustomContext) -> None:
    await _deployment_button(update, context, "can", _ask_cancel)


# --- the catalogue ----------------------------------------------------------------------------


async def services_screen(shop: Shop) -> Screen:
    """Every service, on sale or hidden, with a button to switch each."""
    overrides = await shop.ledger.read(state.service_overrides)
    rows = [[InlineKeyboardButton(admin_texts.btn_service(s.id, s.enabled),
                                  callback_data=encode("adsvc", s.id, "off" if s.enabled else "on"))]
            for s in shop.catalogue.services]
    return screen(admin_texts.services(shop.catalogue.services, overrides), rows)


async def _set_service(shop: Shop, admin_id: int, service_id: str, key: str | None, *,
                       enabled: bool | None = None, price: int | None = None) -> str:
    listed = shop.catalogue.get(service_id)
    if listed is None:
        raise Usage(admin_texts.no_service(service_id, admin_texts.USAGE_SERVICE))
    shop.catalogue.apply(await shop.ledger.write(partial(
        admin_actions.set_service, admin_id=admin_id, service_id=service_id, key=key,
        was_enabled=listed.enabled, was_price=listed.price_minor, enabled=enabled, price=price)))
    service = shop.catalogue[service_id]
    return admin_texts.service_set(service_id, service.enabled, service.price_minor)


@admin_command("service")
async def service_command(update: Update, context: CustomContext) -> None:
    """/service: every service with its buttons; /service enable|disable <id>, /service price
    <id> <amount>."""
    args = context.args or []
    user = update.effective_user
    assert user is not None
    shop = context.shop
    if not args:
        await show(update, await services_screen(shop))
        return
    if len(args) == 2 and args[0] in ("enable", "disable"):
        text = await _set_service(shop, user.id, args[1], command_key(update), enabled=args[0] == "enable")
    elif len(args) == 3 and args[0] == "price":
        text = await _set_service(shop, user.id, args[1], command_key(update),
                                  price=parse_amount(args[2], admin_texts.USAGE_SERVICE))
    else:
        raise Usage(admin_texts.USAGE_SERVICE)
    await reply(update, text)


@admin_button
async def service_button(update: Update, context: CustomContext) -> None:
    """⛔ Disable / ✅ Enable on /services (`v1:adsvc:<id>:on|off`): sets, so a double tap is harmless."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    shop = context.shop
    service_id, on = data.args[0], data.args[1] == "on"
    if data.args[1] not in ("on", "off") or shop.catalogue.get(service_id) is None:
        await answer(query, admin_texts.ANSWER_UNKNOWN_SERVICE, alert=True)
        return
    result = await _set_service(shop, query.from_user.id, service_id, None, enabled=on)
    await answer(query, result[:190])
    await show(update, await services_screen(shop))


def _admin_error(dep: jobs.DeploymentRecord) -> str | None:
    """What an admin sees as a deployment's last error: the grid tool's scrubbed text when there
    is one (never shown to the buyer), else the buyer's reason in an admin's words."""
    return dep.error_detail or (admin_texts.reason(dep.error) if dep.error else None)

"""The user's VMs: /deployments (list, details, renew, auto-renew, cancel with a confirmation).

Every button carries only the deployment id (and, for renew, the expiry it extends), reads the
deployment from the ledger and checks it is the presser's, so a stale or foreign button changes
nothing and buttons keep working after a restart. Renewing asks first (the amount and the new
expiry), and cancelling a running VM says what prepaid time is given up. Renewing is idempotent per period
(`ledger.deployments.renew` with `for_expires_at`), so a double tap charges once.
"""

from __future__ import annotations

import re
from functools import partial

from telegram import CallbackQuery, InlineKeyboardMarkup, Update

from core import notices
from grid.periods import cancel_deployment
from ledger import InsufficientFunds
from ledger import deployments as jobs
from ledger.deployments import DeploymentNotFound, DeploymentRecord, DeploymentStateError

from . import keyboards, texts
from .buy import offer_shortfall
from .callbacks import INT, Callback, register_action
from .common import answer, expected, list_user, pressed, refuse, show, stop_expecting
from .deps import CustomContext, Shop
from .errors import RENEW_ANSWERS

__all__ = [
    "ACTIONS", "ask_cancel", "auto_renew", "confirm_cancel", "confirm_renew", "deployments", "details",
    "details_screen", "pressed_deployment", "renew", "topup_for_renewal",
]

LIST_LIMIT = 10
CANCEL_REASON = notices.REASON_CANCELLED_BY_USER

for _action, _shapes in (
    ("deps", ()),                          # the list
    ("dep", (INT,)),                       # one VM: details and actions
    ("dren", (INT, INT)),                  # ask to confirm renewing <deployment> <expiry it extends>
    ("drenok", (INT, INT)),                # renew, confirmed
    ("dauto", (INT, re.compile("0|1"))),   # auto-renew <deployment> off/on
    ("dcan", (INT,)),                      # ask to confirm cancelling
    ("dcanok", (INT,)),                    # cancel, confirmed
    ("dtop", (INT,)),                      # top up what a renewal lacks
):
    register_action(_action, _shapes)


def _service_name(shop: Shop, dep: DeploymentRecord) -> str:
    service = shop.catalogue.get(dep.service_id)
    return service.name if service is not None else dep.service_id


def _renew_terms(shop: Shop, dep: DeploymentRecord) -> tuple[int | None, int]:
    """(price of one more period, its days): the catalogue's; no price if it is not sold any more."""
    service = shop.catalogue.get(dep.service_id)
    if service is None or not service.enabled:
        return None, dep.period_days or 30
    return service.price_minor, service.period_days


def details_screen(shop: Shop, dep: DeploymentRecord, prefix: str = "") -> tuple[str, InlineKeyboardMarkup]:
    """A VM's screen: its details (after `prefix`, the news of what was just done) and actions."""
    price, days = _renew_terms(shop, dep)
    text = texts.deployment_details(dep, _service_name(shop, dep), price)
    return (f"{prefix}\n\n{text}" if prefix else text), keyboards.deployment_actions(dep, price, days)


async def _show_details(update: Update, shop: Shop, dep: DeploymentRecord, prefix: str = "") -> None:
    await show(update, *details_screen(shop, dep, prefix))


async def pressed_deployment(
    update: Update, context: CustomContext,
) -> tuple[CallbackQuery, Callback, Shop, DeploymentRecord] | None:
    """A button whose first argument is a deployment id: the deployment if the presser owns it;
    otherwise answer so and return None."""
    got = await pressed(update, context)
    if got is None:
        return None
    query, data, shop = got
    deployment_id, user_id = data.int_arg(0), query.from_user.id
    try:
        dep = await shop.ledger.read(lambda conn: jobs.get(conn, deployment_id, user_id))
    except DeploymentNotFound as exc:
        await refuse(query, exc)
        return None
    return query, data, shop, dep


async def deployments(update: Update, context: CustomContext) -> None:
    """/deployments and the « My VMs button: the user's VMs with state and expiry."""
    user = await list_user(update)
    if user is None:
        return
    shop = context.shop
    deps = await shop.ledger.read(
        lambda conn: jobs.list_by_user(conn, user.id, LIST_LIMIT, include_closed=True))
    await show(update, texts.deployments(deps), keyboards.deployments(deps))


async def details(update: Update, context: CustomContext) -> None:
    """A VM's button (`v1:dep:<id>`): connection details and what can be done with it."""
    got = await pressed_deployment(update, context)
    if got is None:
        return
    query, _, shop, dep = got
    waiting = expected(context, "vmname")
    if waiting is not None and waiting.get("deployment") == dep.id:
        stop_expecting(context)  # back from the rename prompt
    await answer(query)
    await _show_details(update, shop, dep)


async def _renewable(update: Update, context: CustomContext) -> tuple[
        CallbackQuery, Callback, Shop, DeploymentRecord, int, int] | None:
    """A renew button's deployment, with the price and days of one more period; answers and
    returns None when the VM is not running or its service is not sold any more."""
    got = await pressed_deployment(update, context)
    if got is None:
        return None
    query, data, shop, dep = got
    price, days = _renew_terms(shop, dep)
    if dep.state != "ready" or price is None:
        await answer(query, texts.ANSWER_DEPLOYMENT_CLOSED, alert=True)
        return None
    return query, data, shop, dep, price, days


async def _offer_top_up(update: Update, shop: Shop, dep: DeploymentRecord, price: int, user_id: int) -> None:
    balance = await shop.ledger.balance(user_id)
    await show(update, texts.renew_short(dep, price, balance), keyboards.renew_topup(dep))


async def renew(update: Update, context: CustomContext) -> None:
    """Renew (`v1:dren:<id>:<expires_at>`): ask to confirm the amount and the new expiry; nothing
    is charged yet. A short balance is offered a top-up instead."""
    got = await _renewable(update, context)
    if got is None:
        return
    query, data, shop, dep, price, days = got
    seen_expiry = data.int_arg(1)
    if seen_expiry != dep.expires_at:
        older = dep.expires_at is not None and dep.expires_at > seen_expiry
        await answer(query, texts.ANSWER_ALREADY_RENEWED if older else texts.ANSWER_STALE_RENEW)
        await _show_details(update, shop, dep)
        return
    balance = await shop.ledger.balance(query.from_user.id)
    if balance.available - balance.debt < price:
        await answer(query, texts.ANSWER_NOT_ENOUGH, alert=True)
        await _offer_top_up(update, shop, dep, price, query.from_user.id)
        return
    await answer(query)
    await show(update, texts.confirm_renew(dep, price, days, balance),
               keyboards.confirm_renew(dep, price, days))


async def confirm_renew(update: Update, context: CustomContext) -> None:
    """Renew confirmed (`v1:drenok:<id>:<expires_at>`): one more period from the balance, once
    per period."""
    got = await _renewable(update, context)
    if got is None:
        return
    query, data, shop, dep, price, days = got
    user_id = query.from_user.id
    try:
        renewal = await shop.ledger.write(partial(
            jobs.renew_for_user, deployment_id=dep.id, user_id=user_id, seen_expires_at=data.int_arg(1),
            price=price, period_days=days, commission_ppm=shop.ledger.commission_ppm))
    except (InsufficientFunds, DeploymentNotFound, DeploymentStateError) as exc:
        await refuse(query, exc, RENEW_ANSWERS)
        if isinstance(exc, InsufficientFunds):
            await _offer_top_up(update, shop, dep, price, user_id)
        return
    renewed = renewal.deployment
    if not renewal.new:
        await answer(query, texts.ANSWER_ALREADY_RENEWED)
        await _show_details(update, shop, renewed)
        return
    await answer(query, texts.ANSWER_RENEWED)
    balance = await shop.ledger.balance(user_id)
    await _show_details(update, shop, renewed, texts.renewed(renewed, price, balance))


async def auto_renew(update: Update, context: CustomContext) -> None:
    """Auto-renew on/off (`v1:dauto:<id>:<1|0>`)."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    deployment_id, on, user_id = data.int_arg(0), data.args[1] == "1", query.from_user.id
    try:
        dep = await shop.ledger.write(
            lambda conn, now: jobs.set_auto_renew(conn, now, deployment_id, on, user_id))
    except (DeploymentNotFound, DeploymentStateError) as exc:
        await refuse(query, exc)
        return
    await answer(query, texts.ANSWER_AUTO_RENEW_ON if on else texts.ANSWER_AUTO_RENEW_OFF)
    await _show_details(update, shop, dep)


async def _refuse_cancel(update: Update, shop: Shop, dep: DeploymentRecord) -> bool:
    """Answer why `dep` cannot be cancelled now (and show where it stands); False if it can."""
    query = update.callback_query
    assert query is not None
    if dep.state in ("queued", "ready"):
        return False
    reason = {
        "deploying": texts.ANSWER_BEING_DEPLOYED,
        "cancelling": texts.ANSWER_ALREADY_CANCELLED,
        "cancelled": texts.ANSWER_ALREADY_CANCELLED,
    }.get(dep.state, texts.ANSWER_DEPLOYMENT_CLOSED)
    await answer(query, reason, alert=True)
    await _show_details(update, shop, dep)
    return True


async def ask_cancel(update: Update, context: CustomContext) -> None:
    """Cancel (`v1:dcan:<id>`): ask for a confirmation first."""
    got = await pressed_deployment(update, context)
    if got is None:
        return
    query, _, shop, dep = got
    if await _refuse_cancel(update, shop, dep):
        return
    await answer(query)
    left_s, unused = 0, 0
    if dep.state == "ready" and dep.expires_at is not None:
        # What the time left is worth at the price of a period (several, once renewed ahead).
        price, days = _renew_terms(shop, dep)
        if price is None:
            price, days = (await shop.ledger.get_order(dep.order_id)).amount, dep.period_days or days
        left_s = max(0, dep.expires_at - shop.ledger.now())
        unused = price * left_s // (days * jobs.DAY_S)
    await show(update, texts.confirm_cancel_deployment(dep, left_s, unused),
               keyboards.confirm_cancel_deployment(dep))


async def confirm_cancel(update: Update, context: CustomContext) -> None:
    """Cancel confirmed (`v1:dcanok:<id>`): a queued VM is refunded; a running one's contract is
    cancelled on the grid (or by the periods job when the grid fails or no deployer is set)."""
    got = await pressed_deployment(update, context)
    if got is None:
        return
    query, _, shop, dep = got
    if await _refuse_cancel(update, shop, dep):
        return
    user_id = query.from_user.id
    try:
        if shop.deployer is not None:
            result = await cancel_deployment(shop.ledger, shop.deployer, dep.id, user_id=user_id,
                                             reason=CANCEL_REASON)
        else:
            result = await shop.ledger.write(
                lambda conn, now: jobs.request_cancel(conn, now, dep.id, CANCEL_REASON, user_id))
    except DeploymentNotFound as exc:
        await refuse(query, exc)
        return
    except DeploymentStateError:
        # It moved on between the read and the write (the worker claimed it, say).
        current = await shop.ledger.read(lambda conn: jobs.get(conn, dep.id))
        if not await _refuse_cancel(update, shop, current):
            await answer(query, texts.ANSWER_TRY_LATER, alert=True)
        return
    await answer(query)
    await show(update, texts.deployment_cancelled(result),
               keyboards.deployment_actions(result, None, 0))


async def topup_for_renewal(update: Update, context: CustomContext) -> None:
    """Top up what a renewal lacks (`v1:dtop:<id>`), at least the minimum top-up."""
    got = await pressed_deployment(update, context)
    if got is None:
        return
    query, _, shop, dep = got
    price, _ = _renew_terms(shop, dep)
    if dep.state != "ready" or price is None:
        await answer(query, texts.ANSWER_DEPLOYMENT_CLOSED, alert=True)
        return
    await offer_shortfall(update, query, shop, price, lambda lack: f"dtop:{dep.id}:{dep.expires_at}:{lack}")


ACTIONS = (
    ("deps", deployments), ("dep", details), ("dren", renew), ("drenok", confirm_renew), ("dauto", auto_renew),
    ("dcan", ask_cancel), ("dcanok", confirm_cancel), ("dtop", topup_for_renewal),
)

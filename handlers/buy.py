"""Buying: the Buy button opens a purchase order and shows the payment choices in the order
message; paying from the balance asks for confirmation, then `ops.purchase` holds the price and
queues the deployment, and the order message becomes the VM's status, which the deployment
worker edits as the job moves (queued, deploying, ready with the connection details).

Every step reads the order from the ledger (no conversation state), so buttons work after a
restart, and the purchase is idempotent per order, so a double-tapped confirm buys once (and
sends one status message). A service the grid has no room for is refused before any order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from telegram import CallbackQuery, Update

from core.catalog import Service
from grid.capacity import service_has_capacity
from ledger import (
    InsufficientFunds,
    LedgerError,
    Order,
    OrderStateError,
    ops,
)
from ledger import deployments as jobs

from . import keyboards, texts
from .common import (
    PAID_STATES,
    answer,
    expected,
    payable_order,
    payment_markup,
    pressed,
    pressed_order,
    pressed_service,
    refuse,
    remember_order_message,
    show,
    stop_expecting,
)
from .deps import CustomContext, Shop
from .errors import TRY_AGAIN_ANSWERS
from .sshkey import key_or_ask


async def has_capacity(shop: Shop, service: Service) -> bool:
    """Whether the grid has room for `service` (always, without a gridproxy)."""
    return await service_has_capacity(service, shop.gridproxy)


async def ready_to_sell(update: Update, context: CustomContext, order: Order, service: Service) -> bool:
    """Whether `service` can be sold to the presser now (on sale, room on the grid, an SSH key
    known); otherwise answer why, or ask for the key in the order message."""
    query = update.callback_query
    assert query is not None
    if not service.enabled:
        await answer(query, texts.ANSWER_SERVICE_GONE, alert=True)
        return False
    if not await has_capacity(context.shop, service):
        await answer(query, texts.ANSWER_UNAVAILABLE, alert=True)
        return False
    return await key_or_ask(update, context, order, service)


async def buy(update: Update, context: CustomContext) -> None:
    """Buy on a service card (`v1:buy:<service>`): one order per card message."""
    got = await pressed_service(update, context)
    if got is None:
        return
    query, shop, service = got
    if not await has_capacity(shop, service):
        await answer(query, texts.ANSWER_UNAVAILABLE, alert=True)
        return
    user_id = query.from_user.id
    message_id = query.message.message_id if query.message is not None else 0
    try:
        order = await shop.ledger.create_order(
            f"buy:{user_id}:{message_id}:{service.id}", user_id, "purchase", service.price_minor, service.id)
    except LedgerError as exc:
        await refuse(query, exc, TRY_AGAIN_ANSWERS)
        return
    if order.state in PAID_STATES or order.state != "open":
        await payable_order(query, shop, order.id)  # answers why
        return
    await answer(query)
    balance = await shop.ledger.balance(user_id)
    shown = await show(update, texts.payment_choices(service, order, balance), payment_markup(shop, order, balance))
    await remember_order_message(shop, order, query.from_user.id, shown, service.name)


async def ask_confirm(update: Update, context: CustomContext, order: Order) -> None:
    """Pay from balance (`v1:pay:<order>:bal`): show the confirm step."""
    query = update.callback_query
    assert query is not None
    shop = context.shop
    service = shop.catalogue.get(order.service_id or "")
    if order.kind != "purchase" or service is None:
        await answer(query, texts.ANSWER_INVALID, alert=True)
        return
    balance = await shop.ledger.balance(query.from_user.id)
    if balance.available < order.amount or balance.debt:
        await answer(query, texts.ANSWER_NOT_ENOUGH, alert=True)
        await show(update, texts.insufficient(order, balance), payment_markup(shop, order, balance))
        return
    await answer(query)
    await show(update, texts.confirm_purchase(service, order, balance), keyboards.confirm(order))


async def confirm(update: Update, context: CustomContext) -> None:
    """Confirm (`v1:ok:<order>`): hold the price and queue the deployment, once per order."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    order_id = data.int_arg(0)
    try:
        before = await shop.ledger.get_order(order_id)
    except LedgerError:
        before = None
    if before is not None and before.user_id == query.from_user.id and before.state == "placed":
        await answer(query, texts.ANSWER_ALREADY_BOUGHT)
        return
    order = await payable_order(query, shop, order_id)
    if order is None:
        return
    service = shop.catalogue.get(order.service_id or "")
    if order.kind != "purchase" or service is None:
        await answer(query, texts.ANSWER_INVALID, alert=True)
        return
    if not await ready_to_sell(update, context, order, service):
        return
    try:
        placed = await shop.ledger.write(partial(
            ops.place_purchase, order_id=order.id, user_id=query.from_user.id,
            hold_ttl_s=shop.ledger.hold_ttl_s))
    except (InsufficientFunds, OrderStateError) as exc:
        await refuse(query, exc)
        if type(exc) is InsufficientFunds:
            balance = await shop.ledger.balance(query.from_user.id)
            await show(update, texts.insufficient(order, balance), payment_markup(shop, order, balance))
        return
    bought = placed.purchase
    if not placed.new:  # the other tap of a double tap bought it
        await answer(query, texts.ANSWER_ALREADY_BOUGHT)
        return
    await answer(query, texts.ANSWER_BOUGHT)
    # The order message becomes the VM's status message, which the worker edits from here on.
    dep = await shop.ledger.read(partial(jobs.get, deployment_id=bought.deployment_id))
    shown = await show(update, texts.purchased(dep, bought.order, bought.balance))
    if query.message is not None and shown is not None:
        await shop.ledger.write(partial(jobs.attach_status_message, deployment_id=dep.id,
                                        chat_id=query.message.chat.id, message_id=shown))
    if shop.worker is not None:
        shop.worker.wake()


async def topup_difference(update: Update, context: CustomContext) -> None:
    """Top up what a purchase order lacks (`v1:topd:<order>`), at least the minimum top-up."""
    got = await pressed_order(update, context)
    if got is None:
        return
    query, _, shop, order = got
    await offer_shortfall(update, query, shop, order.amount, lambda lack: f"topd:{order.id}:{lack}")


async def offer_shortfall(update: Update, query: CallbackQuery, shop: Shop, price: int,
                          key: Callable[[int], str]) -> None:
    """Open a top-up order for what the presser's balance lacks to pay `price` (at least the
    minimum top-up; its debt too), once per `key(amount)`, and show its payment choices."""
    balance = await shop.ledger.balance(query.from_user.id)
    market = shop.config.marketplace
    lack = max(price - balance.available + balance.debt, market.min_topup_minor)
    if lack > market.max_topup_minor:
        await answer(query, texts.ANSWER_AMOUNT, alert=True)
        return
    try:
        topup = await shop.ledger.create_order(key(lack), query.from_user.id, "topup", lack)
    except LedgerError as exc:
        await refuse(query, exc, TRY_AGAIN_ANSWERS)
        return
    if topup.state != "open":
        await payable_order(query, shop, topup.id)  # answers why
        return
    await answer(query)
    shown = await show(update, texts.topup_choices(topup), payment_markup(shop, topup, balance))
    await remember_order_message(shop, topup, query.from_user.id, shown)


async def cancel_order(update: Update, context: CustomContext) -> None:
    """Cancel (`v1:cancel:<order>`): an open order becomes cancelled."""
    got = await pressed_order(update, context)
    if got is None:
        return
    query, _, shop, order = got
    try:
        order = await shop.ledger.set_order_state(order.id, "cancelled", ("open",))
    except OrderStateError as exc:
        await refuse(query, exc)
        return
    waiting = expected(context, "sshkey")
    if waiting is not None and waiting.get("order") == order.id:
        stop_expecting(context)
    await answer(query)
    await show(update, texts.order_cancelled(order), keyboards.back_to_menu())

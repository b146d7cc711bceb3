"""Account commands and their buttons: /start (with `paid_<order>` deep links), /help,
/balance, /history (paged), /orders (a button per order), /cancel, /paysupport, /support,
/terms and the answer to an unknown command; plus recording who we talk to. /deployments lives in `handlers.deployments`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from functools import partial

from telegram import Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

from core import i18n
from ledger import InvalidRequest, OrderNotFound, OrderStateError, users
from ledger import deployments as jobs
from payments.stripe_dispatch import apply_order_sessions

from . import keyboards, texts
from .buy import has_capacity
from .common import (
    answer,
    list_user,
    parse,
    payment_markup,
    refuse,
    remember_order_message,
    service_name,
    show,
    stop_expecting,
)
from .deps import CustomContext
from .errors import ORDER_ID_ANSWERS
from .language import speak_to
from .topup import OPENED_ORDER

HISTORY_PAGE = 10


async def record_user(update: Update, context: CustomContext) -> None:
    """Remember the user behind any update (group -1), writing only when something changed,
    and speak their language for the rest of the update. A pre-checkout query writes nothing:
    its answer is due within seconds, and the successful payment that follows records the user."""
    user = update.effective_user
    if user is None or user.is_bot or update.my_chat_member is not None:
        i18n.set_current(i18n.DEFAULT)  # nobody to speak to (chat_member updates get no answer)
        return
    shop = context.shop
    profile = (user.username, user.first_name, user.language_code)
    if update.pre_checkout_query is None and shop.seen_users.get(user.id) != profile:
        def remember(conn: sqlite3.Connection, now: int) -> str:
            users.upsert(conn, now, user.id, *profile)
            return users.locale(conn, user.id)  # a new language_code may change it

        shop.user_locales[user.id] = await shop.ledger.write(remember)
        shop.seen_users[user.id] = profile
    await speak_to(shop, user.id)


async def chat_member(update: Update, context: CustomContext) -> None:
    """The user blocked (kicked) or unblocked the bot in their private chat."""
    change = update.my_chat_member
    if change is None:
        return
    blocked = change.new_chat_member.status in (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)
    user = change.from_user
    shop = context.shop
    await shop.ledger.write(partial(
        users.record_membership, user_id=user.id, username=user.username,
        first_name=user.first_name, language=user.language_code, blocked=blocked))
    shop.seen_users.pop(user.id, None)


async def start(update: Update, context: CustomContext) -> None:
    """/start: welcome, balance and menu; `/start paid_<order>` shows that order."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    shop = context.shop
    if context.args and context.args[0].startswith("paid_"):
        await _show_order(update, context, context.args[0].removeprefix("paid_"))
        return
    balance = await shop.ledger.balance(user.id)
    await message.reply_text(texts.welcome(user.first_name, balance), reply_markup=keyboards.main_menu())


async def _show_order(update: Update, context: CustomContext, raw_id: str) -> None:
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    shop = context.shop
    order = None
    if raw_id.isdigit() and 0 < int(raw_id) < 2**63:
        try:
            order = await shop.ledger.get_order(int(raw_id))
        except OrderNotFound:
            order = None
    if order is None or order.user_id != user.id:
        await message.reply_text(texts.ORDER_UNKNOWN, reply_markup=keyboards.main_menu())
        return
    if order.state == "open" and shop.stripe_client is not None:
        # Back from Checkout before (or without) the webhook: ask Stripe, credit once if paid.
        await apply_order_sessions(shop.ledger, shop.stripe_client, order.id, shop.stripe_policy)
        order = await shop.ledger.get_order(order.id)
    await message.reply_text(texts.order_status(order, service_name(shop, order.service_id)),
                             reply_markup=keyboards.main_menu())


async def menu_button(update: Update, context: CustomContext) -> None:
    """The « Menu button: the welcome screen again."""
    query = update.callback_query
    assert query is not None
    shop = context.shop
    await answer(query)
    balance = await shop.ledger.balance(query.from_user.id)
    await show(update, texts.welcome(query.from_user.first_name, balance), keyboards.main_menu())


async def help_command(update: Update, context: CustomContext) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.help_text())


PAYSUPPORT_PAYMENTS = 5


async def paysupport(update: Update, context: CustomContext) -> None:
    """/paysupport: how to get help with a payment or a refund, and the user's recent payments."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    recent = await context.shop.ledger.payments(user.id, limit=PAYSUPPORT_PAYMENTS)
    await message.reply_text(texts.paysupport(recent))


async def support(update: Update, context: CustomContext) -> None:
    """/support: the operator's contact text."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.support(context.shop.config.shop.support_text))


async def terms(update: Update, context: CustomContext) -> None:
    """/terms: the operator's terms of sale."""
    if update.effective_message is not None:
        await update.effective_message.reply_text(texts.terms(context.shop.config.shop.terms_text))


async def unknown_command(update: Update, context: CustomContext) -> None:
    """A command the shop does not have, or an admin-only one from someone else: point at /help."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    command = message.text.split(maxsplit=1)[0].split("@", 1)[0]
    await message.reply_text(texts.unknown_command(command[:40]))


async def balance(update: Update, context: CustomContext) -> None:
    """/balance and the Balance button: available, held and debt."""
    user = await list_user(update)
    if user is None:
        return
    current = await context.shop.ledger.balance(user.id)
    await show(update, texts.balance(current), keyboards.back_to_menu())


async def history(update: Update, context: CustomContext) -> None:
    """/history and its Older/Newest buttons: the credit history, a page at a time."""
    user = update.effective_user
    if user is None:
        return
    before: int | None = None
    if update.callback_query is not None:
        parsed = await parse(update)
        if parsed is None:
            return
        query, data = parsed
        before = data.int_arg(0) or None
        await answer(query)
    shop = context.shop
    page = await shop.ledger.statement(user.id, limit=HISTORY_PAGE, before_id=before)
    lines = [(e, texts.statement_what(e, service_name(shop, e.service_id))) for e in page.entries]
    await show(update, texts.history(lines, before is None), keyboards.history(page.next_before, before is None))


async def orders(update: Update, context: CustomContext) -> None:
    """/orders and the « Orders button: the user's recent orders, a button each."""
    user = await list_user(update)
    if user is None:
        return
    shop = context.shop
    recent = await shop.ledger.orders(user.id, limit=10)
    lines = [texts.order_line(o, service_name(shop, o.service_id)) for o in recent]
    names = {s.id: s.name for s in shop.catalogue.services}
    await show(update, texts.orders(lines), keyboards.orders(recent, names))


async def order_button(update: Update, context: CustomContext) -> None:
    """An order's button (`v1:ord:<id>`): its details and state, the payment choices again
    while it is open, and its VM once placed."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    shop = context.shop
    try:
        order = await shop.ledger.get_order(data.int_arg(0))
    except (OrderNotFound, InvalidRequest) as exc:
        await refuse(query, exc, ORDER_ID_ANSWERS)
        return
    if order.user_id != query.from_user.id:
        await answer(query, texts.ANSWER_NOT_YOURS, alert=True)
        return
    expired = shop.order_expired(order)
    payable = order.state == "open" and not expired
    if payable and order.kind == "purchase":
        service = shop.catalogue.get(order.service_id or "")
        payable = service is not None and service.enabled and await has_capacity(shop, service)
    dep = await shop.ledger.read(lambda conn: jobs.by_order(conn, order.id))
    markup = None
    if payable:
        markup = payment_markup(shop, order, await shop.ledger.balance(query.from_user.id))
    await answer(query)
    shown = await show(update, texts.order_details(order, service_name(shop, order.service_id), payable,
                                                  dep.title if dep is not None else None, expired),
                       keyboards.order_actions(markup, dep))
    if payable:
        await remember_order_message(shop, order, query.from_user.id, shown)


async def cancel(update: Update, context: CustomContext) -> None:
    """/cancel: forget what the chat asked to type (a custom top-up amount, a VM's new name),
    cancel the purchase whose SSH key step is waiting, or cancel the top-up order a typed amount
    just opened while it is still open."""
    message = update.effective_message
    if message is None:
        return
    data = context.user_data if context.user_data is not None else {}
    waiting = stop_expecting(context)
    if waiting is not None and waiting["what"] == "sshkey":
        opened = waiting["order"]  # cancelling the key step cancels the purchase it was for
    elif waiting is not None:
        await message.reply_text(texts.CANCELLED)
        return
    else:
        opened = data.pop(OPENED_ORDER, None)
    if opened is not None:
        try:
            order = await context.shop.ledger.set_order_state(opened, "cancelled", ("open",))
        except (OrderStateError, OrderNotFound):
            pass  # paid, expired or cancelled meanwhile: nothing of it is left to cancel
        else:
            if waiting is not None:  # the order message that asked for the key says so too
                with contextlib.suppress(TelegramError):
                    await context.bot.edit_message_text(texts.order_cancelled(order), chat_id=waiting["chat"],
                                                        message_id=waiting["message"])
            await message.reply_text(texts.order_cancelled(order), reply_markup=keyboards.main_menu())
            return
    await message.reply_text(texts.NOTHING_TO_CANCEL)

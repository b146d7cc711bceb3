"""Small helpers shared by the handlers: answering buttons safely, showing a screen, checking
that an order named by a button is the presser's and still payable."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update, User
from telegram.error import BadRequest, TelegramError

from core.catalog import Service
from ledger import (
    Balance,
    InvalidRequest,
    LedgerError,
    Order,
    OrderNotFound,
    order_messages,
    queries,
    users,
)
from payments.telegram_invoices import stars_for

from . import keyboards, texts
from .callbacks import INT, Callback, CallbackError, decode
from .deps import CustomContext, Shop
from .errors import ORDER_ID_ANSWERS, Answers, refusal_answer

log = logging.getLogger(__name__)

PAID_STATES = ("paid", "placed", "completed")

# user_data key: the one thing the chat asked the user to type, if any: {"what": "amount"}
# (a top-up), {"what": "sshkey", ...} (the buy flow's key step), {"what": "vmname", ...} (a
# rename). Asking for one thing forgets any other; a restart forgets it too.
WAITING = "waiting_for"


def expect(context: CustomContext, what: str, **details: int) -> None:
    """Remember that the next text the user types is `what` (see WAITING)."""
    if context.user_data is not None:
        context.user_data[WAITING] = {"what": what, **details}


def expected(context: CustomContext, what: str | None = None) -> dict[str, Any] | None:
    """What the chat waits for the user to type (only if it is `what`, when given)."""
    waiting = (context.user_data or {}).get(WAITING)
    if not isinstance(waiting, dict) or (what is not None and waiting.get("what") != what):
        return None
    return waiting


def stop_expecting(context: CustomContext) -> dict[str, Any] | None:
    """Forget what the chat waited for; returns it."""
    waiting = expected(context)
    if context.user_data is not None:
        context.user_data.pop(WAITING, None)
    return waiting


async def remember_order_message(shop: Shop, order: Order, chat_id: int, message_id: int | None,
                                 item_name: str | None = None) -> None:
    """Message `message_id` shows `order` now: what is said about the order later (paid,
    deploying, ready) edits it (`ledger.order_messages`)."""
    if message_id is not None:
        await shop.ledger.write(partial(order_messages.remember, order_id=order.id, chat_id=chat_id,
                                        message_id=message_id, item_name=item_name))


def payment_markup(shop: Shop, order: Order, balance: Balance) -> InlineKeyboardMarkup:
    """The pay buttons of an open order (only the methods this shop offers)."""
    return keyboards.payment_choices(
        order, balance, stars=stars_for(order.amount, shop.config.telegram.stars_per_tfc),
        card=shop.card_token is not None, stripe=shop.stripe_enabled,
    )


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """answerCallbackQuery, never raising: an expired query id must not crash the handler."""
    try:
        await query.answer(text=text, show_alert=alert)
    except TelegramError as exc:
        log.info("could not answer callback query %s: %s", query.id, exc)


async def refuse(query: CallbackQuery, exc: LedgerError, answers: Answers | None = None) -> None:
    """Answer a button the ledger refused with the table's alert (handlers.errors)."""
    await answer(query, refusal_answer(exc, answers), alert=True)


async def parse(update: Update) -> tuple[CallbackQuery, Callback] | None:
    """The query and its decoded data; if the data is malformed, answer so and return None."""
    query = update.callback_query
    if query is None:
        return None
    try:
        return query, decode(query.data)
    except CallbackError:
        await answer(query, texts.ANSWER_INVALID, alert=True)
        return None


async def pressed(
    update: Update, context: CustomContext,
) -> tuple[CallbackQuery, Callback, Shop] | None:
    """`parse`, plus the shop: what every button handler starts with."""
    parsed = await parse(update)
    if parsed is None:
        return None
    return parsed[0], parsed[1], context.shop


async def pressed_order(
    update: Update, context: CustomContext,
) -> tuple[CallbackQuery, Callback, Shop, Order] | None:
    """A button whose first argument is an order id: the order if the presser owns it and it
    is still payable (see `payable_order`); otherwise answer why and None."""
    got = await pressed(update, context)
    if got is None:
        return None
    query, data, shop = got
    order = await payable_order(query, shop, data.int_arg(0))
    if order is None:
        return None
    return query, data, shop, order


async def pressed_service(
    update: Update, context: CustomContext,
) -> tuple[CallbackQuery, Shop, Service] | None:
    """A button whose first argument is a service id: the service if it is on sale; otherwise
    answer that it is gone and None."""
    got = await pressed(update, context)
    if got is None:
        return None
    query, data, shop = got
    service = shop.catalogue.get(data.args[0])
    if service is None or not service.enabled:
        await answer(query, texts.ANSWER_SERVICE_GONE, alert=True)
        return None
    return query, shop, service


async def list_user(update: Update) -> User | None:
    """The user a list screen (a command, or its button, answered here) is for."""
    user = update.effective_user
    if user is not None and update.callback_query is not None:
        await answer(update.callback_query)
    return user


async def show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> int | None:
    """Edit the pressed button's message, or reply to a command with a new message; returns
    the id of the message that shows it."""
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        return query.message.message_id
    message = update.effective_message
    if message is not None:
        reply = await message.reply_text(text, reply_markup=markup)
        return reply.message_id
    return None


async def edit_or_send(context: CustomContext, chat_id: int, message_id: int | None, text: str,
                       markup: InlineKeyboardMarkup | None = None) -> Message | None:
    """Bring message `message_id` to `text`; when it cannot be edited any more (deleted, too
    old), send `text` as a new message instead. Returns the new message, if one was sent."""
    if message_id is not None:
        try:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=markup)
            return None
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return None
            log.info("message %s in chat %s not edited (%s); sent anew", message_id, chat_id, exc.message)
    return await context.bot.send_message(chat_id, text, reply_markup=markup)


async def payable_order(query: CallbackQuery, shop: Shop, order_id: int) -> Order | None:
    """The order if the presser owns it and it is still open; otherwise answer why and None."""
    try:
        order = await shop.ledger.get_order(order_id)
    except (OrderNotFound, InvalidRequest) as exc:
        await refuse(query, exc, ORDER_ID_ANSWERS)
        return None
    if order.user_id != query.from_user.id:
        await answer(query, texts.ANSWER_NOT_YOURS, alert=True)
        return None
    if order.state in PAID_STATES:
        await answer(query, texts.ANSWER_ALREADY_PAID, alert=True)
        return None
    if order.state == "cancelled":
        await answer(query, texts.ANSWER_CANCELLED, alert=True)
        return None
    if shop.order_expired(order):
        await answer(query, texts.ANSWER_EXPIRED, alert=True)
        return None
    if order.state != "open":
        await answer(query, texts.ANSWER_INVALID, alert=True)
        return None
    return order


def service_name(shop: Shop, service_id: str | None) -> str | None:
    if service_id is None:
        return None
    service = shop.catalogue.get(service_id)
    return service.name if service is not None else service_id


async def known_user(shop: Shop, ref: str) -> int | None:
    """The user `ref` names, by @username or numeric id, if the shop knows them; else None."""
    if ref.startswith("@"):
        found = await shop.ledger.read(lambda conn: users.by_username(conn, ref))
        return found.user_id if found is not None else None
    if not INT.fullmatch(ref) or not 0 < int(ref) < 2**63:
        return None
    user_id = int(ref)
    return user_id if await shop.ledger.read(lambda conn: queries.user_is_known(conn, user_id)) else None

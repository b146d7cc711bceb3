"""/topup: preset amounts from the config as buttons, or a custom amount the user types.

The custom amount is what the chat waits for (`common.expect`), and the order a typed amount opened is kept
there too, so /cancel right after it cancels that order; after a restart both are gone and a
typed number just gets a pointer back to /topup. Everything else lives in the ledger.
"""

from __future__ import annotations

from telegram import Update

from core.money import MoneyError, parse_tfc
from ledger import LedgerError, Order

from . import keyboards, texts
from .common import (
    answer,
    expect,
    payment_markup,
    pressed,
    refuse,
    remember_order_message,
    show,
    stop_expecting,
)
from .deps import CustomContext, Shop
from .errors import TRY_AGAIN_ANSWERS

# The top-up order the user's typed amount just opened: /cancel cancels it while it is open.
OPENED_ORDER = "opened_topup_order"


async def topup(update: Update, context: CustomContext) -> None:
    """/topup and the Top up button: preset amounts and "Other amount"."""
    if update.callback_query is not None:
        await answer(update.callback_query)
    presets = context.shop.config.marketplace.topup_presets_minor
    await show(update, texts.TOPUP_PROMPT, keyboards.topup_presets(presets))


async def preset(update: Update, context: CustomContext) -> None:
    """A preset amount button (`v1:top:<cents>`): open a top-up order and show payment choices."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    amount = data.int_arg(0)
    market = shop.config.marketplace
    if not market.min_topup_minor <= amount <= market.max_topup_minor:
        await answer(query, texts.ANSWER_AMOUNT, alert=True)
        return
    message_id = query.message.message_id if query.message is not None else 0
    # One order per (message, amount): a double tap or a press after restart finds the same order.
    key = f"topup:{query.from_user.id}:{message_id}:{amount}"
    await _offer(update, context, shop, key, amount)


async def ask_custom(update: Update, context: CustomContext) -> None:
    """"Other amount…" (`v1:topc`): ask the user to type an amount."""
    query = update.callback_query
    assert query is not None
    await answer(query)
    market = context.shop.config.marketplace
    expect(context, "amount")
    await show(update, texts.topup_ask_amount(market.min_topup_minor, market.max_topup_minor))


async def typed_amount(update: Update, context: CustomContext, text: str) -> None:
    """The custom top-up amount the chat asked for: open its order, or say what is wrong."""
    message, user = update.effective_message, update.effective_user
    assert message is not None and user is not None
    shop = context.shop
    market = shop.config.marketplace
    amount = parse_amount(text)
    if amount is None or not market.min_topup_minor <= amount <= market.max_topup_minor:
        await message.reply_text(texts.topup_bad_amount(market.min_topup_minor, market.max_topup_minor))
        return
    stop_expecting(context)
    await _offer(update, context, shop, f"topup:{user.id}:msg{message.message_id}", amount, typed=True)


def parse_amount(text: str) -> int | None:
    """TFC typed by a person ("12", "12.5", "12,50", "12 TFC") in cents, or None."""
    try:
        return parse_tfc(text)
    except MoneyError:
        return None


async def _offer(update: Update, context: CustomContext, shop: Shop, key: str, amount: int, *,
                 typed: bool = False) -> Order | None:
    """Open (or find again, by `key`) a top-up order and show its payment choices; an order
    opened by a `typed` amount is the one /cancel cancels next."""
    user = update.effective_user
    assert user is not None
    try:
        order = await shop.ledger.create_order(key, user.id, "topup", amount)
    except LedgerError as exc:
        if update.callback_query is not None:
            await refuse(update.callback_query, exc, TRY_AGAIN_ANSWERS)
        return None
    if update.callback_query is not None:
        await answer(update.callback_query)
    if typed and context.user_data is not None:  # before the offer shows: /cancel may come right after
        context.user_data[OPENED_ORDER] = order.id
    balance = await shop.ledger.balance(user.id)
    shown = await show(update, texts.topup_choices(order), payment_markup(shop, order, balance))
    await remember_order_message(shop, order, user.id, shown)
    return order

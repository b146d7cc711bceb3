"""/send <@user|id> <amount>: send credits from your balance to another user of the shop.

The command shows what would be sent and a confirm button; the button moves the credits in one
ledger write (`ledger.user_transfers.transfer_between_users`), keyed on the command message, so
a command Telegram delivers twice, or a double tap, sends once. Refused with a clear text: a
malformed or over-precise amount, zero, yourself, a user the shop does not know, not enough
available credits, or a balance in debt. Both users see the transfer in /history.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from core.money import MoneyError, parse_tfc
from ledger import MAX_AMOUNT, AccountInDebt, InsufficientFunds, InvalidRequest
from ledger import user_transfers as sending

from . import texts
from .callbacks import INT, encode, register_action
from .common import answer, known_user, pressed
from .deps import CustomContext

register_action("send", (INT, INT, INT))  # confirm: recipient, cents, the /send message id


async def send_command(update: Update, context: CustomContext) -> None:
    """/send <@user|id> <amount>: ask to confirm a transfer of credits."""
    message = update.effective_message
    sender = update.effective_user
    if message is None or sender is None:
        return
    shop = context.shop
    args = context.args or []
    if len(args) != 2:
        await message.reply_text(texts.SEND_USAGE)
        return
    try:
        amount = parse_tfc(args[1])
    except MoneyError:
        await message.reply_text(texts.send_bad_amount(args[1]))
        return
    if not 0 < amount <= MAX_AMOUNT:
        await message.reply_text(texts.send_bad_amount(args[1]))
        return
    recipient = await known_user(shop, args[0])
    if recipient is None:
        await message.reply_text(texts.send_unknown(args[0]))
        return
    if recipient == sender.id:
        await message.reply_text(texts.SEND_SELF)
        return
    balance = await shop.ledger.balance(sender.id)
    if balance.debt:
        await message.reply_text(texts.send_in_debt(balance.debt))
        return
    if balance.available < amount:
        await message.reply_text(texts.send_not_enough(amount, balance.available))
        return
    who = await shop.ledger.read(lambda conn: sending.label(conn, recipient))
    button = InlineKeyboardButton(texts.send_button(amount, who),
                                  callback_data=encode("send", recipient, amount, message.message_id))
    await message.reply_text(texts.send_confirm(amount, who, balance.available),
                             reply_markup=InlineKeyboardMarkup([[button]]))


async def send_button(update: Update, context: CustomContext) -> None:
    """The confirm button (`v1:send:<recipient>:<cents>:<message>`): send once."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    sender = query.from_user.id
    recipient, amount, message_id = data.int_arg(0), data.int_arg(1), data.int_arg(2)
    key = f"send:{sender}:{message_id}"
    try:
        sent = await shop.ledger.write(lambda conn, now: sending.transfer_between_users(
            conn, now, key, sender, recipient, amount))
    except AccountInDebt as exc:
        await answer(query, texts.send_refused(str(exc)), alert=True)
        return
    except InsufficientFunds:
        balance = await shop.ledger.balance(sender)
        await answer(query, texts.send_not_enough(amount, balance.available), alert=True)
        return
    except (sending.UnknownRecipient, InvalidRequest) as exc:
        await answer(query, texts.send_refused(str(exc)), alert=True)
        return
    await answer(query, texts.SEND_DONE_ANSWER if sent.new else texts.SEND_ALREADY)
    who = await shop.ledger.read(lambda conn: sending.label(conn, recipient))
    await query.edit_message_text(texts.sent(amount, who, sent.balance.available))

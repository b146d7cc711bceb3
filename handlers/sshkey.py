"""The SSH public key put on the VMs a user buys: /sshkey, and the key step of the buy flow.

A VM nobody can log into is worth nothing, so nothing is sold before a key is known (the
buyer's, else the operator's `[grid] ssh_key`). When a buyer has none, the order message itself
asks for it (with a cancel button) and the chat waits for the key as the next text; once it is
saved, that same order message shows its pay buttons again. A private key pasted by mistake is
deleted from the chat at once, never stored and never logged, with a warning to replace it.
"""

from __future__ import annotations

import logging
import re
from functools import partial

from telegram import Update
from telegram.error import TelegramError

from core.catalog import Service
from grid.deployer import check_public_key
from grid.errors import InvalidSpecError
from ledger import LedgerError, Order, users

from . import keyboards, texts
from .common import answer, edit_or_send, expect, expected, payment_markup, show, stop_expecting
from .deps import CustomContext, Shop

log = logging.getLogger(__name__)

__all__ = ["PRIVATE_KEY", "key_or_ask", "private_key_sent", "sshkey", "typed_key", "user_key"]

# The armour of a private key in any common format: OpenSSH, PEM (RSA, EC, DSA, PKCS#8,
# encrypted), the SSH.com format, and PuTTY's .ppk.
PRIVATE_KEY = re.compile(
    r"-{4,5} ?BEGIN [A-Z0-9 ]*PRIVATE KEY ?-{4,5}|PuTTY-User-Key-File-\d", re.IGNORECASE)
# What a public key line starts with: a text like this is taken as a key even unasked.
PUBLIC_KEY_START = re.compile(r"(ssh-|ecdsa-|sk-)[a-z0-9@.-]+ AAAA", re.IGNORECASE)


async def user_key(shop: Shop, user_id: int) -> str | None:
    """The key a VM of this user gets: theirs, else the operator's `[grid] ssh_key`, else None."""
    own = await shop.ledger.read(partial(users.ssh_key, user_id=user_id))
    return own or shop.config.grid.ssh_key or None


async def key_or_ask(update: Update, context: CustomContext, order: Order, service: Service) -> bool:
    """True when a key is known for the presser; otherwise turn the order message into the
    question for one (the chat then waits for it) and return False."""
    query = update.callback_query
    assert query is not None
    if await user_key(context.shop, query.from_user.id) is not None:
        return True
    await answer(query)
    if query.message is not None:
        expect(context, "sshkey", order=order.id, chat=query.message.chat.id, message=query.message.message_id)
        await show(update, texts.ssh_key_prompt(order, service.name), keyboards.cancel_order(order))
    return False


async def private_key_sent(update: Update, context: CustomContext) -> None:
    """A message holding a private key: delete it, keep nothing, and warn the sender."""
    message = update.effective_message
    if message is None:
        return
    try:
        deleted = await message.delete()
    except TelegramError as exc:
        log.warning("could not delete a message holding a private key in chat %s: %s", message.chat_id,
                    type(exc).__name__)
        deleted = False
    await context.bot.send_message(message.chat_id, texts.PRIVATE_KEY_DELETED if deleted
                                   else texts.PRIVATE_KEY_NOT_DELETED)


async def sshkey(update: Update, context: CustomContext) -> None:
    """/sshkey shows the key; /sshkey <public key> sets it; /sshkey remove forgets it."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    shop = context.shop
    text = (message.text or "").partition(" ")[2].strip()
    if not text:
        own = await shop.ledger.read(partial(users.ssh_key, user_id=user.id))
        await message.reply_text(texts.ssh_key_status(own))
        return
    if text.lower() == "remove":
        await shop.ledger.write(lambda conn, now: users.set_ssh_key(conn, now, user.id, None))
        await message.reply_text(texts.SSH_KEY_REMOVED)
        return
    await typed_key(update, context, text)


def looks_like_public_key(text: str) -> bool:
    """Whether an unasked text is a public key line (the user pasted one without /sshkey)."""
    return PUBLIC_KEY_START.match(text.strip()) is not None


async def typed_key(update: Update, context: CustomContext, text: str) -> None:
    """A key the user sent (asked for by the buy flow, or with /sshkey): save it; when the buy
    flow asked, bring the order message back to its pay buttons."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    waiting = expected(context, "sshkey")
    try:
        key = check_public_key(text)
    except InvalidSpecError as exc:
        reply = texts.ssh_key_retry(str(exc)) if waiting else texts.ssh_key_invalid(str(exc))
        await message.reply_text(reply)
        return
    shop = context.shop
    await shop.ledger.write(lambda conn, now: users.set_ssh_key(conn, now, user.id, key))
    stop_expecting(context)
    if waiting is None or not await _back_to_order(context, waiting, key):
        await message.reply_text(texts.ssh_key_saved(key))


async def _back_to_order(context: CustomContext, waiting: dict[str, int], key: str) -> bool:
    """Show the order the key was asked for with its pay buttons, in its own message (or anew
    when that message is gone); False when the order is not payable any more."""
    shop = context.shop
    try:
        order = await shop.ledger.get_order(waiting["order"])
    except LedgerError:
        return False
    service = shop.catalogue.get(order.service_id or "")
    if order.state != "open" or shop.order_expired(order) or service is None:
        return False
    balance = await shop.ledger.balance(order.user_id)
    text = texts.ssh_key_saved_for_order(key) + "\n\n" + texts.payment_choices(service, order, balance)
    await edit_or_send(context, waiting["chat"], waiting["message"], text, payment_markup(shop, order, balance))
    return True

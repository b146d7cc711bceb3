"""/sshkey: the SSH public key put on the VMs a user buys, and the check that one is known
before anything is sold (a VM nobody can log into is worth nothing)."""

from __future__ import annotations

from functools import partial

from telegram import CallbackQuery, Update

from grid.deployer import check_public_key
from grid.errors import InvalidSpecError
from ledger import users

from . import texts
from .common import answer
from .deps import CustomContext, Shop


async def user_key(shop: Shop, user_id: int) -> str | None:
    """The key a VM of this user gets: theirs, else the operator's `[grid] ssh_key`, else None."""
    own = await shop.ledger.read(partial(users.ssh_key, user_id=user_id))
    return own or shop.config.grid.ssh_key or None


async def key_or_ask(query: CallbackQuery, shop: Shop) -> bool:
    """True when a key is known for the presser; otherwise tell them how to add one."""
    if await user_key(shop, query.from_user.id) is not None:
        return True
    await answer(query, texts.ANSWER_NEED_SSH_KEY, alert=True)
    return False


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
    try:
        key = check_public_key(text)
    except InvalidSpecError as exc:
        await message.reply_text(texts.ssh_key_invalid(str(exc)))
        return
    await shop.ledger.write(lambda conn, now: users.set_ssh_key(conn, now, user.id, key))
    await message.reply_text(texts.ssh_key_saved(key))

"""Text a user types outside a command: what the chat asked for (a top-up amount, the buy
flow's SSH key, a VM's new name), a public key pasted unasked, or a pointer to /help."""

from __future__ import annotations

from telegram import Update

from . import keyboards, sshkey, texts, topup, vm_names
from .common import expected
from .deps import CustomContext


async def typed_text(update: Update, context: CustomContext) -> None:
    """Plain text: hand it to what the chat waits for; answer anything else."""
    message = update.effective_message
    if message is None or message.text is None or update.effective_user is None:
        return
    waiting = expected(context)
    what = waiting["what"] if waiting is not None else None
    if what == "amount":
        await topup.typed_amount(update, context, message.text)
    elif what == "vmname":
        await vm_names.typed_name(update, context, message.text)
    elif what == "sshkey" or sshkey.looks_like_public_key(message.text):
        await sshkey.typed_key(update, context, message.text)
    else:
        await message.reply_text(texts.NOT_UNDERSTOOD, reply_markup=keyboards.main_menu())

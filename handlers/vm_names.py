"""Renaming a VM: the "Rename" button on a VM's screen asks for a name, the chat takes the next
text as it, checks it, and the VM's screen shows it. The new name is what the owner reads in
every message from then on; the grid keeps the VM's own name."""

from __future__ import annotations

import re
import unicodedata
from functools import partial

from telegram import Update

from ledger import InvalidRequest
from ledger import deployments as jobs

from . import keyboards, texts
from .callbacks import INT, register_action
from .common import answer, edit_or_send, expect, expected, show, stop_expecting
from .deployments import details_screen, pressed_deployment
from .deps import CustomContext

__all__ = ["ACTIONS", "ask_name", "check_name", "typed_name"]

MIN_LENGTH, MAX_LENGTH = 1, 32
# Letters and digits of any script, spaces, and a few marks people put in names.
ALLOWED = re.compile(r"[\w \-.#()'+&/:]+")

register_action("dname", (INT,))  # ask for a new name of <deployment>


def check_name(text: str) -> str:
    """The name as it is kept (spaces collapsed); ValueError with the reason, in the user's words."""
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if len(name) < MIN_LENGTH:
        raise ValueError(texts.NAME_EMPTY)
    if len(name) > MAX_LENGTH:
        raise ValueError(texts.name_too_long(MAX_LENGTH, len(name)))
    if not ALLOWED.fullmatch(name):
        raise ValueError(texts.NAME_CHARACTERS)
    return name


async def ask_name(update: Update, context: CustomContext) -> None:
    """Rename (`v1:dname:<id>`): the VM's screen asks for the new name; the next text is it."""
    got = await pressed_deployment(update, context)
    if got is None:
        return
    query, _, shop, dep = got
    if dep.state in jobs.CLOSED_STATES:
        await answer(query, texts.ANSWER_DEPLOYMENT_CLOSED, alert=True)
        return
    await answer(query)
    if query.message is not None:
        expect(context, "vmname", deployment=dep.id, chat=query.message.chat.id, message=query.message.message_id)
    await show(update, texts.rename_prompt(dep.title, MAX_LENGTH), keyboards.back_to_vm(dep))


async def typed_name(update: Update, context: CustomContext, text: str) -> None:
    """The new name the chat asked for: kept and shown on the VM's screen, or why not."""
    message, user = update.effective_message, update.effective_user
    waiting = expected(context, "vmname")
    assert message is not None and user is not None and waiting is not None
    try:
        name = check_name(text)
    except ValueError as exc:
        await message.reply_text(texts.name_refused(str(exc)))
        return
    shop = context.shop
    try:
        dep = await shop.ledger.write(partial(jobs.rename, deployment_id=waiting["deployment"], user_id=user.id,
                                              label=name))
    except (jobs.DeploymentNotFound, InvalidRequest):
        stop_expecting(context)
        await message.reply_text(texts.ANSWER_UNKNOWN_DEPLOYMENT)
        return
    stop_expecting(context)
    await edit_or_send(context, waiting["chat"], waiting["message"],
                       *details_screen(shop, dep, texts.renamed(name)))


ACTIONS = (("dname", ask_name),)

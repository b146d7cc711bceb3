"""Admin screens: what /admin, /stats, /fleet, /service, /audit, /adminlog and the command list
show, and how they are shown.

A typed command answers with a new message. A button of the admin menu (or the screen's own
"« Admin menu" button) edits the message it is on, so the menu, its screens and the way back
are one message. The Bot API edits a text message into text (editMessageText) and a text or
photo message into a photo (editMessageMedia), but never a photo back into text: a text screen
asked for on the /stats chart replaces the chart with a new message (sent, then the chart
deleted), still one message in the chat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message, Update
from telegram.error import BadRequest, TelegramError

from core.i18n import _

from . import admin_texts
from .callbacks import encode

log = logging.getLogger("gridshop.admin")

MAX_TEXT = 4000  # Telegram's limit is 4096 characters after parsing
MAX_CAPTION = 1024
ALERT_MAX = 200  # answerCallbackQuery's text

Rows = list[list[InlineKeyboardButton]]


@dataclass(frozen=True, slots=True)
class Screen:
    """One admin screen: its text, its own buttons, and a PNG when it is a chart (the text is
    then its caption). `back` adds the "« Admin menu" row."""

    text: str
    rows: tuple[tuple[InlineKeyboardButton, ...], ...] = ()
    photo: bytes | None = None
    back: bool = True

    def markup(self) -> InlineKeyboardMarkup | None:
        rows = [list(row) for row in self.rows]
        if self.back:
            rows.append([InlineKeyboardButton(admin_texts.BTN_BACK, callback_data=encode("admenu", "menu"))])
        return InlineKeyboardMarkup(rows) if rows else None


def screen(text: str, rows: Rows | None = None, *, photo: bytes | None = None, back: bool = True) -> Screen:
    return Screen(text, tuple(tuple(row) for row in rows or ()), photo, back)


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 2] + "\n…"


def menu_screen() -> Screen:
    buttons = [InlineKeyboardButton(_(label), callback_data=encode("admenu", item)) for label, item in admin_texts.MENU]
    return screen(admin_texts.MENU_TEXT, [buttons[i:i + 2] for i in range(0, len(buttons), 2)], back=False)


async def show(update: Update, shown: Screen) -> None:
    """Edit the message whose button was pressed into `shown`, or answer a command with it."""
    query = update.callback_query
    message = query.message if query is not None else None
    if isinstance(message, Message):
        await _edit(message, shown)
        return
    if update.effective_message is not None:
        await _send(update.effective_message, shown)


async def _send(to: Message, shown: Screen) -> Message:
    if shown.photo is not None:
        return await to.get_bot().send_photo(to.chat_id, shown.photo, caption=clip(shown.text, MAX_CAPTION),
                                             reply_markup=shown.markup())
    return await to.get_bot().send_message(to.chat_id, clip(shown.text), reply_markup=shown.markup())


async def _edit(message: Message, shown: Screen) -> None:
    if shown.photo is not None:
        await message.edit_media(InputMediaPhoto(shown.photo, caption=clip(shown.text, MAX_CAPTION)),
                                 reply_markup=shown.markup())
        return
    if message.photo:
        await _send(message, shown)
        try:
            await message.delete()
        except TelegramError as exc:  # e.g. deleted by the admin meanwhile: the new screen stands
            log.info("could not delete the chart message %s: %s", message.message_id, exc)
        return
    try:
        await message.edit_text(clip(shown.text), reply_markup=shown.markup())
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():  # a double tap shows the same screen
            raise

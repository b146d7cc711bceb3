"""What every admin handler shares: who is an admin, the guard that makes an admin command
invisible to everyone else, argument parsing, and requests that wait for a confirm button.

Admin commands run in their own handler group before the shop's (`ADMIN_GROUP`). For an admin
the command is handled there and stops; for anyone else the guard lets the update go on exactly
as if the admin handler did not exist, so a non-admin gets the same answer as for an unknown
command, and the refusal is logged to the operator log. No admin command shares its name with
a user command (an admin is a user of the shop too and keeps every user command), so a user's
/deployments, /services or /cancel never meets this guard.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial, wraps
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import ApplicationHandlerStop

from core.money import MoneyError, parse_tfc
from ledger import MAX_AMOUNT, admin_actions, users
from ledger import admin_state as state

from . import admin_texts, texts
from .admin_screen import ALERT_MAX, clip
from .callbacks import INT, SLUG, encode, register_action
from .common import answer, known_user, pressed, refuse
from .deps import CustomContext, Shop
from .language import speak_to

log = logging.getLogger("gridshop.admin")

ADMIN_GROUP = -2  # before record_user (-1) and the shop's handlers (0)

Handler = Callable[[Update, CustomContext], Coroutine[Any, Any, None]]

register_action("admenu", (SLUG,))      # admin menu item
register_action("adok", (INT, SLUG))    # confirm request <id> with option (go, debt, none, unused, full)
register_action("adno", (INT,))         # cancel request <id>
register_action("aduser", (INT,))       # show a user's card
register_action("adref", (INT,))        # refund payment <id> (asks for confirmation)
register_action("adret", (INT,))        # retry deployment <id> (asks)
register_action("adcan", (INT,))        # cancel deployment <id> (asks, with a refund choice)
register_action("adsvc", (SLUG, SLUG))  # service <id> on|off


class Usage(Exception):
    """Malformed arguments: the message is the usage line to show."""


def is_admin(shop: Shop, user_id: int | None) -> bool:
    return user_id is not None and user_id in shop.config.admin.user_ids


def admin_command(name: str) -> Callable[[Handler], Handler]:
    """Guard an admin command (see the module docstring)."""

    def decorate(fn: Handler) -> Handler:
        @wraps(fn)
        async def guarded(update: Update, context: CustomContext) -> None:
            user = update.effective_user
            if not is_admin(context.shop, user.id if user else None):
                log.warning("refused /%s from non-admin user %s (@%s)", name,
                            user.id if user else None, user.username if user else None)
                return
            assert user is not None
            await speak_to(context.shop, user.id)  # record_user (group -1) comes after this group
            try:
                await fn(update, context)
            except Usage as exc:
                await reply(update, str(exc))
            raise ApplicationHandlerStop

        return guarded

    return decorate


def admin_button(fn: Handler) -> Handler:
    """Guard an admin button: anyone else gets the answer an unknown button gets."""

    @wraps(fn)
    async def guarded(update: Update, context: CustomContext) -> None:
        query = update.callback_query
        if query is None:
            return
        if not is_admin(context.shop, query.from_user.id):
            log.warning("refused admin button %r from non-admin user %s", query.data, query.from_user.id)
            await answer(query, texts.ANSWER_INVALID, alert=True)
            return
        await fn(update, context)

    return guarded


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(clip(text), reply_markup=markup)


async def button_asks(update: Update, asking: Awaitable[None]) -> None:
    """A button that opens a confirm prompt (Refund, Retry, Cancel, Credit under a list): the
    prompt, or why not, on the spot as an alert when it fits in one, else as a message."""
    query = update.callback_query
    assert query is not None
    try:
        await asking
    except Usage as exc:
        why = str(exc)
        if len(why) <= ALERT_MAX:
            await answer(query, why, alert=True)
            return
        await answer(query)
        await reply(update, why)
        return
    await answer(query)


def command_key(update: Update) -> str:
    """The idempotency key of a command message: a re-delivered update has the same one."""
    message = update.effective_message
    assert message is not None
    return f"cmd:{message.chat_id}:{message.message_id}"


def button_key(update: Update, what: str) -> str:
    """The idempotency key of a button on a message: a double tap has the same one."""
    query = update.callback_query
    assert query is not None and query.message is not None
    return f"btn:{query.message.chat.id}:{query.message.message_id}:{what}"


def command_text(update: Update) -> str:
    """The text after the command word, as typed (newlines kept)."""
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


# --- parsing ----------------------------------------------------------------------------------


def parse_amount(text: str, usage: str) -> int:
    """A positive TFC amount such as `5`, `2.50` or `2,5`, in cents; else Usage."""
    try:
        cents = parse_tfc(text)
    except MoneyError:
        raise Usage(admin_texts.not_an_amount(text, usage)) from None
    if not 0 < cents <= MAX_AMOUNT:
        raise Usage(admin_texts.amount_not_positive(usage))
    return cents


def parse_id(text: str, what: str, usage: str) -> int:
    if not INT.fullmatch(text) or not 0 < int(text) < 2**63:
        raise Usage(admin_texts.not_an_id(text, what, usage))
    return int(text)


async def resolve_user(shop: Shop, ref: str, usage: str) -> int:
    """A user named by numeric id or @username, known to the shop; else Usage."""
    named: str | int = ref if ref.startswith("@") else parse_id(ref, "user", usage)
    found = await known_user(shop, ref)
    if found is None:
        raise Usage(admin_texts.unknown_user(named))
    return found


async def user_label(shop: Shop, user_id: int) -> str:
    found = await shop.ledger.read(lambda conn: users.get(conn, user_id))
    if found is None:
        return str(user_id)
    return admin_texts.user_label(user_id, f"@{found.username}" if found.username else found.first_name or "")


# --- requests awaiting confirmation -----------------------------------------------------------


def confirm_markup(request_id: int, options: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    """One button per `(label, option)` and a Cancel button."""
    rows = [[InlineKeyboardButton(label, callback_data=encode("adok", request_id, option))]
            for label, option in options]
    rows.append([InlineKeyboardButton(admin_texts.BTN_CANCEL, callback_data=encode("adno", request_id))])
    return InlineKeyboardMarkup(rows)


async def ask(
    update: Update, shop: Shop, key: str, action: str, params: dict[str, Any], text: str,
    options: list[tuple[str, str]],
) -> state.AdminRequest:
    """Open the request once per `key` and show its confirm buttons, once.

    A re-delivered command (or a double-tapped button that asks) finds the request already open
    and sends nothing again.
    """
    user = update.effective_user
    message = update.effective_message
    assert user is not None and message is not None
    opened = await shop.ledger.write(lambda conn, now: state.open_request(
        conn, now, key, user.id, action, params, message.chat_id))
    request = opened.request
    if not opened.new:
        log.info("admin request %s (%s) asked again by a repeated update; nothing sent", request.id, key)
        return request
    sent = await message.get_bot().send_message(
        message.chat_id, clip(text), reply_markup=confirm_markup(request.id, options))
    await shop.ledger.write(lambda conn, now: state.set_prompt(conn, now, request.id, sent.message_id))
    return request


# What a confirm button's work returns: the text replacing the prompt, and maybe new buttons.
RunResult = str | tuple[str, InlineKeyboardMarkup]
RequestRunner = Callable[[Update, CustomContext, state.AdminRequest, str], Awaitable[RunResult]]
RUNNERS: dict[str, RequestRunner] = {}


def runner(action: str) -> Callable[[RequestRunner], RequestRunner]:
    """Register what the confirm button does for requests of `action`; it returns the text that
    replaces the prompt."""

    def register(fn: RequestRunner) -> RequestRunner:
        RUNNERS[action] = fn
        return fn

    return register


@admin_button
async def confirm(update: Update, context: CustomContext) -> None:
    """A confirm button (`v1:adok:<request>:<option>`): run the request once."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    request_id, option = data.int_arg(0), data.args[1]
    # Taps run concurrently (concurrent_updates); one at a time per request, then re-check.
    async with shop.admin_request_locks.hold(request_id):
        try:
            request = await shop.ledger.read(lambda conn: state.get_request(conn, request_id))
        except state.RequestNotFound as exc:
            await refuse(query, exc)
            return
        if request.state != "pending":
            await answer(query, admin_texts.answer_already(request.state))
            return
        run = RUNNERS.get(request.action)
        if run is None:
            await answer(query, texts.ANSWER_INVALID, alert=True)
            return
        await answer(query, admin_texts.ANSWER_WORKING)
        try:
            result = await run(update, context, request, option)
        except Usage as exc:
            result = str(exc)
        if isinstance(result, tuple):
            await edit_prompt(update, *result)
        else:
            await edit_prompt(update, result)


@admin_button
async def cancel_request(update: Update, context: CustomContext) -> None:
    """Cancel (`v1:adno:<request>`): the request is closed and can no longer run."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    request_id = data.int_arg(0)
    async with shop.admin_request_locks.hold(request_id):
        closed = await shop.ledger.write(
            lambda conn, now: state.finish_request(conn, now, request_id, "cancelled", "cancelled"))
    await answer(query, admin_texts.ANSWER_CANCELLED if closed else admin_texts.ANSWER_NOTHING_TO_CANCEL)
    if closed:
        await edit_prompt(update, admin_texts.PROMPT_CANCELLED)


async def refused(shop: Shop, request: state.AdminRequest, action: str, target: str,
                  reason: str | Exception, text: str) -> str:
    """Close a request whose action the ledger or a provider refused and return `text`, what the
    admin is shown, which the admin log keeps too. A ledger refusal's own message (accounts,
    cents) goes to the shop's log only."""
    if isinstance(reason, Exception):
        log.info("admin request %s (%s %s) refused: %s", request.id, action, target, reason)
        reason = text
    await shop.ledger.write(partial(admin_actions.refuse, request=request, action=action,
                                    target=target, reason=reason, result=text))
    return text


async def edit_prompt(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    query = update.callback_query
    if query is None or query.message is None:
        await reply(update, text, markup)
        return
    try:
        await query.edit_message_text(clip(text), reply_markup=markup)
    except Exception as exc:  # an edit of an old or unchanged prompt must not lose the result
        log.info("could not edit admin prompt: %s", exc)
        await query.get_bot().send_message(query.message.chat.id, clip(text), reply_markup=markup)

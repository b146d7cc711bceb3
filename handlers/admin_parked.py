"""/parked for admins: the payments the shop could not apply (parked), each with buttons to
credit it to the user's balance or refund it, behind a confirm button. `/parked <id> credit`
and `/parked <id> refund` ask the same.

A card or Stripe payment cannot be refunded through the Bot API: its button says "mark refunded"
and is meant for after the refund was made at the provider.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError

from ledger import LedgerError
from ledger import admin_state as state
from payments import parked as parking
from payments.parked import ParkedPayment

from . import admin_texts
from .admin_common import (
    RunResult,
    Usage,
    admin_button,
    admin_command,
    ask,
    button_asks,
    button_key,
    command_key,
    confirm_markup,
    parse_id,
    reply,
    runner,
)
from .callbacks import INT, SLUG, encode, register_action
from .common import answer, parse
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

register_action("adpark", (INT, SLUG))  # resolve parked payment <id> as credit|refund (asks)
HOWS = ("credit", "refund")


async def _get(shop: Shop, parked_id: int) -> ParkedPayment:
    try:
        return await parking.get(shop.ledger, parked_id, stars_per_tfc=shop.config.telegram.stars_per_tfc)
    except LookupError:
        raise Usage(admin_texts.parked_unknown(parked_id)) from None


def _buttons(items: list[ParkedPayment]) -> InlineKeyboardMarkup | None:
    rows = []
    for p in items:
        row = []
        if p.credit is not None:
            row.append(InlineKeyboardButton(admin_texts.parked_credit_button(p.event.id),
                                            callback_data=encode("adpark", p.event.id, "credit")))
        row.append(InlineKeyboardButton(admin_texts.parked_refund_button(p.event.id, p.stars_refundable),
                                        callback_data=encode("adpark", p.event.id, "refund")))
        rows.append(row)
    return InlineKeyboardMarkup(rows) if rows else None


async def _ask(update: Update, shop: Shop, key: str, parked_id: int, how: str) -> None:
    parked = await _get(shop, parked_id)
    if parked.event.state != "open":
        raise Usage(admin_texts.parked_already(parked_id, parked.event.resolution))
    if how == "credit" and parked.credit is None:
        raise Usage(admin_texts.parked_not_creditable(parked_id))
    text, label = admin_texts.parked_confirm(parked, how)
    await ask(update, shop, key, "parked", {"parked_id": parked_id, "how": how}, text, [(label, "go")])


@admin_command("parked")
async def parked_command(update: Update, context: CustomContext) -> None:
    """/parked: the open parked payments; /parked <id> credit|refund: resolve one."""
    args = context.args or []
    shop = context.shop
    if len(args) == 2 and args[1] in HOWS:
        await _ask(update, shop, command_key(update), parse_id(args[0], "parked payment", admin_texts.USAGE_PARKED),
                   args[1])
        return
    if args:
        raise Usage(admin_texts.USAGE_PARKED)
    items = await parking.list_open(shop.ledger, stars_per_tfc=shop.config.telegram.stars_per_tfc, limit=20)
    await reply(update, admin_texts.parked_list(items), _buttons(items))


@admin_button
async def parked_button(update: Update, context: CustomContext) -> None:
    """Credit #n / Refund #n under /parked (`v1:adpark:<id>:<how>`): asks, like the command."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    how = data.args[1]
    if how not in HOWS:
        await answer(query, admin_texts.UNKNOWN_CHOICE, alert=True)
        return
    await button_asks(update, _ask(update, context.shop, button_key(update, f"park:{data.args[0]}:{how}"),
                                   data.int_arg(0), how))


@runner("parked")
async def run_parked(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> RunResult:
    shop = context.shop
    parked_id, how = int(request.params["parked_id"]), str(request.params["how"])
    parked = await _get(shop, parked_id)
    try:
        if how == "credit":
            result = await parking.credit(shop.ledger, parked, request.admin_id)
            text = admin_texts.parked_credited(parked, result.payment.amount)
        else:
            text = admin_texts.parked_refunded(parked, await parking.refund(
                context.bot, shop.ledger, parked, request.admin_id))
    except parking.RefundRefused as exc:
        text = admin_texts.parked_refused(parked_id, str(exc))
    except TelegramError as exc:  # the outcome is not known: nothing is marked, try again
        return _again(request, parked, admin_texts.parked_unknown_outcome(parked_id, str(exc)))
    except LedgerError as exc:
        log.info("parked payment %s: the ledger refused %s: %s", parked_id, how, exc)
        if how != "credit":  # the provider may have refunded already: marking it again is safe
            return _again(request, parked, admin_texts.parked_not_marked(parked_id, admin_texts.ledger_refusal(exc)))
        text = admin_texts.parked_refused(parked_id, admin_texts.ledger_refusal(exc))
    await shop.ledger.write(lambda conn, now: state.finish_request(conn, now, request.id, "done", text))
    return text


def _again(request: state.AdminRequest, parked: ParkedPayment, text: str) -> RunResult:
    """A refund to try again: the request stays open and its button stays under the text."""
    label = admin_texts.parked_confirm(parked, str(request.params["how"]))[1]
    return text, confirm_markup(request.id, [(label, "go")])

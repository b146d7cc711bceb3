"""Admin commands about a user's money: /user (the card), /credit and /debit (adjustments after a
confirm button) and /refund (Stars or Stripe, in full or in part, asking before creating debt).

Every change commits with its admin log entry and the message to the user in one transaction,
keyed by the command message, so a re-delivered update or a second tap changes nothing twice.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import stripe
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from ledger import (
    InsufficientFunds,
    LedgerError,
    Payment,
    admin_actions,
    queries,
    stars_refunds,
    user_transfers,
    users,
)
from ledger import admin_state as state
from ledger import deployments as jobs
from ledger import stats as shop_stats
from payments import stripe_refunds

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
    parse_amount,
    refused,
    reply,
    resolve_user,
    runner,
    user_label,
)
from .callbacks import encode
from .common import answer, parse
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

REFUNDABLE = ("stars", "stripe")


# --- /user ------------------------------------------------------------------------------------


async def user_card(shop: Shop, user_id: int) -> tuple[str, InlineKeyboardMarkup]:
    def read(conn: sqlite3.Connection) -> tuple[Any, ...]:
        account = queries.account_of_user(conn, user_id)
        flag = conn.execute("SELECT flagged FROM accounts WHERE id = ?", (account,)).fetchone() if account else None
        return (users.get(conn, user_id), queries.user_balance(conn, user_id),
                queries.payments_of_user(conn, user_id, 8), queries.orders_of_user(conn, user_id, 8),
                jobs.list_by_user(conn, user_id, 8, include_closed=True), flag[0] if flag else None,
                shop_stats.grid_figures(conn, 0, shop.ledger.now() + 1, user_id),
                user_transfers.recent_transfers(conn, user_id, 8))

    profile, balance, payments, orders, deps, flag, (cost, sold), sent = await shop.ledger.read(read)
    buttons: list[InlineKeyboardButton] = []
    for p in payments:
        if p.provider in REFUNDABLE and p.refunded < p.amount:
            buttons.append(InlineKeyboardButton(admin_texts.btn_refund_payment(p.id), callback_data=encode("adref", p.id)))
    for d in deps:
        if d.state == "failed":
            buttons.append(InlineKeyboardButton(admin_texts.btn_retry_deployment(d.id), callback_data=encode("adret", d.id)))
        elif d.state in ("queued", "ready"):
            buttons.append(InlineKeyboardButton(admin_texts.btn_cancel_deployment(d.id), callback_data=encode("adcan", d.id)))
    buttons.append(InlineKeyboardButton(admin_texts.BTN_REFRESH, callback_data=encode("aduser", user_id)))
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    grid = (cost, sold, shop.config.grid.tft_price)
    return (admin_texts.user_card(user_id, profile, flag, balance, payments, orders, deps, grid, sent),
            InlineKeyboardMarkup(rows))


@admin_command("user")
async def user_command(update: Update, context: CustomContext) -> None:
    """/user <id|@username>: balance, held, debt, payments, orders, deployments and actions."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(admin_texts.USAGE_USER)
    shop = context.shop
    user_id = await resolve_user(shop, args[0], admin_texts.USAGE_USER)
    text, markup = await user_card(shop, user_id)
    await reply(update, text, markup)


@admin_button
async def user_button(update: Update, context: CustomContext) -> None:
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    text, markup = await user_card(context.shop, data.int_arg(0))
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


# --- /credit and /debit -----------------------------------------------------------------------


async def _adjust_command(update: Update, context: CustomContext, sign: int) -> None:
    usage = admin_texts.USAGE_CREDIT if sign > 0 else admin_texts.USAGE_DEBIT
    args = context.args or []
    if len(args) < 3:
        raise Usage(admin_texts.reason_missing(usage) if len(args) == 2 else usage)
    shop = context.shop
    user_id = await resolve_user(shop, args[0], usage)
    amount = parse_amount(args[1], usage)
    reason = " ".join(args[2:]).strip()
    if len(reason) > 200:
        raise Usage(admin_texts.reason_too_long(usage))
    label = await user_label(shop, user_id)
    balance = await shop.ledger.balance(user_id)
    if sign < 0 and amount > balance.available:  # the ledger would refuse it: no button to press
        raise Usage(admin_texts.debit_refused(amount, user_id, label, balance))
    text = admin_texts.ask_adjust(sign > 0, amount, label, reason, balance)
    await ask(update, shop, command_key(update), "adjust",
              {"user_id": user_id, "amount": sign * amount, "reason": reason}, text,
              [(admin_texts.btn_adjust(sign > 0, amount), "go")])


@admin_command("credit")
async def credit_command(update: Update, context: CustomContext) -> None:
    """/credit <user> <amount> <reason>: give credits, after a confirm button."""
    await _adjust_command(update, context, +1)


@admin_command("debit")
async def debit_command(update: Update, context: CustomContext) -> None:
    """/debit <user> <amount> <reason>: take credits (never below zero), after a confirm button."""
    await _adjust_command(update, context, -1)


@runner("adjust")
async def run_adjust(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> str:
    shop = context.shop
    p = request.params
    user_id, amount, reason = int(p["user_id"]), int(p["amount"]), str(p["reason"])
    try:
        done = await shop.ledger.write(partial(
            admin_actions.adjust_balance, request=request, user_id=user_id, amount=amount,
            reason=reason))
    except InsufficientFunds as exc:  # the balance fell short since the prompt
        text = admin_texts.debit_refused(-amount, user_id, await user_label(shop, user_id),
                                         await shop.ledger.balance(user_id))
        return await refused(shop, request, "adjust.refused", f"user {user_id}", exc, text)
    except LedgerError as exc:
        return await refused(shop, request, "adjust.refused", f"user {user_id}", exc,
                             admin_texts.refused(admin_texts.ledger_refusal(exc)))
    if done is None or not done.new:
        return admin_texts.ALREADY_DONE
    return admin_texts.adjusted(amount > 0, abs(amount), user_id, done.transfer.id,
                                done.balance.available)


# --- /refund ----------------------------------------------------------------------------------


async def _ask_refund(update: Update, shop: Shop, key: str, payment: Payment, amount: int | None) -> None:
    remaining = payment.amount - payment.refunded
    if payment.provider not in REFUNDABLE:
        raise Usage(admin_texts.not_refundable_here(payment.id, payment.provider))
    if remaining <= 0:
        raise Usage(admin_texts.refunded_in_full(payment.id))
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise Usage(admin_texts.refund_over_remaining(payment.id, remaining))
    if payment.provider == "stars" and amount != payment.amount:
        raise Usage(admin_texts.stars_refund_in_full(payment.provider_amount, payment.amount))
    balance = await shop.ledger.balance(payment.user_id)
    debt = max(0, amount - balance.available)
    text = admin_texts.ask_refund(payment, await user_label(shop, payment.user_id), amount, balance.available, debt)
    options = ([(admin_texts.btn_refund_with_debt(debt), "debt")] if debt
               else [(admin_texts.btn_refund(amount), "go")])
    await ask(update, shop, key, "refund", {"payment_id": payment.id, "amount": amount}, text, options)


@admin_command("refund")
async def refund_command(update: Update, context: CustomContext) -> None:
    """/refund <payment> [amount]: refund Stars (in full) or Stripe (in full or in part)."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        raise Usage(admin_texts.USAGE_REFUND)
    shop = context.shop
    amount = parse_amount(args[1], admin_texts.USAGE_REFUND) if len(args) == 2 else None
    payment = await shop.ledger.find_payment(args[0])
    if payment is None:
        raise Usage(admin_texts.no_payment(args[0], admin_texts.USAGE_REFUND))
    await _ask_refund(update, shop, command_key(update), payment, amount)


@admin_button
async def refund_button(update: Update, context: CustomContext) -> None:
    """↩ Refund #<payment> on a user card: asks, like /refund <payment>."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    shop = context.shop
    payment_id = data.int_arg(0)
    payment = await shop.ledger.find_payment(str(payment_id))
    if payment is None:
        await answer(query, admin_texts.ANSWER_NO_PAYMENT, alert=True)
        return
    await button_asks(update, _ask_refund(update, shop, button_key(update, f"ref:{payment_id}"), payment, None))


def _stripe_client(shop: Shop) -> stripe.StripeClient:
    if shop.stripe_client is None:
        raise Usage(admin_texts.STRIPE_NOT_CONFIGURED)
    return shop.stripe_client


@runner("refund")
async def run_refund(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> RunResult:
    shop = context.shop
    payment_id, amount = int(request.params["payment_id"]), int(request.params["amount"])
    payment = await shop.ledger.find_payment(str(payment_id))
    assert payment is not None
    balance = await shop.ledger.balance(payment.user_id)
    debt = max(0, amount - balance.available)
    if debt and option != "debt":
        # The balance changed since the prompt: ask again, this time naming the debt.
        return (admin_texts.ask_refund_again(amount, debt),
                confirm_markup(request.id, [(admin_texts.btn_refund_with_debt(debt), "debt")]))
    # The provider first: a refused refund must not debit the user. Both provider calls are
    # idempotent (Telegram answers CHARGE_ALREADY_REFUNDED; Stripe's key is per payment and
    # amount, and an earlier refund is looked up first), so a retry after a crash, or after an
    # answer that never came, converges and never refunds twice.
    if payment.provider == "stars":
        try:
            await context.bot.refund_star_payment(user_id=payment.user_id,
                                                  telegram_payment_charge_id=payment.external_id)
        except BadRequest as exc:
            if "charge_already_refunded" not in exc.message.lower():
                return await _refund_failed(shop, request, admin_texts.telegram_refused(exc.message))
        except TelegramError as exc:
            return admin_texts.telegram_unreachable(str(exc))
        refund: stripe_refunds.StripeRefund | None = None
    else:
        taken = await shop.ledger.read(partial(stripe_refunds.taken_back, payment=payment))
        try:
            refund = await stripe_refunds.create_refund(_stripe_client(shop), payment, amount, taken)
        except stripe_refunds.StripeRefundPending as exc:
            return await refused(shop, request, "refund.pending", f"payment {payment.id}", str(exc),
                                 admin_texts.refund_pending(payment.id, str(exc)))
        except stripe_refunds.StripeRefundError as exc:
            return await _refund_failed(shop, request, str(exc))

    if refund is None:
        # Telegram's refunded_payment update may have taken it back first: the same clawback,
        # the same one message to the user (keyed on the charge), and the admin sees the amount
        # really taken back.
        take_back: Callable[[sqlite3.Connection, int], int] = partial(
            stars_refunds.taken_back, charge_id=payment.external_id)
        user_key: str | Callable[[sqlite3.Connection], str] = stars_refunds.refund_key(payment.external_id)
        where = admin_texts.refunded_by_telegram(payment.provider_amount)
    else:
        # The charge.refunded webhook may be first: the same clawback key, the same message key.
        take_back = partial(stripe_refunds.refund_taken_back, payment=payment, refund=refund)
        user_key = partial(stripe_refunds.message_key, payment=payment, refund=refund)
        where = (admin_texts.refund_found_at_stripe(refund.amount, refund.refund_id) if refund.found
                 else admin_texts.refunded_by_stripe(refund.amount, refund.refund_id))
    try:
        done = await shop.ledger.write(partial(
            admin_actions.record_refund, request=request, payment=payment, take_back=take_back,
            where=where, user_key=user_key))
    except LedgerError as exc:
        # The provider refunded; the request stays open and its button records it (the provider
        # is asked first again and refunds nothing twice), as the provider's own event would.
        log.warning("payment %s: refunded at the provider, not recorded yet: %s", payment.id, exc)
        return (admin_texts.refund_not_recorded(payment.id, where, admin_texts.ledger_refusal(exc)),
                confirm_markup(request.id, [(admin_texts.BTN_RECORD_REFUND, option)]))
    return admin_texts.refund_done(payment.id, where, done.taken, done.balance.posted)


async def _refund_failed(shop: Shop, request: state.AdminRequest, why: str) -> str:
    return await refused(shop, request, "refund.failed", f"payment {request.params['payment_id']}",
                         why, admin_texts.refund_failed(why))

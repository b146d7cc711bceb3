"""Admin commands about a user's money: /user (the card), /credit and /debit (adjustments after a
confirm button) and /refund (Stars or Stripe, in full or in part, asking before creating debt).

Every change commits with its admin log entry and the message to the user in one transaction,
keyed by the command message, so a re-delivered update or a second tap changes nothing twice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import stripe
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from core import notices
from core.money import format_stars, format_tfc
from ledger import ADJUSTMENTS, LedgerError, Payment, adminlog, ops, outbox, queries, users
from ledger import admin_state as state
from ledger import deployments as jobs
from ledger.ops import _PAYMENT_COLUMNS
from payments import stripe_refunds
from payments.telegram_refunds import REFUND_MEMO, refund_key

from .admin_common import (
    RunResult,
    Usage,
    admin_button,
    admin_command,
    ask,
    button_key,
    command_key,
    confirm_markup,
    parse_amount,
    reply,
    resolve_user,
    runner,
    user_label,
)
from .callbacks import encode
from .common import answer, parse
from .deps import CustomContext, Shop

USAGE_USER = "Usage: /user <id|@username>"
USAGE_CREDIT = "Usage: /credit <user> <amount> <reason>   e.g. /credit @alice 5 goodwill for the outage"
USAGE_DEBIT = "Usage: /debit <user> <amount> <reason>   e.g. /debit 12345 2.50 duplicate top-up"
USAGE_REFUND = ("Usage: /refund <payment> [amount]   (payment: the id shown by /user, or the provider's "
                "charge or session id; amount in TFC, default: all not yet refunded)")
REFUNDABLE = ("stars", "stripe")


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


# --- /user ------------------------------------------------------------------------------------


async def user_card(shop: Shop, user_id: int) -> tuple[str, InlineKeyboardMarkup]:
    def read(conn: sqlite3.Connection) -> tuple[Any, ...]:
        account = queries.account_of_user(conn, user_id)
        flag = conn.execute("SELECT flagged FROM accounts WHERE id = ?", (account,)).fetchone() if account else None
        return (users.get(conn, user_id), queries.user_balance(conn, user_id),
                queries.payments_of_user(conn, user_id, 8), queries.orders_of_user(conn, user_id, 8),
                jobs.list_by_user(conn, user_id, 8, include_closed=True), flag[0] if flag else None)

    profile, balance, payments, orders, deps, flag = await shop.ledger.read(read)
    name = ""
    if profile is not None:
        name = " ".join(x for x in (profile.first_name, f"@{profile.username}" if profile.username else "") if x)
    lines = [f"👤 User {user_id} {name}".rstrip()]
    if profile is not None and profile.blocked_at:
        lines.append(f"⛔ blocked the bot on {_when(profile.blocked_at)}")
    if flag:
        lines.append(f"⚠️ flagged: {flag}")
    lines.append(f"Available {format_tfc(balance.available)} · held {format_tfc(balance.held)} · debt {format_tfc(balance.debt)}")
    lines.append("")
    lines.append("Payments:" if payments else "Payments: none")
    for p in payments:
        refunded = f", refunded {format_tfc(p.refunded)}" if p.refunded else ""
        lines.append(f"  #{p.id} {p.provider} {format_tfc(p.amount)}{refunded} · {_when(p.created_at)} · {p.external_id}")
    lines.append("Orders:" if orders else "Orders: none")
    for o in orders:
        what = o.service_id or "top-up"
        lines.append(f"  #{o.id} {what} {format_tfc(o.amount)} {o.state} · {_when(o.created_at)}")
    lines.append("Deployments:" if deps else "Deployments: none")
    for d in deps:
        error = f" ({d.error})" if d.error and d.state in ("failed", "cancelling", "cancelled") else ""
        lines.append(f"  #{d.id} {d.service_id} {d.state}{error}")
    lines.append("")
    lines.append(f"/credit {user_id} <amount> <reason> · /debit {user_id} <amount> <reason>")
    buttons: list[InlineKeyboardButton] = []
    for p in payments:
        if p.provider in REFUNDABLE and p.refunded < p.amount:
            buttons.append(InlineKeyboardButton(f"↩ Refund #{p.id}", callback_data=encode("adref", p.id)))
    for d in deps:
        if d.state == "failed":
            buttons.append(InlineKeyboardButton(f"🔁 Retry #{d.id}", callback_data=encode("adret", d.id)))
        elif d.state in ("queued", "ready"):
            buttons.append(InlineKeyboardButton(f"✖ Cancel #{d.id}", callback_data=encode("adcan", d.id)))
    buttons.append(InlineKeyboardButton("🔄 Refresh", callback_data=encode("aduser", user_id)))
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@admin_command("user")
async def user_command(update: Update, context: CustomContext) -> None:
    """/user <id|@username>: balance, held, debt, payments, orders, deployments and actions."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(USAGE_USER)
    shop = context.shop
    user_id = await resolve_user(shop, args[0], USAGE_USER)
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
    usage = USAGE_CREDIT if sign > 0 else USAGE_DEBIT
    args = context.args or []
    if len(args) < 3:
        raise Usage(f"{'A reason is required. ' if len(args) == 2 else ''}{usage}")
    shop = context.shop
    user_id = await resolve_user(shop, args[0], usage)
    amount = parse_amount(args[1], usage)
    reason = " ".join(args[2:]).strip()
    if len(reason) > 200:
        raise Usage(f"The reason is too long (200 characters at most).\n{usage}")
    label = await user_label(shop, user_id)
    balance = await shop.ledger.balance(user_id)
    verb = "Credit" if sign > 0 else "Debit"
    text = (f"{verb} {format_tfc(amount)} {'to' if sign > 0 else 'from'} user {label}?\nReason: {reason}\n"
            f"Now: available {format_tfc(balance.available)}, debt {format_tfc(balance.debt)}.")
    await ask(update, shop, command_key(update), "adjust",
              {"user_id": user_id, "amount": sign * amount, "reason": reason}, text,
              [(f"✅ {verb} {format_tfc(amount)}", "go")])


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

    def write(conn: sqlite3.Connection, now: int) -> str:
        if not state.finish_request(conn, now, request.id, "done"):
            return "Already done."
        account = ops.ensure_user(conn, now, user_id)
        debit, credit = (ADJUSTMENTS, account) if amount > 0 else (account, ADJUSTMENTS)
        transfer = ops.transfer(conn, now, f"admin:{request.key}", debit, credit, abs(amount), "adjustment",
                                f"admin {request.admin_id}: {reason}")
        action = "credit" if amount > 0 else "debit"
        adminlog.record(conn, now, request.admin_id, action, f"user {user_id}",
                        f"{format_tfc(abs(amount))}: {reason} (transfer {transfer.id})", key=request.key)
        after = ops.account_balance(conn, account)
        told = notices.credited_by_shop if amount > 0 else notices.debited_by_shop
        outbox.enqueue(conn, now, user_id, told(abs(amount), reason, after.available), key=f"admin:{request.key}")
        result = (f"✅ {'Credited' if amount > 0 else 'Debited'} {format_tfc(abs(amount))} "
                  f"{'to' if amount > 0 else 'from'} user {user_id} (transfer #{transfer.id}). "
                  f"Available now {format_tfc(after.available)}.")
        state.set_result(conn, now, request.id, result)
        return result

    try:
        return await shop.ledger.write(write)
    except LedgerError as exc:
        reason = str(exc)
        text = f"❌ Refused: {reason}"
        await shop.ledger.write(lambda conn, now: (
            state.finish_request(conn, now, request.id, "failed", text),
            adminlog.record(conn, now, request.admin_id, "adjust.refused", f"user {user_id}", reason,
                            key=request.key)))
        return text


# --- /refund ----------------------------------------------------------------------------------


def find_payment(conn: sqlite3.Connection, ref: str) -> Payment | None:
    if ref.isdigit() and 0 < int(ref) < 2**63:
        row = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE id = ?", (int(ref),)).fetchone()
        if row is not None:
            return Payment(*row)
    row = conn.execute(f"SELECT {_PAYMENT_COLUMNS} FROM payments WHERE external_id = ? ORDER BY id LIMIT 1",
                       (ref,)).fetchone()
    return Payment(*row) if row is not None else None


async def _ask_refund(update: Update, shop: Shop, key: str, payment: Payment, amount: int | None) -> None:
    remaining = payment.amount - payment.refunded
    if payment.provider not in REFUNDABLE:
        raise Usage(f"Payment #{payment.id} is a {payment.provider} payment: refund it at the payment "
                    "provider; only Stars and Stripe payments are refunded from here.")
    if remaining <= 0:
        raise Usage(f"Payment #{payment.id} is already refunded in full.")
    if amount is None:
        amount = remaining
    if amount > remaining:
        raise Usage(f"Payment #{payment.id} has only {format_tfc(remaining)} left to refund.")
    if payment.provider == "stars" and amount != payment.amount:
        raise Usage(f"Telegram refunds a Stars payment only in full ({format_stars(payment.provider_amount)} = "
                    f"{format_tfc(payment.amount)}); give no amount to refund it all.")
    balance = await shop.ledger.balance(payment.user_id)
    debt = max(0, amount - balance.available)
    what = (format_stars(payment.provider_amount) if payment.provider == "stars"
            else f"{format_tfc(amount)} of {format_tfc(payment.amount)} by Stripe")
    text = (f"Refund payment #{payment.id} ({payment.provider} {payment.external_id}) to user "
            f"{await user_label(shop, payment.user_id)}: {what}, and take {format_tfc(amount)} of credits back?\n"
            f"The user has {format_tfc(balance.available)} available.")
    options = [(f"↩ Refund {format_tfc(amount)}", "go")]
    if debt:
        text += (f"\n⚠️ The credits were already spent: this leaves the user a debt of {format_tfc(debt)}, "
                 "which blocks their purchases until repaid.")
        options = [(f"↩ Refund and create a debt of {format_tfc(debt)}", "debt")]
    await ask(update, shop, key, "refund", {"payment_id": payment.id, "amount": amount}, text, options)


@admin_command("refund")
async def refund_command(update: Update, context: CustomContext) -> None:
    """/refund <payment> [amount]: refund Stars (in full) or Stripe (in full or in part)."""
    args = context.args or []
    if not 1 <= len(args) <= 2:
        raise Usage(USAGE_REFUND)
    shop = context.shop
    amount = parse_amount(args[1], USAGE_REFUND) if len(args) == 2 else None
    ref = args[0].lstrip("#")
    payment = await shop.ledger.read(lambda conn: find_payment(conn, ref))
    if payment is None:
        raise Usage(f"No payment {args[0]} is recorded.\n{USAGE_REFUND}")
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
    payment = await shop.ledger.read(lambda conn: find_payment(conn, str(payment_id)))
    if payment is None:
        await answer(query, "No such payment.", alert=True)
        return
    await answer(query)
    try:
        await _ask_refund(update, shop, button_key(update, f"ref:{payment_id}"), payment, None)
    except Usage as exc:
        await reply(update, str(exc))


def _stripe_client(shop: Shop) -> stripe.StripeClient:
    if shop.stripe_client is None:
        raise Usage("Stripe is not configured (STRIPE_SECRET_KEY is not set).")
    return shop.stripe_client


@runner("refund")
async def run_refund(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> RunResult:
    shop = context.shop
    payment_id, amount = int(request.params["payment_id"]), int(request.params["amount"])
    payment = await shop.ledger.read(lambda conn: find_payment(conn, str(payment_id)))
    assert payment is not None
    balance = await shop.ledger.balance(payment.user_id)
    debt = max(0, amount - balance.available)
    if debt and option != "debt":
        # The balance changed since the prompt: ask again, this time naming the debt.
        return (f"⚠️ The user's credits were spent meanwhile: refunding {format_tfc(amount)} now leaves a "
                f"debt of {format_tfc(debt)}. Refund anyway?",
                confirm_markup(request.id, [(f"↩ Refund and create a debt of {format_tfc(debt)}", "debt")]))
    # The provider first: a refused refund must not debit the user. Both provider calls are
    # idempotent (Telegram answers CHARGE_ALREADY_REFUNDED, Stripe replays the key), so a retry
    # after a crash between the call and the write converges.
    if payment.provider == "stars":
        try:
            await context.bot.refund_star_payment(user_id=payment.user_id,
                                                  telegram_payment_charge_id=payment.external_id)
        except BadRequest as exc:
            if "charge_already_refunded" not in exc.message.lower():
                return await _refund_failed(shop, request, f"Telegram refused: {exc.message}")
        except TelegramError as exc:
            return f"❌ Telegram could not be reached ({exc}); nothing changed. Try again."
        refund: stripe_refunds.StripeRefund | None = None
    else:
        try:
            refund = await stripe_refunds.create_refund(_stripe_client(shop), payment, amount,
                                                        f"gridshop-admin-refund-{request.id}")
        except stripe_refunds.StripeRefundError as exc:
            return await _refund_failed(shop, request, str(exc))

    def write(conn: sqlite3.Connection, now: int) -> str:
        if refund is None:
            fresh = ops.get_payment(conn, "stars", payment.external_id)
            assert fresh is not None
            taken = 0
            if ops._transfer_by_key(conn, refund_key(payment.external_id)) is None:
                ops.clawback(conn, now, "stars", payment.external_id, refund_key(payment.external_id),
                             payment.amount, REFUND_MEMO)
                taken = payment.amount
            refunded = format_stars(payment.provider_amount)
            where = f"{refunded} refunded by Telegram"
        else:
            taken = stripe_refunds.clawback_refunded(conn, now, payment, refund)
            refunded = format_tfc(refund.amount)
            where = f"{refunded} refunded by Stripe ({refund.refund_id})"
        state.finish_request(conn, now, request.id, "done")
        adminlog.record(conn, now, request.admin_id, "refund", f"payment {payment.id}",
                        f"{payment.provider} {payment.external_id}: {where}; credits taken back {format_tfc(taken)}",
                        key=request.key)
        after = ops.account_balance(conn, ops.ensure_user(conn, now, payment.user_id))
        text = notices.refunded_by_shop(refunded, taken)
        if after.posted < 0:
            text += " " + notices.now_in_debt(after.posted)
        outbox.enqueue(conn, now, payment.user_id, text, key=f"admin:{request.key}")
        result = (f"✅ Payment #{payment.id}: {where}; {format_tfc(taken)} of credits taken back. User balance "
                  f"{format_tfc(after.posted)}{' (debt)' if after.posted < 0 else ''}.")
        state.set_result(conn, now, request.id, result)
        return result

    return await shop.ledger.write(write)


async def _refund_failed(shop: Shop, request: state.AdminRequest, why: str) -> str:
    text = f"❌ Refund refused; nothing was taken back. {why}"
    await shop.ledger.write(lambda conn, now: (
        state.finish_request(conn, now, request.id, "failed", text),
        adminlog.record(conn, now, request.admin_id, "refund.failed",
                        f"payment {request.params['payment_id']}", why, key=request.key)))
    return text

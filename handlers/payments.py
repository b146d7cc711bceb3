"""Paying inside Telegram: invoices (Stars, card), the pre-checkout check, successful_payment
(credit once, buy-now purchase, receipt), refunded_payment, and the Stripe link button.

The pre_checkout_query handler is registered at top level (a pre-checkout query has no chat, so
a per-chat conversation would never see it) and answers after one ledger read, well within
Telegram's 10 s.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from core.i18n import _
from ledger import OrderNotFound, StoreError, outbox
from ledger.stars_refunds import clawback_and_tell
from payments.notifier import Notifier
from payments.payload import PayloadError, verify_payload
from payments.stripe_checkout import OrderNotPayable
from payments.telegram_invoices import (
    STARS_CURRENCY,
    InvoiceError,
    card_invoice,
    expected_total,
    send_invoice,
    stars_invoice,
)
from payments.telegram_payment import (
    Applied,
    PaidMessage,
    apply_successful_payment,
    park_unconfirmed_refund,
    tell_admins_of_parked,
)
from payments.telegram_reconcile import reconcile_star_transactions, refund_listed

from . import keyboards, texts
from .buy import ask_confirm, ready_to_sell
from .common import PAID_STATES, answer, pressed_order, remember_order_message, show
from .deps import CustomContext, Shop

log = logging.getLogger(__name__)

async def pay(update: Update, context: CustomContext) -> None:
    """A payment choice (`v1:pay:<order>:<bal|stars|card|stripe>`)."""
    got = await pressed_order(update, context)
    if got is None:
        return
    query, data, shop, order = got
    method = data.args[1]
    if order.kind == "purchase":
        service = shop.catalogue.get(order.service_id or "")
        if service is None:
            await answer(query, texts.ANSWER_SERVICE_GONE, alert=True)
            return
        if not await ready_to_sell(update, context, order, service):
            return
    else:
        service = None
    if method == "bal":
        await ask_confirm(update, context, order)
        return
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    if query.message is not None:  # the message the payment's receipt and the VM's status go into
        await remember_order_message(shop, order, chat_id, query.message.message_id,
                                     service.name if service is not None else None)
    title, description = texts.invoice_title(service, order), texts.invoice_description(service, order)
    try:
        if method == "stars":
            spec = stars_invoice(order, title, description, stars_per_tfc=shop.config.telegram.stars_per_tfc,
                                 secret=shop.payload_secret)
        elif method == "card" and shop.card_token is not None:
            spec = card_invoice(order, title, description, currency=shop.config.telegram.card_currency,
                                provider_token=shop.card_token, secret=shop.payload_secret)
        elif method == "stripe" and shop.stripe_enabled and shop.stripe_checkout is not None:
            url = await shop.stripe_checkout(order, query.from_user.id)
            await answer(query)
            # In the order message itself, which the payment's webhook edits once it is paid.
            await show(update, texts.stripe_link(order), keyboards.stripe_checkout(order, url))
            return
        else:
            await answer(query, texts.ANSWER_METHOD_OFF, alert=True)
            return
    except InvoiceError:
        await answer(query, texts.ANSWER_METHOD_OFF, alert=True)
        return
    except OrderNotPayable as exc:
        # E.g. paid on Stripe, webhook still on its way: say so, never "pay another way".
        await answer(query, _(exc.user_message), alert=True)
        return
    except Exception:
        log.exception("could not start %s payment for order %s", method, order.id)
        await answer(query, texts.STRIPE_UNAVAILABLE if method == "stripe" else texts.ANSWER_TRY_LATER,
                     alert=True)
        return
    await answer(query)
    await send_invoice(context.bot, chat_id, spec)


def _refusal(order_user: int, payer: int, state: str, expired: bool) -> str | None:
    if order_user != payer:
        return texts.REFUSE_NOT_YOURS
    if state in PAID_STATES:
        return texts.REFUSE_PAID
    if expired:
        return texts.REFUSE_EXPIRED
    if state != "open":
        return texts.REFUSE_CLOSED
    return None


async def pre_checkout(update: Update, context: CustomContext) -> None:
    """Check signature, owner, order state, currency and amount; answer with a reason if not."""
    query = update.pre_checkout_query
    if query is None:
        return
    shop = context.shop
    try:
        reason = await _check_pre_checkout(shop, query.invoice_payload, query.from_user.id,
                                           query.currency, query.total_amount)
    except Exception:
        log.exception("pre-checkout check failed")
        reason = texts.REFUSE_ERROR
    if reason is None:
        await query.answer(ok=True)
    else:
        log.info("pre-checkout refused for user %s: %s", query.from_user.id, reason)
        await query.answer(ok=False, error_message=reason)


async def _check_pre_checkout(shop: Shop, payload: str, payer: int, currency: str, total: int) -> str | None:
    try:
        order_id = verify_payload(payload, shop.payload_secret)
    except PayloadError:
        return texts.REFUSE_INVALID
    try:
        order = await shop.ledger.get_order(order_id)
    except OrderNotFound:
        return texts.REFUSE_UNKNOWN
    refusal = _refusal(order.user_id, payer, order.state, shop.order_expired(order))
    if refusal is not None:
        return refusal
    if currency != STARS_CURRENCY and shop.card_token is None:
        return texts.REFUSE_CURRENCY
    expected = expected_total(order.amount, currency, stars_per_tfc=shop.config.telegram.stars_per_tfc,
                              card_currency=shop.config.telegram.card_currency)
    if expected is None:
        return texts.REFUSE_CURRENCY
    if total != expected:
        return texts.REFUSE_AMOUNT
    if order.kind == "purchase":
        service = shop.catalogue.get(order.service_id or "")
        if service is None or not service.enabled:
            return texts.REFUSE_SERVICE
    return None


async def successful_payment(update: Update, context: CustomContext) -> None:
    """Check the payment against its order, credit it exactly once (by charge id), place a
    buy-now purchase, send a receipt; park what does not match (admins told)."""
    message = update.effective_message
    if message is None or message.successful_payment is None or message.from_user is None:
        return
    paid = message.successful_payment
    shop = context.shop
    got = PaidMessage(paid.telegram_payment_charge_id, message.from_user.id, paid.currency,
                      paid.total_amount, paid.invoice_payload)
    try:
        applied = await _apply(shop, got)
    except StoreError:
        # A passing failure is never acknowledged as handled: kept for the spool job (polling
        # mode has fetched the update already), and raised so a webhook answers 5xx.
        shop.payment_spool.add(got.as_dict())
        await message.reply_text(texts.PAYMENT_BEING_RECORDED)
        raise
    await _tell(context, shop, got, applied, message.chat_id)


async def _apply(shop: Shop, paid: PaidMessage) -> Applied:
    telegram = shop.config.telegram
    return await apply_successful_payment(
        shop.ledger, paid, secret=shop.payload_secret, stars_per_tfc=telegram.stars_per_tfc,
        card_currency=telegram.card_currency, admin_ids=shop.config.admin.user_ids)


async def _tell(context: CustomContext, shop: Shop, paid: PaidMessage, applied: Applied,
                chat_id: int) -> None:
    """The answer to an applied payment: its receipt (or the VM's status) was queued with the
    credit, into the order message, and is sent now; an unmatched payment is told an admin will
    look."""
    if applied.credit is None:
        await context.bot.send_message(chat_id, texts.PAYMENT_NOT_APPLIED)
        return
    result = applied.credit
    if not result.new:
        log.info("payment %s was already credited", paid.charge_id)
        return
    # Sent now rather than at the outbox's next round: the user just paid and is looking.
    await Notifier(shop.ledger, context.bot).run_once(chat_id)
    if result.purchase is not None and shop.worker is not None:
        shop.worker.wake()  # the buy-now purchase is queued


async def parked_alert_job(context: CustomContext) -> None:
    """JobQueue job: tell the admins of every payment parked by any path (Stripe included)."""
    shop = context.shop
    await tell_admins_of_parked(shop.ledger, shop.config.admin.user_ids)


async def spool_job(context: CustomContext) -> None:
    """JobQueue job: credit the payments a passing store error kept in the spool."""
    shop = context.shop
    done: set[str] = set()
    for entry in shop.payment_spool.pending():
        try:
            paid = PaidMessage(**entry)
            applied = await _apply(shop, paid)
        except StoreError as exc:
            log.warning("spooled payments wait for the ledger: %s", exc)
            break
        except TypeError:
            log.error("spooled payment not understood, left in the spool: %r", entry)
            continue
        done.add(paid.charge_id)
        try:
            await _tell(context, shop, paid, applied, paid.user_id)
        except TelegramError as exc:
            log.info("could not tell user %s about spooled payment: %s", paid.user_id, exc)
    if done:
        shop.payment_spool.remove(done)


async def refunded_payment(update: Update, context: CustomContext) -> None:
    """Telegram reports a refunded Stars payment: once `getStarTransactions` lists the refund,
    take the credits back (once per charge) and tell the user once, whichever path (this one,
    an admin's refund, reconciliation) got there first. An unlisted refund is parked; when
    Telegram cannot be asked, reconciliation applies the refund later from the list itself."""
    message = update.effective_message
    if message is None or message.refunded_payment is None:
        return
    refund = message.refunded_payment
    if refund.currency != STARS_CURRENCY:
        return
    shop = context.shop
    charge_id = refund.telegram_payment_charge_id
    if await shop.ledger.get_payment("stars", charge_id) is None:
        log.warning("refund of unknown Stars payment %s", charge_id)
        return
    try:
        listed = await refund_listed(context.bot, shop.ledger, charge_id)
    except TelegramError as exc:
        log.warning("refund of %s not checked (%s); reconciliation will apply it", charge_id, exc)
        return
    if not listed:
        await park_unconfirmed_refund(shop.ledger, charge_id, message.chat_id, shop.config.admin.user_ids)
        return
    # Queued to go in a minute, so a reply that fails here is still sent by the outbox.
    notice = await shop.ledger.write(lambda conn, now: clawback_and_tell(conn, now, charge_id, delay_s=60))
    notification_id = notice.notification_id
    if notification_id is None:
        return
    try:
        sent = await context.bot.send_message(message.chat_id, notice.text)
    except TelegramError as exc:
        log.info("could not tell user about refund now, the outbox will: %s", exc)
        return
    await shop.ledger.write(lambda conn, now: outbox.mark_sent(conn, now, notification_id, sent.message_id))


async def reconcile_job(context: CustomContext) -> None:
    """JobQueue job (at start, then periodically): credit Stars payments the ledger missed."""
    shop = context.shop
    try:
        report = await reconcile_star_transactions(
            context.bot, shop.ledger, shop.payload_secret, stars_per_tfc=shop.config.telegram.stars_per_tfc,
            admin_ids=shop.config.admin.user_ids)
    except TelegramError as exc:
        log.warning("Stars reconciliation failed, will retry: %s", exc)
        return
    if report.kept:
        await tell_admins_of_parked(shop.ledger, shop.config.admin.user_ids)
    # Each payment credited here had its receipt queued in the outbox with the credit: sent now.
    for user_id in {result.order.user_id for result in report.credited}:
        await Notifier(shop.ledger, context.bot).run_once(user_id)

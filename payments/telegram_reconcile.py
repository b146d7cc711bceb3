"""Stars reconciliation: find Stars payments the ledger missed and credit them, once.

Pages through `getStarTransactions` (offset/limit, 100 per page) to the end. An incoming
transaction from a user (`source.transaction_type == "invoice_payment"`) whose charge id is not
in the ledger, that was not refunded, and whose payload is a validly signed order of that user
with the expected Stars amount, is credited with `credit_order_payment` (the same path as
successful_payment, deduped on the charge id). Anything else unknown is kept in the ledger's
provider_events for an admin, never silently dropped. A credited payment that Telegram lists as
refunded but the ledger has not taken back (the refunded_payment update was lost) is clawed
back with `ledger.stars_refunds.clawback_missed_refund`, under the same key as every other path, so once; the same
ledger write queues a message to the user and to each admin through the outbox, keyed on the
charge id, so they too are queued once however often reconciliation runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from telegram import Bot, StarTransaction, TransactionPartnerUser

from core.money import format_stars
from ledger import Ledger, LedgerError, OrderNotFound
from ledger.stars_refunds import clawback_missed_refund

from .payload import PayloadError, verify_payload
from .telegram_credit import CreditResult, credit_order_payment, keep_unapplied
from .telegram_invoices import stars_for

__all__ = ["ReconcileReport", "reconcile_star_transactions"]

log = logging.getLogger(__name__)
PAGE = 100


@dataclass(slots=True)
class ReconcileReport:
    scanned: int = 0
    credited: list[CreditResult] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # charge ids set aside for an admin
    clawed_back: list[str] = field(default_factory=list)  # refunds the ledger had missed


async def _all_transactions(bot: Bot, max_pages: int) -> list[StarTransaction]:
    found: list[StarTransaction] = []
    for page in range(max_pages):
        batch = await bot.get_star_transactions(offset=page * PAGE, limit=PAGE)
        found.extend(batch.transactions)
        if len(batch.transactions) < PAGE:
            break
    return found


async def reconcile_star_transactions(
    bot: Bot, ledger: Ledger, secret: str | bytes, *, stars_per_tfc: int, max_pages: int = 1000,
    admin_ids: Sequence[int] | None = None,
) -> ReconcileReport:
    """Credit every incoming Stars payment the ledger lacks; report what was done. A refund
    the ledger missed is taken back and the user and `admin_ids` are told through the outbox."""
    admins = tuple(admin_ids or ())
    report = ReconcileReport()
    transactions = await _all_transactions(bot, max_pages)
    refunded = {t.id for t in transactions if isinstance(t.receiver, TransactionPartnerUser)}
    for tx in transactions:
        source = tx.source
        if not isinstance(source, TransactionPartnerUser) or source.transaction_type != "invoice_payment":
            continue
        report.scanned += 1
        payment = await ledger.get_payment("stars", tx.id)
        if tx.id in refunded:
            # Refunded at Telegram: a credited payment whose clawback the ledger missed (lost
            # refunded_payment update, crash after refundStarPayment) is taken back now, once.
            if payment is not None and payment.refunded < payment.amount:
                try:
                    await ledger.write(
                        partial(clawback_missed_refund, charge_id=tx.id, admin_ids=admins))
                except LedgerError as exc:
                    log.error("Stars payment %s was refunded at Telegram, not in the ledger: %s", tx.id, exc)
                    continue
                log.warning("Stars payment %s was refunded at Telegram; credits taken back", tx.id)
                report.clawed_back.append(tx.id)
            continue
        if payment is not None:
            continue
        user_id = source.user.id
        detail = {"charge_id": tx.id, "amount": tx.amount, "user_id": user_id,
                  "payload": source.invoice_payload}
        reason = await _credit(ledger, tx, source, secret, stars_per_tfc, report)
        if reason is not None:
            if await keep_unapplied(ledger, provider="stars", charge_id=tx.id,
                                    kind="star_transaction", payload=detail, reason=reason):
                log.warning("Stars payment %s not credited: %s", tx.id, reason)
            report.kept.append(tx.id)
    return report


async def _credit(ledger: Ledger, tx: StarTransaction, source: TransactionPartnerUser,
                  secret: str | bytes, stars_per_tfc: int, report: ReconcileReport) -> str | None:
    """Credit one missed payment; return why not, or None when credited."""
    try:
        order_id = verify_payload(source.invoice_payload or "", secret)
    except PayloadError as exc:
        return f"invalid payload: {exc}"
    try:
        order = await ledger.get_order(order_id)
    except OrderNotFound:
        return f"unknown order {order_id}"
    if order.user_id != source.user.id:
        return f"order {order_id} belongs to another user"
    if tx.amount != stars_for(order.amount, stars_per_tfc):
        return f"{format_stars(tx.amount)} paid, {stars_for(order.amount, stars_per_tfc)} expected"
    try:
        result = await credit_order_payment(
            ledger, provider="stars", charge_id=tx.id, user_id=source.user.id, order_id=order_id,
            provider_amount=tx.amount, provider_currency="XTR",
        )
    except LedgerError as exc:
        return f"ledger refused: {exc}"
    if result.new:
        log.info("recovered Stars payment %s for order %s", tx.id, order_id)
        report.credited.append(result)
    return None

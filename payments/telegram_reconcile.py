"""Stars reconciliation: find Stars payments and refunds the ledger missed and apply them, once.

`getStarTransactions` lists the bot's transactions in chronological order, `offset`/`limit`
(1-100) paging them (Bot API, api.json "getStarTransactions"); a refund is a transaction of its
own, later in the list, whose `receiver` is the user and whose `id` is the refunded charge's.
So a stored cursor (`ledger.cursors`, name `stars:transactions`: how many transactions were
read) lets each round read only what is new: it starts one page before the cursor (a re-scan
window for transactions Telegram lists late), reads at most `max_pages` pages (bounded calls
per round: a long backlog is worked off over several rounds), and moves the cursor on after the
round.

An incoming transaction from a user (`source.transaction_type == "invoice_payment"`) whose
charge id is not in the ledger, that was not refunded, and whose payload is a validly signed
order of that user with the expected Stars amount, is credited with `credit_order_payment` (the
same path as successful_payment, deduped on the charge id). Anything else unknown is parked for
an admin, never silently dropped. A refund transaction for a credited payment the ledger has
not taken back (the refunded_payment update was lost) is clawed back with
`ledger.stars_refunds.clawback_missed_refund`, under the same key as every other path, so once; the same ledger
write queues a message to the user and to each admin through the outbox, keyed on the charge
id, so they too are queued once however often reconciliation runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from telegram import Bot, StarTransaction, TransactionPartnerUser

from core.money import format_stars
from ledger import Ledger, LedgerError, OrderNotFound, cursors
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


CURSOR = "stars:transactions"


async def _new_transactions(bot: Bot, ledger: Ledger, max_pages: int) -> tuple[list[StarTransaction], int]:
    """The transactions from one page before the stored cursor on, at most `max_pages` pages;
    and where the cursor goes after this round."""
    stored = await ledger.read(lambda conn: cursors.get(conn, CURSOR))
    offset = max(0, (int(stored) if stored and stored.isdigit() else 0) - PAGE)
    found: list[StarTransaction] = []
    for _ in range(max_pages):
        batch = await bot.get_star_transactions(offset=offset, limit=PAGE)
        found.extend(batch.transactions)
        offset += len(batch.transactions)
        if len(batch.transactions) < PAGE:
            break
    return found, offset


async def refund_listed(bot: Bot, ledger: Ledger, charge_id: str, max_pages: int = 10) -> bool:
    """Whether Telegram lists a refund of `charge_id` (read from one page before the cursor to
    the end, at most `max_pages` pages): a refunded_payment update is trusted only then."""
    transactions, _ = await _new_transactions(bot, ledger, max_pages)
    return any(t.id == charge_id and isinstance(t.receiver, TransactionPartnerUser) for t in transactions)


async def reconcile_star_transactions(
    bot: Bot, ledger: Ledger, secret: str | bytes, *, stars_per_tfc: int, max_pages: int = 20,
    admin_ids: Sequence[int] | None = None,
) -> ReconcileReport:
    """Credit every incoming Stars payment the ledger lacks; report what was done. A refund
    the ledger missed is taken back and the user and `admin_ids` are told through the outbox."""
    admins = tuple(admin_ids or ())
    report = ReconcileReport()
    transactions, cursor = await _new_transactions(bot, ledger, max_pages)
    refunded = {t.id for t in transactions if isinstance(t.receiver, TransactionPartnerUser)}
    for tx in transactions:
        if isinstance(tx.receiver, TransactionPartnerUser):
            # A refund at Telegram: a credited payment whose clawback the ledger missed (lost
            # refunded_payment update, crash after refundStarPayment) is taken back now, once.
            payment = await ledger.get_payment("stars", tx.id)
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
        source = tx.source
        if not isinstance(source, TransactionPartnerUser) or source.transaction_type != "invoice_payment":
            continue
        report.scanned += 1
        if tx.id in refunded or await ledger.get_payment("stars", tx.id) is not None:
            continue  # refunded before the shop saw it (nothing to credit), or credited already
        user_id = source.user.id
        detail = {"charge_id": tx.id, "amount": tx.amount, "user_id": user_id,
                  "payload": source.invoice_payload}
        reason = await _credit(ledger, tx, source, secret, stars_per_tfc, report)
        if reason is not None:
            if await keep_unapplied(ledger, provider="stars", charge_id=tx.id,
                                    kind="star_transaction", payload=detail, reason=reason):
                log.warning("Stars payment %s not credited: %s", tx.id, reason)
            report.kept.append(tx.id)
    await ledger.write(lambda conn, now: cursors.put(conn, now, CURSOR, str(cursor)))
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

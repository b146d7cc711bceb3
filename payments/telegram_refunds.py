"""Refund a Telegram Stars payment: `refundStarPayment`, then the ledger clawback, once.

The clawback itself is `ledger.stars_refunds` (re-exported here). Order of steps: Telegram first (a refused refund, e.g. CHARGE_NOT_FOUND, must not debit the
user), then the clawback under the fixed key `refund:stars:<charge_id>`. Both steps are
idempotent, so a retry after a crash between them converges: Telegram answers
CHARGE_ALREADY_REFUNDED (counted as success) and the clawback with the same key returns the
first transfer. The clawback may leave the user in debt (credits already spent).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot
from telegram.error import BadRequest

from ledger import Ledger, PaymentNotFound, Transfer
from ledger.stars_refunds import clawback_star_payment, refund_key

__all__ = [
    "RefundError", "RefundResult", "clawback_star_payment", "record_star_refund", "refund_key",
    "refund_star_payment",
]

ALREADY_REFUNDED = "charge_already_refunded"


class RefundError(Exception):
    """Telegram refused the refund (unknown charge, another user's, ...); nothing was debited."""


@dataclass(frozen=True, slots=True)
class RefundResult:
    charge_id: str
    user_id: int
    amount: int  # TFC cents taken back
    already_refunded_at_telegram: bool
    transfer: Transfer


def _already_refunded(exc: BadRequest) -> bool:
    # PTB rewrites the description ("Charge_already_refunded"): compare case-insensitively.
    return ALREADY_REFUNDED in exc.message.lower()


async def record_star_refund(ledger: Ledger, charge_id: str) -> Transfer:
    """The ledger half: take back the whole payment, once per charge id (whoever asks first:
    our refund call or Telegram's refunded_payment message)."""
    return await ledger.write(lambda conn, now: clawback_star_payment(conn, now, charge_id))


async def refund_star_payment(bot: Bot, ledger: Ledger, charge_id: str) -> RefundResult:
    """Refund a recorded Stars payment in full at Telegram and in the ledger."""
    payment = await ledger.get_payment("stars", charge_id)
    if payment is None:
        raise PaymentNotFound(f"no Stars payment {charge_id!r} is recorded")
    already = False
    try:
        await bot.refund_star_payment(user_id=payment.user_id, telegram_payment_charge_id=charge_id)
    except BadRequest as exc:
        if not _already_refunded(exc):
            raise RefundError(f"Telegram refused the refund of {charge_id}: {exc.message}") from exc
        already = True
    transfer = await record_star_refund(ledger, charge_id)
    return RefundResult(charge_id, payment.user_id, payment.amount, already, transfer)

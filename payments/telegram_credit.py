"""Credit a Telegram payment (Stars or card) to its order in ONE ledger transaction.

Used by the successful_payment handler and by the Stars reconciliation job, so a payment is
credited the same way whichever path sees it first. The dedupe key is the
`telegram_payment_charge_id` (`UNIQUE(provider, external_id)` in the ledger), never the payload:
an old invoice can be paid again and each charge is real money.

The credit and its buy-now purchase are `ledger.payment_credit.credit_order_payment`: a purchase
order paid directly is placed with the credit; a payment for an order that can no longer be
placed stays on the balance (`CreditResult.unplaceable` says why, for the receipt).
"""

from __future__ import annotations

import json
from functools import partial

from core.metrics import PAYMENTS_CREDITED
from ledger import Ledger, inbox
from ledger.payment_credit import PaymentCredit
from ledger.payment_credit import credit_order_payment as credit_op

__all__ = ["CreditResult", "credit_order_payment", "keep_unapplied", "provider_for_currency"]

CreditResult = PaymentCredit


def provider_for_currency(currency: str) -> str:
    """The ledger's provider name for a Telegram payment in `currency`."""
    return "stars" if currency == "XTR" else "telegram_card"


async def credit_order_payment(
    ledger: Ledger, *, provider: str, charge_id: str, user_id: int, order_id: int,
    provider_amount: int, provider_currency: str,
) -> CreditResult:
    """Record the payment for `order_id` once and, for a purchase order, place the purchase."""
    result = await ledger.write(partial(
        credit_op, provider=provider, external_id=charge_id, user_id=user_id, order_id=order_id,
        provider_amount=provider_amount, provider_currency=provider_currency,
        hold_ttl_s=ledger.hold_ttl_s))
    if result.new:
        PAYMENTS_CREDITED.labels(provider).inc()
    return result


async def keep_unapplied(ledger: Ledger, *, provider: str, charge_id: str, kind: str,
                         payload: dict[str, object], reason: str) -> bool:
    """Keep a payment we could not credit (bad payload, foreign order) for an admin to resolve."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return await ledger.write(lambda conn, now: inbox.keep(conn, now, provider, charge_id, kind, text, reason))

"""Apply one Telegram `successful_payment`: check it against its order, then credit it once.

Money moves only on what matches: the payload must be signed by us and name an order of the
payer, and the amount and currency paid must be exactly what that order's invoice asked
(Stars at `stars_per_tfc`, a card total in `card_currency`). Anything else is parked for an
admin (the admins are told at once), never credited the order's price. A passing store error
(`StoreError`) is raised to the caller, who must not acknowledge the payment as handled.
Shared by the successful_payment handler and the spool job.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ledger import Ledger, LedgerError, StoreError, inbox

from .payload import PayloadError, verify_payload
from .telegram_credit import (
    CreditResult,
    credit_order_payment,
    keep_unapplied,
    provider_for_currency,
)
from .telegram_invoices import expected_total

__all__ = ["Applied", "PaidMessage", "apply_successful_payment", "park_unconfirmed_refund", "tell_admins_of_parked"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PaidMessage:
    """The fields of a SuccessfulPayment the shop acts on, and who paid."""

    charge_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Applied:
    """Either the credit (`credit.new` False for a redelivery) or why it was parked."""

    credit: CreditResult | None
    parked: str | None = None


async def tell_admins_of_parked(ledger: Ledger, admin_ids: Sequence[int]) -> int:
    """Queue the admins' message for every parked payment they have not heard of."""
    return await ledger.write(lambda conn, now: inbox.alert_new(conn, now, admin_ids))


async def _mismatch(ledger: Ledger, paid: PaidMessage, order_id: int, stars_per_tfc: int,
                    card_currency: str) -> str | None:
    order = await ledger.get_order(order_id)
    expected = expected_total(order.amount, paid.currency, stars_per_tfc=stars_per_tfc,
                              card_currency=card_currency)
    if expected is None:
        return f"paid in {paid.currency}, which order {order_id} was never invoiced in"
    if paid.total_amount != expected:
        return f"paid {paid.total_amount} {paid.currency}, order {order_id} asked {expected} {paid.currency}"
    return None


async def apply_successful_payment(
    ledger: Ledger, paid: PaidMessage, *, secret: str | bytes, stars_per_tfc: int,
    card_currency: str, admin_ids: Sequence[int] = (),
) -> Applied:
    """Credit `paid` to its order once, or park it; raises StoreError when the ledger cannot
    write for now (nothing is parked then: the payment must come again)."""
    provider = provider_for_currency(paid.currency)
    try:
        order_id = verify_payload(paid.payload, secret)
        reason = await _mismatch(ledger, paid, order_id, stars_per_tfc, card_currency)
        if reason is None:
            return Applied(await credit_order_payment(
                ledger, provider=provider, charge_id=paid.charge_id, user_id=paid.user_id,
                order_id=order_id, provider_amount=paid.total_amount, provider_currency=paid.currency))
    except StoreError:
        raise
    except PayloadError as exc:
        reason = f"invalid payload: {exc}"
    except LedgerError as exc:
        reason = str(exc)
    # Real money we cannot match: parked for an admin, who is told now.
    log.error("payment %s:%s not credited: %s", provider, paid.charge_id, reason)
    await keep_unapplied(ledger, provider=provider, charge_id=paid.charge_id, kind="successful_payment",
                         payload=paid.as_dict(), reason=reason)
    await tell_admins_of_parked(ledger, admin_ids)
    return Applied(None, reason)


async def park_unconfirmed_refund(ledger: Ledger, charge_id: str, user_id: int,
                                  admin_ids: Sequence[int]) -> None:
    """A refunded_payment update that getStarTransactions does not confirm: nothing is taken
    back; it is parked for an admin (told now)."""
    reason = "refunded_payment update, but getStarTransactions lists no refund of it; nothing taken back"
    log.error("Stars refund of %s not confirmed by Telegram: parked", charge_id)
    await keep_unapplied(ledger, provider="stars", charge_id=f"refund:{charge_id}", kind="refunded_payment",
                         payload={"charge_id": charge_id, "user_id": user_id}, reason=reason)
    await tell_admins_of_parked(ledger, admin_ids)

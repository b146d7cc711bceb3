"""What a parked payment is worth and how an admin resolves it, for `/parked` and
`gridshop ledger parked`: read who paid how much from the kept event, credit it to the user's
balance, refund it (Stars: `refundStarPayment`; a card or Stripe payment is refunded at the
provider and then marked refunded here), or close it.

The credit is what the provider really received, converted with the shop's own rounding rule
(never more credits than money): Stars at `stars_per_tfc` rounded down, a card total at 1 TFC =
1 unit of its currency, a Stripe USD amount cent for cent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial

from telegram import Bot
from telegram.error import BadRequest

from core.metrics import PAYMENTS_CREDITED
from core.money import format_stars
from ledger import Ledger, PaymentResult, inbox
from ledger.inbox import ProviderEvent
from ledger.stripe_event_model import whole_number

from .telegram_invoices import STARS_CURRENCY, currency_exponent

__all__ = ["ParkedPayment", "RefundRefused", "credit", "describe", "list_open", "refund"]

ALREADY_REFUNDED = "charge_already_refunded"


class RefundRefused(Exception):
    """The provider refused the refund (or cannot refund from here); nothing changed."""


@dataclass(frozen=True, slots=True)
class ParkedPayment:
    """A parked event read as a payment: `credit` is None when it is not one we can credit
    (no user or amount in it, or not a payment at all)."""

    event: ProviderEvent
    external_id: str
    user_id: int | None
    provider_amount: int | None
    currency: str | None
    credit: int | None  # TFC cents

    @property
    def stars_refundable(self) -> bool:
        return self.event.provider == "stars" and self.user_id is not None

    @property
    def shown(self) -> str:
        """What was paid, as the provider counts it."""
        if self.provider_amount is None:
            return "an unknown amount"
        if self.currency == STARS_CURRENCY:
            return format_stars(self.provider_amount)
        exp = currency_exponent((self.currency or "").upper())
        units = f"{self.provider_amount // 10**exp}" + (f".{self.provider_amount % 10**exp:0{exp}d}" if exp else "")
        return f"{units} {(self.currency or '').upper()}"


def _worth(provider_amount: int, currency: str, stars_per_tfc: int) -> int | None:
    if provider_amount <= 0:
        return None
    if currency == STARS_CURRENCY:
        return provider_amount * 100 // stars_per_tfc or None
    return provider_amount * 100 // 10 ** currency_exponent(currency.upper()) or None


def describe(event: ProviderEvent, *, stars_per_tfc: int) -> ParkedPayment:
    """Who paid how much, from the event as it was kept."""
    try:
        data = json.loads(event.payload)
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if event.provider == "stripe":
        obj = data.get("data", {}).get("object", {}) if isinstance(data.get("data"), dict) else {}
        obj = obj if isinstance(obj, dict) else {}
        metadata = obj.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        paid = obj.get("object") == "checkout.session" and obj.get("payment_status") == "paid"
        amount, currency = whole_number(obj.get("amount_total")), obj.get("currency")
        user = whole_number(metadata.get("telegram_user_id"))
        worth = (amount if paid and amount and isinstance(currency, str) and currency.lower() == "usd"
                 and user else None)
        return ParkedPayment(event, str(obj.get("id") or event.event_id), user, amount,
                             currency.upper() if isinstance(currency, str) else None, worth)
    user = whole_number(data.get("user_id"))
    if event.kind == "star_transaction":
        amount, currency = whole_number(data.get("amount")), STARS_CURRENCY
    else:
        amount, currency = whole_number(data.get("total_amount")), data.get("currency")
    currency = currency if isinstance(currency, str) else None
    worth = _worth(amount, currency, stars_per_tfc) if amount and currency and user else None
    return ParkedPayment(event, event.event_id, user, amount, currency, worth)


async def list_open(ledger: Ledger, *, stars_per_tfc: int, limit: int = 50) -> list[ParkedPayment]:
    events = await ledger.read(lambda conn: inbox.open_events(conn, limit))
    return [describe(e, stars_per_tfc=stars_per_tfc) for e in events]


async def get(ledger: Ledger, parked_id: int, *, stars_per_tfc: int) -> ParkedPayment:
    event = await ledger.read(lambda conn: inbox.get_event(conn, parked_id))
    return describe(event, stars_per_tfc=stars_per_tfc)


async def credit(ledger: Ledger, parked: ParkedPayment, admin_id: int) -> PaymentResult:
    """Credit the payment to its user's balance (once: deduped on the provider's id)."""
    if parked.credit is None or parked.user_id is None:
        raise RefundRefused(f"parked #{parked.event.id} names no user and amount to credit")
    user_id, amount = parked.user_id, parked.credit
    result = await ledger.write(lambda conn, now: inbox.credit_parked(
        conn, now, parked.event.id, admin_id=admin_id, external_id=parked.external_id,
        user_id=user_id, amount=amount, provider_amount=parked.provider_amount or 0,
        provider_currency=parked.currency or ""))
    if result.new:
        PAYMENTS_CREDITED.labels(parked.event.provider).inc()
    return result


async def refund(bot: Bot | None, ledger: Ledger, parked: ParkedPayment, admin_id: int) -> str:
    """Refund a parked Stars payment at Telegram, then mark it refunded and tell the user; a
    card or Stripe payment is refunded at the provider first and only marked here. Returns
    what was done."""
    if parked.stars_refundable:
        if bot is None:
            raise RefundRefused("a Stars refund needs the bot (BOT_TOKEN)")
        assert parked.user_id is not None
        try:
            await bot.refund_star_payment(user_id=parked.user_id,
                                          telegram_payment_charge_id=parked.external_id)
        except BadRequest as exc:
            if ALREADY_REFUNDED not in exc.message.lower():
                raise RefundRefused(f"Telegram refused the refund: {exc.message}") from exc
        note = f"{parked.shown} refunded by Telegram"
    else:
        note = f"{parked.shown} marked refunded at the provider"
    await ledger.write(partial(inbox.close_refunded, parked_id=parked.event.id, admin_id=admin_id,
                               note=note, user_id=parked.user_id, shown=parked.shown))
    return note

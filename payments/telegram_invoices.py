"""Telegram invoices for orders: Telegram Stars (XTR) and card payments through a provider.

Rounding rule (written down once, used by the invoice and by pre-checkout):

* Stars: an order of `amount` TFC cents costs `ceil(amount * stars_per_tfc / 100)` whole Stars,
  at least 1. Rounding up means the shop never receives less than the credit it grants.
* Card: 1 TFC is 1 unit of `card_currency`; an order costs `ceil(amount * 10**exp / 100)` in the
  currency's smallest unit, where `exp` is its number of decimals (2 for USD and most, 0 for
  JPY, KRW, ...; Telegram's currencies.json).

Limits checked before calling Telegram: Stars 1-10000 per invoice; card totals between 1 and
10000 units of the currency (Telegram's per-currency bounds are about US$1 - US$10000).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot, LabeledPrice, Message

from core.money import format_stars
from ledger import Order

from .payload import sign_payload

__all__ = [
    "MAX_STARS", "STARS_CURRENCY", "InvoiceError", "InvoiceSpec", "card_invoice", "card_minor_for",
    "expected_total", "send_invoice", "stars_for", "stars_invoice",
]

STARS_CURRENCY = "XTR"
MAX_STARS = 10_000
MAX_CARD_UNITS = 10_000
TITLE_MAX, DESCRIPTION_MAX = 32, 255

# Currencies Telegram lists with an exponent other than 2 (currencies.json `exp`).
_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF",
                           "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})


class InvoiceError(ValueError):
    """The order cannot be invoiced (amount outside Telegram's limits, missing token)."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def stars_for(amount: int, stars_per_tfc: int) -> int:
    """Whole Stars charged for `amount` TFC cents: ceil(amount * rate / 100), at least 1."""
    if amount <= 0 or stars_per_tfc <= 0:
        raise InvoiceError("amount and rate must be positive")
    return max(1, _ceil_div(amount * stars_per_tfc, 100))


def currency_exponent(currency: str) -> int:
    return 0 if currency in _ZERO_DECIMAL else 2


def card_minor_for(amount: int, currency: str) -> int:
    """`amount` TFC cents in the smallest unit of `currency` (1 TFC = 1 unit), rounded up."""
    if amount <= 0:
        raise InvoiceError("amount must be positive")
    return _ceil_div(amount * 10 ** currency_exponent(currency), 100)


def expected_total(amount: int, currency: str, *, stars_per_tfc: int, card_currency: str) -> int | None:
    """What an invoice for `amount` cents costs in `currency`; None if we never invoice in it."""
    if currency == STARS_CURRENCY:
        return stars_for(amount, stars_per_tfc)
    if currency == card_currency:
        return card_minor_for(amount, currency)
    return None


@dataclass(frozen=True, slots=True)
class InvoiceSpec:
    """Everything sendInvoice needs, checked against Telegram's limits."""

    title: str
    description: str
    payload: str
    currency: str
    total: int
    provider_token: str  # "" for Stars

    @property
    def prices(self) -> list[LabeledPrice]:
        return [LabeledPrice(self.title, self.total)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def stars_invoice(order: Order, title: str, description: str, *, stars_per_tfc: int,
                  secret: str | bytes) -> InvoiceSpec:
    """A Stars invoice: XTR, empty provider token, exactly one price in whole Stars."""
    stars = stars_for(order.amount, stars_per_tfc)
    if stars > MAX_STARS:
        raise InvoiceError(f"{format_stars(stars)} is over Telegram's limit of {MAX_STARS} per invoice")
    return InvoiceSpec(_clip(title, TITLE_MAX), _clip(description, DESCRIPTION_MAX),
                       sign_payload(order.id, secret), STARS_CURRENCY, stars, "")


def card_invoice(order: Order, title: str, description: str, *, currency: str, provider_token: str,
                 secret: str | bytes) -> InvoiceSpec:
    """A card invoice through the payment provider configured with @BotFather."""
    if not provider_token:
        raise InvoiceError("card invoices need TELEGRAM_PROVIDER_TOKEN")
    total = card_minor_for(order.amount, currency)
    unit = 10 ** currency_exponent(currency)
    if not unit <= total <= MAX_CARD_UNITS * unit:
        raise InvoiceError(f"card total {total} {currency} is outside 1-{MAX_CARD_UNITS} {currency}")
    return InvoiceSpec(_clip(title, TITLE_MAX), _clip(description, DESCRIPTION_MAX),
                       sign_payload(order.id, secret), currency, total, provider_token)


async def send_invoice(bot: Bot, chat_id: int, spec: InvoiceSpec) -> Message:
    """sendInvoice for `spec`; the payload lets pre-checkout find and check the order."""
    return await bot.send_invoice(
        chat_id=chat_id, title=spec.title, description=spec.description, payload=spec.payload,
        currency=spec.currency, prices=spec.prices, provider_token=spec.provider_token or None,
    )

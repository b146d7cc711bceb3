"""TFC amounts: integer minor units (cents) everywhere, `Decimal` only at the edges.

The one place that turns TFC text or `Decimal` into cents and cents into text for people.
It imports nothing else of gridshop's, so every room may use it.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

__all__ = [
    "MoneyError", "TFT_UNITS", "format_stars", "format_tfc", "format_tfc_signed", "format_tft",
    "minor_to_tfc", "parse_tfc", "tfc_to_minor", "tft_in_tfc",
]

# TFT, the grid's token, as the chain bills it: integer units of 1e-7 TFT (grid-proxy
# types.ContractBilling.AmountBilled; calcContractConsumption divides by 10^7).
TFT_UNITS = 10**7

_CENT = Decimal("0.01")
# What a person types for an amount: "12", "12.5", "12,50", ".5"; no sign, no exponent, so a
# typed "1e999999" never reaches Decimal (it overflows, or builds a huge int).
_TYPED = re.compile(r"\d{1,13}(?:\.\d{0,6})?|\.\d{1,6}")


class MoneyError(ValueError):
    """An amount cannot be represented exactly in TFC cents."""


# --- money helpers ---------------------------------------------------------------------------


def tfc_to_minor(amount: Decimal | int) -> int:
    """Convert a TFC amount to integer cents; raise `MoneyError` on more than 2 decimals.

    Floats are refused outright: `0.1` as a float is not 10 cents.
    """
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise MoneyError(f"TFC amount must be a Decimal or int, not {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise MoneyError(f"TFC amount must be a finite number, not {value}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise MoneyError(f"{value} has more than 2 decimals (the smallest unit is 0.01 TFC)")
    return int(cents)


def minor_to_tfc(minor: int) -> Decimal:
    """Convert integer cents to a TFC `Decimal` with exactly 2 decimals (e.g. 450 -> 4.50)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be an int, not {type(minor).__name__}")
    return (Decimal(minor) / 100).quantize(_CENT)


def parse_tfc(text: str) -> int:
    """TFC typed by a person ("12", "12.5", "12,50", "12 TFC") in cents; `MoneyError` if it is
    not a plain non-negative amount with at most 2 decimals."""
    cleaned = text.strip()
    if cleaned[-3:].upper() == "TFC":
        cleaned = cleaned[:-3].rstrip()
    cleaned = cleaned.replace(",", ".")
    if not _TYPED.fullmatch(cleaned):
        raise MoneyError(f"{text!r} is not an amount in TFC")
    return tfc_to_minor(Decimal(cleaned))


def format_tfc(minor: int) -> str:
    """Render integer cents for people: 450 -> '4.50 TFC', -5 -> '-0.05 TFC'."""
    return f"{minor_to_tfc(minor)} TFC"


def format_tfc_signed(minor: int, *, minus: str = "\N{MINUS SIGN}") -> str:
    """A change of balance, always signed: 450 -> '+4.50 TFC', -40 -> '−0.40 TFC' (U+2212, as
    the chat shows it; the CLI passes an ASCII `minus`). Zero has no sign."""
    sign = "+" if minor > 0 else minus if minor < 0 else ""
    return sign + format_tfc(abs(minor))


def format_stars(stars: int) -> str:
    """Telegram Stars are whole: 347 -> '347 Stars'."""
    return f"{stars} Stars"


def format_tft(units: int) -> str:
    """What the grid billed, for people: 12_345_678 units -> '1.2346 TFT'."""
    value = (Decimal(units) / TFT_UNITS).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    return f"{value} TFT"


def tft_in_tfc(units: int, tft_price: Decimal) -> int:
    """TFT units in TFC cents at `tft_price` (USD per TFT; 1 TFC = 1 USD), rounded up: the
    grid's cost is never understated."""
    cents = Decimal(units) * tft_price * 100 / TFT_UNITS
    return int(cents.to_integral_value(rounding=ROUND_CEILING))

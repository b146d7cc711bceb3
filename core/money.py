"""TFC amounts: integer minor units (cents) everywhere, `Decimal` only at the edges.

The one place that turns TFC text or `Decimal` into cents and cents into text for people.
It imports nothing else of gridshop's, so every room may use it.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["MoneyError", "format_tfc", "minor_to_tfc", "tfc_to_minor"]

_CENT = Decimal("0.01")


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


def format_tfc(minor: int) -> str:
    """Render integer cents for people: 450 -> '4.50 TFC'."""
    return f"{minor_to_tfc(minor)} TFC"


# --- field types -----------------------------------------------------------------------------

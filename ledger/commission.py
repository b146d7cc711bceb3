"""The marketplace commission and its one rounding rule.

The rate is held as an integer in parts per million (0.10 -> 100_000), so no float touches money.
Rounding rule: the commission is `amount * rate_ppm / 1_000_000` rounded half up to a whole minor
unit, and the seller (the grid payable account) gets exactly the rest, so the two parts always
add up to the amount. Example at 10%: 1234 -> commission 123, payable 1111; 5 -> 1 and 4 (0.5 rounds up).
"""

from __future__ import annotations

from decimal import Decimal

PPM = 1_000_000


def rate_to_ppm(rate: Decimal | str | int) -> int:
    """Convert a rate such as Decimal("0.10") to parts per million; it must lie in [0, 1)."""
    value = Decimal(str(rate)) if not isinstance(rate, Decimal) else rate
    ppm = value * PPM
    if ppm != ppm.to_integral_value():
        raise ValueError(f"commission rate {rate} has more precision than 1 ppm")
    if not 0 <= ppm < PPM:
        raise ValueError(f"commission rate {rate} must be at least 0 and below 1")
    return int(ppm)


def split_commission(amount: int, rate_ppm: int) -> tuple[int, int]:
    """Split `amount` into `(payable, commission)` by the rounding rule above."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    commission = (amount * rate_ppm * 2 + PPM) // (2 * PPM)
    return amount - commission, commission

"""TFC amounts as people type them and as the chat and the CLI show them."""

from __future__ import annotations

import pytest

from core.money import MoneyError, format_stars, format_tfc, format_tfc_signed, parse_tfc


@pytest.mark.parametrize(("typed", "cents"), [
    ("12", 1200), ("12.5", 1250), ("12,50", 1250), ("12 TFC", 1200), (" 5 tfc ", 500),
    (".5", 50), ("12.", 1200), ("12.500", 1250), ("0", 0), ("9999999999999.99", 999999999999999),
])
def test_parse_tfc_reads_what_people_type(typed: str, cents: int) -> None:
    assert parse_tfc(typed) == cents


@pytest.mark.parametrize("typed", [
    "", "TFC", "-5", "+5", "12.345", "1e5", "1E999999", "NaN", "Infinity", "1_000", "12 USD",
    "5.5.5", "12345678901234", "0x10",
])
def test_parse_tfc_refuses_what_is_not_a_plain_amount(typed: str) -> None:
    with pytest.raises(MoneyError):
        parse_tfc(typed)


def test_signed_amounts() -> None:
    assert format_tfc_signed(450) == "+4.50 TFC"
    assert format_tfc_signed(-40) == "\N{MINUS SIGN}0.40 TFC"
    assert format_tfc_signed(-40, minus="-") == "-0.40 TFC"
    assert format_tfc_signed(0) == "0.00 TFC"
    assert format_tfc(-123456) == "-1234.56 TFC"


def test_stars() -> None:
    assert format_stars(347) == "347 Stars"

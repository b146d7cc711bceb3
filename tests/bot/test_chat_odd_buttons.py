"""Forged buttons with ids the ledger cannot hold (0, or past 2**63 - 1) are answered, never
crash a handler."""

from __future__ import annotations

import pytest

from .conftest import Shopfront

INVALID = "This button is no longer valid. Please start again from the menu."
UNKNOWN_ORDER = "This order no longer exists."

TOO_BIG = "9999999999999999999"  # 19 digits: fits the INT shape, not SQLite's INTEGER


@pytest.mark.parametrize("data", [
    f"v1:ok:{TOO_BIG}", f"v1:pay:{TOO_BIG}:bal", f"v1:cancel:{TOO_BIG}", f"v1:topd:{TOO_BIG}",
    f"v1:ord:{TOO_BIG}", f"v1:dep:{TOO_BIG}", f"v1:dren:{TOO_BIG}:1", f"v1:dcan:{TOO_BIG}",
    f"v1:dtop:{TOO_BIG}", f"v1:dauto:{TOO_BIG}:1", f"v1:hist:{TOO_BIG}", f"v1:top:{TOO_BIG}",
    f"v1:cat:{TOO_BIG}",
])
async def test_ids_past_64_bits_are_invalid_buttons(shop: Shopfront, data: str) -> None:
    eve = shop.user("Eve")
    menu = await shop.send(eve, "/start")
    answer = await shop.forge_press(eve, menu.message_id, data)
    assert answer["text"] == INVALID


@pytest.mark.parametrize("data", ["v1:ok:0", "v1:pay:0:stars", "v1:cancel:0", "v1:topd:0", "v1:ord:0"])
async def test_order_zero_is_unknown(shop: Shopfront, data: str) -> None:
    eve = shop.user("Eve")
    menu = await shop.send(eve, "/start")
    answer = await shop.forge_press(eve, menu.message_id, data)
    assert answer["text"] == UNKNOWN_ORDER


@pytest.mark.parametrize("typed", ["1e999999", "1E999999999", "1e99999"])
async def test_typed_amount_with_an_exponent_is_not_an_amount(shop: Shopfront, typed: str) -> None:
    """Decimal reads exponents: "1e999999" overflowed (the handler died, no reply) and
    "1e99999" built a 100,000-digit int on the event loop."""
    zed = shop.user("Zed")
    menu = await shop.send(zed, "/topup")
    await shop.press(zed, menu.message_id, data="v1:topc")
    await shop.wait_text(zed, menu.message_id, "Type the amount")
    assert "not an amount" in (await shop.send(zed, typed)).text
    assert "12.50 TFC of credits" in (await shop.send(zed, "12.5 TFC")).text

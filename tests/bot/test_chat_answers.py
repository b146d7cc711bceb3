"""Every message gets an answer, through the real PTB Application polling the Telegram emulator:
unknown commands, /paysupport with the user's recent payments, /terms and /support with the
operator's texts from `[shop]`, the command menu, and plain text nobody asked for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import with_overrides
from handlers import texts
from sandbox.telegram_api import TelegramEmulator

from .conftest import Shopfront, make_config, make_secrets

SUPPORT = "Write to @gridshop_ops or ops@example.com, we answer within a day."
TERMS = "Terms of Example Shop: credits are prepaid and valid for a year."


@pytest.fixture
async def operator_shop(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[Shopfront]:
    config = with_overrides(make_config(tmp_path), "test", {"shop": {"support_text": SUPPORT, "terms_text": TERMS}})
    front = Shopfront(emu, tmp_path / "gridshop.db", config, make_secrets(emu))
    await front.start()
    try:
        yield front
    finally:
        await front.stop()


async def test_an_unknown_command_points_at_help(shop: Shopfront) -> None:
    amy = shop.user("Amy")
    reply = await shop.send(amy, "/foo bar")
    assert reply.text == "I do not know /foo. /help lists what I can do."
    assert "/frobnicate" in (await shop.send(amy, "/frobnicate@some_bot")).text


async def test_plain_text_nobody_asked_for_gets_a_hint(shop: Shopfront) -> None:
    amy = shop.user("Amy")
    reply = await shop.send(amy, "hello?")
    assert "/help" in reply.text and reply.buttons


async def test_paysupport_lists_the_five_latest_payments(shop: Shopfront) -> None:
    amy, bob = shop.user("Amy"), shop.user("Bob")
    empty = await shop.send(amy, "/paysupport")
    assert "refund" in empty.text and "no payments yet" in empty.text
    for i in range(7):
        await shop.db.record_payment("stars", f"charge-amy-{i}", user_id=amy, amount=100 * (i + 1),
                                     provider_amount=77 * (i + 1), provider_currency="XTR")
    await shop.db.record_payment("stars", "charge-bob", user_id=bob, amount=900, provider_amount=693,
                                 provider_currency="XTR")
    reply = await shop.send(amy, "/paysupport")
    lines = [line for line in reply.text.splitlines() if line.startswith("Payment #")]
    assert [line.split(" · id ")[1] for line in lines] == [f"charge-amy-{i}" for i in (6, 5, 4, 3, 2)]
    assert "7.00 TFC" in lines[0] and "Telegram Stars" in lines[0]
    assert "charge-bob" not in reply.text and "/support" in reply.text


async def test_support_and_terms_show_the_operators_texts(operator_shop: Shopfront) -> None:
    amy = operator_shop.user("Amy")
    assert (await operator_shop.send(amy, "/support")).text == SUPPORT
    assert (await operator_shop.send(amy, "/terms")).text == TERMS


async def test_support_and_terms_have_defaults(shop: Shopfront) -> None:
    amy = shop.user("Amy")
    assert (await shop.send(amy, "/support")).text == texts.SUPPORT_DEFAULT
    assert "refunded" in (await shop.send(amy, "/terms")).text


async def test_the_menu_offers_paysupport_terms_and_support(shop: Shopfront) -> None:
    names = {c["command"] for c in shop.emu.commands()}
    assert {"paysupport", "terms", "support"} <= names

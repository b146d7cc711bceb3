"""50 users paying with Stars (the emulator's pay_invoice) and buying at the same time, through
the real PTB Application: every balance ends exact, every payment is counted once, and the
ledger audit passes, before and after the deployment worker settles the purchases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox.telegram_api import TelegramEmulator

from .conftest import make_config, make_secrets
from .test_chat_deployments import GridShop

USERS = 50


@pytest.fixture
async def busy_emu() -> AsyncIterator[TelegramEmulator]:
    # Telegram's limits stay on, loosened so 50 users in a few seconds are not throttled.
    emulator = TelegramEmulator(rate_limit=True, per_chat_rate=50.0, per_chat_burst=50,
                                global_rate=2000.0, global_burst=2000, pre_checkout_timeout=8.0)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


async def _pay_stars(shop: GridShop, user_id: int, screen_id: int, data: str) -> None:
    """Press a Stars button, pay the invoice it sends, wait for the receipt."""
    await shop.press(user_id, screen_id, data=data)
    invoice = await shop.emu.wait_for(lambda: next(
        (m for m in shop.emu.bot_messages(user_id) if m.data.get("invoice")), None), timeout=20)
    paid = await shop.emu.pay_invoice(user_id, invoice.message_id)
    assert paid.paid, paid
    await shop.wait_text(user_id, screen_id, "aid with")  # the receipt (or VM status), in the order message


async def _top_up_then_buy(shop: GridShop, user_id: int) -> None:
    """10 TFC of Stars, then the small VM (4 TFC) from the balance."""
    menu = await shop.send(user_id, "/topup")
    await shop.press(user_id, menu.message_id, data="v1:top:1000")
    choices = await shop.wait_text(user_id, menu.message_id, "10.00 TFC of credits")
    stars = next(b["callback_data"] for b in choices.buttons if b["callback_data"].endswith(":stars"))
    await _pay_stars(shop, user_id, menu.message_id, stars)
    await shop.buy(user_id)


async def _buy_now(shop: GridShop, user_id: int) -> None:
    """The small VM paid directly with Stars (the purchase is placed with the payment)."""
    catalog = await shop.send(user_id, "/buy")
    await shop.press(user_id, catalog.message_id, data="v1:svc:vm-small")
    await shop.wait_text(user_id, catalog.message_id, "Price:")
    await shop.press(user_id, catalog.message_id, data="v1:buy:vm-small")
    choices = await shop.wait_text(user_id, catalog.message_id, "How would you like to pay?")
    stars = next(b["callback_data"] for b in choices.buttons if b["callback_data"].endswith(":stars"))
    await _pay_stars(shop, user_id, catalog.message_id, stars)


async def test_fifty_users_paying_and_buying_concurrently_end_exact(
    busy_emu: TelegramEmulator, tmp_path: Path
) -> None:
    shop = GridShop(busy_emu, tmp_path / "gridshop.db", make_config(tmp_path), make_secrets(busy_emu))
    await shop.start_with_grid(tmp_path)
    try:
        users = [shop.user(f"User{i}") for i in range(USERS)]
        savers, buy_now = users[0::2], users[1::2]
        await asyncio.wait_for(asyncio.gather(
            *(_top_up_then_buy(shop, u) for u in savers), *(_buy_now(shop, u) for u in buy_now)), 45)

        for u in savers:
            balance = await shop.db.balance(u)
            assert (balance.available, balance.held) == (600, 400), u
        for u in buy_now:
            balance = await shop.db.balance(u)
            assert (balance.available, balance.held) == (0, 400), u
        report = await shop.db.audit()
        assert report.ok, report.violations
        assert report.payments == USERS

        # The worker deploys every purchase; the holds are settled, nothing is held any more.
        assert await shop.worker.run_once() == USERS
        for u in users:
            balance = await shop.db.balance(u)
            assert (balance.posted, balance.held) == (600 if u in savers else 0, 0), u
            assert [o.state for o in await shop.db.orders(u) if o.kind == "purchase"] == ["completed"]
        report = await shop.db.audit()
        assert report.ok, report.violations
    finally:
        await shop.stop()

"""The shop's rate limiter and update processor through the real PTB Application against the Bot
API emulator: messages paced under Telegram's flood limits, and a payer's pre-checkout answered
while messages wait out a 429 and while every place for other updates is taken."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.app import CONCURRENT_UPDATES
from handlers.deps import Shop
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_ratelimit import FloodControl

from .conftest import Shopfront, make_config, make_secrets
from .test_telegram_payments import _invoice_from_menu


def refused(shop: Shopfront) -> list[str]:
    return [c.method for c in shop.emu.calls if c.error_code == 429]


async def test_a_burst_of_answers_stays_under_telegrams_limits(shop: Shopfront) -> None:
    shop.emu.flood = FloodControl(1.0, 3, 30.0, 30)  # the emulator's defaults: Telegram's limits
    people = [shop.user(f"P{i}") for i in range(40)]
    eager = shop.user("Eager")
    await asyncio.gather(*(shop.emu.send_text(u, "/balance") for u in people),
                         *(shop.emu.send_text(eager, "/balance") for _ in range(6)))
    await shop.emu.wait_for(lambda: all(shop.emu.bot_messages(u) for u in people)
                            and len(shop.emu.bot_messages(eager)) == 6, timeout=60)
    assert refused(shop) == []  # six answers in one chat were paced, not refused


async def test_pre_checkout_is_answered_while_messages_wait_out_a_429(shop: Shopfront) -> None:
    payer = shop.user("Payer")
    invoice = await _invoice_from_menu(shop, payer)
    # Telegram now allows one message every 5 s overall: the second answer gets a 429
    # (retry_after 5) and the shop holds its messages back.
    shop.emu.flood = FloodControl(1.0, 3, 0.2, 1)
    others = [shop.user(f"O{i}") for i in range(3)]
    for user in others:
        await shop.emu.send_text(user, "/balance")
    await shop.emu.wait_for(lambda: refused(shop))
    result = await shop.emu.pay_invoice(payer, invoice.message_id)
    assert result.paid  # answered within the pre-checkout deadline (3 s here)
    unanswered = [u for u in others if not shop.emu.bot_messages(u)]
    assert unanswered, "the pre-checkout answer came only after the held-back messages"
    await shop.emu.wait_for(lambda: all(shop.emu.bot_messages(u) for u in others), timeout=30)


async def test_pre_checkout_is_answered_while_all_places_are_taken(
        emu: TelegramEmulator, tmp_path: Path) -> None:
    release = asyncio.Event()
    started: list[int] = []

    async def busy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_user is not None
        started.append(update.effective_user.id)
        await release.wait()

    def install(application: Application, shop: Shop) -> None:  # type: ignore[type-arg]
        application.add_handler(CommandHandler("busy", busy))

    front = Shopfront(emu, tmp_path / "busy.db", make_config(tmp_path), make_secrets(emu))
    await front.start(extra=[install])
    try:
        payer = front.user("Payer")
        invoice = await _invoice_from_menu(front, payer)
        crowd = [front.user(f"C{i}") for i in range(CONCURRENT_UPDATES + 5)]
        for user in crowd:
            await emu.send_text(user, "/busy")
        await emu.wait_for(lambda: len(started) == CONCURRENT_UPDATES)
        result = await emu.pay_invoice(payer, invoice.message_id)
        assert result.paid  # answered while every other update waits for a place
        assert len(started) == CONCURRENT_UPDATES  # the crowd is still waiting
    finally:
        release.set()
        await front.stop()

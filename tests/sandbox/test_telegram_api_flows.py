"""End-to-end flows against the Telegram emulator with a real PTB Application.

Covers the Stars payment flow through polling handlers, webhook delivery with the secret
header and retries, PTB's AIORateLimiter against the emulator's 429s, and the standalone
``python -m sandbox.telegram_api`` entry point.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, LabeledPrice, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from sandbox.telegram_api import TelegramEmulator


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False, pre_checkout_timeout=2.0)
    await emulator.start()
    yield emulator
    await emulator.stop()


def shop_app(emu: TelegramEmulator, *, accept: bool = True) -> Application:
    """A tiny Stars shop: /buy sends an invoice, pre-checkout answers, payment is thanked."""

    async def buy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_invoice(update.effective_chat.id, "VM small", "1 vCPU for 30 days", "order-42.sig",
                                       "XTR", [LabeledPrice("VM small", 25)])

    async def pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.pre_checkout_query
        assert query is not None
        if accept and query.invoice_payload == "order-42.sig" and query.total_amount == 25:
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="This order is no longer available")

    async def paid(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.successful_payment is not None
        payment = update.message.successful_payment
        await update.message.reply_text(f"Paid {payment.total_amount} {payment.currency}: "
                                        f"{payment.telegram_payment_charge_id}")

    app = ApplicationBuilder().token(emu.token).base_url(emu.api_url).build()
    app.add_handler(CommandHandler("buy", buy))
    app.add_handler(PreCheckoutQueryHandler(pre_checkout))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, paid))
    return app


async def run_polling(app: Application) -> None:
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=Update.ALL_TYPES)


async def stop_polling(app: Application) -> None:
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


async def test_stars_payment_flow_through_application(emu: TelegramEmulator) -> None:
    user = emu.add_user("Alice")
    app = shop_app(emu)
    await run_polling(app)
    try:
        await emu.send_text(user["id"], "/buy")
        invoice = await emu.wait_for_bot_message(user["id"])
        assert invoice.invoice is not None and invoice.data["invoice"]["total_amount"] == 25
        result = await emu.pay_invoice(user["id"], invoice.message_id)
        assert result.status == "paid" and result.total_amount == 25 and result.currency == "XTR"
        assert result.message is not None and result.message["successful_payment"]["invoice_payload"] == "order-42.sig"
        thanks = await emu.wait_for_bot_message(user["id"], after_message_id=invoice.message_id)
        assert thanks.text == f"Paid 25 XTR: {result.telegram_payment_charge_id}"
        [tx] = emu.star_transactions()
        assert tx["id"] == result.telegram_payment_charge_id and tx["amount"] == 25
        assert tx["source"] == {"type": "user", "transaction_type": "invoice_payment", "user": user,
                                "invoice_payload": "order-42.sig"}
        assert await app.bot.refund_star_payment(user["id"], result.telegram_payment_charge_id) is True
        assert emu.star_transactions()[-1]["receiver"]["user"]["id"] == user["id"]
    finally:
        await stop_polling(app)


async def test_rejected_payment_through_application(emu: TelegramEmulator) -> None:
    user = emu.add_user("Bob")
    app = shop_app(emu, accept=False)
    await run_polling(app)
    try:
        async with Bot(emu.token, base_url=emu.api_url) as bot:
            link = await bot.create_invoice_link("VM small", "d", "order-42.sig", "XTR", [LabeledPrice("VM", 25)])
        result = await emu.pay_invoice(user["id"], invoice_link=link)
        assert (result.status, result.error_message) == ("rejected", "This order is no longer available")
        assert emu.star_transactions() == []
        assert [m for m in emu.messages(user["id"]) if "successful_payment" in m.data] == []
    finally:
        await stop_polling(app)


async def test_aio_rate_limiter_copes_with_429() -> None:
    emulator = TelegramEmulator(per_chat_rate=2.0, per_chat_burst=2)
    await emulator.start()
    try:
        user = emulator.add_user("Dora")
        async with Bot(emulator.token, base_url=emulator.api_url) as plain:
            await asyncio.gather(*(plain.send_message(user["id"], f"warm {i}") for i in range(2)))
        limiter = AIORateLimiter(max_retries=3)
        async with ApplicationBuilder().token(emulator.token).base_url(emulator.api_url).rate_limiter(
                limiter).build() as app:
            sent = await asyncio.gather(*(app.bot.send_message(user["id"], f"m{i}") for i in range(3)))
        assert [m.text for m in sent] == ["m0", "m1", "m2"]
        assert any(c.error_code == 429 for c in emulator.calls)  # the limiter really was throttled
        assert sorted(m.text or "" for m in emulator.bot_messages(user["id"])[-3:]) == ["m0", "m1", "m2"]
    finally:
        await emulator.stop()


async def test_webhook_delivery_with_secret_and_retry() -> None:
    emulator = TelegramEmulator(rate_limit=False, webhook_retry_initial=0.05)
    await emulator.start()
    received: list[tuple[str | None, dict[str, Any]]] = []
    answers = iter([500, 200, 200])

    async def hook(request: web.Request) -> web.Response:
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response(status=next(answers, 200))

    app = web.Application()
    app.router.add_post("/webhooks/telegram", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        user = emulator.add_user("Eve")
        async with Bot(emulator.token, base_url=emulator.api_url) as bot:
            await bot.set_webhook(f"http://127.0.0.1:{port}/webhooks/telegram", secret_token="hook-secret_1")
            await emulator.send_text(user["id"], "first")
            await emulator.send_text(user["id"], "second")
            await emulator.wait_for(lambda: not emulator.pending_updates() and len(received) >= 3)
            info = await bot.get_webhook_info()
        assert [secret for secret, _ in received] == ["hook-secret_1"] * 3
        assert [body["message"]["text"] for _, body in received] == ["first", "first", "second"]  # retried in order
        assert info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert [d.status for d in emulator.webhook_deliveries] == [500, 200, 200]
    finally:
        await emulator.stop()
        await runner.cleanup()


async def test_standalone_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "sandbox.telegram_api", "--host", "127.0.0.1", "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        assert f"http://127.0.0.1:{port}" in line
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as http:
            async with http.post("/_control/users", json={"first_name": "Zed", "user_id": 77}) as resp:
                assert resp.status == 200
        async with Bot("123456789:AAHsandboxTokenForGridshopTests0123456",
                       base_url=f"http://127.0.0.1:{port}/bot") as bot:
            assert (await bot.send_message(77, "hello")).text == "hello"
    finally:
        proc.terminate()
        proc.wait(5)

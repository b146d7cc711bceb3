"""`GET /healthz` and `POST /webhooks/telegram` on the real aiohttp server, with a minimal PTB
Application whose successful_payment handler writes to the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from ledger import Ledger
from sandbox.telegram_api import TelegramEmulator
from webhooks.app import make_app

from .harness import webhook_settings

SECRET = "tg_webhook_secret_123"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_healthz_200_then_503_when_the_db_is_gone(db_path: Path) -> None:
    ledger = await Ledger.open(db_path)
    runner, url = await serve(make_app(ledger, webhook_settings()))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["ok"] is True
            await ledger.close()
            async with http.get(f"{url}/healthz") as resp:
                assert resp.status == 503
    finally:
        await runner.cleanup()


def payment_update(update_id: int, user_id: int, charge_id: str, amount: int) -> dict[str, Any]:
    user = {"id": user_id, "is_bot": False, "first_name": "Pat"}
    return {"update_id": update_id, "message": {
        "message_id": 10 + update_id, "date": 1_790_000_000, "from": user,
        "chat": {"id": user_id, "type": "private", "first_name": "Pat"},
        "successful_payment": {"currency": "XTR", "total_amount": amount,
                               "invoice_payload": "1.sig", "telegram_payment_charge_id": charge_id,
                               "provider_payment_charge_id": ""}}}


@pytest.fixture
async def bot_app(telegram: TelegramEmulator, ledger: Ledger) -> AsyncIterator[Application]:
    application = Application.builder().token(telegram.token).base_url(telegram.api_url).build()
    failing: set[str] = {"stx_fail"}

    async def on_payment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        paid = update.message.successful_payment  # type: ignore[union-attr]
        if paid.telegram_payment_charge_id in failing:
            failing.discard(paid.telegram_payment_charge_id)
            raise RuntimeError("simulated crash before the ledger write")
        await ledger.record_payment("stars", paid.telegram_payment_charge_id,
                                    user_id=update.effective_user.id,  # type: ignore[union-attr]
                                    amount=paid.total_amount, provider_amount=paid.total_amount,
                                    provider_currency="XTR")

    application.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_payment))
    async with application:
        await application.start()
        yield application
        await application.stop()


async def test_telegram_webhook_checks_the_secret_and_commits_payments_before_2xx(
    bot_app: Application, ledger: Ledger
) -> None:
    runner, url = await serve(make_app(ledger, webhook_settings(telegram_secret=SECRET), telegram_application=bot_app))
    hook = f"{url}/webhooks/telegram"
    try:
        async with aiohttp.ClientSession() as http:
            update = payment_update(1, 55, "stx_ok", 500)
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                async with http.post(hook, json=update, headers=headers) as resp:
                    assert resp.status == 403
            assert await ledger.get_payment("stars", "stx_ok") is None
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(hook, json=update, headers=good) as resp:
                assert resp.status == 200
            # Already committed when the 2xx arrived: no waiting.
            assert (await ledger.balance(55)).available == 500
            async with http.post(hook, json=update, headers=good) as resp:  # Telegram's retry
                assert resp.status == 200
            assert (await ledger.balance(55)).available == 500

            failing = payment_update(2, 56, "stx_fail", 700)
            async with http.post(hook, json=failing, headers=good) as resp:
                assert resp.status == 500  # Telegram will deliver it again
            assert await ledger.get_payment("stars", "stx_fail") is None
            async with http.post(hook, json=failing, headers=good) as resp:
                assert resp.status == 200
            assert (await ledger.balance(56)).available == 700

            async with http.post(hook, data=b"not json", headers=good) as resp:
                assert resp.status == 400
    finally:
        await runner.cleanup()


async def test_telegram_webhook_queues_other_updates(bot_app: Application, ledger: Ledger) -> None:
    seen: list[str] = []

    async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(update.message.text)  # type: ignore[union-attr]

    bot_app.add_handler(MessageHandler(filters.TEXT, on_text))
    runner, url = await serve(make_app(ledger, webhook_settings(telegram_secret=SECRET), telegram_application=bot_app))
    try:
        update = {"update_id": 9, "message": {
            "message_id": 1, "date": 1_790_000_000, "text": "hi",
            "from": {"id": 5, "is_bot": False, "first_name": "T"},
            "chat": {"id": 5, "type": "private", "first_name": "T"}}}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/webhooks/telegram", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                assert resp.status == 200
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == ["hi"]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("access_log", [False, True])
async def test_the_access_log_is_written_only_when_configured(
        db_path: Path, caplog: pytest.LogCaptureFixture, access_log: bool) -> None:
    from bot.config import Config
    from bot.runtime import web_runner

    ledger = await Ledger.open(db_path)
    config = Config.model_validate({"server": {"access_log": access_log}})
    runner = web_runner(make_app(ledger, webhook_settings()), config)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        with caplog.at_level("INFO", logger="aiohttp.access"):
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{runner.addresses[0][1]}/healthz") as resp:
                    assert resp.status == 200
        lines = [r for r in caplog.records if r.name == "aiohttp.access"]
        assert len(lines) == (1 if access_log else 0)
    finally:
        await runner.cleanup()
        await ledger.close()

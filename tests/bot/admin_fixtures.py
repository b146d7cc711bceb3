"""Support for the admin command tests: a running shop with one admin, and helpers to act as the
admin, to pay with Stars, and to prove that a command got the unknown command's answer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .conftest import Shopfront, make_config, make_secrets

ADMIN_ID = 4242


class AdminFront(Shopfront):
    """A Shopfront whose config names one admin (`self.admin`)."""

    admin: int

    async def admin_says(self, text: str) -> ChatMessage:
        reply = await self.send(self.admin, text)
        # A prompt's message id is stored just after it is sent; let that land.
        await self.emu.wait_for(lambda: not self.sql(
            "SELECT 1 FROM admin_requests WHERE prompt_message_id IS NULL AND state = 'pending'"))
        return reply

    async def confirm(self, prompt: ChatMessage, prefix: str = "v1:adok:") -> dict[str, Any]:
        return await self.press(self.admin, prompt.message_id, data=self.button(prompt, prefix)["callback_data"])

    async def unknown(self, user_id: int, text: str) -> None:
        """`text` gets the answer an unknown command gets, and nothing else."""
        reply = await self.send(user_id, text)
        assert "do not know" in (reply.text or "") and "/help" in reply.text, f"{text!r}: {reply.text!r}"
        await self.settled(user_id)

    async def settled(self, user_id: int) -> None:
        """Nothing more is on its way to `user_id`: a /help sent now is the next answer."""
        last = self.emu.last_bot_message(user_id)
        await self.emu.send_text(user_id, "/help")
        reply = await self.emu.wait_for_bot_message(user_id, after_message_id=last.message_id if last else 0)
        assert "/topup" in (reply.text or ""), f"something else was answered: {reply.text!r}"
        await asyncio.sleep(0.05)
        later = [m for m in self.emu.bot_messages(user_id) if m.message_id > reply.message_id]
        assert not later, f"answered late: {[m.text for m in later]}"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db_path)
        try:
            return conn.execute(query, args).fetchall()
        finally:
            conn.close()

    def snapshot(self) -> tuple[Any, ...]:
        """Everything an admin command could change."""
        return tuple(self.sql(f"SELECT * FROM {table} ORDER BY 1") for table in (
            "transfers", "accounts", "holds", "admin_log", "admin_requests", "service_overrides",
            "deployments", "payments"))

    def redeliver(self, message: dict[str, Any]) -> None:
        """Telegram delivers the same message again (the bot's confirm of it was lost)."""
        self.emu.world.enqueue("message", message)

    async def pay_stars(self, user_id: int, cents: int = 1000) -> str:
        """The user tops up `cents` with Stars through the chat; returns the charge id."""
        menu = await self.send(user_id, "/topup")
        await self.press(user_id, menu.message_id, data=f"v1:top:{cents}")
        choices = await self.wait_text(user_id, menu.message_id, "TFC of credits")
        button = next(b for b in choices.buttons if b["callback_data"].endswith(":stars"))
        await self.press(user_id, choices.message_id, data=button["callback_data"])
        invoice = await self.emu.wait_for(lambda: next(
            (m for m in self.emu.bot_messages(user_id) if m.data.get("invoice")), None))
        result = await self.emu.pay_invoice(user_id, invoice.message_id)
        assert result.paid and result.telegram_payment_charge_id
        charge = result.telegram_payment_charge_id
        await self.emu.wait_for(lambda: self.sql("SELECT 1 FROM payments WHERE external_id = ?", charge))
        return charge


def make_front(emu: TelegramEmulator, tmp_path: Path, **config: Any) -> AdminFront:
    settings = make_config(tmp_path, **config)
    admin = emu.add_user("Root", user_id=ADMIN_ID, username="root_admin")
    settings.admin.user_ids = [int(admin["id"])]
    front = AdminFront(emu, tmp_path / "gridshop.db", settings, make_secrets(emu))
    front.admin = int(admin["id"])
    return front


@pytest.fixture
async def admin_shop(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[AdminFront]:
    front = make_front(emu, tmp_path)
    await front.start()
    try:
        yield front
    finally:
        await front.stop()

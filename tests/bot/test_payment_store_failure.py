"""A passing store error (disk full, I/O, locked) on successful_payment is not a refusal: the
payment is not parked or dropped; it is kept in the spool beside the database and credited
once the ledger writes again, with its receipt. A card payment has no getStarTransactions to
find it later, so this is the only way it is not lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import ledger.store as store_module
from handlers import texts
from ledger import inbox
from sandbox.telegram_api import TelegramEmulator

from .conftest import Shopfront, make_config, make_secrets


async def test_a_card_payment_met_by_a_full_disk_is_credited_when_the_disk_is_back(
    emu: TelegramEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    front = Shopfront(emu, tmp_path / "gridshop.db", make_config(tmp_path, card=True), make_secrets(emu, card=True))
    await front.start(spool_interval_s=0.2)
    try:
        ida = front.user("Ida")
        menu = await front.send(ida, "/topup")
        await front.press(ida, menu.message_id, data="v1:top:1000")
        choices = await front.wait_text(ida, menu.message_id, "10.00 TFC of credits")
        button = next(b for b in choices.buttons if b["callback_data"].endswith(":card"))
        await front.press(ida, choices.message_id, data=button["callback_data"])
        invoice = await emu.wait_for(lambda: next(
            (m for m in emu.bot_messages(ida) if m.data.get("invoice")), None))

        real_batch = store_module._run_batch

        def disk_full(conn: sqlite3.Connection, ops: list) -> list:  # type: ignore[type-arg]
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(store_module, "_run_batch", disk_full)
        paid = await emu.pay_invoice(ida, invoice.message_id)
        assert paid.paid and paid.message is not None
        await front.wait_reply(ida, paid.message["message_id"], texts.PAYMENT_BEING_RECORDED)
        assert await front.db.payments(ida) == []
        spool = Path(f"{tmp_path / 'gridshop.db'}.payments-spool.jsonl")
        assert paid.telegram_payment_charge_id in spool.read_text()

        monkeypatch.setattr(store_module, "_run_batch", real_batch)  # the disk has room again
        receipt = await front.wait_text(ida, front.emu.bot_messages(ida)[0].message_id, "paid with")
        assert receipt.text == "✅ Top-up #1: 10.00 TFC of credits, paid with 10.00 USD by card.\nBalance: 10.00 TFC."
        assert [(p.provider, p.amount) for p in await front.db.payments(ida)] == [("telegram_card", 1000)]
        assert await front.db.read(lambda conn: inbox.open_events(conn)) == []  # never parked
        await emu.wait_for(lambda: spool.read_text() == "")  # emptied once the receipt is told
        report = await front.db.audit()
        assert report.ok and report.parked == 0
    finally:
        await front.stop()

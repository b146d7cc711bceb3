"""Stars reconciliation reads getStarTransactions from a stored cursor, a bounded number of pages
per round: a refund listed after 250 other transactions is found without re-reading the list
from the start each round; and a refunded_payment update Telegram does not list is parked, not
clawed back."""

from __future__ import annotations

import asyncio
import copy
import time
from pathlib import Path

from telegram import Bot, LabeledPrice

from ledger import Ledger, cursors, inbox
from payments.payload import sign_payload
from payments.telegram_credit import credit_order_payment
from payments.telegram_reconcile import CURSOR, reconcile_star_transactions
from sandbox.telegram_api import TelegramEmulator

from .conftest import PAYLOAD_SECRET, Shopfront, make_config, make_secrets


def _withdrawals(emu: TelegramEmulator, count: int) -> None:
    """Outgoing transactions of the bot (Fragment withdrawals), which reconciliation skips."""
    for i in range(count):
        emu.world.star_transactions.append({"id": f"w{len(emu.world.star_transactions)}-{i}", "amount": 1,
                                            "date": int(time.time()), "receiver": {"type": "fragment"}})


def _pages_read(emu: TelegramEmulator) -> int:
    return sum(c.method == "getStarTransactions" for c in emu.calls)


async def test_a_late_refund_is_found_from_the_cursor_in_bounded_calls(emu: TelegramEmulator, tmp_path: Path) -> None:
    user = int(emu.add_user("Ivy")["id"])
    ledger = await Ledger.open(tmp_path / "cursor.db")
    try:
        order = await ledger.create_order("ivy", user, "topup", 1000)
        async with Bot(emu.token, base_url=emu.api_url) as bot:
            sent = await bot.send_invoice(user, "Credits", "d", sign_payload(order.id, PAYLOAD_SECRET), "XTR",
                                          [LabeledPrice("Credits", 770)])
            paying = asyncio.create_task(emu.pay_invoice(user, sent.message_id))
            updates = await bot.get_updates(timeout=2, allowed_updates=["pre_checkout_query", "message"])
            await updates[-1].pre_checkout_query.answer(ok=True)
            charge = (await paying).telegram_payment_charge_id
            assert charge is not None
            await credit_order_payment(ledger, provider="stars", charge_id=charge, user_id=user,
                                       order_id=order.id, provider_amount=770, provider_currency="XTR")
            _withdrawals(emu, 250)

            before = _pages_read(emu)
            await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77, max_pages=2)
            assert _pages_read(emu) - before == 2  # bounded: a backlog is worked off over rounds
            assert await ledger.read(lambda conn: cursors.get(conn, CURSOR)) == "200"

            emu.world.refund(emu.world.charges[charge])  # listed at the end, 252nd
            before = _pages_read(emu)
            report = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77, max_pages=2)
            # From one page before the cursor (100) to the end (252): two pages, not three.
            assert _pages_read(emu) - before == 2
            assert report.clawed_back == [charge]
            assert await ledger.read(lambda conn: cursors.get(conn, CURSOR)) == "252"
            assert (await ledger.balance(user)).posted == 0

            again = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77)
            assert again.clawed_back == []  # the re-scan window sees it again, applies it once
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()


async def test_a_refunded_payment_update_telegram_does_not_list_is_parked(emu: TelegramEmulator, tmp_path: Path) -> None:
    front = Shopfront(emu, tmp_path / "gridshop.db", make_config(tmp_path), make_secrets(emu))
    await front.start()
    try:
        kim = front.user("Kim")
        menu = await front.send(kim, "/topup")
        await front.press(kim, menu.message_id, data="v1:top:1000")
        choices = await front.wait_text(kim, menu.message_id, "10.00 TFC of credits")
        stars = next(b for b in choices.buttons if b["callback_data"].endswith(":stars"))
        await front.press(kim, choices.message_id, data=stars["callback_data"])
        invoice = await emu.wait_for(lambda: next((m for m in emu.bot_messages(kim) if m.data.get("invoice")), None))
        paid = await emu.pay_invoice(kim, invoice.message_id)
        await front.wait_text(kim, choices.message_id, "paid with")  # the receipt, in the order message

        # A refunded_payment message for that charge, which Telegram never refunded.
        forged = copy.deepcopy(paid.message)
        forged["message_id"] += 100
        sp = forged.pop("successful_payment")
        forged["refunded_payment"] = {"currency": "XTR", "total_amount": sp["total_amount"],
                                      "invoice_payload": sp["invoice_payload"],
                                      "telegram_payment_charge_id": sp["telegram_payment_charge_id"]}
        emu.world.enqueue("message", forged)
        found: list[inbox.ProviderEvent] = []
        for _ in range(100):
            found = await front.db.read(lambda conn: inbox.open_events(conn))
            if found:
                break
            await asyncio.sleep(0.05)
        assert found and found[0].kind == "refunded_payment" and "lists no refund" in found[0].reason
        assert (await front.db.balance(kim)).available == 1000  # nothing taken back
        [payment] = await front.db.payments(kim)
        assert payment.refunded == 0
    finally:
        await front.stop()

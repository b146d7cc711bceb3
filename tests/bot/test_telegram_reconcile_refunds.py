"""Stars reconciliation and refunds: a payment refunded at Telegram whose refund the ledger
never saw (the refunded_payment update was lost, or the process died between refundStarPayment
and the clawback) is taken back by reconciliation, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Bot, LabeledPrice

from ledger import Ledger
from payments.payload import sign_payload
from payments.telegram_credit import credit_order_payment
from payments.telegram_reconcile import reconcile_star_transactions
from sandbox.telegram_api import TelegramEmulator

from .conftest import PAYLOAD_SECRET


async def _paid_then_refunded_behind_our_back(emu: TelegramEmulator, bot: Bot, ledger: Ledger,
                                              user: int, order_id: int) -> str:
    """Pay a 770-Star invoice for the order, credit it, then refund it at Telegram without the
    bot ever seeing the refunded_payment update; returns the charge id."""
    sent = await bot.send_invoice(user, "Credits", "d", sign_payload(order_id, PAYLOAD_SECRET), "XTR",
                                  [LabeledPrice("Credits", 770)])
    paying = asyncio.create_task(emu.pay_invoice(user, sent.message_id))
    updates = await bot.get_updates(timeout=2, allowed_updates=["pre_checkout_query", "message"])
    await updates[-1].pre_checkout_query.answer(ok=True)
    result = await paying
    charge_id = result.telegram_payment_charge_id
    assert result.paid and charge_id is not None
    credited = await credit_order_payment(
        ledger, provider="stars", charge_id=charge_id, user_id=user, order_id=order_id,
        provider_amount=770, provider_currency="XTR")
    assert credited.new and (await ledger.balance(user)).available == 1000
    emu.world.refund(emu.world.charges[charge_id])
    return charge_id


async def test_reconciliation_takes_back_a_refund_the_ledger_missed(emu: TelegramEmulator, tmp_path: Path) -> None:
    uma = int(emu.add_user("Uma", username="uma_user")["id"])
    ledger = await Ledger.open(tmp_path / "refund.db")
    try:
        order = await ledger.create_order("uma-topup", uma, "topup", 1000)
        async with Bot(emu.token, base_url=emu.api_url) as bot:
            await _paid_then_refunded_behind_our_back(emu, bot, ledger, uma, order.id)

            first = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77)
            again = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77)
        assert first.credited == [] and again.credited == []
        [payment] = await ledger.payments(uma)
        assert payment.refunded == 1000
        assert (await ledger.balance(uma)).available == 0
        clawbacks = await ledger.read(lambda conn: conn.execute(
            "SELECT count(*) FROM transfers WHERE kind = 'clawback'").fetchone()[0])
        assert clawbacks == 1
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()


async def test_reconciled_refund_tells_the_user_and_admins_once(emu: TelegramEmulator, tmp_path: Path) -> None:
    uma = int(emu.add_user("Uma", username="uma_user")["id"])
    admins = [9001, 9002]
    ledger = await Ledger.open(tmp_path / "refund-notice.db")
    try:
        order = await ledger.create_order("uma-topup", uma, "topup", 1000)
        async with Bot(emu.token, base_url=emu.api_url) as bot:
            charge_id = await _paid_then_refunded_behind_our_back(emu, bot, ledger, uma, order.id)

            first = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77,
                                                      admin_ids=admins)
            again = await reconcile_star_transactions(bot, ledger, PAYLOAD_SECRET, stars_per_tfc=77,
                                                      admin_ids=admins)
        assert first.clawed_back == [charge_id] and again.clawed_back == []
        rows = await ledger.read(lambda conn: conn.execute(
            "SELECT chat_id, key, text FROM notifications WHERE key NOT LIKE 'receipt:%' ORDER BY chat_id").fetchall())
        assert sorted(chat for chat, _, _ in rows) == sorted([uma, *admins])
        [(key, text)] = [(key, text) for chat, key, text in rows if chat == uma]
        assert key == f"refund:stars:{charge_id}"
        assert f"order #{order.id}" in text and "10.00 TFC" in text
        for admin in admins:
            [(key, text)] = [(key, text) for chat, key, text in rows if chat == admin]
            assert key == f"refund:stars:{charge_id}:admin:{admin}"
            assert charge_id in text and str(uma) in text
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()

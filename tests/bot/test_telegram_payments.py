"""Telegram payments through the real PTB Application and the emulator: Stars and card invoices,
pre-checkout refusals, exactly-once crediting, buy-now, refunds, reconciliation, blocked users."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Bot, LabeledPrice

from ledger import Ledger, users
from payments.payload import sign_payload
from payments.telegram_refunds import refund_star_payment
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .conftest import PAYLOAD_SECRET, PROVIDER_TOKEN, Shopfront, make_config, make_secrets


async def _invoice_from_menu(shop: Shopfront, user_id: int, method: str = "stars") -> ChatMessage:
    """Open a 10 TFC top-up from /topup and ask for its invoice; returns the invoice (the order
    message, where the receipt goes, is the one `_order_message` finds)."""
    menu = await shop.send(user_id, "/topup")
    await shop.press(user_id, menu.message_id, data="v1:top:1000")
    choices = await shop.wait_text(user_id, menu.message_id, "10.00 TFC of credits")
    button = next(b for b in choices.buttons if b["callback_data"].endswith(f":{method}"))
    await shop.press(user_id, choices.message_id, data=button["callback_data"])
    return await shop.emu.wait_for(lambda: next(
        (m for m in shop.emu.bot_messages(user_id) if m.data.get("invoice")), None))


def _order_message(shop: Shopfront, user_id: int) -> ChatMessage:
    """The top-up's order message: the bot's first message, the /topup menu it grew out of."""
    return shop.emu.bot_messages(user_id)[0]


async def _receipt(shop: Shopfront, user_id: int) -> ChatMessage:
    """The receipt of the top-up: its order message, edited once paid."""
    return await shop.wait_text(user_id, _order_message(shop, user_id).message_id, "paid with")


async def _payments(db: Ledger, user_id: int) -> list[tuple[str, int, int]]:
    return [(p.provider, p.amount, p.provider_amount) for p in await db.payments(user_id)]


async def test_stars_topup_is_credited_once_with_a_receipt(shop: Shopfront) -> None:
    amy = shop.user("Amy")
    invoice = await _invoice_from_menu(shop, amy)
    data = invoice.data["invoice"]
    assert (data["currency"], data["total_amount"]) == ("XTR", 770)
    call = next(c for c in shop.emu.calls if c.method == "sendInvoice")
    assert call.params.get("provider_token", "") == "" and "payload" in call.params
    result = await shop.emu.pay_invoice(amy, invoice.message_id)
    assert result.paid
    receipt = await _receipt(shop, amy)
    assert receipt.text == "✅ Top-up #1: 10.00 TFC of credits, paid with 770 Stars.\nBalance: 10.00 TFC."
    assert receipt.buttons == []  # its pay buttons are gone
    assert shop.emu.bot_messages(amy)[-1].invoice is not None  # and no message after the invoice
    assert await _payments(shop.db, amy) == [("stars", 1000, 770)]
    [order] = await shop.db.orders(amy)
    assert order.state == "paid"


async def test_replayed_successful_payment_credits_once(shop: Shopfront) -> None:
    bo = shop.user("Bo")
    invoice = await _invoice_from_menu(shop, bo)
    result = await shop.emu.pay_invoice(bo, invoice.message_id)
    await _receipt(shop, bo)
    assert result.message is not None
    for _ in range(2):  # Telegram redelivers the same update (same charge id)
        shop.emu.world.enqueue("message", result.message)
    await shop.emu.wait_for(lambda: not shop.emu.pending_updates())
    await asyncio.sleep(0.2)
    assert await _payments(shop.db, bo) == [("stars", 1000, 770)]
    assert (await shop.db.balance(bo)).available == 1000
    assert len(_edits_of(shop, bo, _order_message(shop, bo).message_id, "paid with")) == 1
    assert shop.emu.bot_messages(bo)[-1].invoice is not None  # no receipt of its own either


async def test_paying_an_old_invoice_again_is_refused(shop: Shopfront) -> None:
    cy = shop.user("Cy")
    invoice = await _invoice_from_menu(shop, cy)
    await shop.emu.pay_invoice(cy, invoice.message_id)
    await _receipt(shop, cy)
    again = await shop.emu.pay_invoice(cy, invoice.message_id)
    assert again.status == "rejected"
    assert again.error_message == "This order is already paid; you were not charged again."
    assert await _payments(shop.db, cy) == [("stars", 1000, 770)]


async def _pay_crafted(shop: Shopfront, user_id: int, payload: str, currency: str, amount: int,
                       provider_token: str | None = None):
    message = await shop.app.bot.send_invoice(user_id, "Credits", "test", payload, currency,
                                              [LabeledPrice("Credits", amount)], provider_token=provider_token)
    return await shop.emu.pay_invoice(user_id, message.message_id)


async def test_pre_checkout_refuses_forged_wrong_and_foreign_invoices(shop: Shopfront) -> None:
    dot, eli = shop.user("Dot"), shop.user("Eli")
    order = await shop.db.create_order("dot-topup", dot, "topup", 1000)
    good = sign_payload(order.id, PAYLOAD_SECRET)
    cases = [
        (dot, sign_payload(order.id, "another secret"), "XTR", 770, "This invoice is not valid. Please order again."),
        (dot, f"{order.id}.tampered", "XTR", 770, "This invoice is not valid. Please order again."),
        (dot, sign_payload(order.id + 1, PAYLOAD_SECRET), "XTR", 770, "This order no longer exists. Please order again."),
        (dot, good, "XTR", 1, "The amount does not match the order. Please order again."),
        (eli, good, "XTR", 770, "This invoice was issued to another user."),
        (dot, good, "USD", 1000, "This currency is not accepted for this order."),
    ]
    for user_id, payload, currency, amount, reason in cases:
        token = PROVIDER_TOKEN if currency != "XTR" else None
        result = await _pay_crafted(shop, user_id, payload, currency, amount, token)
        assert (result.status, result.error_message) == ("rejected", reason), payload
    await shop.db.write(lambda conn, now: conn.execute(
        "UPDATE orders SET created_at = created_at - 2 * 86400 WHERE id = ?", (order.id,)))
    expired = await _pay_crafted(shop, dot, good, "XTR", 770)
    assert expired.error_message == "This invoice has expired. Please order again."
    assert shop.emu.star_transactions() == []
    assert await shop.db.payments(dot) == [] and await shop.db.payments(eli) == []
    assert (await shop.db.get_order(order.id)).state == "open"


async def test_buy_now_with_stars_places_the_purchase_in_the_same_transaction(shop: Shopfront) -> None:
    fox = shop.user("Fox")
    catalog = await shop.send(fox, "/buy")
    await shop.press(fox, catalog.message_id, data="v1:svc:vm-medium")
    await shop.wait_text(fox, catalog.message_id, "Price:")
    await shop.press(fox, catalog.message_id, data="v1:buy:vm-medium")
    choices = await shop.wait_text(fox, catalog.message_id, "How would you like to pay?")
    stars = next(b for b in choices.buttons if b["callback_data"].endswith(":stars"))
    assert stars["text"] == "⭐ Pay 655 Stars"  # ceil(850 * 77 / 100) = ceil(654.5)
    await shop.press(fox, choices.message_id, data=stars["callback_data"])
    invoice = await shop.emu.wait_for(lambda: next(
        (m for m in shop.emu.bot_messages(fox) if m.data.get("invoice")), None))
    await shop.emu.pay_invoice(fox, invoice.message_id)
    # The order message is the receipt and the VM's status: paid, queued, no pay buttons.
    paid_order = await shop.wait_text(fox, choices.message_id, "Paid with")
    assert paid_order.text == ("✅ Paid with 655 Stars.\n"
                               "⏳ Medium VM #1 is queued for deployment on the ThreeFold grid.")
    assert not paid_order.buttons
    assert shop.emu.bot_messages(fox)[-1].invoice is not None  # no receipt message of its own
    [order] = await shop.db.orders(fox)
    assert order.state == "placed"
    balance = await shop.db.balance(fox)
    assert (balance.available, balance.held) == (0, 850)
    assert "Medium VM #1 · queued" in (await shop.send(fox, "/deployments")).text
    assert (await shop.db.audit()).ok


async def test_card_invoice_when_enabled(emu: TelegramEmulator, tmp_path: Path) -> None:
    front = Shopfront(emu, tmp_path / "card.db", make_config(tmp_path, card=True), make_secrets(emu, card=True))
    await front.start()
    try:
        gia = front.user("Gia")
        invoice = await _invoice_from_menu(front, gia, "card")
        assert (invoice.data["invoice"]["currency"], invoice.data["invoice"]["total_amount"]) == ("USD", 1000)
        await emu.pay_invoice(gia, invoice.message_id)
        receipt = await _receipt(front, gia)
        assert receipt.text == "✅ Top-up #1: 10.00 TFC of credits, paid with 10.00 USD by card.\nBalance: 10.00 TFC."
        assert await _payments(front.db, gia) == [("telegram_card", 1000, 1000)]
    finally:
        await front.stop()


async def test_card_and_stripe_buttons_hidden_unless_configured(shop: Shopfront) -> None:
    hex_ = shop.user("Hex")
    menu = await shop.send(hex_, "/topup")
    await shop.press(hex_, menu.message_id, data="v1:top:500")
    choices = await shop.wait_text(hex_, menu.message_id, "of credits")
    methods = [b["callback_data"].rsplit(":", 1)[1] for b in choices.buttons if b["callback_data"].startswith("v1:pay:")]
    assert methods == ["stars"]
    order_id = int(choices.buttons[0]["callback_data"].split(":")[2])
    answer = await shop.forge_press(hex_, choices.message_id, f"v1:pay:{order_id}:card")
    assert answer["text"] == "This payment method is not available."


async def test_stripe_button_uses_the_collaborator(emu: TelegramEmulator, tmp_path: Path) -> None:
    calls = []

    async def checkout(order, user_id):  # type: ignore[no-untyped-def]
        calls.append((order.id, user_id))
        return f"https://checkout.example.com/{order.id}"

    front = Shopfront(emu, tmp_path / "s.db", make_config(tmp_path, stripe=True), make_secrets(emu))
    await front.start(stripe_checkout=checkout)
    try:
        ida = front.user("Ida")
        menu = await front.send(ida, "/topup")
        await front.press(ida, menu.message_id, data="v1:top:500")
        choices = await front.wait_text(ida, menu.message_id, "of credits")
        stripe = next(b for b in choices.buttons if b["callback_data"].endswith(":stripe"))
        await front.press(ida, choices.message_id, data=stripe["callback_data"])
        link = await front.wait_text(ida, choices.message_id, "Stripe")  # the order message itself
        assert link.buttons[0]["url"].startswith("https://checkout.example.com/")
        assert link.buttons[1]["text"] == "« Other ways to pay"
        assert len(front.emu.bot_messages(ida)) == 1
        assert calls and calls[0][1] == ida
    finally:
        await front.stop()


async def test_stars_refund_debits_once_even_when_already_refunded(shop: Shopfront) -> None:
    jay = shop.user("Jay")
    invoice = await _invoice_from_menu(shop, jay)
    result = await shop.emu.pay_invoice(jay, invoice.message_id)
    await _receipt(shop, jay)
    charge = result.telegram_payment_charge_id
    assert charge is not None
    first = await refund_star_payment(shop.app.bot, shop.db, charge)
    assert not first.already_refunded_at_telegram and first.amount == 1000
    second = await refund_star_payment(shop.app.bot, shop.db, charge)  # CHARGE_ALREADY_REFUNDED
    assert second.already_refunded_at_telegram and second.transfer.id == first.transfer.id
    # The refunded_payment update Telegram sends is applied with the same key: still once.
    await shop.wait_reply(jay, result.message["message_id"], "returned to you in Telegram Stars")
    [payment] = await shop.db.payments(jay)
    assert payment.refunded == 1000
    assert (await shop.db.balance(jay)).available == 0
    refunds = await shop.db.read(lambda conn: conn.execute(
        "SELECT count(*) FROM transfers WHERE kind = 'clawback'").fetchone()[0])
    assert refunds == 1
    assert (await shop.db.audit()).ok


async def test_reconciliation_recovers_a_payment_the_bot_never_processed(
        emu: TelegramEmulator, tmp_path: Path) -> None:
    front = Shopfront(emu, tmp_path / "r.db", make_config(tmp_path), make_secrets(emu))
    kai = front.user("Kai")
    front.ledger = await Ledger.open(front.db_path)
    order = await front.db.create_order("kai-topup", kai, "topup", 1000)
    # The bot answered pre-checkout, then crashed before handling successful_payment.
    async with Bot(emu.token, base_url=emu.api_url) as bot:
        sent = await bot.send_invoice(kai, "Credits", "d", sign_payload(order.id, PAYLOAD_SECRET), "XTR",
                                      [LabeledPrice("Credits", 770)])
        paying = asyncio.create_task(emu.pay_invoice(kai, sent.message_id))
        updates = await bot.get_updates(timeout=2, allowed_updates=["pre_checkout_query", "message"])
        await updates[-1].pre_checkout_query.answer(ok=True)
        result = await paying
        lost = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
        await bot.get_updates(offset=lost[-1].update_id + 1, timeout=0)  # confirmed, never processed
    assert result.paid and await front.db.payments(kai) == []
    await front.start()  # reconciliation runs at start
    try:
        # No order message is known (the order was opened outside the chat): a new message.
        receipt = await front.wait_reply(kai, result.message["message_id"], "paid with")
        assert receipt.text == "✅ Top-up #1: 10.00 TFC of credits, paid with 770 Stars.\nBalance: 10.00 TFC."
        assert await _payments(front.db, kai) == [("stars", 1000, 770)]
        await front.restart()  # and again: nothing more
        await asyncio.sleep(0.3)
        assert await _payments(front.db, kai) == [("stars", 1000, 770)]
        assert (await front.db.get_order(order.id)).state == "paid"
    finally:
        await front.stop()


async def test_reconciliation_keeps_unmatched_payments_for_admins(emu: TelegramEmulator, tmp_path: Path) -> None:
    front = Shopfront(emu, tmp_path / "u.db", make_config(tmp_path), make_secrets(emu))
    lou = front.user("Lou")
    async with Bot(emu.token, base_url=emu.api_url) as bot:
        sent = await bot.send_invoice(lou, "X", "d", "not-ours", "XTR", [LabeledPrice("X", 5)])
        paying = asyncio.create_task(emu.pay_invoice(lou, sent.message_id))
        updates = await bot.get_updates(timeout=2)
        await updates[-1].pre_checkout_query.answer(ok=True)
        await paying
        lost = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
        await bot.get_updates(offset=lost[-1].update_id + 1, timeout=0)
    await front.start()
    try:
        from ledger import inbox

        found: list[inbox.ProviderEvent] = []
        for _ in range(50):
            found = await front.db.read(lambda conn: inbox.open_events(conn))
            if found:
                break
            await asyncio.sleep(0.05)
        assert [(e.provider, e.kind) for e in found] == [("stars", "star_transaction")]
        assert "invalid payload" in found[0].reason
        assert await front.db.payments(lou) == []
    finally:
        await front.stop()


async def test_user_who_blocked_the_bot_is_marked_and_nothing_crashes(shop: Shopfront) -> None:
    max_, ned = shop.user("Max"), shop.user("Ned")
    await shop.send(max_, "/start")
    shop.emu.block_bot(max_)

    async def blocked_at() -> int | None:
        user = await shop.db.read(lambda conn: users.get(conn, max_))
        return user.blocked_at if user else None

    for _ in range(50):
        if await blocked_at():
            break
        await asyncio.sleep(0.05)
    assert await blocked_at()
    # A message from the blocked user: the reply fails with 403 Forbidden, handled, still blocked.
    await shop.emu.send_text(max_, "/balance")
    await shop.emu.wait_for(lambda: any(c.error_code == 403 for c in shop.emu.calls))
    await asyncio.sleep(0.2)
    assert await blocked_at()
    assert "Hi Ned" in (await shop.send(ned, "/start")).text  # the bot still serves others
    shop.emu.unblock_bot(max_)
    for _ in range(50):
        if not await blocked_at():
            break
        await asyncio.sleep(0.05)
    assert not await blocked_at()


def _edits_of(shop: Shopfront, chat_id: int, message_id: int, contains: str) -> list[str]:
    return [c.params.get("text", "") for c in shop.emu.calls
            if c.method == "editMessageText" and c.ok and c.params.get("chat_id") == str(chat_id)
            and c.params.get("message_id") == str(message_id) and contains in c.params.get("text", "")]

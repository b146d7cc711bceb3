"""Every chat command through the real PTB Application polling the Telegram emulator."""

from __future__ import annotations

from pathlib import Path

from ledger import users
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .conftest import Shopfront, make_config, make_secrets


async def test_start_shows_welcome_balance_and_menu(shop: Shopfront) -> None:
    alice = shop.user("Alice")
    reply = await shop.send(alice, "/start")
    assert "Hi Alice" in reply.text and "0.00 TFC available" in reply.text
    assert [b["callback_data"] for b in reply.buttons] == ["v1:cat:0", "v1:bal", "v1:topm", "v1:hist:0",
                                                         "v1:ords", "v1:deps"]
    stored = await shop.db.read(lambda conn: users.get(conn, alice))
    assert stored is not None and stored.username == "alice_user" and stored.blocked_at is None


async def test_commands_are_registered_at_startup(shop: Shopfront) -> None:
    names = [c["command"] for c in shop.emu.commands()]
    assert {"start", "help", "services", "buy", "balance", "history", "topup", "orders",
            "deployments", "cancel"} <= set(names)


async def test_help_lists_commands(shop: Shopfront) -> None:
    reply = await shop.send(shop.user(), "/help")
    assert "/topup" in reply.text and "/deployments" in reply.text


async def test_balance_shows_available_held_and_debt(shop: Shopfront) -> None:
    bob = shop.user("Bob")
    reply = await shop.send(bob, "/balance")
    assert "Available: 0.00 TFC" in reply.text and "Debt" not in reply.text
    await shop.db.record_payment("stars", "c1", user_id=bob, amount=1000, provider_amount=770,
                                 provider_currency="XTR")
    order = await shop.db.create_order("o1", bob, "purchase", 400, "vm-small")
    await shop.db.purchase(order.id, bob)
    await shop.db.clawback("stars", "c1", "cb1", 1000, reason="test refund")
    reply = await shop.send(bob, "/balance")
    assert "Held for purchases in progress: 4.00 TFC" in reply.text
    assert "Debt: 0.00 TFC" not in reply.text


async def test_services_hide_disabled_and_open_a_card(shop: Shopfront) -> None:
    carol = shop.user("Carol")
    reply = await shop.send(carol, "/services")
    data = [b["callback_data"] for b in reply.buttons]
    assert data == ["v1:svc:vm-small", "v1:svc:vm-medium"]  # vm-xl is disabled
    answer = await shop.press(carol, reply.message_id, data="v1:svc:vm-medium")
    assert not answer["text"]
    card = await shop.wait_text(carol, reply.message_id, "Medium VM")
    assert "2 vCPU, 4 GB RAM" in card.text and "8.50 TFC for 30 days" in card.text
    assert [b["callback_data"] for b in card.buttons] == ["v1:buy:vm-medium", "v1:cat:0"]


async def test_catalog_is_paged_when_long(emu: TelegramEmulator, tmp_path: Path) -> None:
    many = [{"id": f"vm-{i}", "name": f"VM {i}", "description": "d", "price": i + 1, "cpu": 1,
             "memory_gb": 1, "disk_gb": 0, "period_days": 30} for i in range(7)]
    front = Shopfront(emu, tmp_path / "paged.db", make_config(tmp_path, services=many), make_secrets(emu))
    await front.start()
    try:
        user = front.user("Dan")
        first = await front.send(user, "/buy")
        assert "page 1 of 2" in first.text
        assert [b["callback_data"] for b in first.buttons][-1] == "v1:cat:1"
        await front.press(user, first.message_id, data="v1:cat:1")
        second = await front.wait_text(user, first.message_id, "page 2 of 2")
        assert [b["callback_data"] for b in second.buttons] == ["v1:svc:vm-5", "v1:svc:vm-6", "v1:cat:0"]
    finally:
        await front.stop()


async def test_history_is_paged_with_buttons(shop: Shopfront) -> None:
    erin = shop.user("Erin")
    for i in range(12):
        await shop.db.record_payment("stars", f"h{i}", user_id=erin, amount=100 + i,
                                     provider_amount=77, provider_currency="XTR")
    reply = await shop.send(erin, "/history")
    assert reply.text.count("+") == 10 and "+1.11 TFC" in reply.text
    older = shop.button(reply, "v1:hist:")
    await shop.press(erin, reply.message_id, data=older["callback_data"])
    page2 = await shop.wait_text(erin, reply.message_id, "+1.01 TFC")
    assert page2.text.count("+") == 2
    assert [b["callback_data"] for b in page2.buttons] == ["v1:hist:0"]


async def test_empty_history_orders_and_deployments(shop: Shopfront) -> None:
    fay = shop.user("Fay")
    assert "No history yet" in (await shop.send(fay, "/history")).text
    assert "no orders yet" in (await shop.send(fay, "/orders")).text
    assert "no VMs yet" in (await shop.send(fay, "/deployments")).text


async def test_orders_and_deployments_after_a_purchase(shop: Shopfront) -> None:
    gus = shop.user("Gus")
    await shop.db.record_payment("stars", "g1", user_id=gus, amount=1000, provider_amount=770,
                                 provider_currency="XTR")
    order = await shop.db.create_order("g-order", gus, "purchase", 400, "vm-small")
    bought = await shop.db.purchase(order.id, gus)
    orders = await shop.send(gus, "/orders")
    assert f"#{order.id} · Small VM · 4.00 TFC · placed" in orders.text
    deployments = await shop.send(gus, "/deployments")
    assert f"VM #{bought.deployment_id} · queued" in deployments.text


async def test_start_deep_link_shows_order_state(shop: Shopfront) -> None:
    hal = shop.user("Hal")
    order = await shop.db.create_order("h-order", hal, "topup", 500)
    reply = await shop.send(hal, f"/start paid_{order.id}")
    assert f"#{order.id}" in reply.text and "waiting for payment" in reply.text
    other = shop.user("Ivy")
    assert "could not find" in (await shop.send(other, f"/start paid_{order.id}")).text
    assert "could not find" in (await shop.send(other, "/start paid_junk")).text


async def test_topup_presets_and_custom_amount(shop: Shopfront) -> None:
    jo = shop.user("Jo")
    menu = await shop.send(jo, "/topup")
    assert [b["callback_data"] for b in menu.buttons] == ["v1:top:500", "v1:top:1000", "v1:topc"]
    await shop.press(jo, menu.message_id, data="v1:topc")
    await shop.wait_text(jo, menu.message_id, "Type the amount")
    bad = await shop.send(jo, "0.001")
    assert "not an amount" in bad.text
    too_big = await shop.send(jo, "5000")
    assert "not an amount" in too_big.text
    good = await shop.send(jo, "12,50")
    assert "12.50 TFC of credits" in good.text
    assert any(b["callback_data"].endswith(":stars") for b in good.buttons)
    assert not any(b["callback_data"].endswith(":bal") for b in good.buttons)
    # The flag is gone: a number now is not understood, and /cancel cancels the order just opened.
    assert "did not get that" in (await shop.send(jo, "7")).text
    assert "is cancelled" in (await shop.send(jo, "/cancel")).text
    assert "nothing to cancel" in (await shop.send(jo, "/cancel")).text


async def test_cancel_forgets_custom_amount(shop: Shopfront) -> None:
    kim = shop.user("Kim")
    menu = await shop.send(kim, "/topup")
    await shop.press(kim, menu.message_id, data="v1:topc")
    await shop.wait_text(kim, menu.message_id, "Type the amount")
    assert "Cancelled" in (await shop.send(kim, "/cancel")).text
    assert "did not get that" in (await shop.send(kim, "12")).text


async def type_amount(shop: Shopfront, user_id: int, amount: str) -> ChatMessage:
    """/topup, "Other amount", then type `amount`; returns the offer."""
    menu = await shop.send(user_id, "/topup")
    await shop.press(user_id, menu.message_id, data="v1:topc")
    await shop.wait_text(user_id, menu.message_id, "Type the amount")
    return await shop.send(user_id, amount)


async def test_cancel_right_after_typing_an_amount_cancels_that_order(shop: Shopfront) -> None:
    kim = shop.user("Kim")
    offer = await type_amount(shop, kim, "12")
    [order] = await shop.db.orders(kim)
    assert order.state == "open" and "12.00 TFC of credits" in offer.text
    assert f"Order #{order.id} is cancelled" in (await shop.send(kim, "/cancel")).text
    assert (await shop.db.get_order(order.id)).state == "cancelled"
    reply = await shop.press(kim, offer.message_id, data=shop.button(offer, "v1:pay:")["callback_data"])
    assert reply["show_alert"] and "cancelled" in reply["text"]
    assert "nothing to cancel" in (await shop.send(kim, "/cancel")).text


async def test_cancel_leaves_a_paid_top_up_alone(shop: Shopfront) -> None:
    kim = shop.user("Kim")
    await type_amount(shop, kim, "3")
    [order] = await shop.db.orders(kim)
    await shop.db.set_order_state(order.id, "paid", ("open",))
    assert "nothing to cancel" in (await shop.send(kim, "/cancel")).text
    assert (await shop.db.get_order(order.id)).state == "paid"


async def test_preset_topup_opens_one_order_per_message(shop: Shopfront) -> None:
    lee = shop.user("Lee")
    menu = await shop.send(lee, "/topup")
    await shop.press(lee, menu.message_id, data="v1:top:1000")
    shown = await shop.wait_text(lee, menu.message_id, "10.00 TFC of credits")
    assert shop.button(shown, "v1:pay:")["text"] == "⭐ Pay 770 Stars"
    assert len(await shop.db.orders(lee)) == 1


async def test_extensions_add_commands_and_buttons_before_the_catch_alls(
        emu: TelegramEmulator, tmp_path: Path) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    from handlers import callbacks
    from handlers.deps import Shop

    callbacks.register_action("ping", (callbacks.INT,))

    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        button = InlineKeyboardButton("pong", callback_data=callbacks.encode("ping", 7))
        await update.effective_message.reply_text("ping?", reply_markup=InlineKeyboardMarkup([[button]]))

    async def pong(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("pong 7")

    def install(application: Application, shop: Shop) -> None:  # type: ignore[type-arg]
        application.add_handler(CommandHandler("ping", ping))
        application.add_handler(CallbackQueryHandler(pong, pattern=callbacks.pattern("ping")))

    front = Shopfront(emu, tmp_path / "ext.db", make_config(tmp_path), make_secrets(emu))
    await front.start(extra=[install])
    try:
        user = front.user("Pat")
        reply = await front.send(user, "/ping")
        assert (await front.press(user, reply.message_id, data="v1:ping:7"))["text"] == "pong 7"
    finally:
        await front.stop()

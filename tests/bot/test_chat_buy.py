"""Buying in the chat: from the balance with a confirm step (double-tap safe), the top-up offer
when the balance is short, stale/foreign/forged buttons, and buttons surviving a restart."""

from __future__ import annotations

import asyncio

from ledger import Ledger
from sandbox.telegram_state import ChatMessage

from .conftest import Shopfront


async def _fund(db: Ledger, user_id: int, amount: int, charge: str = "seed") -> None:
    await db.record_payment("stars", f"{charge}-{user_id}", user_id=user_id, amount=amount,
                            provider_amount=amount, provider_currency="XTR")


async def _card(shop: Shopfront, user_id: int, service_id: str = "vm-small") -> ChatMessage:
    catalog = await shop.send(user_id, "/buy")
    await shop.press(user_id, catalog.message_id, data=f"v1:svc:{service_id}")
    await shop.wait_text(user_id, catalog.message_id, "Price:")
    return shop.current(user_id, catalog.message_id)


async def _choices(shop: Shopfront, user_id: int, service_id: str = "vm-small") -> ChatMessage:
    card = await _card(shop, user_id, service_id)
    await shop.press(user_id, card.message_id, data=f"v1:buy:{service_id}")
    return await shop.wait_text(user_id, card.message_id, "How would you like to pay?")


async def _holds(db: Ledger, user_id: int) -> list[tuple[int, str]]:
    return await db.read(lambda conn: conn.execute(
        "SELECT h.amount, h.state FROM holds h JOIN accounts a ON a.id = h.account_id WHERE a.user_id = ?",
        (user_id,)).fetchall())


async def test_buy_from_balance_double_tapped_confirm_buys_once(shop: Shopfront) -> None:
    ann = shop.user("Ann")
    await _fund(shop.db, ann, 1000)
    choices = await _choices(shop, ann)
    pay = shop.button(choices, "v1:pay:")
    assert pay["text"] == "💰 Pay 4.00 TFC from balance"
    await shop.press(ann, choices.message_id, data=pay["callback_data"])
    confirm_screen = await shop.wait_text(ann, choices.message_id, "from your balance?")
    ok = shop.button(confirm_screen, "v1:ok:")["callback_data"]
    # Two taps before the bot reacts: both queries reach the bot.
    q1 = await shop.emu.press_button(ann, choices.message_id, data=ok)
    q2 = await shop.emu.press_button(ann, choices.message_id, data=ok)
    answers = [await shop.emu.wait_for(lambda q=q: shop.emu.callback_answer(q["id"])) for q in (q1, q2)]
    assert {a["text"] for a in answers} <= {"Bought! Your VM is queued.", "Already bought; nothing more was charged."}
    bought = await shop.wait_text(ann, choices.message_id, "Paid with 4.00 TFC from your balance")
    assert bought.text.startswith("✅ Paid with 4.00 TFC from your balance.\n⏳ Small VM #1 is queued")
    assert bought.buttons == []
    assert await _holds(shop.db, ann) == [(400, "pending")]
    balance = await shop.db.balance(ann)
    assert (balance.available, balance.held) == (600, 400)
    [order] = await shop.db.orders(ann)
    assert order.state == "placed"
    deployments = await shop.send(ann, "/deployments")
    assert "Small VM #1 · queued" in deployments.text


async def test_insufficient_balance_offers_top_up_of_the_difference(shop: Shopfront) -> None:
    ben = shop.user("Ben")
    await _fund(shop.db, ben, 150)
    choices = await _choices(shop, ben)
    assert "is 2.50 TFC short" in choices.text
    data = [b["callback_data"] for b in choices.buttons]
    assert not any(d.endswith(":bal") for d in data)
    topd = shop.button(choices, "v1:topd:")
    assert topd["text"] == "➕ Top up 2.50 TFC"
    await shop.press(ben, choices.message_id, data=topd["callback_data"])
    topup = await shop.wait_text(ben, choices.message_id, "2.50 TFC of credits")
    assert shop.button(topup, "v1:pay:")["text"] == "⭐ Pay 193 Stars"  # ceil(250 * 77 / 100)
    kinds = sorted((o.kind, o.amount) for o in await shop.db.orders(ben))
    assert kinds == [("purchase", 400), ("topup", 250)]


async def test_balance_that_shrank_before_confirm_is_refused(shop: Shopfront) -> None:
    cat = shop.user("Cat")
    await _fund(shop.db, cat, 400)
    choices = await _choices(shop, cat)
    await shop.press(cat, choices.message_id, data=shop.button(choices, "v1:pay:")["callback_data"])
    screen = await shop.wait_text(cat, choices.message_id, "from your balance?")
    await shop.db.clawback("stars", f"seed-{cat}", "cb", 100, reason="refund")
    answer = await shop.press(cat, choices.message_id, data=shop.button(screen, "v1:ok:")["callback_data"])
    assert answer["text"] == "Your balance does not cover this order." and answer["show_alert"]
    await shop.wait_text(cat, choices.message_id, "does not cover order")
    assert await _holds(shop.db, cat) == []


async def test_stale_foreign_and_forged_buttons_change_nothing(shop: Shopfront) -> None:
    dee, eve = shop.user("Dee"), shop.user("Eve")
    await _fund(shop.db, dee, 1000)
    await _fund(shop.db, eve, 1000)
    choices = await _choices(shop, dee)
    order_id = int(shop.button(choices, "v1:pay:")["callback_data"].split(":")[2])
    eve_menu = await shop.send(eve, "/start")

    async def eve_presses(data: str) -> dict[str, object]:
        return await shop.forge_press(eve, eve_menu.message_id, data)

    assert (await eve_presses(f"v1:ok:{order_id}"))["text"] == "This button belongs to someone else's order."
    assert (await eve_presses(f"v1:pay:{order_id}:stars"))["text"] == "This button belongs to someone else's order."
    assert (await eve_presses(f"v1:cancel:{order_id}"))["text"] == "This button belongs to someone else's order."
    assert (await eve_presses("v1:ok:987654321"))["text"] == "This order no longer exists."
    for junk in ("v1:pay:abc:stars", "v2:menu", "garbage", "v1:ok", "v1:svc:NOPE", "v1:pay:1:paypal",
                 "v1:top:0:1"):
        answer = await eve_presses(junk)
        assert answer["text"] == "This button is no longer valid. Please start again from the menu.", junk
    assert (await eve_presses("v1:svc:vm-xl"))["text"] == "This VM is no longer on sale."
    assert (await eve_presses("v1:top:1"))["text"] == "That amount is outside the allowed range."
    assert not shop.emu.bot_messages(eve)[-1].data.get("invoice")
    # Dee buys; her old "pay" and "confirm" buttons are now stale.
    await shop.press(dee, choices.message_id, data=f"v1:pay:{order_id}:bal")
    await shop.wait_text(dee, choices.message_id, "from your balance?")
    await shop.press(dee, choices.message_id, data=f"v1:ok:{order_id}")
    await shop.wait_text(dee, choices.message_id, "Paid with")
    stale = await shop.forge_press(dee, choices.message_id, f"v1:pay:{order_id}:stars")
    assert stale["text"] == "This order is already paid."
    stale = await shop.forge_press(dee, choices.message_id, f"v1:ok:{order_id}")
    assert stale["text"] == "Already bought; nothing more was charged."
    stale = await shop.forge_press(dee, choices.message_id, f"v1:cancel:{order_id}")
    assert stale["text"] == "This order is already paid."
    assert await _holds(shop.db, dee) == [(400, "pending")]
    assert await _holds(shop.db, eve) == []
    assert (await shop.db.balance(eve)).available == 1000
    assert [m for m in shop.emu.bot_messages(dee) if m.data.get("invoice")] == []


async def test_expired_and_cancelled_orders_are_refused(shop: Shopfront) -> None:
    fin = shop.user("Fin")
    await _fund(shop.db, fin, 1000)
    choices = await _choices(shop, fin)
    order_id = int(shop.button(choices, "v1:pay:")["callback_data"].split(":")[2])
    await shop.db.write(lambda conn, now: conn.execute(
        "UPDATE orders SET created_at = created_at - 2 * 86400 WHERE id = ?", (order_id,)))
    answer = await shop.press(fin, choices.message_id, data=f"v1:pay:{order_id}:bal")
    assert answer["text"].startswith("This order has expired")
    assert (await shop.db.get_order(order_id)).state == "open"
    fresh = await _choices(shop, fin)
    cancel = shop.button(fresh, "v1:cancel:")["callback_data"]
    await shop.press(fin, fresh.message_id, data=cancel)
    await shop.wait_text(fin, fresh.message_id, "is cancelled")
    fresh_id = int(cancel.split(":")[2])
    answer = await shop.forge_press(fin, fresh.message_id, f"v1:ok:{fresh_id}")
    assert answer["text"] == "This order was cancelled."
    assert await _holds(shop.db, fin) == []


async def test_buttons_keep_working_after_a_restart(shop: Shopfront) -> None:
    gil = shop.user("Gil")
    await _fund(shop.db, gil, 1000)
    card = await _card(shop, gil, "vm-medium")
    await shop.restart()
    await shop.press(gil, card.message_id, data="v1:buy:vm-medium")
    choices = await shop.wait_text(gil, card.message_id, "How would you like to pay?")
    pay = shop.button(choices, "v1:pay:")["callback_data"]
    await shop.restart()
    await shop.press(gil, choices.message_id, data=pay)
    screen = await shop.wait_text(gil, choices.message_id, "from your balance?")
    ok = shop.button(screen, "v1:ok:")["callback_data"]
    await shop.restart()
    answer = await shop.press(gil, choices.message_id, data=ok)
    assert answer["text"] == "Bought! Your VM is queued."
    await shop.wait_text(gil, choices.message_id, "Medium VM #1 is queued")
    assert await _holds(shop.db, gil) == [(850, "pending")]


async def test_concurrent_buyers_hold_exact_amounts(shop: Shopfront) -> None:
    buyers = [shop.user(f"U{i}") for i in range(8)]
    for uid in buyers:
        await _fund(shop.db, uid, 500)
    screens = await asyncio.gather(*(_choices(shop, uid) for uid in buyers))
    for uid, screen in zip(buyers, screens, strict=True):
        await shop.press(uid, screen.message_id, data=shop.button(screen, "v1:pay:")["callback_data"])
    confirms = [await shop.wait_text(uid, s.message_id, "from your balance?") for uid, s in zip(buyers, screens, strict=True)]
    await asyncio.gather(*(shop.press(uid, c.message_id, data=shop.button(c, "v1:ok:")["callback_data"])
                           for uid, c in zip(buyers, confirms, strict=True)))
    for uid in buyers:
        balance = await shop.db.balance(uid)
        assert (balance.available, balance.held) == (100, 400)
    assert (await shop.db.audit()).ok

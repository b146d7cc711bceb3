"""/send <@user|id> <amount>: credits from one user to another after a confirm button, once per
command message (Telegram may deliver it twice), refused with a clear text into debt, to
unknown users, to oneself, or for a non-positive or over-precise amount; both see it in /history."""

from __future__ import annotations

from handlers import texts
from ledger import PAYABLE_GRID

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  # the fixture
from .conftest import Shopfront


async def test_send_moves_credits_once_and_both_see_it(shop: Shopfront) -> None:
    alice, bob = shop.user("Alice"), shop.user("Bob")
    await shop.send(bob, "/start")
    await shop.db.record_payment("stars", "c-alice", user_id=alice, amount=1000, provider_amount=770,
                                 provider_currency="XTR")

    prompt = await shop.send(alice, "/send @bob_user 2.50")
    assert "Send 2.50 TFC of your credits to @bob_user?" in (prompt.text or "")
    button = shop.button(prompt, "v1:send:")
    answered = await shop.press(alice, prompt.message_id, data=button["callback_data"])
    assert answered.get("text") == texts.SEND_DONE_ANSWER
    done = await shop.wait_text(alice, prompt.message_id, "Sent 2.50 TFC to @bob_user")
    assert "7.50 TFC available" in (done.text or "")

    # Telegram delivers the same /send message again: a second prompt, but it sends nothing more.
    command = next(m for m in shop.emu.messages(alice) if (m.text or "").startswith("/send"))
    last = shop.emu.last_bot_message(alice)
    shop.emu.world.enqueue("message", command.data)
    again = await shop.emu.wait_for_bot_message(alice, after_message_id=last.message_id if last else 0)
    answered = await shop.press(alice, again.message_id, data=shop.button(again, "v1:send:")["callback_data"])
    assert answered.get("text") == texts.SEND_ALREADY
    assert ((await shop.db.balance(alice)).available, (await shop.db.balance(bob)).available) == (750, 250)
    [(told,)] = await shop.db.read(lambda conn: conn.execute(
        "SELECT text FROM notifications WHERE chat_id = ?", (bob,)).fetchall())
    assert "@alice_user sent you 2.50 TFC" in told

    for user, line in ((alice, "−2.50 TFC  Sent to @bob_user · balance 7.50 TFC"),
                       (bob, "+2.50 TFC  Received from @alice_user · balance 2.50 TFC")):
        history = await shop.send(user, "/history")
        assert line in (history.text or "")
    assert (await shop.db.audit()).ok


async def test_send_refusals_change_nothing(shop: Shopfront) -> None:
    alice, bob, carol = shop.user("Alice"), shop.user("Bob"), shop.user("Carol")
    await shop.send(bob, "/start")
    await shop.db.record_payment("stars", "c-alice", user_id=alice, amount=500, provider_amount=385,
                                 provider_currency="XTR")
    # Carol spent what she paid, then the payment was refunded: she owes 3.00.
    await shop.db.record_payment("stars", "c-carol", user_id=carol, amount=300, provider_amount=231,
                                 provider_currency="XTR")
    await shop.db.transfer("spent", await shop.db.user_account(carol), PAYABLE_GRID, 300)
    await shop.db.clawback("stars", "c-carol", "refund:stars:c-carol", 300, reason="refund")

    cases = [
        (alice, "/send", texts.SEND_USAGE),
        (alice, "/send @bob_user 0", "is not an amount to send"),
        (alice, "/send @bob_user -1", "is not an amount to send"),
        (alice, "/send @bob_user 1.234", "is not an amount to send"),
        (alice, "/send @bob_user 1e9", "is not an amount to send"),
        (alice, "/send @nobody 1", "is not a user of this shop"),
        (alice, "/send 999999 1", "is not a user of this shop"),
        (alice, "/send @alice_user 1", texts.SEND_SELF),
        (alice, "/send @bob_user 6", "You have 5.00 TFC available"),
        (carol, "/send @bob_user 1", "in debt by 3.00 TFC"),
    ]
    for user, command, expected in cases:
        reply = await shop.send(user, command)
        assert expected in (reply.text or ""), (command, reply.text)
        assert not reply.buttons, command
    assert (await shop.db.balance(alice)).available == 500
    assert (await shop.db.balance(bob)).available == 0
    assert (await shop.db.audit()).ok


async def test_admins_see_transfers_on_the_user_card(admin_shop: AdminFront) -> None:  # noqa: F811
    alice, bob = admin_shop.user("Alice"), admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    await admin_shop.db.record_payment("stars", "c-alice", user_id=alice, amount=1000, provider_amount=770,
                                       provider_currency="XTR")
    prompt = await admin_shop.send(alice, "/send @bob_user 1")
    await admin_shop.press(alice, prompt.message_id, data=admin_shop.button(prompt, "v1:send:")["callback_data"])
    await admin_shop.wait_text(alice, prompt.message_id, "Sent 1.00 TFC")
    for user, line in (("@alice_user", "−1.00 TFC transfer from @alice_user to @bob_user"),
                       ("@bob_user", "+1.00 TFC transfer from @alice_user to @bob_user")):
        card = await admin_shop.admin_says(f"/user {user}")
        assert "Transfers with users:" in (card.text or "") and line in (card.text or ""), card.text

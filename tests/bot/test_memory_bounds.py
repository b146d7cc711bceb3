"""What the running bot keeps per user or per request stays under its written-down bound:
the profiles and languages of the SEEN_USERS most recent users, and a lock per admin request
only while a tap holds it."""

from __future__ import annotations

import asyncio

from handlers import deps

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  # the fixture
from .conftest import Shopfront


async def test_the_bot_remembers_at_most_seen_users_users(shop: Shopfront, monkeypatch) -> None:
    monkeypatch.setattr(deps, "SEEN_USERS", 3)
    await shop.stop()
    await shop.start()  # a Shop built with the small bound
    people = [shop.user(f"U{n}") for n in range(8)]
    for user in people:
        reply = await shop.send(user, "/start")
        assert "Hi U" in reply.text
        assert len(shop.shop.seen_users) <= 3 and len(shop.shop.user_locales) <= 3
    # One the bot forgot is answered as before (read again from the ledger).
    assert "Hi U0" in (await shop.send(people[0], "/start")).text
    assert len(shop.shop.seen_users) <= 3


async def test_no_admin_request_lock_outlives_its_taps(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    for n in range(3):
        prompt = await admin_shop.admin_says(f"/credit {bob} 1 goodwill {n}")
        data = admin_shop.button(prompt, "v1:adok:")["callback_data"]
        await asyncio.gather(admin_shop.press(admin_shop.admin, prompt.message_id, data=data),
                             admin_shop.press(admin_shop.admin, prompt.message_id, data=data))
        await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Credited 1.00 TFC")
    assert len(admin_shop.shop.admin_request_locks) == 0
    assert (await admin_shop.db.balance(bob)).available == 300

"""An admin's Stars refund races Telegram's own refunded_payment update about it: whichever the
shop applies first, the credits are taken back once, the user is told once, and the admin and
the user see the amount really taken back (not "0.00 TFC")."""

from __future__ import annotations

import asyncio

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  # the fixture


def _told(shop: AdminFront, user: int) -> list[str]:
    """Every message the user got or will get about a refund: sent ones and queued ones."""
    sent = [m.text or "" for m in shop.emu.bot_messages(user) if "Refund" in (m.text or "")]
    queued = [t for (t,) in shop.sql(
        "SELECT text FROM notifications WHERE chat_id = ? AND state = 'pending'", user) if "Refund" in t]
    return sent + queued


async def test_an_admin_refund_and_its_refunded_payment_update_take_back_and_tell_once(
    admin_shop: AdminFront,  # noqa: F811
) -> None:
    for name in ("Ada", "Bea", "Cid"):  # the race goes either way; each time the same outcome
        user = admin_shop.user(name)
        await admin_shop.pay_stars(user, 1000)
        [payment] = await admin_shop.db.payments(user)
        prompt = await admin_shop.admin_says(f"/refund {payment.id}")
        await admin_shop.confirm(prompt)
        done = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "refunded by Telegram")
        assert "10.00 TFC of credits taken back" in (done.text or "")
        await admin_shop.emu.wait_for(lambda u=user: any(
            m.data.get("refunded_payment") for m in admin_shop.emu.messages(u)))
        await admin_shop.emu.wait_for(lambda: not admin_shop.emu.pending_updates())
        await asyncio.sleep(0.3)  # the update's handler has run
        told = _told(admin_shop, user)
        assert len(told) == 1 and "10.00 TFC" in told[0], told
        assert admin_shop.sql("SELECT count(*), sum(t.amount) FROM transfers t JOIN payments p ON "
                              "p.id = t.payment_id WHERE t.kind = 'clawback' AND p.user_id = ?", user) == [(1, 1000)]
    assert (await admin_shop.db.audit()).ok

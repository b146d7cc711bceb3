"""Payments that do not match their order are parked, never credited the order's price, and an
admin is told at once, sees them in /parked and resolves each behind a confirm button; the audit
counts the unresolved ones. The same from the command line: `gridshop ledger parked`."""

from __future__ import annotations

import asyncio
import copy
import io
from pathlib import Path

from bot.cli import main
from handlers import texts
from ledger import inbox

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  # the fixture


async def _stars_invoice(shop: AdminFront, user: int) -> dict:  # type: ignore[type-arg]
    menu = await shop.send(user, "/topup")
    await shop.press(user, menu.message_id, data="v1:top:1000")
    choices = await shop.wait_text(user, menu.message_id, "10.00 TFC of credits")
    button = next(b for b in choices.buttons if b["callback_data"].endswith(":stars"))
    await shop.press(user, choices.message_id, data=button["callback_data"])
    invoice = await shop.emu.wait_for(lambda: next(
        (m for m in shop.emu.bot_messages(user) if m.data.get("invoice")), None))
    paid = await shop.emu.pay_invoice(user, invoice.message_id)
    assert paid.paid and paid.message is not None
    await shop.wait_text(user, choices.message_id, "paid with")  # the receipt, in the order message
    return paid.message


async def test_a_cent_paid_on_a_stars_invoice_is_parked_and_an_admin_credits_what_came(
    admin_shop: AdminFront,  # noqa: F811
) -> None:
    ann = admin_shop.user("Ann")
    real = await _stars_invoice(admin_shop, ann)
    # A successful_payment for the same signed payload, but 1 cent of USD (a forged or mangled
    # update): before, the order's full 10.00 TFC was credited for it.
    forged = copy.deepcopy(real)
    forged["message_id"] = real["message_id"] + 100
    forged["successful_payment"].update(currency="USD", total_amount=1,
                                        telegram_payment_charge_id="forged-1")
    last = admin_shop.emu.last_bot_message(ann)
    admin_shop.emu.world.enqueue("message", forged)
    await admin_shop.wait_reply(ann, last.message_id if last else 0, texts.PAYMENT_NOT_APPLIED)
    assert [(p.provider, p.external_id) for p in await admin_shop.db.payments(ann)] == [
        ("stars", real["successful_payment"]["telegram_payment_charge_id"])]
    assert (await admin_shop.db.balance(ann)).available == 1000

    # The admin is told through the outbox, in the write that parked it.
    [(told,)] = admin_shop.sql("SELECT text FROM notifications WHERE chat_id = ? AND key LIKE 'parked:%'",
                               admin_shop.admin)
    assert "forged-1" in told and "asked 1000 USD" in told
    report = await admin_shop.db.audit()
    assert report.ok and report.parked == 1

    listing = await admin_shop.admin_says("/parked")
    assert "forged-1" in (listing.text or "") and "0.01 USD" in (listing.text or "")
    credit = admin_shop.button(listing, "v1:adpark:")
    assert credit["callback_data"].endswith(":credit")
    await admin_shop.press(admin_shop.admin, listing.message_id, data=credit["callback_data"])
    prompt = await admin_shop.wait_reply(admin_shop.admin, listing.message_id, "Credit parked payment")
    await admin_shop.emu.wait_for(lambda: not admin_shop.sql(
        "SELECT 1 FROM admin_requests WHERE prompt_message_id IS NULL AND state = 'pending'"))
    await admin_shop.confirm(prompt)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "credited to user")
    again = await admin_shop.forge_press(admin_shop.admin, prompt.message_id,
                                         admin_shop.button(prompt, "v1:adok:")["callback_data"])
    assert "Already done" in again.get("text", "")  # a second tap changes nothing

    assert (await admin_shop.db.balance(ann)).available == 1001  # 1 cent of USD is 1 TFC cent
    report = await admin_shop.db.audit()
    assert report.ok and report.parked == 0
    assert await admin_shop.db.read(lambda conn: inbox.open_events(conn)) == []
    [(note,)] = admin_shop.sql("SELECT text FROM notifications WHERE chat_id = ? AND key NOT LIKE 'receipt:%'", ann)
    assert "0.01 TFC credited" in note


def test_ledger_parked_lists_and_resolves_from_the_command_line(tmp_path: Path) -> None:
    config = tmp_path / "gridshop.toml"
    config.write_text('[database]\npath = "shop.db"\n')

    async def park() -> None:
        from ledger import Ledger

        ledger = await Ledger.open(tmp_path / "shop.db")
        await ledger.write(lambda conn, now: inbox.keep(
            conn, now, "telegram_card", "card-7", "successful_payment",
            '{"charge_id": "card-7", "user_id": 77, "currency": "USD", "total_amount": 250, '
            '"payload": "x"}', "invalid payload: bad signature"))
        await ledger.close()

    asyncio.run(park())
    out = io.StringIO()
    assert main(["--config", str(config), "ledger", "parked"], out=out) == 0
    assert "card-7" in out.getvalue() and "user 77" in out.getvalue() and "2.50 TFC" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "ledger", "audit"], out=out) == 0
    assert "1 parked payments unresolved" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "ledger", "parked", "--resolve", "1", "credit"], out=out) == 0
    assert "2.50 TFC credited to user 77" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "ledger", "parked", "--resolve", "1", "credit"], out=out) == 1
    assert "already resolved" in out.getvalue()
    out = io.StringIO()
    assert main(["--config", str(config), "ledger", "balance", "77"], out=out) == 0
    assert "available 2.50 TFC" in out.getvalue()

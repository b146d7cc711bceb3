"""Admin commands through the real PTB Application polling the Telegram emulator: who may use
them, the menu, credits and debits with their confirm buttons and idempotency, usage messages,
/audit, /adminlog and `gridshop admin log`."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from ledger import adminlog

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  (fixture)

ADMIN_ONLY = [
    "/admin", "/stats", "/stats 7", "/user 1", "/credit 1 5 gift", "/debit 1 5 oops", "/refund 1",
    "/retry 1", "/service disable vm-small", "/service price vm-small 1", "/broadcast hello",
    "/audit", "/adminlog", "/fleet", "/fleet failed", "/cancelvm 1", "/service",
]


async def test_non_admin_gets_the_unknown_command_answer_and_nothing_changes(
        admin_shop: AdminFront, caplog: pytest.LogCaptureFixture) -> None:
    eve = admin_shop.user("Eve")
    await admin_shop.send(eve, "/start")
    await admin_shop.db.record_payment("stars", "c-eve", user_id=eve, amount=500, provider_amount=385,
                                       provider_currency="XTR")
    before = admin_shop.snapshot()
    caplog.set_level(logging.WARNING, logger="gridshop.admin")
    await admin_shop.unknown(eve, "/nosuchcommand")
    for command in ADMIN_ONLY:
        await admin_shop.unknown(eve, command.replace(" 1", f" {eve}"))
    assert admin_shop.snapshot() == before
    refused = [r.getMessage() for r in caplog.records if "non-admin" in r.getMessage()]
    assert len(refused) == len(ADMIN_ONLY)
    # Commands users also have get the user's answer, not the admin's, and are no refusal.
    catalog = await admin_shop.send(eve, "/services")
    assert [b["callback_data"] for b in catalog.buttons][:1] == ["v1:svc:vm-small"]
    cancel = await admin_shop.send(eve, "/cancel 1")
    assert "Deployment" not in cancel.text
    assert "no VMs" in (await admin_shop.send(eve, "/deployments")).text
    assert admin_shop.snapshot() == before
    assert [r.getMessage() for r in caplog.records if "non-admin" in r.getMessage()] == refused


async def test_non_admin_pressing_admin_buttons_is_refused(admin_shop: AdminFront) -> None:
    eve = admin_shop.user("Eve")
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    prompt = await admin_shop.admin_says(f"/credit {bob} 5 welcome")
    before = admin_shop.snapshot()
    for data in (prompt.buttons[0]["callback_data"], "v1:adno:1", "v1:admenu:stats", "v1:adsvc:vm-small:off",
                 f"v1:aduser:{bob}", "v1:adref:1"):
        reply = await admin_shop.forge_press(eve, (await admin_shop.send(eve, "/start")).message_id, data)
        assert reply["show_alert"] and "no longer valid" in reply["text"]
    assert admin_shop.snapshot() == before
    assert (await admin_shop.db.balance(bob)).available == 0


async def test_admin_menu_has_buttons_that_work(admin_shop: AdminFront) -> None:
    menu = await admin_shop.admin_says("/admin")
    assert [b["callback_data"] for b in menu.buttons] == [
        "v1:admenu:stats", "v1:admenu:deps", "v1:admenu:svcs", "v1:admenu:audit", "v1:admenu:log",
        "v1:admenu:help"]
    await admin_shop.press(admin_shop.admin, menu.message_id, data="v1:admenu:help")
    listing = await admin_shop.wait_text(admin_shop.admin, menu.message_id, "Admin commands")
    for syntax in ("/credit <user> <amount> <reason>", "/broadcast <text>", "/refund <payment> [amount]",
                   "/fleet [state]", "/cancelvm <VM id>", "/service —"):
        assert syntax in listing.text
    await admin_shop.press(admin_shop.admin, menu.message_id, data="v1:admenu:menu")
    await admin_shop.wait_text(admin_shop.admin, menu.message_id, "Admin menu")
    await admin_shop.press(admin_shop.admin, menu.message_id, data="v1:admenu:audit")
    await admin_shop.wait_text(admin_shop.admin, menu.message_id, "audit ok")


async def test_credit_after_confirm_once_even_when_double_tapped(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    prompt = await admin_shop.admin_says("/credit @bob_user 12.50 goodwill for the outage")
    assert "Credit 12.50 TFC to user" in prompt.text and "goodwill for the outage" in prompt.text
    assert (await admin_shop.db.balance(bob)).available == 0  # nothing before the confirm
    data = admin_shop.button(prompt, "v1:adok:")["callback_data"]
    first, second = await asyncio.gather(admin_shop.press(admin_shop.admin, prompt.message_id, data=data),
                                         admin_shop.press(admin_shop.admin, prompt.message_id, data=data))
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Credited 12.50 TFC")
    assert sorted([first["text"], second["text"]]) == ["Already done.", "Working…"]
    assert (await admin_shop.db.balance(bob)).available == 1250
    [(kind, amount, memo)] = admin_shop.sql(
        "SELECT kind, amount, memo FROM transfers WHERE kind = 'adjustment'")
    assert (kind, amount) == ("adjustment", 1250) and memo == f"admin {admin_shop.admin}: goodwill for the outage"
    [entry] = await admin_shop.db.read(lambda conn: adminlog.recent(conn))
    assert (entry.admin_id, entry.action, entry.target) == (admin_shop.admin, "credit", f"user {bob}")
    assert admin_shop.sql("SELECT count(*) FROM notifications WHERE chat_id = ? AND text LIKE '%goodwill%'",
                          bob) == [(1,)]
    # A tap on the old prompt later changes nothing either.
    again = await admin_shop.press(admin_shop.admin, prompt.message_id, data=data) if admin_shop.current(
        admin_shop.admin, prompt.message_id).buttons else None
    assert again is None and (await admin_shop.db.balance(bob)).available == 1250


async def test_redelivered_command_update_acts_once(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    sent = await admin_shop.emu.send_text(admin_shop.admin, f"/credit {bob} 3 refund of a glitch")
    prompt = await admin_shop.emu.wait_for_bot_message(admin_shop.admin, after_message_id=sent["message_id"])
    await admin_shop.confirm(prompt)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Credited 3.00 TFC")
    admin_shop.redeliver(sent)
    admin_shop.redeliver(sent)
    await admin_shop.emu.wait_for(lambda: not admin_shop.emu.pending_updates())
    await admin_shop.settled(admin_shop.admin)  # nothing new was sent meanwhile
    assert admin_shop.sql("SELECT count(*) FROM admin_requests") == [(1,)]
    assert (await admin_shop.db.balance(bob)).available == 300
    assert admin_shop.sql("SELECT count(*) FROM admin_log") == [(1,)]


LEDGER_WORDS = ("account", "needed", "cents")


async def test_debit_is_refused_beyond_the_balance_and_cancel_changes_nothing(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    await admin_shop.db.record_payment("stars", "c1", user_id=bob, amount=500, provider_amount=385,
                                       provider_currency="XTR")
    before = admin_shop.snapshot()
    # Refused before any button is offered, in TFC.
    too_much = await admin_shop.admin_says(f"/debit {bob} 100000 duplicate")
    assert not too_much.buttons
    assert (f"Not debited: user {bob} (@bob_user) has 5.00 TFC available: 100000.00 TFC would exceed that "
            "by 99995.00 TFC. Nothing was changed.") in too_much.text
    assert f"/debit {bob} 5.00 <reason>" in too_much.text
    assert not any(word in too_much.text for word in LEDGER_WORDS) and "10000000" not in too_much.text
    assert admin_shop.snapshot() == before
    cancelled = await admin_shop.admin_says(f"/debit {bob} 2 duplicate")
    await admin_shop.confirm(cancelled, "v1:adno:")
    await admin_shop.wait_text(admin_shop.admin, cancelled.message_id, "Cancelled")
    assert (await admin_shop.db.balance(bob)).available == 500
    ok = await admin_shop.admin_says(f"/debit {bob} 2 duplicate top-up")
    await admin_shop.confirm(ok)
    await admin_shop.wait_text(admin_shop.admin, ok.message_id, "Debited 2.00 TFC")
    assert (await admin_shop.db.balance(bob)).available == 300
    actions = [e.action for e in await admin_shop.db.read(lambda conn: adminlog.recent(conn))]
    assert actions == ["debit"]


async def test_a_debit_the_balance_no_longer_covers_at_the_tap_is_refused_in_tfc(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    await admin_shop.db.record_payment("stars", "c1", user_id=bob, amount=500, provider_amount=385,
                                       provider_currency="XTR")
    prompt = await admin_shop.admin_says(f"/debit {bob} 4 duplicate")
    assert admin_shop.button(prompt, "v1:adok:")
    order = await admin_shop.db.create_order("o-bob", bob, "purchase", 400, "vm-small")
    await admin_shop.db.purchase(order.id, bob)  # 4.00 TFC held meanwhile: 1.00 TFC left available
    await admin_shop.confirm(prompt)
    refused = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Not debited")
    assert (f"Not debited: user {bob} (@bob_user) has 1.00 TFC available (4.00 TFC more is held for purchases "
            "under way): 4.00 TFC would exceed that by 3.00 TFC.") in refused.text
    assert not any(word in refused.text for word in LEDGER_WORDS)
    balance = await admin_shop.db.balance(bob)
    assert (balance.available, balance.held) == (100, 400)
    log = await admin_shop.admin_says("/adminlog")
    assert "adjust.refused" in log.text and "by 3.00 TFC" in log.text
    assert not any(word in log.text for word in LEDGER_WORDS)


@pytest.mark.parametrize("command, usage", [
    ("/credit", "Usage: /credit <user> <amount> <reason>"),
    ("/credit 5", "Usage: /credit"),
    ("/credit @bob_user 5", "A reason is required"),
    ("/credit @bob_user five gift", "not an amount"),
    ("/credit @bob_user 1.234 gift", "not an amount"),
    ("/credit @bob_user 0 gift", "more than 0"),
    ("/credit @nobody 5 gift", "No user @nobody"),
    ("/debit x 5 gift", "not a user id"),
    ("/user", "Usage: /user"),
    ("/user a b", "Usage: /user"),
    ("/refund", "Usage: /refund"),
    ("/refund 99", "No payment 99"),
    ("/refund 1 -3", "not an amount"),
    ("/stats abc", "Usage: /stats"),
    ("/stats 0", "Usage: /stats"),
    ("/fleet nonsense", "Usage: /fleet"),
    ("/retry", "Usage: /retry"),
    ("/retry x", "not a deployment id"),
    ("/retry 99", "No deployment 99"),
    ("/cancelvm", "Usage: /cancelvm"),
    ("/cancelvm 1 2", "Usage: /cancelvm"),
    ("/cancelvm 99", "No deployment 99"),
    ("/service enable", "Usage: /service"),
    ("/service enable vm-nope", "No service 'vm-nope'"),
    ("/service price vm-small", "Usage: /service"),
    ("/service price vm-small 1.001", "not an amount"),
    ("/broadcast", "Usage: /broadcast"),
    ("/adminlog 0", "Usage: /adminlog"),
])
async def test_malformed_arguments_get_a_usage_message(admin_shop: AdminFront, command: str,
                                                       usage: str) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    before = admin_shop.snapshot()
    reply = await admin_shop.admin_says(command)
    assert usage in reply.text
    assert not reply.buttons
    assert admin_shop.snapshot() == before


async def test_user_card_shows_money_and_action_buttons(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    await admin_shop.db.record_payment("stars", "c-bob", user_id=bob, amount=1000, provider_amount=770,
                                       provider_currency="XTR")
    order = await admin_shop.db.create_order("o1", bob, "purchase", 400, "vm-small")
    bought = await admin_shop.db.purchase(order.id, bob)
    card = await admin_shop.admin_says("/user @bob_user")
    assert f"User {bob} Bob @bob_user" in card.text
    assert "Available 6.00 TFC · held 4.00 TFC · debt 0.00 TFC" in card.text
    assert "stars 10.00 TFC" in card.text and "vm-small 4.00 TFC placed" in card.text
    assert f"#{bought.deployment_id} vm-small queued" in card.text
    data = [b["callback_data"] for b in card.buttons]
    assert data == ["v1:adref:1", f"v1:adcan:{bought.deployment_id}", f"v1:aduser:{bob}"]
    by_id = await admin_shop.admin_says(f"/user {bob}")
    assert by_id.text == card.text


async def test_user_card_cancel_button_asks_to_confirm_and_changes_nothing_yet(admin_shop: AdminFront) -> None:
    cy = admin_shop.user("Cy")
    await admin_shop.send(cy, "/start")
    await admin_shop.db.record_payment("stars", "c-cy", user_id=cy, amount=1000, provider_amount=770,
                                       provider_currency="XTR")
    order = await admin_shop.db.create_order("o-cy", cy, "purchase", 400, "vm-small")
    bought = await admin_shop.db.purchase(order.id, cy)
    card = await admin_shop.admin_says(f"/user {cy}")
    await admin_shop.press(admin_shop.admin, card.message_id, data=f"v1:adcan:{bought.deployment_id}")
    prompt = await admin_shop.emu.wait_for(lambda: next(
        (m for m in admin_shop.emu.bot_messages(admin_shop.admin)
         if f"Cancel queued deployment #{bought.deployment_id}" in (m.text or "")), None))
    assert [b["text"] for b in prompt.buttons][0] == "✖ Cancel it (credits released)"
    # Only asked: the deployment is still queued and its hold still holds the price.
    assert admin_shop.sql("SELECT state FROM deployments WHERE id = ?", bought.deployment_id) == [("queued",)]
    balance = await admin_shop.db.balance(cy)
    assert (balance.available, balance.held) == (600, 400)


async def test_audit_reports_and_is_logged(admin_shop: AdminFront) -> None:
    reply = await admin_shop.admin_says("/audit")
    assert reply.text.startswith("✅ audit ok")
    [entry] = await admin_shop.db.read(lambda conn: adminlog.recent(conn))
    assert entry.action == "audit"


async def test_adminlog_in_chat_and_on_the_command_line(admin_shop: AdminFront, tmp_path: Path) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    for amount in (1, 2):
        prompt = await admin_shop.admin_says(f"/credit {bob} {amount} gift {amount}")
        await admin_shop.confirm(prompt)
        await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Credited")
    empty_log = await admin_shop.admin_says("/adminlog 1")
    assert "gift 2" in empty_log.text and "gift 1" not in empty_log.text
    full = await admin_shop.admin_says("/adminlog")
    assert full.text.index("gift 2") < full.text.index("gift 1")
    config = tmp_path / "cli.toml"
    config.write_text(f'[database]\npath = "{admin_shop.db_path}"\n')
    out = io.StringIO()
    assert await asyncio.to_thread(cli_main, ["--config", str(config), "admin", "log", "--limit", "5"], out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "credit" in lines[0] and "gift 2" in lines[0] and "gift 1" in lines[1]
    out = io.StringIO()
    assert await asyncio.to_thread(cli_main, ["--config", str(config), "admin", "log", "--limit", "1"], out) == 0
    assert len(out.getvalue().splitlines()) == 1


async def test_user_card_speaks_of_the_user_in_the_third_person(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    await admin_shop.db.record_payment("stars", "c-bob", user_id=bob, amount=1000, provider_amount=770,
                                       provider_currency="XTR")
    first, second = [(await admin_shop.db.purchase(
        (await admin_shop.db.create_order(key, bob, "purchase", 400, "vm-small")).id, bob)).deployment_id
        for key in ("o1", "o2")]
    # Bob cancels the first VM in the chat, the admin the second.
    listing = await admin_shop.send(bob, "/deployments")
    for action, then in (("dep", "dcan"), ("dcan", "dcanok"), ("dcanok", None)):
        await admin_shop.press(bob, listing.message_id, data=f"v1:{action}:{first}")
        if then:
            await admin_shop.emu.wait_for(lambda then=then: f"v1:{then}:{first}" in [
                b.get("callback_data") for b in admin_shop.current(bob, listing.message_id).buttons])
    await admin_shop.emu.wait_for(lambda: admin_shop.sql(
        "SELECT 1 FROM deployments WHERE id = ? AND state = 'cancelled'", first))
    prompt = await admin_shop.admin_says(f"/cancelvm {second}")
    await admin_shop.confirm(prompt)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "cancelled")
    card = await admin_shop.admin_says(f"/user {bob}")
    assert f"#{first} vm-small cancelled (cancelled by the user)" in card.text
    assert f"#{second} vm-small cancelled (cancelled by admin {admin_shop.admin})" in card.text
    assert "your request" not in card.text and "by the shop" not in card.text
    fleet = await admin_shop.admin_says("/fleet cancelled")
    assert "cancelled by the user" in fleet.text and "your request" not in fleet.text

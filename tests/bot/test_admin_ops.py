"""/stats (a PNG chart with the figures as its caption), /fleet, /retry, /cancelvm and /service
through the real PTB Application polling the Telegram emulator."""

from __future__ import annotations

import json

from handlers.admin_stats import chart_png
from ledger import deployments as jobs
from ledger import stats

from .admin_fixtures import AdminFront, admin_shop  # noqa: F401  (fixture)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def _deployment(front: AdminFront, user_id: int, credits: int = 1000, key: str = "o1") -> int:
    await front.db.record_payment("stars", f"c-{key}", user_id=user_id, amount=credits,
                                  provider_amount=credits * 77 // 100, provider_currency="XTR")
    order = await front.db.create_order(key, user_id, "purchase", 400, "vm-small")
    return (await front.db.purchase(order.id, user_id)).deployment_id


async def test_stats_sends_figures_and_a_png_chart(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    await admin_shop.send(bob, "/start")
    dep = await _deployment(admin_shop, bob)
    await admin_shop.db.write(lambda conn, now: jobs.complete_success(
        conn, now, dep, json.dumps({"contract_id": 1}), 30, f"settle:{dep}", commission_ppm=100_000))
    photo = await admin_shop.admin_says("/stats 7")
    assert photo.data["photo"] and photo.text is None  # one message: the chart, the figures its caption
    caption = photo.caption
    assert "Last 7 days" in caption and "Users: 1 (1 new) · paying: 1" in caption
    assert "stars: 10.00 TFC" in caption and "Commission earned: 0.40 TFC" in caption
    assert "Credits outstanding: 6.00 TFC" in caption and "ready 1" in caption
    [call] = [c for c in admin_shop.emu.calls if c.method == "sendPhoto"]
    assert call.ok
    await admin_shop.settled(admin_shop.admin)
    figures = await admin_shop.db.read(lambda conn: stats.collect(conn, 0, admin_shop.db.now() + 1))
    assert (await chart_png(figures.days[-7:])).startswith(PNG_MAGIC)
    assert sum(p.revenue for p in figures.days) == 1000 and sum(p.deployments for p in figures.days) == 1


async def test_fleet_by_state(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    first = await _deployment(admin_shop, bob, key="o1")
    second = await _deployment(admin_shop, bob, key="o2")
    await admin_shop.db.write(lambda conn, now: jobs.complete_failure(conn, now, second, "node 7 is full"))
    overview = await admin_shop.admin_says("/fleet")
    assert "queued 1 · deploying 0 · ready 0 · failed 1" in overview.text
    assert f"#{first} vm-small user {bob} queued" in overview.text and "node 7 is full" in overview.text
    failed = await admin_shop.admin_says("/fleet failed")
    assert f"#{second}" in failed.text and f"#{first} " not in failed.text
    none = await admin_shop.admin_says("/fleet ready")
    assert "VMs ready: none" in none.text


async def test_retry_places_a_fresh_hold_once(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    dep = await _deployment(admin_shop, bob)
    await admin_shop.db.write(lambda conn, now: jobs.complete_failure(conn, now, dep, "timeout"))
    assert (await admin_shop.db.balance(bob)).available == 1000  # the hold was voided
    prompt = await admin_shop.admin_says(f"/retry {dep}")
    assert "held again" in prompt.text and "timeout" in prompt.text
    data = prompt.buttons[0]["callback_data"]
    await admin_shop.press(admin_shop.admin, prompt.message_id, data=data)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "queued again")
    record = await admin_shop.db.read(lambda conn: jobs.get(conn, dep))
    assert (record.state, record.attempts, record.error) == ("queued", 0, None)
    balance = await admin_shop.db.balance(bob)
    assert (balance.available, balance.held) == (600, 400)
    assert admin_shop.sql("SELECT state FROM holds ORDER BY id") == [("voided",), ("pending",)]
    assert (await admin_shop.db.get_order(record.order_id)).state == "placed"
    again = await admin_shop.admin_says(f"/retry {dep}")  # queued: made due now, no second hold
    await admin_shop.confirm(again)
    await admin_shop.wait_text(admin_shop.admin, again.message_id, "queued again")
    assert (await admin_shop.db.balance(bob)).held == 400
    assert (await admin_shop.db.audit()).ok


async def test_retry_without_cover_is_refused_in_tfc_and_changes_nothing(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    dep = await _deployment(admin_shop, bob, credits=400)
    await admin_shop.db.write(lambda conn, now: jobs.complete_failure(conn, now, dep, "timeout"))
    await admin_shop.db.adjust("spent", bob, -300, admin_id=1, reason="spent")
    before = admin_shop.snapshot()
    refused = await admin_shop.admin_says(f"/retry {dep}")
    assert not refused.buttons  # no confirm button for what the ledger would refuse
    assert (f"Not retried: VM #{dep} needs its price held again, and user {bob} has 1.00 TFC available: "
            "4.00 TFC would exceed that by 3.00 TFC. Nothing was changed.") in refused.text
    assert f"/credit {bob} 3.00 <reason>, then /retry {dep}" in refused.text
    assert "account" not in refused.text and "needed" not in refused.text
    assert admin_shop.snapshot() == before
    # Covered when asked, short at the tap: refused in TFC too.
    await admin_shop.db.adjust("back", bob, 300, admin_id=1, reason="back")
    prompt = await admin_shop.admin_says(f"/retry {dep}")
    await admin_shop.db.adjust("spent again", bob, -100, admin_id=1, reason="spent")
    await admin_shop.confirm(prompt)
    late = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "Not retried")
    assert "has 3.00 TFC available: 4.00 TFC would exceed that by 1.00 TFC" in late.text
    assert "account" not in late.text
    assert (await admin_shop.db.read(lambda conn: jobs.get(conn, dep))).state == "failed"


async def test_cancel_queued_and_running_with_a_refund_choice(admin_shop: AdminFront) -> None:
    bob = admin_shop.user("Bob")
    queued = await _deployment(admin_shop, bob, key="o1")
    prompt = await admin_shop.admin_says(f"/cancelvm {queued}")
    assert "hold is released" in prompt.text
    await admin_shop.confirm(prompt)
    await admin_shop.wait_text(admin_shop.admin, prompt.message_id, f"Deployment #{queued} is cancelled")
    assert (await admin_shop.db.balance(bob)).available == 1000
    running = await _deployment(admin_shop, bob, key="o2")
    await admin_shop.db.write(lambda conn, now: jobs.complete_success(
        conn, now, running, "{}", 30, f"settle:{running}", commission_ppm=100_000))
    assert (await admin_shop.db.balance(bob)).available == 1600
    prompt = await admin_shop.admin_says(f"/cancelvm {running}")
    options = [b["callback_data"].rsplit(":", 1)[1] for b in prompt.buttons]
    assert options[:3] == ["none", "unused", "full"] and prompt.buttons[3]["callback_data"].startswith("v1:adno:")
    full = next(b["callback_data"] for b in prompt.buttons if b["callback_data"].endswith(":full"))
    await admin_shop.press(admin_shop.admin, prompt.message_id, data=full)
    done = await admin_shop.wait_text(admin_shop.admin, prompt.message_id, "4.00 TFC returned")
    assert "cancelling" in done.text and "periods job" in done.text
    assert (await admin_shop.db.balance(bob)).available == 2000
    assert (await admin_shop.db.read(lambda conn: jobs.get(conn, running))).state == "cancelling"
    actions = [r[0] for r in admin_shop.sql("SELECT action FROM admin_log ORDER BY id")]
    assert actions == ["cancel", "cancel"]
    assert (await admin_shop.db.audit()).ok
    # /cancel means "cancel what you were doing", also for an admin.
    plain = await admin_shop.send(admin_shop.admin, "/cancel")
    assert "Deployment" not in plain.text and "VM" not in plain.text


async def test_services_enable_disable_and_price_persist_and_apply_to_new_orders(admin_shop: AdminFront) -> None:
    listing = await admin_shop.admin_says("/service")
    assert "⛔ vm-xl" in listing.text and "✅ vm-small" in listing.text
    assert "v1:adsvc:vm-xl:on" in [b["callback_data"] for b in listing.buttons]
    reply = await admin_shop.admin_says("/service disable vm-small")
    assert "vm-small is now hidden" in reply.text
    await admin_shop.press(admin_shop.admin, listing.message_id, data="v1:adsvc:vm-xl:on")
    await admin_shop.wait_text(admin_shop.admin, listing.message_id, "✅ vm-xl")
    bob = admin_shop.user("Bob")
    catalog = await admin_shop.send(bob, "/services")
    assert [b["callback_data"] for b in catalog.buttons] == ["v1:svc:vm-medium", "v1:svc:vm-xl"]
    old = await admin_shop.db.create_order("old", bob, "purchase", 850, "vm-medium")
    price = await admin_shop.admin_says("/service price vm-medium 9.75")
    assert "9.75 TFC (new orders only)" in price.text
    assert (await admin_shop.db.get_order(old.id)).amount == 850
    await admin_shop.restart()  # the overrides are kept in the database
    catalog = await admin_shop.send(bob, "/services")
    assert [b["callback_data"] for b in catalog.buttons] == ["v1:svc:vm-medium", "v1:svc:vm-xl"]
    await admin_shop.press(bob, catalog.message_id, data="v1:svc:vm-medium")
    card = await admin_shop.wait_text(bob, catalog.message_id, "Medium VM")
    assert "9.75 TFC" in card.text
    actions = [r[0] for r in admin_shop.sql("SELECT action || ' ' || target FROM admin_log ORDER BY id")]
    assert actions == ["service vm-small", "service vm-xl", "service vm-medium"]
    await admin_shop.admin_says("/service enable vm-small")
    catalog = await admin_shop.send(bob, "/services")
    assert catalog.buttons[0]["callback_data"] == "v1:svc:vm-small"

"""A refund is one message to the user, whichever path applies it: an admin's /refund of a
Stars payment (raced by Telegram's refunded_payment update), a Stars refund made outside the
shop, and an admin's cancel of a running VM with a refund (followed by its removal from the
grid). Through the real PTB Application, the Bot API emulator, a real SQLite ledger, the
simulated grid and the outbox sender."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grid.periods import PeriodKeeper
from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker, WorkerOptions
from ledger import Ledger
from ledger import deployments as jobs
from payments.notifier import Notifier
from sandbox.telegram_api import TelegramEmulator

from .admin_fixtures import AdminFront, make_front
from .test_chat_deployments import KEY


class AdminGridShop(AdminFront):
    """An admin's shop with a simulated grid and a deployment worker."""

    grid: SimulatedGrid
    worker: DeploymentWorker

    async def start_with_grid(self, tmp_path: Path) -> None:
        self.ledger = await Ledger.open(self.db_path)
        self.grid = SimulatedGrid(str(tmp_path / "grid.sqlite3"), latency_s=0.0)
        options = WorkerOptions.from_config(self.config, ssh_key=KEY)
        self.worker = DeploymentWorker(self.ledger, self.grid, options)
        await self.start(deployer=self.grid, worker=self.worker)

    async def deliver(self) -> None:
        """Send everything the outbox holds, as `gridshop run`'s notifier does."""
        assert self.app is not None
        notifier = Notifier(self.db, self.app.bot)
        while (await notifier.run_once()).claimed:
            pass

    def told_after(self, user_id: int, message_id: int) -> list[str]:
        """What the bot sent the user after `message_id`, and what it still has queued."""
        sent = [m.text or "" for m in self.emu.bot_messages(user_id) if m.message_id > message_id]
        queued = [t for (t,) in self.sql(
            "SELECT text FROM notifications WHERE chat_id = ? AND state = 'pending'", user_id)]
        return sent + queued


@pytest.fixture
async def gshop(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[AdminGridShop]:
    front = make_front(emu, tmp_path)
    shop = AdminGridShop(front.emu, front.db_path, front.config, front.secrets)
    shop.admin = front.admin
    await shop.start_with_grid(tmp_path)
    try:
        yield shop
    finally:
        await shop.stop()


async def _settled(shop: AdminGridShop, user_id: int) -> None:
    """Telegram's refunded_payment update reached the shop and was handled; the outbox is sent."""
    await shop.emu.wait_for(lambda: any(m.data.get("refunded_payment") for m in shop.emu.messages(user_id)))
    await shop.emu.wait_for(lambda: not shop.emu.pending_updates())
    await asyncio.sleep(0.3)  # the update's handler has run
    await shop.deliver()


async def test_an_admin_stars_refund_is_one_message_with_stars_amount_and_balance(gshop: AdminGridShop) -> None:
    amy = gshop.user("Amy")
    await gshop.pay_stars(amy, 1000)
    await gshop.wait_reply(amy, 0, "paid with 770 Stars")  # the receipt, in the top-up's order message
    receipt = gshop.emu.bot_messages(amy)[-1]  # what the chat showed by then
    [payment] = await gshop.db.payments(amy)
    prompt = await gshop.admin_says(f"/refund {payment.id}")
    await gshop.confirm(prompt)
    await gshop.wait_text(gshop.admin, prompt.message_id, "refunded by Telegram")
    await _settled(gshop, amy)
    assert gshop.told_after(amy, receipt.message_id) == [
        f"↩️ Refund for order #{payment.order_id}: 770 Stars returned to you in Telegram Stars; "
        "10.00 TFC of credits taken off your balance. Balance: 0.00 TFC."]


async def test_a_stars_refund_made_outside_the_shop_is_one_message_naming_the_debt(gshop: AdminGridShop) -> None:
    amy = gshop.user("Amy")
    charge = await gshop.pay_stars(amy, 1000)
    await gshop.db.adjust("spend", amy, -600, admin_id=1, reason="spent")
    await gshop.wait_reply(amy, 0, "paid with 770 Stars")  # the receipt, in the top-up's order message
    receipt = gshop.emu.bot_messages(amy)[-1]  # what the chat showed by then
    assert gshop.app is not None
    await gshop.app.bot.refund_star_payment(user_id=amy, telegram_payment_charge_id=charge)  # not /refund
    await _settled(gshop, amy)
    [told] = gshop.told_after(amy, receipt.message_id)
    assert "770 Stars returned to you in Telegram Stars; 10.00 TFC of credits taken off your balance" in told
    assert "Your balance is now -6.00 TFC (debt)" in told


async def test_an_admin_cancel_with_a_refund_is_one_message_also_after_the_grid_removes_it(
        gshop: AdminGridShop) -> None:
    bob = gshop.user("Bob")
    await gshop.db.record_payment("stars", "c-1", user_id=bob, amount=1000, provider_amount=770,
                                  provider_currency="XTR")
    order = await gshop.db.create_order("o1", bob, "purchase", 400, "vm-small")
    dep = (await gshop.db.purchase(order.id, bob)).deployment_id
    await gshop.worker.run_once()
    await gshop.deliver()
    last = gshop.emu.bot_messages(bob)[-1].message_id
    prompt = await gshop.admin_says(f"/cancelvm {dep}")
    full = next(b["callback_data"] for b in prompt.buttons if b["callback_data"].endswith(":full"))
    await gshop.press(gshop.admin, prompt.message_id, data=full)
    await gshop.wait_text(gshop.admin, prompt.message_id, "4.00 TFC returned")
    await PeriodKeeper(gshop.db, gshop.grid, gshop.worker.options).run_once()  # the grid is done
    assert (await gshop.db.read(lambda conn: jobs.get(conn, dep))).state == "cancelled"
    await gshop.deliver()
    name = (await gshop.db.read(lambda conn: jobs.get(conn, dep))).title
    assert gshop.told_after(bob, last) == [
        f"🗑 The shop cancelled {name}; it is being removed from the grid. 4.00 TFC was "
        "returned to your balance. Balance: 10.00 TFC."]

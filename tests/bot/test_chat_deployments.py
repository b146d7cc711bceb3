"""The chat side of deployments, through the real PTB Application, the Telegram emulator, a real
SQLite ledger and the simulated grid (no latency): the status message a purchase gets and its
edits (sent by the notifier from the outbox), /deployments with details, renew, auto-renew and
cancel, grid capacity in the catalogue and at purchase, and the /orders buttons."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from core.settings import Config
from grid.gridproxy import GridProxyClient
from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker, WorkerOptions
from ledger import Ledger, grace, outbox
from ledger import deployments as jobs
from ledger.deployments import DeploymentRecord
from payments.notifier import Notifier
from sandbox.gridproxy import NODES_KEY, make_app, node_json
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

from .conftest import Shopfront, make_config, make_secrets
from .test_chat_buy import _choices, _fund

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO chat@test"


class GridShop(Shopfront):
    """A Shopfront whose Shop has a simulated grid, a deployment worker and maybe a gridproxy."""

    grid: SimulatedGrid
    worker: DeploymentWorker

    async def start_with_grid(self, tmp_path: Path, gridproxy: GridProxyClient | None = None,
                              **grid_options: Any) -> None:
        self.ledger = await Ledger.open(self.db_path)
        grid_options.setdefault("latency_s", 0.0)
        self.grid = SimulatedGrid(str(tmp_path / "grid.sqlite3"), **grid_options)
        options = WorkerOptions.from_config(self.config, ssh_key=KEY, backoff_base_s=0, backoff_max_s=0)
        self.worker = DeploymentWorker(self.ledger, self.grid, options)
        await self.start(deployer=self.grid, worker=self.worker, gridproxy=gridproxy)

    async def deliver(self) -> None:
        """Run the deployment worker, then send the outbox as `gridshop run`'s notifier would."""
        assert self.app is not None
        await self.worker.run_once()
        notifier = Notifier(self.db, self.app.bot)
        while (await notifier.run_once()).claimed:
            pass

    async def deployment(self, deployment_id: int) -> DeploymentRecord:
        return await self.db.read(lambda conn: jobs.get(conn, deployment_id))

    async def buy(self, user_id: int, service_id: str = "vm-small") -> tuple[ChatMessage, ChatMessage]:
        """Buy from the balance through the buttons; returns (the screen, the status message)."""
        choices = await _choices(self, user_id, service_id)
        await self.press(user_id, choices.message_id, data=self.button(choices, "v1:pay:")["callback_data"])
        screen = await self.wait_text(user_id, choices.message_id, "from your balance?")
        await self.press(user_id, choices.message_id, data=self.button(screen, "v1:ok:")["callback_data"])
        status = await self.wait_text(user_id, choices.message_id, "queued for deployment")  # the same message
        for _ in range(200):  # the handler attaches the message right after sending it
            attached = await self.db.read(lambda conn: conn.execute(
                "SELECT 1 FROM deployments WHERE status_message_id = ?", (status.message_id,)).fetchone())
            if attached:
                break
            await asyncio.sleep(0.01)
        return self.current(user_id, choices.message_id), status


@pytest.fixture
async def gshop(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[GridShop]:
    front = GridShop(emu, tmp_path / "gridshop.db", _unpaced(make_config(tmp_path)), make_secrets(emu))
    await front.start_with_grid(tmp_path)
    try:
        yield front
    finally:
        await front.stop()


async def _only_deployment(shop: GridShop, user_id: int) -> DeploymentRecord:
    [dep] = await shop.db.read(lambda conn: jobs.list_by_user(conn, user_id, include_closed=True))
    return dep


async def test_the_order_message_goes_from_choices_to_paid_deploying_and_ready(gshop: GridShop) -> None:
    ann = gshop.user("Ann")
    await _fund(gshop.db, ann, 1000)
    screen, status = await gshop.buy(ann)
    dep = await _only_deployment(gshop, ann)
    assert status.message_id == screen.message_id  # one order message, no status message of its own
    assert status.text == (f"✅ Paid with 4.00 TFC from your balance.\n⏳ Small VM #{dep.id} is queued for "
                           "deployment on the ThreeFold grid.\nAvailable now: 6.00 TFC.")
    assert status.buttons == []  # no pay button on a paid order
    assert (dep.status_chat_id, dep.status_message_id) == (ann, status.message_id)
    messages_before = len(gshop.emu.bot_messages(ann))
    await gshop.deliver()
    dep = await gshop.deployment(dep.id)
    edits = _edits(gshop, ann, status.message_id)
    assert [e.split(" ", 1)[0] for e in edits[-2:]] == ["⚙️", "✅"]  # deploying, then ready
    assert edits[-2] == f"⚙️ Small VM #{dep.id} is being deployed on the ThreeFold grid."  # no "0s so far"
    ready = gshop.current(ann, status.message_id)
    assert ready.text.startswith(f"✅ Small VM #{dep.id} is ready.\nMycelium IP: {dep.details['mycelium_ip']}")
    assert f"Connect: ssh root@{dep.details['mycelium_ip']}" in ready.text and "auto-renew is off" in ready.text
    assert [(b["text"], b["callback_data"]) for b in ready.buttons] == [("🖥 My VM", f"v1:dep:{dep.id}")]
    assert len(gshop.emu.bot_messages(ann)) == messages_before  # every state was an edit
    await gshop.press(ann, status.message_id, data=f"v1:dep:{dep.id}")
    await gshop.wait_text(ann, status.message_id, "One more period costs")
    balance = await gshop.db.balance(ann)
    assert (balance.available, balance.held) == (600, 0)
    assert (await gshop.db.audit()).ok


async def test_failed_deploy_edits_the_status_to_failed_and_restores_the_balance(
    emu: TelegramEmulator, tmp_path: Path
) -> None:
    shop = GridShop(emu, tmp_path / "gridshop.db", make_config(tmp_path), make_secrets(emu))
    await shop.start_with_grid(tmp_path, failure_rate=1.0, failure_kinds=("no_capacity",))
    try:
        ben = shop.user("Ben")
        await _fund(shop.db, ben, 1000)
        _, status = await shop.buy(ben)
        await shop.deliver()
        text = shop.current(ben, status.message_id).text
        assert text == ("❌ Small VM #1 could not be deployed: no capacity on the grid for this service right now. "
                        "4.00 TFC is back in your balance. Balance: 10.00 TFC.")
        # The refund is told in the status message, and nothing else is sent about it.
        assert not [m.text for m in shop.emu.bot_messages(ben) if m.message_id > status.message_id]
        balance = await shop.db.balance(ben)
        assert (balance.available, balance.held) == (1000, 0)
        dep = await _only_deployment(shop, ben)
        assert dep.state == "failed"
        [order] = await shop.db.orders(ben)
        assert order.state == "failed"
        assert (await shop.db.audit()).ok
    finally:
        await shop.stop()


async def test_status_catches_up_when_the_worker_was_faster_than_the_chat(gshop: GridShop) -> None:
    # The worker deploys between the purchase and the status message being attached.
    cy = gshop.user("Cy")
    await _fund(gshop.db, cy, 1000)
    order = await gshop.db.create_order("direct", cy, "purchase", 400, "vm-small")
    bought = await gshop.db.purchase(order.id, cy)
    await gshop.worker.run_once()
    assert gshop.app is not None
    status = await gshop.app.bot.send_message(cy, "⏳ queued for deployment")
    await gshop.db.write(lambda conn, now: jobs.attach_status_message(conn, now, bought.deployment_id, cy,
                                                                      status.message_id))
    await gshop.deliver()
    assert gshop.current(cy, status.message_id).text.startswith("✅ VM #1 is ready.")


async def test_buy_now_paid_with_stars_goes_through_every_state_in_the_order_message(gshop: GridShop) -> None:
    # The VM is deployed as soon as it is paid; each state is still its own edit of the order
    # message, in order, so "deploying" is not skipped between queued and ready.
    dee = gshop.user("Dee")
    order_message = await _paid_with_stars(gshop, dee)
    messages = len(gshop.emu.bot_messages(dee))
    paid = await gshop.wait_text(dee, order_message.message_id, "Paid with")  # sent by the chat at once
    assert paid.text == "✅ Paid with 308 Stars.\n⏳ Small VM #1 is queued for deployment on the ThreeFold grid."
    assert paid.buttons == []  # the pay buttons are gone
    await gshop.deliver()
    edits = _edits(gshop, dee, order_message.message_id)
    assert [e.split(" ", 1)[0] for e in edits[-3:]] == ["✅", "⚙️", "✅"]  # paid and queued, deploying, ready
    assert gshop.current(dee, order_message.message_id).text.startswith("✅ Small VM #1 is ready.\nMycelium IP:")
    assert len(gshop.emu.bot_messages(dee)) == messages  # no receipt, status or details message of its own
    balance = await gshop.db.balance(dee)
    assert (balance.posted, balance.held) == (0, 0)


def _edits(shop: GridShop, chat_id: int, message_id: int) -> list[str]:
    """The texts of the bot's successful editMessageText calls on one message, oldest first."""
    return [c.params.get("text", "") for c in shop.emu.calls
            if c.method == "editMessageText" and c.ok and c.params.get("chat_id") == str(chat_id)
            and c.params.get("message_id") == str(message_id)]


async def _ready_vm(shop: GridShop, user_id: int, funds: int = 1000) -> tuple[DeploymentRecord, ChatMessage]:
    """A user with a ready VM; returns it and the /deployments list message."""
    await _fund(shop.db, user_id, funds)
    await shop.buy(user_id)
    await shop.deliver()
    dep = await _only_deployment(shop, user_id)
    assert dep.state == "ready"
    listing = await shop.send(user_id, "/deployments")
    return dep, listing


async def test_deployments_list_details_renew_auto_renew_and_cancel(gshop: GridShop) -> None:
    eve = gshop.user("Eve")
    dep, listing = await _ready_vm(gshop, eve)
    assert f"Small VM #{dep.id} · ready until" in listing.text
    await gshop.press(eve, listing.message_id, data=f"v1:dep:{dep.id}")
    screen = await gshop.wait_text(eve, listing.message_id, "Mycelium IP:")
    assert f"Connect: ssh root@{dep.details['mycelium_ip']}" in screen.text
    assert "auto-renew is off" in screen.text

    # Renew asks first, with the amount and the new expiry; nothing is charged yet.
    renew = gshop.button(screen, "v1:dren:")
    assert renew["text"] == "🔁 Renew 30 days for 4.00 TFC"
    await gshop.press(eve, listing.message_id, data=renew["callback_data"])
    ask = await gshop.wait_text(eve, listing.message_id, "for 30 days?")
    until = dep.expires_at + 30 * 86400  # type: ignore[operator]
    until_text = datetime.fromtimestamp(until, tz=UTC).strftime("%Y-%m-%d %H:%M")
    assert ask.text == (f"Renew Small VM #{dep.id} for 30 days?\n4.00 TFC is taken from your balance "
                        f"(available now: 6.00 TFC); it is then paid until {until_text} UTC.")
    assert [b["text"] for b in ask.buttons] == [f"✅ Pay 4.00 TFC, renew until {until_text[:10]}", "No, not now"]
    assert (await gshop.deployment(dep.id)).expires_at == dep.expires_at
    assert (await gshop.db.balance(eve)).available == 600
    # "No, not now" changes nothing.
    await gshop.press(eve, listing.message_id, data=gshop.button(ask, "v1:dep:")["callback_data"])
    screen = await gshop.wait_text(eve, listing.message_id, "Mycelium IP:")
    assert (await gshop.db.balance(eve)).available == 600
    await gshop.press(eve, listing.message_id, data=gshop.button(screen, "v1:dren:")["callback_data"])
    ask = await gshop.wait_text(eve, listing.message_id, "for 30 days?")
    renew = gshop.button(ask, "v1:drenok:")

    # The confirm, tapped twice before the bot reacts: charged once.
    edits_before = len(_edits(gshop, eve, listing.message_id))
    queries = [await gshop.emu.press_button(eve, listing.message_id, data=renew["callback_data"]) for _ in range(2)]
    answers = [await gshop.emu.wait_for(lambda q=q: gshop.emu.callback_answer(q["id"])) for q in queries]
    assert sorted(a["text"] for a in answers) == ["Already renewed; nothing more was charged.", "Renewed."]
    renewed = await gshop.deployment(dep.id)
    assert renewed.expires_at == dep.expires_at + 30 * 86400  # type: ignore[operator]
    assert (await gshop.db.balance(eve)).available == 200
    # Both taps run at once (concurrent_updates) and each edits the screen after its answer,
    # so the last edit may be the plain details of the "already renewed" tap: wait for both
    # edits, and check the renewal screen was one of them, not that it is still on screen.
    edits = await gshop.emu.wait_for(
        lambda: (e := _edits(gshop, eve, listing.message_id)[edits_before:]) and len(e) >= 2 and e)
    assert any("renewed for 4.00 TFC" in text for text in edits), edits
    screen = gshop.current(eve, listing.message_id)

    # Auto-renew on, then off.
    await gshop.press(eve, listing.message_id, data=gshop.button(screen, "v1:dauto:")["callback_data"])
    screen = await gshop.wait_text(eve, listing.message_id, "auto-renew is on")
    assert (await gshop.deployment(dep.id)).auto_renew
    answer = await gshop.press(eve, listing.message_id, data=gshop.button(screen, "v1:dauto:")["callback_data"])
    assert answer["text"] == "Auto-renew is off."
    screen = await gshop.wait_text(eve, listing.message_id, "auto-renew is off")
    assert not (await gshop.deployment(dep.id)).auto_renew

    # Cancel asks first; "keep it" changes nothing; confirming cancels the contract.
    await gshop.press(eve, listing.message_id, data=gshop.button(screen, "v1:dcan:")["callback_data"])
    ask = await gshop.wait_text(eve, listing.message_id, "Remove Small VM")
    # Two periods prepaid (bought, renewed), a few seconds of the first one used.
    paid_until = datetime.fromtimestamp(renewed.expires_at, tz=UTC).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]
    forfeit = re.search(r"You give up the unused prepaid time: (\d+) days (\d+) h \(paid until (.+) UTC\), "
                        r"worth about (\d+\.\d\d) TFC\. Nothing is refunded\.$", ask.text)
    assert forfeit is not None, ask.text
    assert (int(forfeit[1]) * 24 + int(forfeit[2]), forfeit[3]) in ((1439, paid_until), (1440, paid_until))
    assert forfeit[4] in ("7.99", "8.00")
    assert (await gshop.deployment(dep.id)).state == "ready"
    assert gshop.button(ask, "v1:dep:")["text"] == "No, keep it"
    await gshop.press(eve, listing.message_id, data=gshop.button(ask, "v1:dcanok:")["callback_data"])
    messages = len(gshop.emu.bot_messages(eve))
    await gshop.wait_text(eve, listing.message_id, f"🗑 Small VM #{dep.id} is removed from the grid.")
    assert (await gshop.deployment(dep.id)).state == "cancelled"
    assert await gshop.grid.get(dep.name or "") is None
    await gshop.deliver()  # one event, one message: the edit above, nothing more from the outbox
    assert len(gshop.emu.bot_messages(eve)) == messages
    again = await gshop.forge_press(eve, listing.message_id, f"v1:dcanok:{dep.id}")
    assert again["text"] == "This VM is already cancelled."
    stale = await gshop.forge_press(eve, listing.message_id, f"v1:dren:{dep.id}:{renewed.expires_at}")
    assert stale["text"] == "This VM is no longer running; nothing was changed."
    assert (await gshop.db.balance(eve)).available == 200
    assert (await gshop.db.audit()).ok


async def test_foreign_and_stale_deployment_buttons_change_nothing(gshop: GridShop) -> None:
    fay, gus = gshop.user("Fay"), gshop.user("Gus")
    dep, _ = await _ready_vm(gshop, fay)
    await _fund(gshop.db, gus, 1000)
    menu = await gshop.send(gus, "/start")
    for data in (f"v1:dep:{dep.id}", f"v1:dren:{dep.id}:{dep.expires_at}", f"v1:drenok:{dep.id}:{dep.expires_at}",
                 f"v1:dauto:{dep.id}:1",
                 f"v1:dcan:{dep.id}", f"v1:dcanok:{dep.id}", f"v1:dtop:{dep.id}", "v1:dep:999999"):
        answer = await gshop.forge_press(gus, menu.message_id, data)
        assert answer["text"] == "This VM no longer exists or is not yours.", data
    for junk in ("v1:dauto:1:2", "v1:dren:1", "v1:dep:x"):
        answer = await gshop.forge_press(gus, menu.message_id, junk)
        assert answer["text"].startswith("This button is no longer valid"), junk
    # Renew buttons for another expiry than the current one charge nothing.
    for action in ("dren", "drenok"):
        old = await gshop.forge_press(fay, menu.message_id, f"v1:{action}:{dep.id}:{dep.expires_at - 86400}")  # type: ignore[operator]
        assert old["text"] == "Already renewed; nothing more was charged."
        odd = await gshop.forge_press(fay, menu.message_id, f"v1:{action}:{dep.id}:{dep.expires_at + 86400}")  # type: ignore[operator]
        assert odd["text"] == "This renew button is out of date. Please look again."
    after = await gshop.deployment(dep.id)
    assert (after.state, after.expires_at, after.auto_renew) == ("ready", dep.expires_at, False)
    assert (await gshop.db.balance(fay)).available == 600
    assert (await gshop.db.balance(gus)).available == 1000


async def test_renew_without_funds_offers_a_top_up(gshop: GridShop) -> None:
    hal = gshop.user("Hal")
    dep, listing = await _ready_vm(gshop, hal, funds=500)
    await gshop.press(hal, listing.message_id, data=f"v1:dep:{dep.id}")
    screen = await gshop.wait_text(hal, listing.message_id, "Mycelium IP:")
    answer = await gshop.press(hal, listing.message_id, data=gshop.button(screen, "v1:dren:")["callback_data"])
    assert answer["text"] == "Your balance does not cover this order." and answer["show_alert"]
    short = await gshop.wait_text(hal, listing.message_id, "Top up, then renew again")
    assert (await gshop.deployment(dep.id)).expires_at == dep.expires_at
    await gshop.press(hal, listing.message_id, data=gshop.button(short, "v1:dtop:")["callback_data"])
    topup = await gshop.wait_text(hal, listing.message_id, "3.00 TFC of credits")
    assert any(b["callback_data"].endswith(":stars") for b in topup.buttons)


async def test_cancelling_a_queued_vm_refunds_and_a_deploying_one_waits(gshop: GridShop) -> None:
    ivy = gshop.user("Ivy")
    await _fund(gshop.db, ivy, 2000)
    _, status = await gshop.buy(ivy)
    await gshop.buy(ivy, "vm-medium")
    listing = await gshop.send(ivy, "/deployments")
    deps = await gshop.db.read(lambda conn: jobs.list_by_user(conn, ivy))
    queued, other = deps[1], deps[0]
    await gshop.press(ivy, listing.message_id, data=f"v1:dep:{queued.id}")
    await gshop.wait_text(ivy, listing.message_id, "Small VM · queued")
    await gshop.press(ivy, listing.message_id, data=f"v1:dcan:{queued.id}")
    ask = await gshop.wait_text(ivy, listing.message_id, "before it is deployed")
    await gshop.press(ivy, listing.message_id, data=gshop.button(ask, "v1:dcanok:")["callback_data"])
    await gshop.wait_text(ivy, listing.message_id, "is cancelled; the credits held for it are back")
    balance = await gshop.db.balance(ivy)
    assert (balance.available, balance.held) == (1150, 850)
    # The other one is claimed by a worker (deploying): cancel is refused for now.
    await gshop.db.write(lambda conn, now: jobs.claim_next(conn, now, 600, exclude=[queued.id]))
    answer = await gshop.forge_press(ivy, listing.message_id, f"v1:dcanok:{other.id}")
    assert answer["text"] == "This VM is being deployed; try again shortly."
    assert (await gshop.deployment(other.id)).state == "deploying"
    notifier = Notifier(gshop.db, gshop.app.bot)  # type: ignore[union-attr]
    await notifier.run_once()
    assert gshop.current(ivy, status.message_id).text.startswith(f"🚫 Small VM #{queued.id} was cancelled before")
    assert (await gshop.db.audit()).ok


@pytest.fixture
async def gridproxy() -> AsyncIterator[tuple[TestServer, GridProxyClient]]:
    # One node with 3 GB of memory free (16 GB, 11 booked, gridproxy's 2 GiB reserve): room for
    # the small VM (2 GB), none for the medium (4 GB).
    server = TestServer(make_app([node_json(11, 1, total_mru_gb=16, used_mru_gb=11)]))
    await server.start_server()
    async with GridProxyClient(str(server.make_url(""))) as client:
        yield server, client
    await server.close()


async def test_no_capacity_shows_unavailable_and_refuses_the_purchase(
    emu: TelegramEmulator, tmp_path: Path, gridproxy: tuple[TestServer, GridProxyClient]
) -> None:
    server, client = gridproxy
    shop = GridShop(emu, tmp_path / "gridshop.db", make_config(tmp_path), make_secrets(emu))
    await shop.start_with_grid(tmp_path, gridproxy=client)
    try:
        jon = shop.user("Jon")
        await _fund(shop.db, jon, 2000)
        catalog = await shop.send(jon, "/buy")
        labels = [b["text"] for b in catalog.buttons]
        assert labels == ["Small VM · 4.00 TFC", "Medium VM · unavailable"]
        await shop.press(jon, catalog.message_id, data="v1:svc:vm-medium")
        card = await shop.wait_text(jon, catalog.message_id, "Unavailable right now")
        assert not any(b["callback_data"].startswith("v1:buy:") for b in card.buttons)
        refused = await shop.forge_press(jon, catalog.message_id, "v1:buy:vm-medium")
        assert refused["text"].startswith("Sorry, the grid has no room for this VM")
        assert await shop.db.orders(jon) == []

        # The small VM fits; capacity goes away between the confirm screen and the confirm.
        choices = await _choices(shop, jon)
        order_id = int(shop.button(choices, "v1:pay:")["callback_data"].split(":")[2])
        await shop.press(jon, choices.message_id, data=f"v1:pay:{order_id}:bal")
        await shop.wait_text(jon, choices.message_id, "from your balance?")
        server.app[NODES_KEY][:] = [node_json(11, 1, status="down")]
        for data in (f"v1:ok:{order_id}", f"v1:pay:{order_id}:stars"):
            refused = await shop.forge_press(jon, choices.message_id, data)
            assert refused["text"].startswith("Sorry, the grid has no room for this VM"), data
        assert (await shop.db.get_order(order_id)).state == "open"
        balance = await shop.db.balance(jon)
        assert (balance.available, balance.held) == (2000, 0)
        assert not any(m.data.get("invoice") for m in shop.emu.bot_messages(jon))
    finally:
        await shop.stop()


async def test_orders_buttons_show_each_order(gshop: GridShop) -> None:
    kim, lee = gshop.user("Kim"), gshop.user("Lee")
    await _fund(gshop.db, kim, 2000)
    await gshop.buy(kim)
    open_screen = await _choices(gshop, kim, "vm-medium")
    open_id = int(gshop.button(open_screen, "v1:pay:")["callback_data"].split(":")[2])
    listing = await gshop.send(kim, "/orders")
    buttons = [b["callback_data"] for b in listing.buttons]
    assert buttons[:2] == [f"v1:ord:{open_id}", f"v1:ord:{open_id - 1}"]
    assert gshop.button(listing, f"v1:ord:{open_id}")["text"] == f"#{open_id} · Medium VM · waiting for payment"

    await gshop.press(kim, listing.message_id, data=f"v1:ord:{open_id}")
    shown = await gshop.wait_text(kim, listing.message_id, "How would you like to pay?")
    assert "State: waiting for payment" in shown.text
    assert gshop.button(shown, "v1:pay:")["callback_data"] == f"v1:pay:{open_id}:bal"
    assert any(b["callback_data"] == f"v1:pay:{open_id}:stars" for b in shown.buttons)

    await gshop.press(kim, listing.message_id, data="v1:ords")
    await gshop.wait_text(kim, listing.message_id, "Your recent orders")
    await gshop.press(kim, listing.message_id, data=f"v1:ord:{open_id - 1}")
    placed = await gshop.wait_text(kim, listing.message_id, "State: placed")
    dep = await _only_deployment(gshop, kim)
    assert gshop.button(placed, "v1:dep:")["callback_data"] == f"v1:dep:{dep.id}"
    assert not any(b["callback_data"].startswith("v1:pay:") for b in placed.buttons)

    menu = await gshop.send(lee, "/start")
    assert (await gshop.forge_press(lee, menu.message_id, f"v1:ord:{open_id}"))["text"] == \
        "This button belongs to someone else's order."
    assert (await gshop.forge_press(lee, menu.message_id, "v1:ord:987654"))["text"] == "This order no longer exists."
    assert (await gshop.db.get_order(open_id)).state == "open"


async def _paid_with_stars(shop: GridShop, user_id: int, *, order_message: bool = True) -> ChatMessage:
    """Buy a Small VM with Stars (a buy-now: its status waits in the outbox); returns the order
    message. Without `order_message`, the shop has forgotten which message showed the order (as
    for a payment found by reconciliation), so the status comes as a message of its own."""
    choices = await _choices(shop, user_id)
    stars = next(b["callback_data"] for b in choices.buttons if b["callback_data"].endswith(":stars"))
    await shop.press(user_id, choices.message_id, data=stars)
    invoice = await shop.emu.wait_for(lambda: next(
        (m for m in shop.emu.bot_messages(user_id) if m.data.get("invoice")), None))
    if not order_message:
        await shop.db.write(lambda conn, now: conn.execute("UPDATE orders SET message_id = NULL"))
    paid = await shop.emu.pay_invoice(user_id, invoice.message_id)
    assert paid.paid
    for _ in range(1000):  # the payment's update reaches the shop
        if await shop.db.read(lambda conn: jobs.list_by_user(conn, user_id)):
            break
        await asyncio.sleep(0.01)
    return choices


def _status_messages(shop: GridShop, user_id: int) -> list[ChatMessage]:
    return [m for m in shop.emu.bot_messages(user_id) if (m.text or "").startswith(("⏳", "⚙", "✅", "❌"))
            and "Small VM" in (m.text or "")]


async def test_without_an_order_message_a_deploy_faster_than_the_outbox_leaves_one_status_at_ready(
        gshop: GridShop) -> None:
    # The VM is ready before the notifier sent the "queued" status message of a Stars buy-now.
    eve = gshop.user("Eve")
    await _paid_with_stars(gshop, eve, order_message=False)
    await gshop.deliver()  # the worker first, then the outbox
    [status] = _status_messages(gshop, eve)
    assert status.text.startswith("✅ Small VM #1 is ready.\nMycelium IP:")
    assert status.buttons[0]["callback_data"] == "v1:dep:1"
    dep = await _only_deployment(gshop, eve)
    assert dep.state == "ready"


async def test_a_status_that_moves_on_while_its_message_is_being_sent_follows_as_an_edit(
    gshop: GridShop,
) -> None:
    fay = gshop.user("Fay")
    await _paid_with_stars(gshop, fay, order_message=False)
    assert gshop.app is not None
    notifier = Notifier(gshop.db, gshop.app.bot)
    # The notifier has claimed the "queued" message when the worker finishes the deploy.
    claimed = await gshop.db.write(lambda conn, now: [
        n for n in outbox.due(conn, now, 10) if n.key == jobs.status_key(1)])
    await gshop.worker.run_once()
    for notification in claimed:
        await notifier._deliver(notification)
    while (await notifier.run_once()).claimed:
        pass
    [status] = _status_messages(gshop, fay)
    assert gshop.current(fay, status.message_id).text.startswith("✅ Small VM #1 is ready.")


async def test_history_shows_a_purchase_as_one_line_with_the_balance_after(gshop: GridShop) -> None:
    ann = gshop.user("Ann")
    await _fund(gshop.db, ann, 1000)
    await gshop.buy(ann)
    await gshop.deliver()  # settled: 3.60 TFC to the grid, 0.40 TFC commission
    dep = await _only_deployment(gshop, ann)
    [paid] = await gshop.db.payments(ann)
    lines = (await gshop.send(ann, "/history")).text.splitlines()
    assert lines[1:] == [
        f"{_when(dep.ready_at)}  −4.00 TFC  Small VM bought, order #{dep.order_id} · balance 6.00 TFC",
        f"{_when(paid.created_at)}  +10.00 TFC  Payment with Telegram Stars · balance 10.00 TFC",
    ]


def _when(ts: int | None) -> str:
    assert ts is not None
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


async def test_a_short_balance_is_warned_with_a_top_up_button_and_kept_in_grace_until_topped_up(
        gshop: GridShop) -> None:
    from grid.periods import PeriodKeeper
    from ledger.deployments import DAY_S

    ann = gshop.user("Ann")
    await _fund(gshop.db, ann, 550)
    await gshop.buy(ann)
    await gshop.deliver()
    dep = await _only_deployment(gshop, ann)
    await gshop.db.write(lambda conn, now: jobs.set_auto_renew(conn, now, dep.id, True))
    expiry = dep.expires_at or 0
    moment = [expiry - 3 * DAY_S]
    options = WorkerOptions.from_config(gshop.config, ssh_key=KEY)
    assert options.grace_days == 3  # the config's default
    gshop.db.clock = lambda: moment[0]  # the whole shop's clock, outbox included
    keeper = PeriodKeeper(gshop.db, gshop.grid, options)

    await keeper.run_once()
    await gshop.deliver()
    warning = await gshop.wait_reply(ann, 0, "short of the 4.00 TFC renewal")
    assert "your balance is 2.50 TFC short" in warning.text
    assert [b["text"] for b in warning.buttons] == ["➕ Top up 5.00 TFC"]
    await gshop.press(ann, warning.message_id, data=gshop.button(warning, "v1:top:")["callback_data"])
    await gshop.wait_text(ann, warning.message_id, "5.00 TFC of credits")  # a top-up order to pay

    moment[0] = expiry + 60  # the period ended and nothing was paid: kept, with a reminder
    await keeper.run_once()
    await keeper.run_once()
    await gshop.deliver()
    [reminder] = [m for m in gshop.emu.bot_messages(ann) if "could not be renewed" in (m.text or "")]
    assert "It keeps running until" in reminder.text and reminder.buttons[0]["callback_data"] == "v1:top:500"
    assert (await gshop.deployment(dep.id)).state == "ready"

    await _fund(gshop.db, ann, 500, charge="late")
    moment[0] = expiry + DAY_S + 60
    assert (await keeper.run_once()).renewed == [dep.id]
    await gshop.deliver()
    renewed = await gshop.wait_reply(ann, reminder.message_id, "renewed")
    assert "4.00 TFC charged" in renewed.text
    assert (await gshop.deployment(dep.id)).expires_at == expiry + 30 * DAY_S


async def test_a_deleted_order_message_gets_the_next_status_as_a_new_message_which_later_edits_follow(
        gshop: GridShop) -> None:
    lea = gshop.user("Lea")
    await _fund(gshop.db, lea, 1000)
    _, status = await gshop.buy(lea)
    gshop.emu.world.messages[lea][status.message_id].deleted = True  # the user deleted it
    before = {m.message_id for m in gshop.emu.bot_messages(lea)}
    await gshop.deliver()
    [new] = [m for m in gshop.emu.bot_messages(lea) if m.message_id not in before]
    assert new.text.startswith("✅ Small VM #1 is ready.\nMycelium IP:")  # deploying, then ready: one message
    assert [b["callback_data"] for b in new.buttons] == ["v1:dep:1"]
    assert _edits(gshop, lea, new.message_id)[-1].startswith("✅ Small VM #1 is ready.")
    dep = await _only_deployment(gshop, lea)
    assert dep.status_message_id == new.message_id
    failed = await gshop.db.read(lambda conn: conn.execute(
        "SELECT count(*) FROM notifications WHERE state != 'sent'").fetchone()[0])
    assert failed == 0


async def test_renaming_a_vm_checks_the_name_and_every_text_uses_it_while_the_grid_name_stays(
        gshop: GridShop) -> None:
    max_ = gshop.user("Max")
    dep, listing = await _ready_vm(gshop, max_)
    await gshop.press(max_, listing.message_id, data=f"v1:dep:{dep.id}")
    screen = await gshop.wait_text(max_, listing.message_id, "Mycelium IP:")
    await gshop.press(max_, listing.message_id, data=gshop.button(screen, "v1:dname:")["callback_data"])
    prompt = await gshop.wait_text(max_, listing.message_id, f"Send me the new name for Small VM #{dep.id}")
    assert [b["text"] for b in prompt.buttons] == ["« Back"]
    too_long = await gshop.send(max_, "x" * 40)
    assert too_long.text == ("That name cannot be used: it is 40 characters long; at most 32 fit. "
                             "Send another one, or /cancel.")
    odd = await gshop.send(max_, "rocket 🚀")
    assert "use letters, digits, spaces" in odd.text
    assert (await gshop.deployment(dep.id)).label == f"Small VM #{dep.id}"  # nothing kept yet
    messages = len(gshop.emu.bot_messages(max_))
    await gshop.emu.send_text(max_, "  web   server-1 ")
    renamed = await gshop.wait_text(max_, listing.message_id, "Renamed")
    assert renamed.text.startswith("✏️ Renamed: this VM is now called web server-1.\n\n🖥 web server-1\n")
    assert len(gshop.emu.bot_messages(max_)) == messages  # the VM's screen, edited: no new message
    after = await gshop.deployment(dep.id)
    assert (after.label, after.name) == ("web server-1", dep.name)  # the grid name stays
    assert "web server-1 · ready until" in (await gshop.send(max_, "/deployments")).text
    # Later messages name it so too: the expiry warning, say.
    await gshop.db.write(lambda conn, now: grace.warn(conn, now, dep.id, 400, grace.TopUpOffer(), 3))
    await gshop.deliver()
    assert gshop.emu.bot_messages(max_)[-1].text.startswith("⚠️ web server-1 expires on")
    # A plain text now is no name: the chat no longer waits for one.
    assert "I did not get that" in (await gshop.send(max_, "hello")).text


async def test_back_from_the_rename_prompt_and_slash_cancel_forget_it(gshop: GridShop) -> None:
    nia = gshop.user("Nia")
    dep, listing = await _ready_vm(gshop, nia)
    await gshop.press(nia, listing.message_id, data=f"v1:dep:{dep.id}")
    screen = await gshop.wait_text(nia, listing.message_id, "Mycelium IP:")
    await gshop.press(nia, listing.message_id, data=gshop.button(screen, "v1:dname:")["callback_data"])
    prompt = await gshop.wait_text(nia, listing.message_id, "Send me the new name")
    await gshop.press(nia, listing.message_id, data=prompt.buttons[0]["callback_data"])
    await gshop.wait_text(nia, listing.message_id, "Mycelium IP:")
    assert "I did not get that" in (await gshop.send(nia, "db box")).text
    await gshop.press(nia, listing.message_id, data=gshop.button(screen, "v1:dname:")["callback_data"])
    await gshop.wait_text(nia, listing.message_id, "Send me the new name")
    assert (await gshop.send(nia, "/cancel")).text.startswith("Cancelled.")
    assert "I did not get that" in (await gshop.send(nia, "db box")).text
    assert (await gshop.deployment(dep.id)).label == f"Small VM #{dep.id}"


def _unpaced(config: Config) -> Config:
    config.telegram.rate_limit = False
    return config

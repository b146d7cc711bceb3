"""The whole shop as `gridshop run` assembles it: bot, HTTP server and workers in one process,
driven through the Telegram emulator from the first /start to a VM that is ready."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Config, load_config, load_secrets, with_overrides
from bot.runtime import serve
from ledger import Ledger
from ledger import deployments as jobs
from sandbox.telegram_api import TelegramEmulator

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD_SECRET = "runtime-test-secret"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO ada@laptop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shipped_config(tmp_path: Path, emu: TelegramEmulator) -> Config:
    """The repository's own config.toml, pointed at temporary files and the emulator."""
    return with_overrides(load_config(ROOT / "config.toml"), "the test", {
        "database": {"path": tmp_path / "shop.db"},
        "grid": {"sim_state_path": tmp_path / "grid.sqlite3", "sim_latency_s": 0.0},
        "server": {"port": free_port()},
        "telegram": {"api_base": emu.url},
    })


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def press(emu: TelegramEmulator, user: int, message_id: int, label: str) -> None:
    """Press the button of that message whose text contains `label`."""
    message = next(m for m in emu.bot_messages(user) if m.message_id == message_id)
    await emu.press_button(user, message_id, text=next(b["text"] for b in message.buttons
                                                       if label in b["text"]))


async def button_appears(emu: TelegramEmulator, user: int, label: str):  # type: ignore[no-untyped-def]
    """Wait until the bot's last message has a button containing `label`; return the message."""
    await emu.wait_for(lambda: any(label in b["text"] for b in emu.last_bot_message(user).buttons))
    return emu.last_bot_message(user)


async def test_default_config_runs_the_whole_flow(tmp_path: Path, emu: TelegramEmulator) -> None:
    config = shipped_config(tmp_path, emu)
    secrets = load_secrets({"BOT_TOKEN": emu.token, "PAYLOAD_SECRET": PAYLOAD_SECRET})
    stop = asyncio.Event()
    shop = asyncio.create_task(serve(config, secrets, stop))
    try:
        user = emu.add_user("Ada")["id"]
        await emu.wait_for(lambda: bool(emu.commands()), timeout=10)
        assert {c["command"] for c in emu.commands()} >= {"start", "buy", "balance", "topup"}

        await emu.send_text(user, "/start")
        welcome = await emu.wait_for_bot_message(user, timeout=10)
        assert "Ada" in welcome.text
        # The shipped config has no operator key: the buyer gives theirs.
        await emu.send_text(user, f"/sshkey {KEY}")
        saved = await emu.wait_for_bot_message(user, after_message_id=welcome.message_id)
        assert "SSH key saved" in saved.text

        # Browse, open the small VM's card and pay for it with Stars.
        await emu.send_text(user, "/buy")
        catalog = await emu.wait_for_bot_message(user, after_message_id=saved.message_id)
        await press(emu, user, catalog.message_id, "Small VM")
        card = await button_appears(emu, user, "Buy")
        await press(emu, user, card.message_id, "Buy")
        choices = await button_appears(emu, user, "Stars")
        await press(emu, user, choices.message_id, "Stars")
        await emu.wait_for(lambda: emu.last_bot_message(user).invoice is not None)
        invoice = emu.last_bot_message(user)
        # 4.00 TFC at 77 Stars per TFC
        assert (invoice.invoice.currency, invoice.invoice.total_amount) == ("XTR", 308)

        paid = await emu.pay_invoice(user, invoice.message_id)
        assert paid.paid, paid

        # The buy-now order is placed with the payment; the worker deploys it and the status
        # message ends as Ready with the connection details.
        def ready() -> bool:
            return any("ssh root@" in (m.text or "") for m in emu.bot_messages(user))

        await emu.wait_for(ready, timeout=20)

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{config.server.port}/healthz") as resp:
                assert resp.status == 200
    finally:
        stop.set()
        await asyncio.wait_for(shop, 30)

    ledger = await Ledger.open(config.database.path)
    try:
        balance = await ledger.balance(user)
        assert (balance.posted, balance.held) == (0, 0)  # 4.00 TFC paid, 4.00 TFC settled
        report = await ledger.audit()
        assert report.ok, report.violations
        assert report.payments == 1
    finally:
        await ledger.close()


async def test_gridshop_run_polls_the_configured_api_and_stops_on_sigterm(
    tmp_path: Path, emu: TelegramEmulator
) -> None:
    config_file = tmp_path / "gridshop.toml"
    text = (ROOT / "config.toml").read_text()
    text = text.replace('path = "data/gridshop.db"', 'path = "shop.db"')
    text = text.replace("port = 8080", f"port = {free_port()}")
    config_file.write_text(text)
    env = dict(os.environ, BOT_TOKEN=emu.token, PAYLOAD_SECRET=PAYLOAD_SECRET)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config_file), "run", "--telegram-api", emu.url,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        user = emu.add_user("Grace")["id"]
        await emu.wait_for(lambda: bool(emu.commands()), timeout=20)
        await emu.send_text(user, "/balance")
        reply = await emu.wait_for_bot_message(user, timeout=10)
        assert "0.00 TFC" in reply.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert "gridshop stopped" in log
    assert emu.token not in log  # the token never reaches the log


async def test_an_admins_new_price_is_what_auto_renew_charges(tmp_path: Path, emu: TelegramEmulator) -> None:
    """`gridshop run`'s periods job renews at the catalogue's price, the admin's change included."""
    from ledger import admin_state
    from tests.conftest import FakeClock
    from tests.grid.worker_support import buy, deployment, fund, make_grid, make_worker

    clock = FakeClock()
    config = shipped_config(tmp_path, emu)
    grid = make_grid(tmp_path, clock=clock)
    async with await Ledger.open(config.database.path, clock=clock) as ledger:
        await fund(ledger, 7, 1000)
        purchase = await buy(ledger, 7, "vm-small")  # 4.00 TFC a period
        await ledger.write(lambda conn, now: jobs.set_auto_renew(conn, now, purchase.deployment_id, True))
        await make_worker(ledger, grid).run_once()
        dep = await deployment(ledger, purchase.deployment_id)
        assert dep.state == "ready" and (await ledger.balance(7)).posted == 600
        # /service price vm-small 5.50, as kept by the admin command.
        await ledger.write(lambda conn, now: admin_state.set_service_override(
            conn, now, "vm-small", 1, price=550))
    clock.now = dep.expires_at or 0

    secrets = load_secrets({"BOT_TOKEN": emu.token, "PAYLOAD_SECRET": PAYLOAD_SECRET})
    stop = asyncio.Event()
    shop = asyncio.create_task(serve(config, secrets, stop, clock=clock, deployer=grid))
    try:
        async with await Ledger.open(config.database.path, clock=clock) as ledger:
            async def renewed() -> bool:
                return (await deployment(ledger, dep.id)).expires_at != dep.expires_at

            for _ in range(500):
                if shop.done() or await renewed():
                    break
                await asyncio.sleep(0.02)
            assert await renewed()
            assert (await ledger.balance(7)).posted == 50  # 10.00 - 4.00 - 5.50
    finally:
        stop.set()
        await asyncio.wait_for(shop, 30)

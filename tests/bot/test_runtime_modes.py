"""How updates reach `gridshop run`, against the Bot API emulator over HTTP: webhook mode on a
loopback URL (setWebhook with the secret token, deliveries checked and retried as Telegram
does), and polling mode refusing to be the second poller of a bot."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.polling_guard import EXIT_SECOND_POLLER
from sandbox.telegram_api import TelegramEmulator
from tests.bot.test_runtime import PAYLOAD_SECRET, ROOT, free_port
from tests.metrics_support import scrape, value

SECRET = "webhook-secret_1"


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False, webhook_retry_initial=0.05, webhook_retry_max=0.2)
    await emulator.start()
    yield emulator
    await emulator.stop()


def config_file(tmp_path: Path, emu: TelegramEmulator, port: int, *, webhook: bool,
                metrics_port: int = 0) -> Path:
    """The shipped config.toml on a temporary database and `port`, in the mode asked."""
    text = (ROOT / "config.toml").read_text()
    text = text.replace('path = "data/gridshop.db"', 'path = "shop.db"')
    text = text.replace("port = 8080", f"port = {port}")
    text = text.replace("metrics_port = 0", f"metrics_port = {metrics_port}")
    text = text.replace('api_base = "https://api.telegram.org"', f'api_base = "{emu.url}"')
    if webhook:
        text = text.replace('mode = "polling"', 'mode = "webhook"')
        text = text.replace('webhook_url = ""', f'webhook_url = "http://127.0.0.1:{port}/webhooks/telegram"')
    path = tmp_path / "gridshop.toml"
    path.write_text(text)
    return path


async def gridshop_run(config: Path, emu: TelegramEmulator) -> asyncio.subprocess.Process:
    env = dict(os.environ, BOT_TOKEN=emu.token, PAYLOAD_SECRET=PAYLOAD_SECRET,
               TELEGRAM_WEBHOOK_SECRET=SECRET)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), "run",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def stopped(proc: asyncio.subprocess.Process) -> str:
    """SIGTERM (if still running), then the stderr once it exited."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    return stderr.decode()


async def test_webhook_mode_on_a_loopback_url_answers_and_refuses_a_wrong_secret(
    tmp_path: Path, emu: TelegramEmulator
) -> None:
    port, metrics_port = free_port(), free_port()
    hook = f"http://127.0.0.1:{port}/webhooks/telegram"
    proc = await gridshop_run(config_file(tmp_path, emu, port, webhook=True, metrics_port=metrics_port), emu)
    try:
        await emu.wait_for(lambda: emu.webhook_url == hook, timeout=20)
        assert emu.world.webhook.secret_token == SECRET

        ada = emu.add_user("Ada")["id"]
        await emu.send_text(ada, "/start")
        welcome = await emu.wait_for_bot_message(ada, timeout=10)
        assert "Ada" in (welcome.text or "")
        assert [d.status for d in emu.webhook_deliveries] == [200]

        # A forged update (someone who found the URL) is refused and changes nothing.
        mallory = emu.add_user("Mallory")["id"]
        forged = {"update_id": 999_001, "message": {
            "message_id": 1, "date": 1_790_000_000, "text": "/start",
            "chat": {"id": mallory, "type": "private", "first_name": "Mallory"},
            "from": {"id": mallory, "is_bot": False, "first_name": "Mallory"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guessed"}):
                async with http.post(hook, data=json.dumps(forged),
                                     headers={"Content-Type": "application/json", **headers}) as resp:
                    assert resp.status == 403

        # Telegram's side with the wrong secret (as after a secret rotated without setWebhook):
        # each delivery is refused, Telegram keeps the update and retries it with backoff, and
        # nothing is answered until a delivery carries the right secret.
        emu.world.webhook.secret_token = "stale-secret"
        await emu.send_text(ada, "/balance")
        await emu.wait_for(lambda: sum(d.status == 403 for d in emu.webhook_deliveries) >= 2, timeout=10)
        assert len(emu.bot_messages(ada)) == 1 and emu.pending_updates()
        emu.world.webhook.secret_token = SECRET
        balance = await emu.wait_for_bot_message(ada, after_message_id=welcome.message_id, timeout=10)
        assert "0.00 TFC" in (balance.text or "")
        assert emu.webhook_deliveries[-1].status == 200 and not emu.pending_updates()
        assert emu.bot_messages(mallory) == []

        # Every answer of the webhook is counted by status on the metrics listener.
        samples = await scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        statuses = [d.status for d in emu.webhook_deliveries]
        assert value(samples, "gridshop_webhook_responses_total", endpoint="telegram",
                     status="200") == statuses.count(200) == 2
        assert value(samples, "gridshop_webhook_responses_total", endpoint="telegram",
                     status="403") == statuses.count(403) + 2  # and the two forged posts
    finally:
        log = await stopped(proc)
    assert proc.returncode == 0, log
    assert f"Telegram webhook set to {hook}" in log
    assert SECRET not in log and emu.token not in log


async def test_a_second_poller_of_the_same_bot_stops_with_one_line_and_the_first_goes_on(
    tmp_path: Path, emu: TelegramEmulator
) -> None:
    emu.world.webhook.url = "https://old.example.com/webhooks/telegram"  # left by a webhook-mode run
    first = await gridshop_run(config_file(tmp_path, emu, free_port(), webhook=False), emu)
    try:
        grace = emu.add_user("Grace")["id"]
        await emu.wait_for(lambda: bool(emu.commands()), timeout=20)
        await emu.send_text(grace, "/start")
        welcome = await emu.wait_for_bot_message(grace, timeout=10)

        second_dir = tmp_path / "second"
        second_dir.mkdir()
        second = await gridshop_run(config_file(second_dir, emu, free_port(), webhook=False), emu)
        _, err = await asyncio.wait_for(second.communicate(), 60)
        stderr = err.decode()
        assert second.returncode == EXIT_SECOND_POLLER, stderr
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines() == [(
            "gridshop: another instance is already polling this bot for updates (Telegram answered "
            "getUpdates with 409 Conflict: terminated by other getUpdates request; make sure that only "
            'one bot instance is running): stop it first, or run several instances with telegram.mode = "webhook"')]

        # The instance that was polling first still answers.
        await emu.send_text(grace, "/balance")
        balance = await emu.wait_for_bot_message(grace, after_message_id=welcome.message_id, timeout=10)
        assert "0.00 TFC" in (balance.text or "")
    finally:
        log = await stopped(first)
    assert first.returncode == 0, log
    assert "another getUpdates poller tried to serve this bot" in log
    assert ("deleting the webhook set to https://old.example.com/webhooks/telegram: this instance "
            "polls") in log

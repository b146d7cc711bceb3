"""`gridshop sandbox`: the whole shop in a browser, on one machine, with no tokens.

One process runs the real shop (`serve`, exactly what `gridshop run` runs) against the Bot
API emulator, the Stripe emulator with its hosted Checkout page, the gridproxy stand-in and
the simulated grid, plus the web chat (sandbox/webchat) where a person is each of the
sandbox's Telegram users and the operator. State lives in a folder: a temporary one that is
removed at the end, or `--data DIR`, which is kept and reused (balances, VMs, the config).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import tempfile
import webbrowser
from pathlib import Path
from typing import Any

from aiohttp import web

from grid.simulated import SimulatedGrid
from sandbox import gridproxy
from sandbox.stripe_api import StripeEmulator
from sandbox.telegram_api import TelegramEmulator
from sandbox.webchat.server import WebChat

from .config import Config, with_overrides
from .logs import redact
from .runtime import make_configured_deployer, open_ledger, serve
from .sandbox_config import (
    BOT_NAME,
    BOT_USERNAME,
    Person,
    SandboxSecrets,
    load_people,
    sandbox_config,
    save_added,
)
from .sandbox_operator import Operator, SandboxClock

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
# Stripe retries a failed delivery for about three days; a sandbox should show a retry soon.
WEBHOOK_RETRIES_S = (5.0, 30.0, 120.0, 600.0)
# A bank debit paid on the emulated Checkout page settles this long after (test mode: minutes).
BANK_DEBIT_SETTLE_S = 15.0
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGridShopSandboxDemoKeyNotForRealUse0000 sandbox@gridshop"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, int(runner.addresses[0][1])


class Sandbox:
    """Everything `gridshop sandbox` runs, started and stopped together.

    `await start()` returns the web chat's URL; `await stop()` shuts the shop down first
    (so nothing it still sends meets a stopped emulator), then the emulators and the page.
    """

    def __init__(self, data_dir: Path, *, host: str = HOST, port: int = 8088) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.secrets = SandboxSecrets.generate()
        self.clock = SandboxClock()
        self.people: list[Person] = []
        self.config: Config | None = None
        self.telegram: TelegramEmulator | None = None
        self.stripe: StripeEmulator | None = None
        self.grid: SimulatedGrid | None = None
        self.url = ""
        self._stop = asyncio.Event()
        self._shop: asyncio.Task[None] | None = None
        self._runners: list[web.AppRunner] = []
        self.operator_ledger: Any = None
        self.operator: Operator | None = None

    async def start(self) -> str:
        redact(self.secrets.environment().values())
        base = sandbox_config(self.data_dir)
        telegram = self.telegram = TelegramEmulator(
            self.secrets.bot_token, bot_username=BOT_USERNAME, bot_first_name=BOT_NAME)
        telegram_api = await telegram.start(self.host)
        self.people = load_people(self.data_dir)
        for person in self.people:
            telegram.add_user(person.first_name, user_id=person.user_id, username=person.username)

        runner, port = await _start_site(gridproxy.make_app(), self.host, 0)
        self._runners.append(runner)
        gridproxy_url = f"http://{self.host}:{port}"

        shop_port = _free_port(self.host)
        stripe = self.stripe = StripeEmulator(
            webhook_url=f"http://{self.host}:{shop_port}/webhooks/stripe",
            webhook_secret=self.secrets.stripe_webhook_secret, api_key=self.secrets.stripe_secret_key,
            retry_schedule=WEBHOOK_RETRIES_S, async_settle_s=BANK_DEBIT_SETTLE_S,
        )
        stripe_api = await stripe.start(self.host)
        # The emulators' addresses, validated like the file's own values.
        config = self.config = with_overrides(base, "gridshop sandbox", {
            "telegram": {"api_base": telegram_api, "bot_username": BOT_USERNAME},
            "grid": {"gridproxy_url": gridproxy_url, "ssh_key": base.grid.ssh_key or SSH_KEY},
            "server": {"host": self.host, "port": shop_port},
            "stripe": {"api_base": stripe_api},
        })

        grid = make_configured_deployer(config)
        if not isinstance(grid, SimulatedGrid):
            raise ValueError("the sandbox runs the simulated grid: set grid.backend = \"simulated\"")
        self.grid = grid
        self._shop = asyncio.create_task(
            # Nobody else polls the emulator the sandbox has just started.
            serve(config, self.secrets.shop_secrets(), self._stop, clock=self.clock, deployer=grid,
                  claim_polling=False),
            name="shop")
        await self._until_shop_is_up(telegram)

        self.operator_ledger = await open_ledger(config, self.clock)
        operator = self.operator = Operator(config, self.operator_ledger, grid, self.clock, stripe)
        chat = WebChat(telegram, stripe, operator, [p.user_id for p in self.people],
                       admin_ids=list(config.admin.user_ids), on_user_added=self._remember)
        runner, port = await _start_site(chat.make_app(), self.host, self.port)
        self._runners.append(runner)
        self.url = f"http://{self.host}:{port}/"
        return self.url

    async def _until_shop_is_up(self, telegram: TelegramEmulator) -> None:
        """The shop is up once it has set its command menu (it does that after starting)."""
        assert self._shop is not None
        waiting = asyncio.create_task(telegram.wait_for(lambda: bool(telegram.commands()), timeout=60))
        done, _ = await asyncio.wait({waiting, self._shop}, return_when=asyncio.FIRST_COMPLETED)
        if self._shop in done:
            waiting.cancel()
            self._shop.result()  # raises what stopped the shop
            raise RuntimeError("the shop stopped while starting")
        waiting.result()

    def _remember(self, user: dict[str, Any]) -> None:
        self.people.append(Person(user["id"], user["first_name"], user.get("username")))
        save_added(self.data_dir, self.people)

    async def stop(self) -> None:
        self._stop.set()
        if self._shop is not None:
            try:
                await asyncio.wait_for(self._shop, 30)
            except Exception:
                log.exception("the shop did not stop cleanly")
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        if self.operator_ledger is not None:
            await self.operator_ledger.close()
        if self.stripe is not None:
            await self.stripe.stop()
        if self.telegram is not None:
            await self.telegram.stop()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _run(data_dir: Path, port: int, open_browser: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sandbox = Sandbox(data_dir, port=port)
    try:
        url = await sandbox.start()
        print(f"gridshop sandbox: open {url}  (Ctrl-C stops it; state in {data_dir})", flush=True)
        if open_browser:
            webbrowser.open(url)
        await stop.wait()
    finally:
        await sandbox.stop()


def run_sandbox(data: str | None, port: int, open_browser: bool) -> int:
    """Blocking entry point of `gridshop sandbox`; returns the exit status."""
    keep = data is not None
    data_dir = Path(data) if data is not None else Path(tempfile.mkdtemp(prefix="gridshop-sandbox-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(_run(data_dir.resolve(), port, open_browser))
    except OSError as exc:
        print(f"gridshop sandbox: {exc} (is port {port} taken? try --port)", flush=True)
        return 1
    finally:
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0

"""Helpers for chat tests: the real PTB Application built by `bot.app.build_application`,
polling the Telegram emulator, over a ledger on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, start_polling, stop_polling
from bot.config import Config, Secrets, load_secrets
from bot.runtime import load_catalogue, payment_spool_for, stripe_client_for
from handlers.deps import Shop, ShopApplication
from ledger import Ledger
from ledger.stripe_events import Policy
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

PAYLOAD_SECRET = "test-payload-secret"
PROVIDER_TOKEN = "284685063:TEST:gridshop"

SERVICES: list[dict[str, Any]] = [
    {"id": "vm-small", "name": "Small VM", "description": "1 vCPU, 2 GB RAM.", "price": 4,
     "cpu": 1, "memory_gb": 2, "disk_gb": 25, "period_days": 30},
    {"id": "vm-medium", "name": "Medium VM", "description": "2 vCPU, 4 GB RAM.", "price": "8.50",
     "cpu": 2, "memory_gb": 4, "disk_gb": 50, "period_days": 30},
    {"id": "vm-xl", "name": "XL VM", "description": "Not on sale.", "price": 32, "cpu": 8,
     "memory_gb": 16, "disk_gb": 200, "period_days": 30, "enabled": False},
]


# The operator's fallback key (`[grid] ssh_key`), so buying needs no /sshkey in most tests.
OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKutte2DUvEk0ZTuZoBzagIUHVMnhkT5i80s3XUbQFzO ops@shop"


def make_config(tmp_path: Path, *, services: list[dict[str, Any]] | None = None, card: bool = False,
                stripe: bool = False, operator_key: bool = True) -> Config:
    from decimal import Decimal

    raw_services = []
    for s in services if services is not None else SERVICES:
        entry = dict(s)
        entry["price"] = Decimal(str(entry["price"]))
        raw_services.append(entry)
    data = {
        "database": {"path": str(tmp_path / "gridshop.db")},
        "telegram": {"stars_per_tfc": 77, "card_enabled": card, "card_currency": "USD"},
        "stripe": {"enabled": stripe},
        "grid": {"ssh_key": OPERATOR_KEY if operator_key else ""},
        "marketplace": {"topup_presets": [Decimal(5), Decimal(10)], "min_topup": Decimal(1),
                        "max_topup": Decimal(1000)},
        "services": raw_services,
    }
    return Config.model_validate(data, context={"base_dir": tmp_path})


def make_secrets(emu: TelegramEmulator, *, card: bool = False) -> Secrets:
    env = {"BOT_TOKEN": emu.token, "PAYLOAD_SECRET": PAYLOAD_SECRET}
    if card:
        env["TELEGRAM_PROVIDER_TOKEN"] = PROVIDER_TOKEN
    return load_secrets(env)


class Shopfront:
    """One running shop: emulator + ledger + polling Application, and user-side helpers."""

    def __init__(self, emu: TelegramEmulator, db_path: Path, config: Config, secrets: Secrets) -> None:
        self.emu, self.db_path, self.config, self.secrets = emu, db_path, config, secrets
        self.ledger: Ledger | None = None
        self.app: ShopApplication | None = None
        self.options: dict[str, Any] = {}

    @property
    def db(self) -> Ledger:
        assert self.ledger is not None
        return self.ledger

    @property
    def shop(self) -> Shop:
        assert self.app is not None
        return self.app.shop

    async def start(self, **options: Any) -> ShopApplication:
        """Build the Shop as `gridshop run` does and start polling; `options` are the Shop's
        collaborators (deployer, worker, gridproxy, stripe_checkout, broadcast_rate...) and
        `build_application`'s keywords (extra, reconcile_interval_s...)."""
        self.options = options
        if self.ledger is None:
            self.ledger = await Ledger.open(self.db_path)
        shop_options = {k: v for k, v in options.items() if k in Shop.__dataclass_fields__}
        app_options = {k: v for k, v in options.items() if k not in shop_options}
        app_options.setdefault("reconcile_interval_s", None)
        shop_options.setdefault("stripe_client", stripe_client_for(self.config, self.secrets))
        shop_options.setdefault("payment_spool", payment_spool_for(self.config))
        shop_options.setdefault("stripe_policy", Policy.of(self.config))
        shop = Shop(config=self.config, secrets=self.secrets, ledger=self.ledger,
                    catalogue=await load_catalogue(self.ledger, self.config), **shop_options)
        self.app = build_application(shop, base_url=self.emu.api_url, **app_options)
        await start_polling(self.app, poll_timeout=1)
        return self.app

    async def stop(self) -> None:
        if self.app is not None:
            await stop_polling(self.app)
            self.app = None
        if self.ledger is not None:
            await self.ledger.close()
            self.ledger = None

    async def restart(self, **options: Any) -> None:
        await self.stop()
        await self.start(**(options or self.options))

    # --- acting as a user ---

    def user(self, name: str = "Alice") -> int:
        return int(self.emu.add_user(name, username=name.lower() + "_user")["id"])

    async def send(self, user_id: int, text: str) -> ChatMessage:
        """The user sends `text`; returns the bot's next message."""
        last = self.emu.last_bot_message(user_id)
        await self.emu.send_text(user_id, text)
        return await self.emu.wait_for_bot_message(user_id, after_message_id=last.message_id if last else 0)

    async def press(self, user_id: int, message_id: int, *, data: str | None = None,
                    text: str | None = None) -> dict[str, Any]:
        """The user presses a button; returns the bot's answerCallbackQuery once it came."""
        query = await self.emu.press_button(user_id, message_id, data=data, text=text)
        return await self.emu.wait_for(lambda: self.emu.callback_answer(query["id"]))

    async def forge_press(self, user_id: int, message_id: int, data: str) -> dict[str, Any]:
        """A client sends callback `data` for a message, whatever its buttons say (MTProto
        clients can); returns the bot's answer."""
        import copy
        import secrets as _secrets
        import time

        from sandbox.telegram_state import CallbackQueryRecord

        world = self.emu.world
        message = world.find_message(user_id, message_id)
        assert message is not None
        query_id = str(_secrets.randbits(63))
        world.callback_queries[query_id] = CallbackQueryRecord(query_id, user_id, user_id, message_id, data,
                                                               time.monotonic())
        world.enqueue("callback_query", {
            "id": query_id, "from": copy.deepcopy(world.user(user_id)), "message": copy.deepcopy(message.data),
            "chat_instance": "1", "data": data})
        return await self.emu.wait_for(lambda: self.emu.callback_answer(query_id))

    async def wait_text(self, user_id: int, message_id: int, contains: str) -> ChatMessage:
        """Wait until message `message_id` (after edits) contains `contains`."""
        def check() -> ChatMessage | None:
            found = self.emu.world.find_message(user_id, message_id)
            return found if found is not None and contains in (found.text or "") else None
        return await self.emu.wait_for(check)

    async def wait_reply(self, user_id: int, after: int, contains: str = "") -> ChatMessage:
        """Wait for a new bot message after message id `after` containing `contains`."""
        def check() -> ChatMessage | None:
            for m in self.emu.bot_messages(user_id):
                if m.message_id > after and contains in (m.text or m.caption or ""):
                    return m
            return None
        return await self.emu.wait_for(check)

    def button(self, message: ChatMessage, prefix: str) -> dict[str, Any]:
        for b in message.buttons:
            if b.get("callback_data", "").startswith(prefix):
                return b
        raise AssertionError(f"no button {prefix!r} in {[b.get('callback_data') for b in message.buttons]}")

    def current(self, user_id: int, message_id: int) -> ChatMessage:
        found = self.emu.world.find_message(user_id, message_id)
        assert found is not None
        return found


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False, pre_checkout_timeout=3.0)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def shop(emu: TelegramEmulator, tmp_path: Path) -> AsyncIterator[Shopfront]:
    front = Shopfront(emu, tmp_path / "gridshop.db", make_config(tmp_path), make_secrets(emu))
    await front.start()
    try:
        yield front
    finally:
        await front.stop()

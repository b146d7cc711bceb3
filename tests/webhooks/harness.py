"""A running shop for the payment tests: the real webhook server on a real socket, the Stripe
emulator delivering signed events to it, the real SDK, and helpers to read the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import Config, load_secrets
from ledger import Ledger, inbox, outbox, stripe_inbox, stripe_state
from ledger.models import Order
from payments.stripe_checkout import StripeCheckout, make_client
from sandbox.stripe_api import StripeEmulator
from sandbox.stripe_webhooks import sign_payload
from webhooks.app import WebhookSettings, make_app

API_KEY = "sk_test_gridshop_tests"
SECRET = "whsec_gridshop_tests"
ADMINS = (7001, 7002)
FAST = (0.05, 0.1, 0.2)


def webhook_settings(*, stripe_secret: str | None = None, telegram_secret: str | None = None,
                     admin_ids: Sequence[int] = (), inline_max: int | None = None) -> WebhookSettings:
    """The server's settings as `gridshop run` makes them: from a validated config (so its
    defaults) with Stripe on when a webhook secret is given, and the secrets as from the environment."""
    config = Config.model_validate({"stripe": {"enabled": stripe_secret is not None},
                                    "admin": {"user_ids": list(admin_ids)}})
    env = {"STRIPE_WEBHOOK_SECRET": stripe_secret or "", "TELEGRAM_WEBHOOK_SECRET": telegram_secret or ""}
    settings = WebhookSettings.from_config(config, load_secrets(env))
    if inline_max is not None:
        settings = dataclasses.replace(settings, stripe_inline_max=inline_max)
    return settings


async def inbox_drained(ledger: Ledger, timeout: float = 20) -> None:
    """Until the Stripe inbox holds no event (its consumer applied them all)."""
    deadline = time.monotonic() + timeout
    while (await ledger.read(stripe_inbox.waiting))[0]:
        assert time.monotonic() < deadline, "the Stripe inbox did not drain"
        await asyncio.sleep(0.02)


@dataclass
class Shop:
    ledger: Ledger
    emu: StripeEmulator
    checkout: StripeCheckout
    url: str  # the webhook server's root

    @property
    def stripe_url(self) -> str:
        return f"{self.url}/webhooks/stripe"

    async def order(self, user_id: int = 42, amount: int = 1000, *, service: str | None = None,
                    buy_now: bool = False, key: str | None = None) -> Order:
        kind = "purchase" if service else "topup"
        order = await self.ledger.create_order(key or f"o-{time.monotonic_ns()}", user_id, kind,
                                               amount, service)
        if buy_now:
            await self.ledger.write(lambda c, n: stripe_state.set_buy_now(c, n, order.id))
        return order

    async def session_of(self, order: Order) -> str:
        await self.checkout.checkout_url(order)
        ref = await self.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
        assert ref is not None and ref.provider_ref
        return ref.provider_ref

    async def pay(self, order: Order, outcome: str = "succeeded") -> str:
        sid = await self.session_of(order)
        self.emu.pay_session(sid, outcome)
        await self.settle()
        return sid

    async def settle(self) -> None:
        """Until every event was delivered and every event the webhook queued was applied."""
        await self.emu.wait_for_deliveries()
        await inbox_drained(self.ledger)

    def charge_of(self, sid: str) -> str:
        session = self.emu.get_object(sid)
        assert session is not None
        pi = self.emu.get_object(session["payment_intent"])
        assert pi is not None
        return pi["latest_charge"]

    async def post_event(self, event: dict[str, Any], *, secret: str = SECRET,
                         timestamp: int | None = None) -> int:
        """POST an event signed like Stripe does; returns the status code."""
        body = json.dumps(event).encode()
        header = sign_payload(body, secret, timestamp if timestamp is not None else int(time.time()))
        return await self.post_raw(body, {"Stripe-Signature": header})

    async def post_raw(self, body: bytes, headers: dict[str, str]) -> int:
        async with aiohttp.ClientSession() as http:
            async with http.post(self.stripe_url, data=body,
                                 headers={"Content-Type": "application/json", **headers}) as resp:
                return resp.status

    async def collect_only(self) -> None:
        """Stop webhook delivery: events are only recorded, for a test to post itself."""
        self.emu.webhook_url = None
        if self.emu.deliverer is not None:
            await self.emu.deliverer.stop()
            self.emu.deliverer = None

    # --- ledger views ---

    async def available(self, user_id: int = 42) -> int:
        return (await self.ledger.balance(user_id)).available

    async def posted(self, user_id: int = 42) -> int:
        return (await self.ledger.balance(user_id)).posted

    async def notifications(self, chat_id: int | None = None) -> list[outbox.Notification]:
        def read(conn: Any) -> list[outbox.Notification]:
            ids = [r[0] for r in conn.execute("SELECT id FROM notifications ORDER BY id")]
            found = [outbox.get(conn, i) for i in ids]
            return [n for n in found if n is not None and (chat_id is None or n.chat_id == chat_id)]
        return await self.ledger.read(read)

    async def kept(self) -> list[inbox.ProviderEvent]:
        return await self.ledger.read(lambda c: inbox.open_events(c, 1000))

    async def payment_count(self) -> int:
        return await self.ledger.read(lambda c: c.execute("SELECT count(*) FROM payments").fetchone()[0])


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def running_shop(
    ledger: Ledger, *, middlewares: Sequence[Any] = (), webhook: bool = True,
    inline_max: int | None = None, **emulator_options: Any,
) -> AsyncIterator[Shop]:
    """The webhook server (on a socket reserved first, so the emulator can be told its URL)
    and the Stripe emulator delivering to it."""
    sock = free_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    emulator_options.setdefault("retry_schedule", FAST)
    emu = StripeEmulator(f"{url}/webhooks/stripe" if webhook else None, SECRET, API_KEY,
                         **emulator_options)
    base = await emu.start()
    client = make_client(API_KEY, base, max_network_retries=0)
    app = make_app(ledger, webhook_settings(stripe_secret=SECRET, admin_ids=ADMINS, inline_max=inline_max),
                   stripe_client=client)
    for middleware in middlewares:
        app.middlewares.append(middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    checkout = StripeCheckout(ledger, client, bot_username="GridShopBot", expiry_minutes=30)
    try:
        yield Shop(ledger, emu, checkout, url)
    finally:
        await emu.stop()
        await runner.cleanup()
        await client.aclose()

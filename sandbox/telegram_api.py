"""HTTP emulator of the parts of Telegram's Bot API that gridshop uses.

Run standalone with ``python -m sandbox.telegram_api --host 127.0.0.1 --port 8081`` or
in-process from tests::

    emu = TelegramEmulator()
    base = await emu.start("127.0.0.1")          # e.g. "http://127.0.0.1:40123"
    bot = telegram.Bot(emu.token, base_url=emu.api_url)   # api_url = base + "/bot"
    user = emu.add_user("Alice")
    await emu.send_text(user["id"], "/start")
    ...
    await emu.stop()

Bot API calls are served at ``GET|POST /bot<token>/<method>`` with the real server's
parameter handling, limits, error codes and object shapes; the test control surface (users
sending text, pressing buttons, paying, blocking the bot, inspecting chats) is available as
Python methods here and as ``/_control/...`` HTTP endpoints (see docs/sandbox-telegram.md).
Imports nothing from gridshop.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from sandbox.telegram_errors import ApiError
from sandbox.telegram_methods import Described, call, image_extension
from sandbox.telegram_params import read_params
from sandbox.telegram_ratelimit import FloodControl
from sandbox.telegram_state import ChatMessage, ControlError, Invoice, PaymentResult, World

__all__ = ["TelegramEmulator", "ChatMessage", "PaymentResult", "ControlError", "ApiCall", "WebhookDelivery"]

T = TypeVar("T")
DEFAULT_TOKEN = "123456789:AAHsandboxTokenForGridshopTests0123456"
_PATH = re.compile(r"/bot([^/]*)/([^/]*)")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/photos/([^/.]+)\.[a-z]+")
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


@dataclass
class ApiCall:
    """One Bot API request the emulator answered."""

    method: str
    params: dict[str, str]
    ok: bool
    error_code: int | None = None
    description: str | None = None
    result: Any = None


@dataclass
class WebhookDelivery:
    """One attempt to POST an update to the webhook."""

    update_id: int
    url: str
    status: int | None
    error: str | None


class TelegramEmulator:
    """A fake Telegram for one bot: Bot API over HTTP plus a control surface for tests."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "gridshop_test_bot",
        bot_first_name: str = "Gridshop Test",
        rate_limit: bool = True,
        per_chat_rate: float = 1.0,
        per_chat_burst: int = 3,
        global_rate: float = 30.0,
        global_burst: int = 30,
        pre_checkout_timeout: float = 10.0,
        callback_query_timeout: float | None = None,
        long_poll_max: int = 50,
        webhook_retry_initial: float = 1.0,
        webhook_retry_max: float = 60.0,
        webhook_timeout: float = 10.0,
        require_https_webhook: bool = False,
        star_transactions_newest_first: bool = False,
    ) -> None:
        if not _TOKEN.fullmatch(token):
            raise ValueError("token must look like '<digits>:<letters>'")
        self.token = token
        bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": bot_first_name,
                    "username": bot_username}
        self.world = World(token, bot_user)
        self.flood = FloodControl(per_chat_rate, per_chat_burst, global_rate, global_burst, enabled=rate_limit)
        self.pre_checkout_timeout = pre_checkout_timeout
        self.callback_query_timeout = callback_query_timeout
        self.long_poll_max = long_poll_max
        self.webhook_retry_initial = webhook_retry_initial
        self.webhook_retry_max = webhook_retry_max
        self.webhook_timeout = webhook_timeout
        self.require_https_webhook = require_https_webhook
        self.star_transactions_newest_first = star_transactions_newest_first
        self.calls: list[ApiCall] = []
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.poll_generation = 0
        self.closing = False
        self._runner: web.AppRunner | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._url: str | None = None

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:40123``."""
        if self._url is None:
            raise RuntimeError("emulator is not started")
        return self._url

    @property
    def api_url(self) -> str:
        """What to pass as PTB's ``base_url`` (PTB appends the token)."""
        return f"{self.url}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return copy.deepcopy(self.world.bot_user)

    def make_app(self) -> web.Application:
        from sandbox.telegram_control import add_control_routes

        app = web.Application(client_max_size=60 * 1024 * 1024)
        add_control_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self._handle_api)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL."""
        self.closing = False
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        bound_port = addresses[0][1] if addresses else port
        self._url = f"http://{host}:{bound_port}"
        self._webhook_task = asyncio.create_task(self._webhook_loop())
        return self._url

    async def stop(self) -> None:
        """Stop serving; wakes pending long polls and stops webhook delivery."""
        self.closing = True
        self.world.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            try:
                await self._webhook_task
            except asyncio.CancelledError:
                pass
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- Bot API over HTTP ---------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.Response:
        download = _FILE_PATH.fullmatch(request.path)
        if download is not None and request.method == "GET":
            return self._download(*download.groups())
        match = _PATH.fullmatch(request.path)
        args: dict[str, str] = {}
        name = ""
        try:
            if request.method not in ("GET", "POST") or match is None:
                raise ApiError(404, "Not Found")
            token, name = match.groups()
            if token != self.token:
                raise ApiError(401, "Unauthorized") if _TOKEN.fullmatch(token) else ApiError(404, "Not Found")
            params = await read_params(request)
            args = params.args
            result = await call(self, name, params)
        except ApiError as error:
            self.calls.append(ApiCall(name, dict(args), False, error.code, error.description))
            return web.json_response(error.to_json(), status=error.code)
        self.calls.append(ApiCall(name, dict(args), True, result=getattr(result, "result", result)))
        if isinstance(result, Described):
            return web.json_response({"ok": True, "result": result.result, "description": result.description})
        return web.json_response({"ok": True, "result": result})

    def _download(self, token: str, file_id: str) -> web.Response:
        """``GET /file/bot<token>/<file_path>``: the bytes of a file getFile described."""
        data = self.file_content(file_id) if token == self.token else None
        if data is None:
            return web.json_response(ApiError(404, "Not Found").to_json(), status=404)
        types = {"png": "image/png", "gif": "image/gif", "jpg": "image/jpeg"}
        return web.Response(body=data, content_type=types[image_extension(data)])

    async def _webhook_loop(self) -> None:
        delay = self.webhook_retry_initial
        async with aiohttp.ClientSession() as session:
            while not self.closing:
                hook = self.world.webhook
                if not hook.url or not self.world.updates:
                    await self.world.wait_change(1.0)
                    continue
                update = self.world.updates[0]
                headers = {"Content-Type": "application/json"}
                if hook.secret_token:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
                status: int | None = None
                error: str | None = None
                try:
                    async with session.post(hook.url, data=json.dumps(update), headers=headers,
                                            timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)) as resp:
                        await resp.read()
                        status = resp.status
                        if not 200 <= status < 300:
                            error = f"Wrong response from the webhook: {status} {resp.reason}"
                except aiohttp.ClientConnectorError:
                    error = "Connection refused"
                except (TimeoutError, aiohttp.ClientError) as exc:
                    error = f"Connection error: {type(exc).__name__}"
                self.webhook_deliveries.append(WebhookDelivery(update["update_id"], hook.url, status, error))
                if error is None:
                    if self.world.updates and self.world.updates[0] is update:
                        self.world.updates.pop(0)
                    delay = self.webhook_retry_initial
                    self.world.notify()
                    continue
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                self.world.notify()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.webhook_retry_max)

    # -- control surface: users act ------------------------------------------------------
    def add_user(self, first_name: str = "Test", *, user_id: int | None = None, username: str | None = None,
                 last_name: str | None = None, language_code: str | None = "en",
                 is_premium: bool = False) -> dict[str, Any]:
        """Create a user and their private chat with the bot (chat id == user id); returns the User."""
        return self.world.add_user(first_name, user_id=user_id, username=username, last_name=last_name,
                                   language_code=language_code, is_premium=is_premium)

    async def send_text(self, user_id: int, text: str, *, reply_to_message_id: int | None = None) -> dict[str, Any]:
        """The user sends ``text`` in their private chat; returns the Message (with computed entities)."""
        return copy.deepcopy(self.world.user_sends_text(user_id, text, reply_to_message_id).data)

    async def press_button(self, user_id: int, message_id: int, *, data: str | None = None,
                           text: str | None = None, chat_id: int | None = None) -> dict[str, Any]:
        """The user presses a callback button (matched by ``data`` and/or ``text``) on a message.

        Returns the CallbackQuery sent to the bot; raises ControlError if no such button exists.
        """
        return self.world.press_button(user_id, chat_id if chat_id is not None else user_id, message_id, data, text)

    async def pay_invoice(self, user_id: int, message_id: int | None = None, *, invoice_link: str | None = None,
                          chat_id: int | None = None, tip_amount: int = 0) -> PaymentResult:
        """The user pays an invoice message or an invoice link.

        Sends a pre_checkout_query, waits up to ``pre_checkout_timeout`` for the bot's answer,
        and on ok=True posts the successful_payment message (and a Star transaction for XTR).
        """
        invoice = self._find_invoice(user_id, message_id, invoice_link, chat_id)
        if user_id in self.world.blocked:
            raise ControlError("a user who blocked the bot cannot pay its invoices")
        record = self.world.start_pre_checkout(user_id, invoice, tip_amount)
        base = partial(PaymentResult, pre_checkout_query_id=record.id, currency=invoice.currency,
                       total_amount=record.total_amount, invoice_payload=invoice.payload)
        try:
            ok, error_message = await asyncio.wait_for(asyncio.shield(record.done), self.pre_checkout_timeout)
        except TimeoutError:
            record.expired = True
            return base(status="expired")
        if not ok:
            return base(status="rejected", error_message=error_message)
        message, charge_id, provider_id = self.world.complete_payment(record)
        return base(status="paid", telegram_payment_charge_id=charge_id,
                    provider_payment_charge_id=provider_id, message=copy.deepcopy(message))

    def _find_invoice(self, user_id: int, message_id: int | None, link: str | None, chat_id: int | None) -> Invoice:
        self.world.user(user_id)
        if link is not None:
            invoice = self.world.invoice_links.get(link)
            if invoice is None:
                raise ControlError(f"unknown invoice link {link}")
            return invoice
        if message_id is None:
            raise ControlError("pass message_id or invoice_link")
        message = self.world.find_message(chat_id if chat_id is not None else user_id, message_id)
        if message is None or message.invoice is None:
            raise ControlError(f"message {message_id} is not an invoice")
        return message.invoice

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends become 403 and the bot gets a my_chat_member update."""
        self.world.set_blocked(user_id, True)

    def unblock_bot(self, user_id: int) -> None:
        self.world.set_blocked(user_id, False)

    # -- control surface: inspect --------------------------------------------------------
    def messages(self, chat_id: int, *, from_bot: bool | None = None,
                 include_deleted: bool = True) -> list[ChatMessage]:
        """Messages of a chat in order, with current content after edits and a deleted flag."""
        found = sorted(self.world.messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
        return [copy.deepcopy(m) for m in found
                if (from_bot is None or m.from_bot == from_bot) and (include_deleted or not m.deleted)]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[ChatMessage]:
        """What the bot sent to a chat (deleted ones left out unless asked)."""
        return self.messages(chat_id, from_bot=True, include_deleted=include_deleted)

    def last_bot_message(self, chat_id: int) -> ChatMessage | None:
        found = self.bot_messages(chat_id)
        return found[-1] if found else None

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls, oldest first: callback_query_id, text, show_alert, url, cache_time."""
        return copy.deepcopy(self.world.callback_answers)

    def callback_answer(self, callback_query_id: str) -> dict[str, Any] | None:
        record = self.world.callback_queries.get(callback_query_id)
        return copy.deepcopy(record.answer) if record else None

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """Commands registered with setMyCommands for a scope (default scope if None)."""
        scope = scope or {"type": "default"}
        key = scope["type"] + "".join(f":{scope[k]}" for k in ("chat_id", "user_id") if k in scope)
        return copy.deepcopy(self.world.commands.get((key, language_code), []))

    def user(self, user_id: int) -> dict[str, Any]:
        """The User dict of a user added with ``add_user``; ControlError if unknown."""
        return copy.deepcopy(self.world.user(user_id))

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes of an uploaded photo (any of its sizes), or None if unknown."""
        stored = self.world.files.get(file_id)
        return stored.get("data") if stored else None

    async def wait_change(self, timeout: float) -> None:
        """Return at the next change of the world (a message, an edit, an answer) or after
        ``timeout`` seconds, whichever comes first."""
        await self.world.wait_change(timeout)

    def star_transactions(self) -> list[dict[str, Any]]:
        """All Star transactions, oldest first (payments with source, refunds with receiver)."""
        return copy.deepcopy(self.world.star_transactions)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by getUpdates or delivered to the webhook."""
        return copy.deepcopy(self.world.updates)

    @property
    def webhook_url(self) -> str:
        return self.world.webhook.url

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self.world.blocked

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 20.0) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every change); returns its value.

        The default timeout is generous: it only matters when the condition never comes, and a
        loaded machine (CI, several suites at once) can take seconds to answer fifty chats."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("condition not met in time")
            await self.world.wait_change(min(remaining, 0.2))

    async def wait_for_bot_message(self, chat_id: int, *, after_message_id: int = 0,
                                   timeout: float = 20.0) -> ChatMessage:
        """Wait for the bot's first message in ``chat_id`` with an id above ``after_message_id``."""
        def newest() -> ChatMessage | None:
            for message in self.bot_messages(chat_id, include_deleted=True):
                if message.message_id > after_message_id:
                    return message
            return None
        return await self.wait_for(newest, timeout)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator for gridshop tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--pre-checkout-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        emu = TelegramEmulator(args.token, rate_limit=not args.no_rate_limit,
                               pre_checkout_timeout=args.pre_checkout_timeout)
        url = await emu.start(args.host, args.port)
        print(f"Telegram emulator at {url} (Bot API base_url {emu.api_url}, token {emu.token})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""The shop's Bot API client over aiohttp (bot.bot_api_request) through a real PTB Bot: what
Telegram answers comes back as PTB says (a refusal as a refusal, an upload whole), and a Bot
API that does not answer, or is not there, is an unknown outcome (TimedOut, NetworkError),
never a refusal; a request that found no free connection in time was never sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.bot_api_request import AiohttpRequest
from sandbox.telegram_api import TelegramEmulator

from .test_runtime import free_port

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000100e5273fd20000000049454e44ae426082")


def bot_on(api_url: str, token: str, **request: float | int) -> Bot:
    return Bot(token, base_url=api_url, request=AiohttpRequest(**request),  # type: ignore[arg-type]
               get_updates_request=AiohttpRequest(connection_pool_size=1))


async def test_messages_uploads_and_refusals_come_back_as_telegram_sent_them(telegram: TelegramEmulator) -> None:
    amy = int(telegram.add_user("Amy")["id"])
    async with bot_on(telegram.api_url, telegram.token) as bot:
        sent = await bot.send_message(amy, "Привет, Amy")
        photo = await bot.send_photo(amy, PNG, caption="chart", filename="stats.png")
        with pytest.raises(BadRequest, match="(?i)chat not found"):
            await bot.send_message(999_999, "nobody")
    assert sent.text == "Привет, Amy"
    [*_, shown] = telegram.bot_messages(amy)
    assert shown.message_id == photo.message_id and shown.data["caption"] == "chart"
    assert telegram.file_content(photo.photo[-1].file_id) == PNG


class SlowBotApi:
    """A Bot API that keeps every request but getMe until `release` is set, counting those it received."""

    def __init__(self) -> None:
        self.received = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if request.path.endswith("/getMe"):  # what Bot.initialize asks, answered at once
            return web.json_response({"ok": True, "result": {"id": 123, "is_bot": True, "first_name": "Shop",
                                                             "username": "shop_bot"}})
        self.received += 1
        await self.release.wait()
        return web.json_response({"ok": True, "result": True})


@pytest.fixture
async def slow_api() -> AsyncIterator[tuple[SlowBotApi, str]]:
    api = SlowBotApi()
    app = web.Application()
    app.router.add_post("/{path:.*}", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield api, f"http://127.0.0.1:{port}/bot"
    finally:
        api.release.set()
        await runner.cleanup()


async def test_a_bot_api_that_does_not_answer_in_time_is_a_timeout(slow_api: tuple[SlowBotApi, str]) -> None:
    api, url = slow_api
    async with bot_on(url, "123:abc", read_timeout=0.2) as bot:
        with pytest.raises(TimedOut):
            await bot.answer_pre_checkout_query("q1", ok=True)
    assert api.received == 1


async def test_no_bot_api_listening_is_a_network_error() -> None:
    with pytest.raises(NetworkError) as raised:  # at the bot's first request (getMe)
        async with bot_on(f"http://127.0.0.1:{free_port()}/bot", "123:abc", connect_timeout=2.0) as bot:
            await bot.send_message(1, "hello")
    assert not isinstance(raised.value, TimedOut)


async def test_a_request_that_waited_too_long_for_a_connection_was_never_sent(
        slow_api: tuple[SlowBotApi, str]) -> None:
    api, url = slow_api
    async with bot_on(url, "123:abc", connection_pool_size=1, pool_timeout=0.2, connect_timeout=0.2,
                      read_timeout=30.0) as bot:
        first = asyncio.create_task(bot.send_message(1, "first"))
        await asyncio.sleep(0.1)
        while api.received == 0:
            await asyncio.sleep(0.01)
        with pytest.raises(TimedOut):
            await bot.send_message(2, "second")  # the pool's one connection is taken
        api.release.set()
        assert await first
    assert api.received == 1


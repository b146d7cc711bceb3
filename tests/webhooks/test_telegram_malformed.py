"""Malformed updates on `POST /webhooks/telegram` (correctly authenticated) get a 400 and change
nothing, never a 500 that Telegram would retry for days: non-object JSON, deep nesting, a date
no clock can hold, a callback_query whose message is `true`."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from telegram.ext import Application

from ledger import Ledger
from webhooks.app import make_app

from .harness import webhook_settings
from .test_health_telegram import SECRET, bot_app, payment_update, serve  # noqa: F401  # the fixture

USER = {"id": 5, "is_bot": False, "first_name": "T"}
CHAT = {"id": 5, "type": "private", "first_name": "T"}


def _bodies() -> list[tuple[str, bytes | dict[str, Any]]]:
    huge_date = {"update_id": 1, "message": {"message_id": 1, "date": 1e308, "text": "hi", "from": USER,
                                             "chat": CHAT}}
    message_true = {"update_id": 2, "callback_query": {"id": "q", "from": USER, "chat_instance": "1",
                                                       "data": "x", "message": True}}
    paid_huge_date = payment_update(3, 5, "stx_date", 100)
    paid_huge_date["message"]["date"] = 1e308
    return [
        ("a list", b"[]"),
        ("a number", b"1"),
        ("a string", b'"update"'),
        ("50,000 nested brackets", b"[" * 50_000 + b"]" * 50_000),
        ("deeply nested object", b'{"update_id": 4, "message": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001),
        ("date 1e308", huge_date),
        ("callback_query.message true", message_true),
        ("payment with date 1e308", paid_huge_date),
        ("update_id a string", {"update_id": "x", "message": {"message_id": 1, "date": 1, "chat": CHAT}}),
    ]


@pytest.mark.parametrize(("name", "body"), _bodies(), ids=[n for n, _ in _bodies()])
async def test_malformed_update_is_400_never_500(
    bot_app: Application, ledger: Ledger, name: str, body: Any,  # noqa: F811
) -> None:
    runner, url = await serve(make_app(ledger, webhook_settings(telegram_secret=SECRET), telegram_application=bot_app))
    try:
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            kwargs = {"data": body} if isinstance(body, bytes) else {"json": body}
            async with http.post(f"{url}/webhooks/telegram", headers=headers, **kwargs) as resp:
                assert resp.status == 400, (name, resp.status)
        assert await ledger.get_payment("stars", "stx_date") is None
    finally:
        await runner.cleanup()

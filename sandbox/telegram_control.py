"""HTTP mirror of the Telegram emulator's control surface, under ``/_control/``.

Lets a test or a person drive a standalone emulator (``python -m sandbox.telegram_api``):
create users, send text as a user, press buttons, pay invoices, block the bot, and read
back what the bot did. Each route calls the matching ``TelegramEmulator`` method.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.telegram_state import ControlError

if TYPE_CHECKING:
    from sandbox.telegram_api import TelegramEmulator

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def _guard(fn: Callable[[web.Request], Awaitable[Any]]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        try:
            return _json(await fn(request))
        except ControlError as error:
            return _json({"error": str(error)}, status=400)
        except (KeyError, TypeError, ValueError) as error:
            return _json({"error": f"bad control request: {error!r}"}, status=400)
    return handler


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ValueError("JSON object expected")
    return data


def add_control_routes(app: web.Application, emu: TelegramEmulator) -> None:
    """Register the /_control routes for ``emu`` on ``app``."""

    async def add_user(request: web.Request) -> Any:
        b = await _body(request)
        return emu.add_user(b.get("first_name", "Test"), user_id=b.get("user_id"), username=b.get("username"),
                            last_name=b.get("last_name"), language_code=b.get("language_code", "en"))

    async def send_text(request: web.Request) -> Any:
        b = await _body(request)
        return await emu.send_text(int(b["user_id"]), str(b["text"]),
                                   reply_to_message_id=b.get("reply_to_message_id"))

    async def press(request: web.Request) -> Any:
        b = await _body(request)
        return await emu.press_button(int(b["user_id"]), int(b["message_id"]), data=b.get("data"),
                                      text=b.get("text"), chat_id=b.get("chat_id"))

    async def pay(request: web.Request) -> Any:
        b = await _body(request)
        result = await emu.pay_invoice(int(b["user_id"]), b.get("message_id"), invoice_link=b.get("invoice_link"),
                                       chat_id=b.get("chat_id"), tip_amount=int(b.get("tip_amount", 0)))
        return dataclasses.asdict(result)

    async def block(request: web.Request) -> Any:
        emu.block_bot(int((await _body(request))["user_id"]))
        return {"ok": True}

    async def unblock(request: web.Request) -> Any:
        emu.unblock_bot(int((await _body(request))["user_id"]))
        return {"ok": True}

    async def chat_messages(request: web.Request) -> Any:
        chat_id = int(request.match_info["chat_id"])
        return [{"chat_id": m.chat_id, "message_id": m.message_id, "from_bot": m.from_bot, "deleted": m.deleted,
                 "edit_count": m.edit_count, "message": m.data} for m in emu.messages(chat_id)]

    async def callback_answers(request: web.Request) -> Any:
        return emu.callback_answers

    async def commands(request: web.Request) -> Any:
        scope = json.loads(request.query["scope"]) if "scope" in request.query else None
        return emu.commands(scope, request.query.get("language_code", ""))

    async def star_transactions(request: web.Request) -> Any:
        return emu.star_transactions()

    async def updates(request: web.Request) -> Any:
        return emu.pending_updates()

    async def calls(request: web.Request) -> Any:
        return [dataclasses.asdict(c) for c in emu.calls]

    async def webhook_deliveries(request: web.Request) -> Any:
        return [dataclasses.asdict(d) for d in emu.webhook_deliveries]

    routes = [
        ("POST", "/_control/users", add_user),
        ("POST", "/_control/messages", send_text),
        ("POST", "/_control/callbacks", press),
        ("POST", "/_control/payments", pay),
        ("POST", "/_control/block", block),
        ("POST", "/_control/unblock", unblock),
        ("GET", "/_control/chats/{chat_id}/messages", chat_messages),
        ("GET", "/_control/callback_answers", callback_answers),
        ("GET", "/_control/commands", commands),
        ("GET", "/_control/star_transactions", star_transactions),
        ("GET", "/_control/updates", updates),
        ("GET", "/_control/calls", calls),
        ("GET", "/_control/webhook_deliveries", webhook_deliveries),
    ]
    for verb, path, fn in routes:
        app.router.add_route(verb, path, _guard(fn))

"""The sandbox's web chat: a Telegram-like page for talking to a bot through the emulators.

Serves a plain HTML/CSS/JS page (no build step, nothing from a CDN) and a small JSON API
that acts as the Telegram client of each sandbox user: it sends their text, presses their
buttons and pays their invoices through the Bot API emulator's control surface, and shows
the Stripe emulator's payments with its dashboard actions (refund, dispute). Everything the
page shows arrives on one Server-Sent Events stream (`GET /api/events`): new and edited
messages, callback answers (toasts and alerts), command menus, the operator panel.

The operator panel's shop-side actions (grid, clock, ledger view) come from an `Operator`
given by whoever embeds the chat (`gridshop sandbox`): like every emulator here, this module
imports nothing of gridshop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from sandbox.stripe_api import StripeEmulator
from sandbox.stripe_core import ControlError as StripeControlError
from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ControlError as TelegramControlError

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
HEARTBEAT_S = 15.0
MAX_TEXT = 4096  # what a Telegram client lets a user type in one message


class Operator(Protocol):
    """The shop-side actions and views of the operator panel."""

    async def snapshot(self) -> dict[str, Any]: ...

    async def set_grid(self, latency_s: float, failure_rate: float) -> None: ...

    async def advance_clock(self, seconds: int) -> None: ...


class WebChat:
    """The page, its JSON API and its event stream over one Telegram and one Stripe emulator.

    `on_user_added(user)` is called with the User dict of each user added from the page.
    """

    def __init__(self, telegram: TelegramEmulator, stripe: StripeEmulator, operator: Operator,
                 user_ids: list[int], *, admin_ids: list[int] | None = None,
                 on_user_added: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.telegram = telegram
        self.stripe = stripe
        self.operator = operator
        self.user_ids = list(user_ids)
        self.admin_ids = set(admin_ids or ())
        self.on_user_added = on_user_added
        self.queries: dict[str, int] = {}  # callback query id -> user who pressed
        self.closing = asyncio.Event()

    # -- the app -----------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        r = app.router
        r.add_get("/", self._index)
        r.add_static("/static/", STATIC, append_version=True)
        r.add_get("/api/state", self._guard(self._state))
        r.add_post("/api/users", self._guard(self._add_user))
        r.add_post("/api/chats/{user}/send", self._guard(self._send))
        r.add_post("/api/chats/{user}/press", self._guard(self._press))
        r.add_post("/api/chats/{user}/pay", self._guard(self._pay))
        r.add_post("/api/chats/{user}/block", self._guard(self._block))
        r.add_get("/api/files/{file_id}", self._file)
        r.add_post("/api/operator/grid", self._guard(self._grid))
        r.add_post("/api/operator/clock", self._guard(self._clock))
        r.add_post("/api/stripe/refund", self._guard(self._refund))
        r.add_post("/api/stripe/dispute", self._guard(self._dispute))
        r.add_post("/api/stripe/dispute/close", self._guard(self._close_dispute))
        r.add_post("/api/stripe/refund/fail", self._guard(self._fail_refund))
        r.add_get("/api/events", self._events)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app: web.Application) -> None:
        self.closing.set()

    def _guard(self, fn: Callable[[web.Request], Awaitable[Any]]) -> Callable[
            [web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                return web.json_response(await fn(request), dumps=_dumps)
            except (TelegramControlError, StripeControlError, ValueError, KeyError, TypeError) as exc:
                log.info("web chat: refused %s %s: %s", request.method, request.path, exc)
                return web.json_response({"error": str(exc)}, status=400)
        return handler

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    # -- users and their chats ---------------------------------------------------------

    def _user(self, request: web.Request) -> int:
        user_id = int(request.match_info["user"])
        if user_id not in self.user_ids:
            raise ValueError(f"unknown user {user_id}")
        return user_id

    async def _body(self, request: web.Request) -> dict[str, Any]:
        data = await request.json() if request.can_read_body else {}
        if not isinstance(data, dict):
            raise ValueError("a JSON object is expected")
        return data

    def _users(self) -> list[dict[str, Any]]:
        return [{**self.telegram.user(uid), "is_admin": uid in self.admin_ids, "blocked": self.telegram.is_blocked(uid)}
                for uid in self.user_ids]

    async def _state(self, request: web.Request) -> dict[str, Any]:
        return {"bot": self.telegram.bot_user, "users": self._users()}

    async def _add_user(self, request: web.Request) -> dict[str, Any]:
        body = await self._body(request)
        name = str(body.get("first_name", "")).strip()
        if not 1 <= len(name) <= 64:
            raise ValueError("a first name of 1 to 64 characters is needed")
        user = self.telegram.add_user(name)
        self.user_ids.append(user["id"])
        if self.on_user_added is not None:
            self.on_user_added(user)
        return user

    async def _send(self, request: web.Request) -> dict[str, Any]:
        user_id = self._user(request)
        text = str((await self._body(request)).get("text", "")).strip()
        if not text:
            raise ValueError("type something first")
        if len(text) > MAX_TEXT:
            raise ValueError(f"a message holds at most {MAX_TEXT} characters")
        return await self.telegram.send_text(user_id, text)

    async def _press(self, request: web.Request) -> dict[str, Any]:
        user_id = self._user(request)
        body = await self._body(request)
        query = await self.telegram.press_button(user_id, int(body["message_id"]), data=str(body["data"]))
        self.queries[query["id"]] = user_id
        return {"id": query["id"]}

    async def _pay(self, request: web.Request) -> dict[str, Any]:
        user_id = self._user(request)
        result = await self.telegram.pay_invoice(user_id, int((await self._body(request))["message_id"]))
        return dataclasses.asdict(result)

    async def _block(self, request: web.Request) -> dict[str, Any]:
        user_id = self._user(request)
        if (await self._body(request)).get("blocked"):
            self.telegram.block_bot(user_id)
        else:
            self.telegram.unblock_bot(user_id)
        return {"blocked": self.telegram.is_blocked(user_id)}

    async def _file(self, request: web.Request) -> web.Response:
        data = self.telegram.file_content(request.match_info["file_id"])
        if data is None:
            raise web.HTTPNotFound(text="no such file")
        return web.Response(body=data, content_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg")

    # -- operator ------------------------------------------------------------------------

    async def _grid(self, request: web.Request) -> dict[str, Any]:
        body = await self._body(request)
        await self.operator.set_grid(float(body["latency_s"]), float(body["failure_rate"]))
        return {"ok": True}

    async def _clock(self, request: web.Request) -> dict[str, Any]:
        await self.operator.advance_clock(int((await self._body(request))["seconds"]))
        return {"ok": True}

    async def _refund(self, request: web.Request) -> dict[str, Any]:
        body = await self._body(request)
        amount = body.get("amount")
        return self.stripe.refund_payment(str(body["charge"]), int(amount) if amount else None,
                                          "requested_by_customer")

    async def _dispute(self, request: web.Request) -> dict[str, Any]:
        """The cardholder disputes: a chargeback, or with `inquiry` a retrieval request."""
        body = await self._body(request)
        return self.stripe.dispute_payment(str(body["charge"]), str(body.get("reason") or "fraudulent"),
                                           inquiry=bool(body.get("inquiry")))

    async def _close_dispute(self, request: web.Request) -> dict[str, Any]:
        """The card network decides: the merchant won (funds reinstated) or lost."""
        body = await self._body(request)
        return self.stripe.close_dispute(str(body["dispute"]), bool(body.get("won")))

    async def _fail_refund(self, request: web.Request) -> dict[str, Any]:
        """The bank sends a refund back (say, the card was closed)."""
        return self.stripe.fail_refund(str((await self._body(request))["refund"]))

    def _stripe_payments(self) -> list[dict[str, Any]]:
        disputes: dict[str, list[dict[str, Any]]] = {}
        for d in self.stripe.disputes():
            disputes.setdefault(d["charge"], []).append(
                {"id": d["id"], "status": d["status"], "amount": d["amount"], "reason": d["reason"]})
        return [{"id": c["id"], "amount": c["amount"], "currency": c["currency"], "status": c["status"],
                 "amount_refunded": c["amount_refunded"], "disputed": c["disputed"],
                 "method": c["payment_method_details"]["type"], "created": c["created"],
                 "failure_message": c["failure_message"], "disputes": disputes.get(c["id"], []),
                 "refunds": [{"id": r["id"], "status": r["status"], "amount": r["amount"]}
                             for r in c["refunds"]["data"]]}
                for c in self.stripe.charges()]

    # -- the event stream ----------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-Sent Events: everything the page shows, first in full, then each change."""
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        stream = _Stream(self)
        try:
            while not self.closing.is_set():
                for name, data in await stream.changes():
                    await response.write(f"event: {name}\ndata: {_dumps(data)}\n\n".encode())
                if stream.idle_for() >= HEARTBEAT_S:
                    await response.write(b": keep-alive\n\n")
                    stream.touch()
                await self.telegram.wait_change(1.0)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response


class _Stream:
    """What one page has been sent so far, to send it only what changed since."""

    def __init__(self, chat: WebChat) -> None:
        self.chat = chat
        self.messages: dict[tuple[int, int], tuple[int, bool]] = {}
        self.answered: set[str] = set()
        self.last: dict[str, str] = {}
        self.sent_at = asyncio.get_running_loop().time()

    def idle_for(self) -> float:
        return asyncio.get_running_loop().time() - self.sent_at

    def touch(self) -> None:
        self.sent_at = asyncio.get_running_loop().time()

    def _once(self, name: str, data: Any, key: str | None = None) -> list[tuple[str, Any]]:
        """`[(name, data)]` if data differs from what was last sent under `key` (or name)."""
        text = _dumps(data)
        if self.last.get(key or name) == text:
            return []
        self.last[key or name] = text
        return [(name, data)]

    async def changes(self) -> list[tuple[str, Any]]:
        chat, tg = self.chat, self.chat.telegram
        out = self._once("users", chat._users())
        for user_id in chat.user_ids:
            out += self._once("commands", {"user_id": user_id, "commands": _menu(tg, user_id)},
                              f"commands:{user_id}")
            for m in tg.messages(user_id):
                key, seen = (user_id, m.message_id), (m.edit_count, m.deleted)
                if self.messages.get(key) != seen:
                    self.messages[key] = seen
                    out.append(("message", {"chat_id": user_id, "message_id": m.message_id,
                                            "from_bot": m.from_bot, "deleted": m.deleted,
                                            "edited": m.edit_count > 0, "message": m.data}))
        for query_id, user_id in list(chat.queries.items()):
            answer = tg.callback_answer(query_id)
            if answer is not None and query_id not in self.answered:
                self.answered.add(query_id)
                out.append(("answer", {"user_id": user_id, **answer}))
        out += self._once("stripe", chat._stripe_payments())
        try:
            out += self._once("operator", await chat.operator.snapshot())
        except Exception:  # a busy database must not end the page's stream; next round retries
            log.exception("web chat: operator snapshot failed")
        if out:
            self.touch()
        return out


def _menu(tg: TelegramEmulator, user_id: int) -> list[dict[str, str]]:
    """The command menu a Telegram client shows in a private chat: the first non-empty list
    of the scopes chat, all_private_chats, default, each for the user's language and then
    for all (Bot API, BotCommandScope, "Determining list of commands")."""
    language = tg.user(user_id).get("language_code", "")
    for scope in ({"type": "chat", "chat_id": user_id}, {"type": "all_private_chats"}, None):
        for code in dict.fromkeys((language, "")):
            commands = tg.commands(scope, code)
            if commands:
                return commands
    return []


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str, ensure_ascii=False)

"""`POST /webhooks/telegram`: Telegram's webhook mode for the PTB `Application`.

The `X-Telegram-Bot-Api-Secret-Token` header must match (403 otherwise). An update carrying a
`successful_payment` is processed before answering, and a handler error answers 500, so the
payment is in the ledger before Telegram hears 2xx and Telegram's retry covers a crash. Other
updates go on `application.update_queue` and are answered at once.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ContextTypes

log = logging.getLogger(__name__)

# Errors raised by handlers while this request processes its update inline.
_failures: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "telegram_webhook_failures", default=None
)


async def _record_failure(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    failures = _failures.get()
    if failures is not None and context.error is not None:
        failures.append(context.error)


@dataclass
class TelegramWebhook:
    application: Application[Any, Any, Any, Any, Any, Any]
    secret: str
    _installed: bool = field(default=False, init=False)

    def install(self) -> None:
        """Register the error hook that lets a failed payment handler fail the request."""
        if not self._installed:
            self.application.add_error_handler(_record_failure)
            self._installed = True

    async def handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token.encode(), self.secret.encode()):
            log.warning("telegram webhook with a wrong secret token from %s", request.remote)
            return web.Response(status=403)
        body = await request.read()
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ValueError("an update is a JSON object")
            update = Update.de_json(data, self.application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("telegram webhook with a malformed update: %s", exc)
            return web.Response(status=400)
        if update.message is not None and update.message.successful_payment is not None:
            return await self._process_now(update)
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    async def _process_now(self, update: Update) -> web.Response:
        failures: list[BaseException] = []
        token = _failures.set(failures)
        try:
            await self.application.process_update(update)
        except Exception as exc:
            failures.append(exc)
        finally:
            _failures.reset(token)
        if failures:
            log.error("payment update %s failed; Telegram will retry: %s", update.update_id,
                      failures[0])
            return web.Response(status=500)
        return web.Response(status=200)

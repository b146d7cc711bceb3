"""`POST /webhooks/telegram`: Telegram's webhook mode for the PTB `Application`.

The `X-Telegram-Bot-Api-Secret-Token` header must match (403 otherwise). An update carrying a
`successful_payment` is processed before answering, and a handler error answers 500, so the
payment is in the ledger before Telegram hears 2xx and Telegram's retry covers a crash. Other
updates go on `application.update_queue` and are answered at once. A malformed update (not a
JSON object, no integer `update_id`, absurd nesting, fields PTB cannot read such as a `date`
of 1e308) is answered 400 with one log line and changes nothing: never a 500, which Telegram
would retry for days.
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


# A real update nests a dozen levels or so (message -> reply_to_message -> ... -> entities).
MAX_DEPTH = 64


def _depth(value: object) -> int:
    """How deep `value` nests (iteratively: no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


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
            update = self._parse(body)
        except Exception as exc:  # whatever the parser meets, a malformed update is the sender's
            log.warning("telegram webhook with a malformed update: %s: %.200s", type(exc).__name__, exc)
            return web.Response(status=400)
        if update.message is not None and update.message.successful_payment is not None:
            return await self._process_now(update)
        await self.application.update_queue.put(update)
        return web.Response(status=200)

    def _parse(self, body: bytes) -> Update:
        """The Update in `body`, or an exception saying why it is not one. Bot API "Update": an
        object whose `update_id` is an Integer; nesting deeper than any real update is refused
        before PTB walks it, and PTB's own refusals (a `date` no clock can hold, a `message`
        that is `true`) are refusals of the update."""
        data = json.loads(body)  # RecursionError on absurd nesting, ValueError on bad JSON
        if not isinstance(data, dict):
            raise ValueError("an update is a JSON object")
        if type(data.get("update_id")) is not int:
            raise ValueError("update_id must be an integer")
        if _depth(data) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        update = Update.de_json(data, self.application.bot)
        if update is None:
            raise ValueError("not an update")
        return update

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

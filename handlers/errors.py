"""The error handler: Telegram errors never crash the bot.

Forbidden (the user blocked the bot) marks the user blocked in the ledger; flood control (429)
and server errors (5xx, network) are retried by AIORateLimiter or the next update and only
logged here; anything else is logged with its traceback.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from ledger import users

from .deps import CustomContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: CustomContext) -> None:
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        if user is not None:
            log.info("user %s blocked the bot: %s", user.id, error.message)
            shop = context.shop
            await shop.ledger.write(lambda conn, now: users.set_blocked(conn, now, user.id, True))
            shop.seen_users.pop(user.id, None)
        return
    if isinstance(error, BadRequest):  # a bug of ours, not Telegram's weather
        log.error("Telegram refused a request: %s", error.message, exc_info=error)
        return
    if isinstance(error, (RetryAfter, TimedOut, NetworkError)):
        log.warning("Telegram error while handling an update: %s", error)
        return
    log.error("unhandled error while handling %r", update, exc_info=error)

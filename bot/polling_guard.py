"""One poller per bot: `gridshop run` in polling mode does not start when another getUpdates
poller already serves the same bot.

Telegram lets one getUpdates request wait at a time: a new one ends the one waiting with 409
Conflict ("terminated by other getUpdates request"), and that poller's retry (python-telegram-bot
retries a failed poll after 1 s) ends the new one the same way. So before it starts polling,
the shop holds one getUpdates request open for `CLAIM_S` (`claim`, confirming nothing): if a
Conflict ends it, another poller was there first, and `gridshop run` exits with
`EXIT_SECOND_POLLER` and one line. Once polling, the shop only logs a warning on a Conflict
(`on_error`): that is a newcomer's claim, which the newcomer loses.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence

from telegram import Bot
from telegram.error import Conflict, TelegramError

from .bot_api_check import StartupError

__all__ = ["CLAIM_S", "EXIT_SECOND_POLLER", "claim", "on_error"]

log = logging.getLogger(__name__)

EXIT_SECOND_POLLER = 6
# Longer than the other poller's 1 s retry after its own Conflict, with room for a slow machine.
CLAIM_S = 3.0
# While updates are waiting, getUpdates answers at once and nobody's request is ended: ask again.
_PENDING_PAUSE_S = 0.2


async def claim(bot: Bot, allowed_updates: Sequence[str]) -> None:
    """Hold getUpdates open for `CLAIM_S`; StartupError if another poller ends it."""
    deadline = time.monotonic() + CLAIM_S
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            updates = await bot.get_updates(timeout=math.ceil(remaining), limit=1,
                                            allowed_updates=allowed_updates)
        except Conflict as exc:
            raise StartupError(EXIT_SECOND_POLLER, (
                "another instance is already polling this bot for updates (Telegram answered "
                f"getUpdates with 409 {exc.message}): stop it first, or run several instances "
                'with telegram.mode = "webhook"')) from None
        if updates:
            await asyncio.sleep(_PENDING_PAUSE_S)


def on_error(exc: TelegramError) -> None:
    """The error callback of the running poller (`Updater.start_polling(error_callback=...)`)."""
    if isinstance(exc, Conflict):
        log.warning("another getUpdates poller tried to serve this bot (Telegram: %s); this "
                    "instance was polling first and goes on", exc.message)
    else:
        log.warning("polling for updates failed, retrying: %s", exc)

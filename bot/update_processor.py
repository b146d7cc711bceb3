"""How many updates the shop handles at once: at most `limit`, except pre-checkout queries.

Telegram gives a bot 10 seconds to answer a pre_checkout_query, and the payer is looking at a
spinner meanwhile; so those are handled as they arrive, never queued behind other updates (the
successful payments of earlier payers, each a ledger write, arrive in the same stream). Every
other update waits for one of `limit` places, which bounds the work in flight (and the Bot API
connections it needs: see `bot.app.CONNECTION_POOL`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# PTB's own bound, above ours: it only caps pre-checkout queries in flight.
OUTER_LIMIT = 1024


class PaymentsFirst(BaseUpdateProcessor):
    """At most `limit` updates at once; pre-checkout queries never wait for a place."""

    def __init__(self, limit: int) -> None:
        super().__init__(OUTER_LIMIT)
        self.limit = limit
        self._places = asyncio.BoundedSemaphore(limit)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        if isinstance(update, Update) and update.pre_checkout_query is not None:
            await coroutine
            return
        async with self._places:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

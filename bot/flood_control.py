"""The shop's Bot API rate limiter: messages kept under Telegram's flood limits with headroom,
and answers to a person waiting (pre-checkout, button taps) never queued behind them.

Telegram's limits (core.telegram.org/bots/faq, "My bot is hitting limits, how do I avoid
this?"): in one chat, no more than about one message per second; in a group, no more than 20
messages per minute; overall, about 30 messages per second for bulk notifications. Beyond
them the Bot API answers 429 with `retry_after` (core.telegram.org/bots/api, ResponseParameters).

Every request naming a `chat_id` (sending, editing, deleting, invoices) passes the bot's
leaky bucket (25 a second) and, in a group, the group's (18 a minute); a new message (`send*`)
also its chat's (one a second, two at once). So a burst of receipts and replies never reaches
the limits, and the edit that answers a button tap is not held back behind the chat's last
messages. A 429 pauses what it concerns: chat requests for `retry_after`, then they are
tried again (up to `max_retries`). Requests without a `chat_id` (`answerPreCheckoutQuery`,
`answerCallbackQuery`, `getMe`, refunds) are not messages: they are never paced and never wait
for a pause. PTB's own `AIORateLimiter` pauses every request after a 429, so a payer's
pre-checkout answer (10 s deadline) could wait behind a backlog of receipts.

Idle chats' buckets are dropped once more than `MAX_CHAT_BUCKETS` are held (the memory bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

PER_CHAT = (2, 2.0)  # leaky bucket: two at once, then one a second
PER_GROUP = (18, 60.0)  # Telegram: 20 a minute in a group
# Telegram: about 30 a second. Five at once, not 25: the limiter meters departures and Telegram
# arrivals, and a loaded machine or network bunches them; a small burst keeps even sends delayed
# by up to a second under Telegram's count.
OVERALL = (5, 0.2)
MAX_CHAT_BUCKETS = 4096

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class ShopRateLimiter(BaseRateLimiter[int]):
    """Paces messages per chat, per group and overall; never delays requests without a chat."""

    def __init__(self, *, max_retries: int = 3, per_chat: tuple[int, float] = PER_CHAT,
                 per_group: tuple[int, float] = PER_GROUP,
                 overall: tuple[int, float] = OVERALL) -> None:
        self.max_retries = max_retries
        self._per_chat = per_chat
        self._per_group = per_group
        self._overall = AsyncLimiter(*overall)
        self._chats: dict[int | str, AsyncLimiter] = {}
        self._groups: dict[int | str, AsyncLimiter] = {}
        self._paused_until = 0.0  # loop time until which Telegram asked chat requests to wait

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSON:
        chat = _chat_key(data.get("chat_id"))
        if chat is None:
            return await callback(*args, **kwargs)
        per_chat = endpoint.startswith("send")
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        loop = asyncio.get_running_loop()
        for attempt in range(retries + 1):
            while (pause := self._paused_until - loop.time()) > 0:
                await asyncio.sleep(pause)
            try:
                # The chat's bucket last, right before the send: a place taken in it while
                # waiting for the bot's would let two of the chat's messages leave together.
                async with contextlib.AsyncExitStack() as buckets:
                    await buckets.enter_async_context(self._overall)
                    if _is_group(chat):
                        await buckets.enter_async_context(
                            self._bucket(self._groups, chat, self._per_group))
                    if per_chat:
                        await buckets.enter_async_context(
                            self._bucket(self._chats, chat, self._per_chat))
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                wait = _seconds(exc) + 0.1
                log.info("Telegram asked to wait %.1f s (%s); chat requests pause", wait, endpoint)
                self._paused_until = max(self._paused_until, loop.time() + wait)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _bucket(self, buckets: dict[int | str, AsyncLimiter], key: int | str,
                shape: tuple[int, float]) -> AsyncLimiter:
        limiter = buckets.get(key)
        if limiter is None:
            if len(buckets) >= MAX_CHAT_BUCKETS:
                for old in [k for k, b in buckets.items() if b.has_capacity(b.max_rate)]:
                    del buckets[old]
            limiter = buckets[key] = AsyncLimiter(*shape)
        return limiter


def _chat_key(chat_id: object) -> int | str | None:
    if chat_id is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id)  # type: ignore[call-overload, no-any-return]
    return str(chat_id)  # a @channel username


def _is_group(chat: int | str) -> bool:
    return isinstance(chat, str) or chat < 0


def _seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None) or exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)

"""The notification outbox worker: sends queued messages through the Bot API, with retries.

Messages are queued by `ledger.outbox.enqueue` in the same transaction as the change they
report. The worker claims due ones (`outbox.due`, which leases them so a crash mid-send retries
them later), sends each (`sendMessage`, or `editMessageText` when `edit_message_id` is set)
and records the result: sent (an edit of a message that is gone or too old to edit is sent
as a new message instead, and later edits follow it); retried after `retry_after` (429) or an exponential backoff
(5xx, network errors, timeouts); blocked (403, the user blocked the bot); failed (a request
Telegram will never accept, or too many attempts). Telegram being down for an hour loses
nothing: messages stay pending and are retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from ledger import Ledger, order_messages, outbox
from ledger.outbox import Notification

log = logging.getLogger(__name__)

# How the Bot API refuses to edit a message that is gone or can no longer be edited.
UNEDITABLE = ("message to edit not found", "message can't be edited", "message_id_invalid")


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    """Retry policy. The defaults keep retrying for about a day (50 attempts, capped at 30 min)."""

    batch_size: int = 50
    lease_s: int = 60
    backoff_base_s: int = 5
    backoff_max_s: int = 1800
    max_attempts: int = 50
    poll_interval_s: float = 1.0
    # Telegram allows about 30 messages a second overall; stay under it even when a backlog
    # (a broadcast, or everything queued while Telegram was unreachable) falls due at once.
    max_per_second: float = 25.0


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one `run_once` did, by outcome."""

    sent: int = 0
    retried: int = 0
    blocked: int = 0
    failed: int = 0
    deferred: int = 0  # not tried this round (chat in flood wait, Telegram unreachable)

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.blocked + self.failed + self.deferred


def _seconds(value: int | float | dt.timedelta) -> int:
    if isinstance(value, dt.timedelta):
        return max(1, int(value.total_seconds() + 0.999))
    return max(1, int(value))


def _retry_after(exc: RetryAfter) -> int:
    # PTB 22 stores a timedelta; the public property may still be an int (deprecated).
    return _seconds(getattr(exc, "_retry_after", None) or exc.retry_after)


class Notifier:
    """Sends the outbox. Use `run(stop)` as a background task, or `run_once()` in tests."""

    def __init__(self, ledger: Ledger, bot: Bot, settings: NotifierSettings = NotifierSettings()) -> None:
        self.ledger = ledger
        self.bot = bot
        self.settings = settings
        self._pace = AsyncLimiter(settings.max_per_second, 1.0)
        # (chat, message) sent anew because it could not be edited -> the new message: an edit
        # claimed in the same batch still names the old one.
        self._moved: dict[tuple[int, int], int] = {}

    def backoff(self, attempts: int) -> int:
        """Seconds to wait after the `attempts`-th failed attempt (1-based)."""
        s = self.settings
        return int(min(s.backoff_max_s, s.backoff_base_s * 2 ** min(max(attempts - 1, 0), 20)))

    async def run_once(self, chat_id: int | None = None) -> RunResult:
        """Claim the due messages (only those to `chat_id`, when given) and try each once."""
        s = self.settings
        batch = await self.ledger.write(lambda conn, now: outbox.due(conn, now, s.batch_size, s.lease_s, chat_id))
        counts = {"sent": 0, "retried": 0, "blocked": 0, "failed": 0, "deferred": 0}
        # Deferred messages stay leased and come back after `lease_s`, with no attempt counted:
        # a chat in flood wait keeps its order, and an unreachable Telegram costs one try a round.
        waiting_chats: set[int] = set()
        unreachable = False
        for notification in batch:
            if unreachable or notification.chat_id in waiting_chats:
                counts["deferred"] += 1
                continue
            outcome = await self._deliver(notification)
            if outcome == "flood":
                waiting_chats.add(notification.chat_id)
                outcome = "retried"
            elif outcome == "unreachable":
                unreachable = True
                outcome = "retried"
            counts[outcome] += 1
        return RunResult(**counts)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set; a full batch is followed at once by the next one."""
        while not stop.is_set():
            try:
                result = await self.run_once()
            except Exception:  # the worker must outlive a database hiccup
                log.exception("notifier round failed")
                result = RunResult()
            if result.claimed >= self.settings.batch_size:
                continue
            try:
                await asyncio.wait_for(stop.wait(), self.settings.poll_interval_s)
            except TimeoutError:
                pass

    async def _send(self, n: Notification) -> int | None:
        markup = InlineKeyboardMarkup.de_json(n.markup, self.bot) if n.markup else None
        if n.edit_message_id is not None:
            target = self._moved.get((n.chat_id, n.edit_message_id), n.edit_message_id)
            try:
                result = await self.bot.edit_message_text(
                    n.text, chat_id=n.chat_id, message_id=target,
                    parse_mode=n.parse_mode, reply_markup=markup,
                )
            except BadRequest as exc:
                if "message is not modified" in exc.message.lower():
                    return target
                if not any(gone in exc.message.lower() for gone in UNEDITABLE):
                    raise
                # Deleted by the user, or too old to edit: the news goes in a new message, and
                # what pointed at the old one (its order, its VM's status) now points here.
                log.info("notification %s: message %s in chat %s cannot be edited (%s); sent anew",
                         n.id, n.edit_message_id, n.chat_id, exc.message)
                message = await self.bot.send_message(n.chat_id, n.text, parse_mode=n.parse_mode, reply_markup=markup)
                old_id, new_id = target, message.message_id
                self._moved[(n.chat_id, n.edit_message_id)] = self._moved[(n.chat_id, old_id)] = new_id
                await self.ledger.write(lambda conn, now: order_messages.moved(conn, n.chat_id, old_id, new_id))
                return new_id
            return target if result is True else result.message_id  # type: ignore[union-attr]
        message = await self.bot.send_message(
            n.chat_id, n.text, parse_mode=n.parse_mode, reply_markup=markup
        )
        return message.message_id

    async def _deliver(self, n: Notification) -> str:
        try:
            async with self._pace:
                message_id = await self._send(n)
        except RetryAfter as exc:
            outcome = await self._retry(n, _retry_after(exc), f"429: {exc}")
            return "flood" if outcome == "retried" else outcome
        except Forbidden as exc:
            log.info("notification %s: chat %s blocked the bot (%s)", n.id, n.chat_id, exc)
            await self.ledger.write(lambda conn, now: outbox.mark_blocked(conn, now, n.id, n.chat_id))
            return "blocked"
        except BadRequest as exc:
            log.error("notification %s to %s refused by Telegram: %s", n.id, n.chat_id, exc)
            error = f"400: {exc.message}"
            await self.ledger.write(lambda conn, now: outbox.mark_retry(
                conn, now, n.id, 0, error, max_attempts=0))
            return "failed"
        except NetworkError as exc:  # TimedOut and 5xx are NetworkErrors too
            outcome = await self._retry(n, self.backoff(n.attempts + 1), f"{type(exc).__name__}: {exc}")
            return "unreachable" if outcome == "retried" else outcome
        except TelegramError as exc:
            return await self._retry(n, self.backoff(n.attempts + 1), f"{type(exc).__name__}: {exc}")
        await self.ledger.write(lambda conn, now: outbox.mark_sent(conn, now, n.id, message_id, n.text))
        return "sent"

    async def _retry(self, n: Notification, delay_s: int, error: str) -> str:
        state = await self.ledger.write(lambda conn, now: outbox.mark_retry(
            conn, now, n.id, delay_s, error, self.settings.max_attempts))
        if state == "failed":
            log.error("notification %s to %s given up after %d attempts: %s", n.id, n.chat_id,
                      n.attempts + 1, error)
            return "failed"
        log.info("notification %s to %s retried in %ss: %s", n.id, n.chat_id, delay_s, error)
        return "retried"

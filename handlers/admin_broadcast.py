"""/broadcast <text>: a message to every user who has not blocked the bot, through the outbox.

On confirm, one transaction queues a message per user (key `broadcast:<request>:<user>`, so a
second tap or a re-delivered update queues nothing twice), each due at `i // rate` seconds from
now: the outbox worker (payments.notifier) then sends at most `rate` a second, which keeps the
bot under Telegram's ~30 messages/s overall with room for receipts and replies; PTB's
AIORateLimiter is the second guard. Messages queued by payments are due at once and so are not
stuck behind a long broadcast. A progress task edits the admin's message as it goes and ends
with the exact counts: sent, blocked (the user blocked the bot since), failed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from functools import partial

from telegram import Bot, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from ledger import admin_state as state
from ledger import adminlog, outbox, users

from . import admin_texts
from .admin_common import RunResult, Usage, admin_command, ask, command_key, runner
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

MAX_LENGTH = 4000


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    sent: int
    blocked: int
    failed: int

    @property
    def pending(self) -> int:
        return self.total - self.sent - self.blocked - self.failed


def key_prefix(request_id: int) -> str:
    return f"broadcast:{request_id}:"


def progress(conn: sqlite3.Connection, request_id: int) -> Progress:
    prefix = key_prefix(request_id)
    # A range on the unique key index: every key with this prefix (';' follows ':').
    counts = dict(conn.execute(
        "SELECT state, count(*) FROM notifications WHERE key >= ? AND key < ? GROUP BY state",
        (prefix, prefix[:-1] + ";"),
    ).fetchall())
    return Progress(sum(counts.values()), counts.get("sent", 0), counts.get("blocked", 0), counts.get("failed", 0))


def queue(conn: sqlite3.Connection, now: int, request_id: int, text: str, rate: float) -> int:
    """Queue the broadcast to every reachable user, `rate` a second; returns how many."""
    recipients = users.reachable_ids(conn)
    per_second = max(1, int(rate))
    for index, user_id in enumerate(recipients):
        outbox.enqueue(conn, now, user_id, text, key=f"{key_prefix(request_id)}{user_id}",
                       delay_s=index // per_second)
    return len(recipients)


def progress_text(request_id: int, p: Progress, done: bool) -> str:
    if done:
        return admin_texts.broadcast_finished(request_id, p.total, p.sent, p.blocked, p.failed)
    return admin_texts.broadcast_progress(request_id, p.sent + p.blocked + p.failed, p.total, p.sent, p.blocked,
                                          p.failed)


@admin_command("broadcast")
async def broadcast_command(update: Update, context: CustomContext) -> None:
    """/broadcast <text>: shows the recipients' count and asks for confirmation."""
    from .admin_common import command_text

    text = command_text(update)
    if not text:
        raise Usage(admin_texts.USAGE_BROADCAST)
    if len(text) > MAX_LENGTH:
        raise Usage(admin_texts.broadcast_too_long(len(text), MAX_LENGTH))
    shop = context.shop
    count = len(await shop.ledger.read(users.reachable_ids))
    rate = shop.broadcast_rate
    prompt = admin_texts.ask_broadcast(count, int(count / rate) + 1, rate, text)
    await ask(update, shop, command_key(update), "broadcast", {"text": text}, prompt,
              [(admin_texts.btn_broadcast(count), "go")])


@runner("broadcast")
async def run_broadcast(update: Update, context: CustomContext, request: state.AdminRequest,
                        option: str) -> RunResult:
    shop = context.shop
    text = str(request.params["text"])
    rate = shop.broadcast_rate

    def write(conn: sqlite3.Connection, now: int) -> int | None:
        if not state.finish_request(conn, now, request.id, "done", "queued"):
            return None
        count = queue(conn, now, request.id, text, rate)
        adminlog.record(conn, now, request.admin_id, "broadcast", f"{count} users",
                        text[:200], key=request.key)
        return count

    count = await shop.ledger.write(write)
    if count is None:
        return admin_texts.ALREADY_DONE
    start_progress(context.application, shop, request.id, request.chat_id, request.prompt_message_id)
    return progress_text(request.id, Progress(count, 0, 0, 0), count == 0)


def start_progress(application: Application, shop: Shop, request_id: int, chat_id: int,  # type: ignore[type-arg]
                   message_id: int | None) -> None:
    application.create_task(
        follow(application.bot, shop, request_id, chat_id, message_id,
               shop.broadcast_progress_s),
        name=f"broadcast-{request_id}",
    )


async def follow(bot: Bot, shop: Shop, request_id: int, chat_id: int, message_id: int | None,
                 every_s: float = 1.0) -> Progress:
    """Edit the progress message until nothing of the broadcast is pending, then the final count."""
    shown = ""
    # Let the confirm handler's own edit of this message land first.
    await asyncio.sleep(every_s)
    while True:
        p = await shop.ledger.read(lambda conn: progress(conn, request_id))
        done = p.pending == 0
        text = progress_text(request_id, p, done)
        if text != shown:
            try:
                if message_id is None:
                    message_id = (await bot.send_message(chat_id, text)).message_id
                else:
                    await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
                shown = text
            except BadRequest as exc:
                if "not modified" not in exc.message.lower():
                    log.warning("broadcast %s: progress edit refused: %s", request_id, exc)
            except TelegramError as exc:  # shown next round
                log.info("broadcast %s: progress edit failed: %s", request_id, exc)
        if done:
            await shop.ledger.write(partial(state.set_result, request_id=request_id, result=text))
            return p
        await asyncio.sleep(every_s)


async def resume(application: Application, shop: Shop) -> None:  # type: ignore[type-arg]
    """After a restart: follow again every broadcast whose progress had not finished."""
    for request in await shop.ledger.read(lambda conn: state.requests_by_action(conn, "broadcast", "done")):
        if not request.result.startswith(admin_texts.BROADCAST_MARK):
            start_progress(application, shop, request.id, request.chat_id, request.prompt_message_id)

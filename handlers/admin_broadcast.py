"""/broadcast <text>: a message to every user who has not blocked the bot, through the outbox.

On confirm, `ledger.broadcasts` queues a message per user in chunks, one write each (key
`broadcast:<request>:<user>`, so a second tap or a re-delivered update queues nothing twice),
each due at `i // rate` seconds from now: the outbox worker (payments.notifier) then sends at
most `rate` a second, which keeps the bot under Telegram's ~30 messages/s overall with room for
receipts and replies; the bot's rate limiter (bot.flood_control) is the second guard. A restart resumes queuing where
the last chunk ended. Messages queued by payments are due at once and so are not
stuck behind a long broadcast. A progress task edits the admin's message as it goes and ends
with the exact counts: sent, blocked (the user blocked the bot since), failed.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from telegram import Bot, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application

from ledger import admin_state as state
from ledger import broadcasts, users
from ledger.broadcasts import Progress

from . import admin_texts
from .admin_common import RunResult, Usage, admin_command, ask, command_key, runner
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

MAX_LENGTH = 4000


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

    queued = await shop.ledger.write(partial(broadcasts.start, request=request, text=text, rate=rate))
    if queued is None:
        return admin_texts.ALREADY_DONE
    queued = await queue_rest(shop, request.id, text, queued)
    start_progress(context.application, shop, request.id, request.chat_id, request.prompt_message_id)
    return progress_text(request.id, Progress(queued.count, 0, 0, 0), queued.count == 0)


async def queue_rest(shop: Shop, request_id: int, text: str,
                     queued: broadcasts.Queued | None = None) -> broadcasts.Queued:
    """Queue the broadcast's remaining chunks, one write each, so other writes pass between."""
    while queued is None or not queued.complete:
        queued = await shop.ledger.write(partial(broadcasts.queue_next, request_id=request_id,
                                                 text=text, rate=shop.broadcast_rate))
    return queued


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
        p = await shop.ledger.read_admin(partial(broadcasts.progress, request_id=request_id))
        done = p.finished
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
        if request.result == broadcasts.QUEUING:
            await queue_rest(shop, request.id, str(request.params["text"]))
        if not request.result.startswith(admin_texts.BROADCAST_MARK):
            start_progress(application, shop, request.id, request.chat_id, request.prompt_message_id)

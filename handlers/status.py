"""The one status message a purchase gets: sent by the chat right after the purchase, attached
to the deployment so the worker edits it (Queued -> Deploying -> Ready/Failed), and the worker
woken so the deploy starts now rather than at its next poll."""

from __future__ import annotations

import logging
from functools import partial

from telegram import Bot
from telegram.error import TelegramError

from ledger import deployments as jobs

from . import texts
from .deps import Shop

log = logging.getLogger(__name__)

__all__ = ["send_status_message"]


async def send_status_message(bot: Bot, shop: Shop, chat_id: int, deployment_id: int, service_id: str) -> None:
    """Send the purchase's one "Queued" status message, attach it for the worker to edit, and
    wake the worker. If Telegram refuses it now, the outbox sends it later instead."""
    try:
        message = await bot.send_message(chat_id, texts.status_queued(service_id))
    except TelegramError as exc:
        log.info("status message for deployment %s not sent now (%s); queued in the outbox", deployment_id, exc)
        await shop.ledger.write(lambda conn, now: jobs.enqueue_queued_status(conn, now, deployment_id))
    else:
        await shop.ledger.write(
            partial(jobs.attach_status_message, deployment_id=deployment_id, chat_id=chat_id,
                    message_id=message.message_id))
    if shop.worker is not None:
        shop.worker.wake()

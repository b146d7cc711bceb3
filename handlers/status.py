"""The one status message a purchase gets: sent by the chat right after the purchase, attached
to the deployment so the worker edits it (Queued -> Deploying -> Ready/Failed), and the worker
woken so the deploy starts now rather than at its next poll."""

from __future__ import annotations

import logging
import sqlite3

from telegram import Bot
from telegram.error import TelegramError

from core import notices
from ledger import deployments as jobs
from ledger import ops, outbox
from ledger.deployments import DeploymentRecord

from . import texts
from .deps import Shop

log = logging.getLogger(__name__)

__all__ = ["send_status_message"]


def _current_status(conn: sqlite3.Connection, now: int, dep: DeploymentRecord) -> str | None:
    """The status text for a job that moved on before its status message was attached."""
    took = now - dep.created_at
    if dep.state == "deploying":
        return notices.deployment_deploying(dep.service_id, took, 1, 1)
    if dep.state == "ready":
        return notices.deployment_ready(dep.service_id, (dep.ready_at or now) - dep.created_at)
    hold = ops.get_hold(conn, dep.hold_id)
    refunded = hold.amount if hold.state in ("voided", "expired") else 0
    if dep.state == "failed":
        return notices.deployment_failed(dep.service_id, dep.updated_at - dep.created_at,
                                      dep.error or "unknown error", refunded)
    if dep.state == "cancelled" and dep.ready_at is None:
        return notices.deployment_cancelled_before_deploy(dep.service_id, refunded)
    return None


def _attach(conn: sqlite3.Connection, now: int, deployment_id: int, chat_id: int, message_id: int) -> None:
    dep = jobs.attach_status_message(conn, now, deployment_id, chat_id, message_id)
    # The worker may have claimed (or finished) the job between the purchase and this write;
    # its statuses then had no message to edit, so bring this one up to date.
    text = _current_status(conn, now, dep) if dep.state != "queued" else None
    if text is not None:
        outbox.enqueue(conn, now, chat_id, text, key=f"deploy:{dep.id}:attached:{dep.state}",
                       edit_message_id=message_id)


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
            lambda conn, now: _attach(conn, now, deployment_id, chat_id, message.message_id))
    if shop.worker is not None:
        shop.worker.wake()

"""Admin chat commands: wiring, the /admin menu, /audit and /adminlog.

Installed by `handlers.registry.install` through `install(application)`. The commands
themselves live in admin_money.py (/user, /credit, /debit, /refund), admin_ops.py
(/deployments, /retry, /cancel, /services, /service), admin_broadcast.py (/broadcast) and
admin_stats.py (/stats); admin_common.py has the guard and the confirm-button machinery, and
admin_texts.py every text they show.
Only the Telegram user ids in `[admin] user_ids` may use them; see admin_common for how
everyone else gets the answer an unknown command gets.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    filters,
)

from ledger import adminlog

from . import admin_broadcast, admin_money, admin_ops, admin_parked, admin_stats, admin_texts
from .admin_common import (
    ADMIN_GROUP,
    Usage,
    admin_button,
    admin_command,
    cancel_request,
    confirm,
    reply,
)
from .admin_texts import ADMIN_COMMANDS
from .callbacks import encode, pattern
from .common import answer, parse
from .deps import CustomContext, ShopApplication

__all__ = ["ADMIN_COMMANDS", "install"]

log = logging.getLogger("gridshop.admin")


def menu_markup() -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(label, callback_data=encode("admenu", item)) for label, item in admin_texts.MENU]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


@admin_command("admin")
async def admin_menu(update: Update, context: CustomContext) -> None:
    """/admin: the menu."""
    await reply(update, admin_texts.MENU_TEXT, menu_markup())


@admin_command("audit")
async def audit_command(update: Update, context: CustomContext) -> None:
    """/audit: recompute every balance from the transfers and check every invariant."""
    shop = context.shop
    user = update.effective_user
    assert user is not None
    report = await shop.ledger.audit()
    await shop.ledger.write(lambda conn, now: adminlog.record(
        conn, now, user.id, "audit", "ledger", report.summary()))
    await reply(update, admin_texts.audit(report.ok, report.summary(), report.violations))


@admin_command("adminlog")
async def adminlog_command(update: Update, context: CustomContext) -> None:
    """/adminlog [count]: the latest admin actions, newest first."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 50)):
        raise Usage(admin_texts.USAGE_ADMINLOG)
    limit = int(args[0]) if args else 20
    entries = await context.shop.ledger.read(lambda conn: adminlog.recent(conn, limit))
    await reply(update, admin_texts.admin_log(entries))


@admin_button
async def menu_button(update: Update, context: CustomContext) -> None:
    """A menu button (`v1:admenu:<item>`): runs the command it names."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    views = {"stats": admin_stats.stats_command, "deps": admin_ops.deployments_command,
             "svcs": admin_ops.services_command, "audit": audit_command, "log": adminlog_command}
    view = views.get(data.args[0])
    if view is None:
        await reply(update, admin_texts.commands())
        return
    context.args = []
    try:
        await view(update, context)
    except ApplicationHandlerStop:  # the command guard stops later groups; a button has none
        pass


async def _resume_job(context: CustomContext) -> None:
    """At start: follow again any broadcast a restart interrupted."""
    await admin_broadcast.resume(context.application, context.shop)


def install(application: ShopApplication) -> None:
    """Add the admin handlers, and the start-up job that resumes interrupted broadcasts."""
    private = filters.ChatType.PRIVATE
    if application.job_queue is not None:
        application.job_queue.run_once(_resume_job, when=0, name="admin-broadcasts")
    for name, callback in (
        ("admin", admin_menu), ("stats", admin_stats.stats_command),
        ("user", admin_money.user_command), ("credit", admin_money.credit_command),
        ("debit", admin_money.debit_command), ("refund", admin_money.refund_command),
        ("deployments", admin_ops.deployments_command), ("retry", admin_ops.retry_command),
        ("cancel", admin_ops.cancel_command), ("services", admin_ops.services_command),
        ("service", admin_ops.service_command), ("broadcast", admin_broadcast.broadcast_command),
        ("audit", audit_command), ("adminlog", adminlog_command), ("parked", admin_parked.parked_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=private), group=ADMIN_GROUP)
    for action, button in (
        ("admenu", menu_button), ("adok", confirm), ("adno", cancel_request),
        ("aduser", admin_money.user_button), ("adref", admin_money.refund_button),
        ("adret", admin_ops.retry_button), ("adcan", admin_ops.cancel_button),
        ("adsvc", admin_ops.service_button), ("adpark", admin_parked.parked_button),
    ):
        application.add_handler(CallbackQueryHandler(button, pattern=pattern(action)))

"""Admin chat commands: wiring, the /admin menu, /audit and /adminlog.

Installed by `handlers.registry.install` through `install(application)`. The commands
themselves live in admin_money.py (/user, /credit, /debit, /refund), admin_ops.py
(/fleet, /retry, /cancelvm, /service), admin_broadcast.py (/broadcast) and
admin_stats.py (/stats); admin_common.py has the guard and the confirm-button machinery,
admin_screen.py how a screen is shown (edited in place from the menu), and admin_texts.py every
text they show.
Only the Telegram user ids in `[admin] user_ids` may use them; see admin_common for how
everyone else gets the answer an unknown command gets.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from ledger import adminlog

from . import admin_broadcast, admin_money, admin_ops, admin_parked, admin_stats, admin_texts
from .admin_common import ADMIN_GROUP, Usage, admin_button, admin_command, cancel_request, confirm
from .admin_screen import Screen, menu_screen, screen, show
from .admin_texts import ADMIN_COMMANDS
from .callbacks import pattern
from .common import answer, parse
from .deps import CustomContext, Shop, ShopApplication

__all__ = ["ADMIN_COMMANDS", "install"]

log = logging.getLogger("gridshop.admin")


@admin_command("admin")
async def admin_menu(update: Update, context: CustomContext) -> None:
    """/admin: the menu."""
    await show(update, menu_screen())


async def audit_screen(shop: Shop, admin_id: int) -> Screen:
    """Recompute every balance from the transfers and check every invariant, logged."""
    report = await shop.ledger.audit()
    await shop.ledger.write(lambda conn, now: adminlog.record(
        conn, now, admin_id, "audit", "ledger", report.summary()))
    return screen(admin_texts.audit(report.ok, report.summary(), report.violations))


@admin_command("audit")
async def audit_command(update: Update, context: CustomContext) -> None:
    """/audit: the ledger audit's report."""
    user = update.effective_user
    assert user is not None
    await show(update, await audit_screen(context.shop, user.id))


async def log_screen(shop: Shop, limit: int = 20) -> Screen:
    entries = await shop.ledger.read(lambda conn: adminlog.recent(conn, limit))
    return screen(admin_texts.admin_log(entries))


@admin_command("adminlog")
async def adminlog_command(update: Update, context: CustomContext) -> None:
    """/adminlog [count]: the latest admin actions, newest first."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 50)):
        raise Usage(admin_texts.USAGE_ADMINLOG)
    await show(update, await log_screen(context.shop, int(args[0]) if args else 20))


@admin_button
async def menu_button(update: Update, context: CustomContext) -> None:
    """A menu button (`v1:admenu:<item>`), or a screen's "« Admin menu": that screen, in place."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    shop, item = context.shop, data.args[0]
    if item == "stats":
        shown = await admin_stats.stats_screen(shop, admin_stats.DEFAULT_DAYS)
    elif item == "deps":
        shown = await admin_ops.fleet_screen(shop, None)
    elif item == "svcs":
        shown = await admin_ops.services_screen(shop)
    elif item == "audit":
        shown = await audit_screen(shop, query.from_user.id)
    elif item == "log":
        shown = await log_screen(shop)
    elif item == "help":
        shown = screen(admin_texts.commands())
    else:  # "menu", and an item an older menu had
        shown = menu_screen()
    await show(update, shown)


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
        ("fleet", admin_ops.fleet_command), ("retry", admin_ops.retry_command),
        ("cancelvm", admin_ops.cancel_command), ("service", admin_ops.service_command), ("broadcast", admin_broadcast.broadcast_command),
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

"""Admin chat commands: wiring, the /admin menu, /audit and /adminlog.

Installed by `handlers.registry.install` through `install(application)`. The commands
themselves live in admin_money.py (/user, /credit, /debit, /refund), admin_ops.py
(/deployments, /retry, /cancel, /services, /service), admin_broadcast.py (/broadcast) and
admin_stats.py (/stats); admin_common.py has the guard and the confirm-button machinery.
Only the Telegram user ids in `[admin] user_ids` may use them; see admin_common for how
everyone else gets the answer an unknown command gets.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    filters,
)

from ledger import adminlog

from . import admin_broadcast, admin_money, admin_ops, admin_stats
from .admin_common import (
    ADMIN_GROUP,
    Usage,
    admin_button,
    admin_command,
    cancel_request,
    confirm,
    reply,
)
from .callbacks import encode, pattern
from .common import answer, parse
from .deps import CustomContext, ShopApplication

__all__ = ["ADMIN_COMMANDS", "install"]

log = logging.getLogger("gridshop.admin")

USAGE_ADMINLOG = "Usage: /adminlog [count]   (1-50, default 20)"

# For the README and /admin: the exact syntax of every admin command.
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("/admin", "this menu"),
    ("/stats [days]", "users, revenue, commission, credits, debt, deployments; chart"),
    ("/user <id|@username>", "a user's balance, payments, orders, deployments"),
    ("/credit <user> <amount> <reason>", "give credits (after a confirm)"),
    ("/debit <user> <amount> <reason>", "take credits (after a confirm)"),
    ("/refund <payment> [amount]", "refund Stars (in full) or Stripe (in full or part)"),
    ("/deployments [state]", "deployments by state"),
    ("/retry <deployment>", "requeue a failed deployment"),
    ("/cancel <deployment>", "cancel a deployment, with a refund choice"),
    ("/services", "the catalogue, with enable/disable buttons"),
    ("/service enable|disable <id>", "put a service on sale or hide it"),
    ("/service price <id> <amount>", "change a price (new orders only)"),
    ("/broadcast <text>", "message every user who has not blocked the bot"),
    ("/audit", "run the ledger audit"),
    ("/adminlog [count]", "the latest admin actions"),
]

MENU = [("📊 Stats", "stats"), ("🖥 Deployments", "deps"), ("🛒 Services", "svcs"),
        ("🧮 Audit", "audit"), ("📜 Admin log", "log"), ("❓ Commands", "help")]


def menu_markup() -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(label, callback_data=encode("admenu", item)) for label, item in MENU]
    return InlineKeyboardMarkup([buttons[i:i + 2] for i in range(0, len(buttons), 2)])


def commands_text() -> str:
    return "🛠 Admin commands:\n" + "\n".join(f"{syntax} — {what}" for syntax, what in ADMIN_COMMANDS)


@admin_command("admin")
async def admin_menu(update: Update, context: CustomContext) -> None:
    """/admin: the menu."""
    await reply(update, "🛠 Admin menu. Amounts are in TFC; users by id or @username.", menu_markup())


@admin_command("audit")
async def audit_command(update: Update, context: CustomContext) -> None:
    """/audit: recompute every balance from the transfers and check every invariant."""
    shop = context.shop
    user = update.effective_user
    assert user is not None
    report = await shop.ledger.audit()
    await shop.ledger.write(lambda conn, now: adminlog.record(
        conn, now, user.id, "audit", "ledger", report.summary()))
    lines = [("✅ " if report.ok else "❌ ") + report.summary()]
    lines += [f"• {v}" for v in report.violations[:30]]
    if len(report.violations) > 30:
        lines.append(f"… and {len(report.violations) - 30} more (gridshop ledger audit lists them all)")
    await reply(update, "\n".join(lines))


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def log_lines(entries: list[adminlog.AdminAction]) -> list[str]:
    return [f"{_when(e.created_at)} #{e.id} admin {e.admin_id} {e.action} {e.target}: {e.detail}"
            for e in entries]


@admin_command("adminlog")
async def adminlog_command(update: Update, context: CustomContext) -> None:
    """/adminlog [count]: the latest admin actions, newest first."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 50)):
        raise Usage(USAGE_ADMINLOG)
    limit = int(args[0]) if args else 20
    entries = await context.shop.ledger.read(lambda conn: adminlog.recent(conn, limit))
    await reply(update, "📜 Admin log (newest first):\n" + "\n".join(log_lines(entries))
                if entries else "📜 The admin log is empty.")


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
        await reply(update, commands_text())
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
        ("audit", audit_command), ("adminlog", adminlog_command),
    ):
        application.add_handler(CommandHandler(name, callback, filters=private), group=ADMIN_GROUP)
    for action, button in (
        ("admenu", menu_button), ("adok", confirm), ("adno", cancel_request),
        ("aduser", admin_money.user_button), ("adref", admin_money.refund_button),
        ("adret", admin_ops.retry_button), ("adcan", admin_ops.cancel_button),
        ("adsvc", admin_ops.service_button),
    ):
        application.add_handler(CallbackQueryHandler(button, pattern=pattern(action)))

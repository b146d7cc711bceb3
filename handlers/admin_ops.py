"""Admin commands about what is sold and deployed: /deployments [state], /retry <deployment>,
/cancel <deployment> (with a refund choice), /services and /service enable|disable|price.

Catalogue changes are kept in the database (`service_overrides`) and applied to the shop's
`core.catalog.Catalogue`, loaded with them at start, on every change. Orders keep the amount they were opened with, so a
price change applies to new orders only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from core import notices
from core.money import format_tfc
from ledger import LedgerError, adminlog, ops
from ledger import admin_state as state
from ledger import deployments as jobs
from ledger.deployments import DeploymentRecord

from .admin_common import (
    RunResult,
    Usage,
    admin_button,
    admin_command,
    ask,
    button_key,
    command_key,
    parse_amount,
    parse_id,
    reply,
    runner,
    user_label,
)
from .callbacks import encode
from .common import answer, parse
from .deps import CustomContext, Shop

log = logging.getLogger("gridshop.admin")

STATES = ("queued", "deploying", "ready", "failed", "cancelling", "cancelled")
USAGE_DEPLOYMENTS = f"Usage: /deployments [state]   (state: {', '.join(STATES)})"
USAGE_RETRY = "Usage: /retry <deployment id>"
USAGE_CANCEL = "Usage: /cancel <deployment id>"
USAGE_SERVICE = ("Usage: /service enable <id> · /service disable <id> · /service price <id> <amount>\n"
                 "(a price change applies to new orders only)")


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _line(d: DeploymentRecord) -> str:
    error = f" — {d.error[:80]}" if d.error else ""
    return f"#{d.id} {d.service_id} user {d.user_id} {d.state} · {_when(d.updated_at)}{error}"


# --- /deployments -----------------------------------------------------------------------------


@admin_command("deployments")
async def deployments_command(update: Update, context: CustomContext) -> None:
    """/deployments [state]: counts by state, and the deployments in one state (default: open ones)."""
    args = context.args or []
    if len(args) > 1 or (args and args[0] not in STATES):
        raise Usage(USAGE_DEPLOYMENTS)
    shop = context.shop
    wanted = [args[0]] if args else ["queued", "deploying", "failed", "cancelling"]

    def read(conn: sqlite3.Connection) -> tuple[dict[str, int], list[DeploymentRecord]]:
        rows = [d for s in wanted for d in jobs.list_by_state(conn, s, 30)]
        return jobs.counts(conn), rows

    counts, rows = await shop.ledger.read(read)
    summary = " · ".join(f"{s} {counts.get(s, 0)}" for s in STATES)
    title = f"Deployments {args[0]}" if args else "Open deployments (queued, deploying, failed, cancelling)"
    lines = [f"🖥 {summary}", "", f"{title}:" if rows else f"{title}: none"]
    lines += [_line(d) for d in rows[:40]]
    if rows:
        lines += ["", "/retry <id> requeues a failed one · /cancel <id> cancels one"]
    await reply(update, "\n".join(lines))


# --- /retry -----------------------------------------------------------------------------------


async def _ask_retry(update: Update, shop: Shop, key: str, deployment_id: int) -> None:
    def read(conn: sqlite3.Connection) -> tuple[DeploymentRecord, Any, Any]:
        dep = jobs.get(conn, deployment_id)
        return dep, ops.get_hold(conn, dep.hold_id), ops.get_order(conn, dep.order_id)

    try:
        dep, hold, order = await shop.ledger.read(read)
    except jobs.DeploymentNotFound:
        raise Usage(f"No deployment {deployment_id}.") from None
    if dep.state not in ("failed", "queued"):
        raise Usage(f"Deployment #{dep.id} is {dep.state}; only a failed (or queued) one can be retried.")
    balance = await shop.ledger.balance(dep.user_id)
    if dep.state == "queued":
        text = f"Deployment #{dep.id} is queued (attempt {dep.attempts + 1}). Try it now instead of waiting?"
    elif hold.state == "pending" and hold.expires_at > shop.ledger.now():
        text = f"Retry deployment #{dep.id} ({dep.service_id}) on its existing hold of {format_tfc(hold.amount)}?"
    else:
        text = (f"Retry deployment #{dep.id} ({dep.service_id}) for user {await user_label(shop, dep.user_id)}?\n"
                f"Its hold was released when it failed, so {format_tfc(order.amount)} is held again from the "
                f"user's balance (available {format_tfc(balance.available)}).")
    text += f"\nLast error: {dep.error or '-'}"
    await ask(update, shop, key, "retry", {"deployment_id": dep.id}, text, [("🔁 Retry", "go")])


@admin_command("retry")
async def retry_command(update: Update, context: CustomContext) -> None:
    """/retry <deployment>: requeue a failed deployment (a fresh hold when the old was voided)."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(USAGE_RETRY)
    await _ask_retry(update, context.shop, command_key(update), parse_id(args[0], "deployment", USAGE_RETRY))


@runner("retry")
async def run_retry(update: Update, context: CustomContext, request: state.AdminRequest,
                    option: str) -> RunResult:
    shop = context.shop
    deployment_id = int(request.params["deployment_id"])

    def write(conn: sqlite3.Connection, now: int) -> str:
        if not state.finish_request(conn, now, request.id, "done"):
            return "Already done."
        dep = state.retry_deployment(conn, now, deployment_id, hold_ttl_s=shop.ledger.hold_ttl_s,
                                     key=f"admin-retry:{request.key}")
        adminlog.record(conn, now, request.admin_id, "retry", f"deployment {deployment_id}",
                        f"hold {dep.hold_id}", key=request.key)
        result = f"🔁 Deployment #{deployment_id} is queued again (hold #{dep.hold_id})."
        state.set_result(conn, now, request.id, result)
        return result

    try:
        result = await shop.ledger.write(write)
    except LedgerError as exc:
        reason = str(exc)
        text = f"❌ Not retried: {reason}"
        await shop.ledger.write(lambda conn, now: (
            state.finish_request(conn, now, request.id, "failed", text),
            adminlog.record(conn, now, request.admin_id, "retry.refused", f"deployment {deployment_id}",
                            reason, key=request.key)))
        return text
    if shop.worker is not None:
        shop.worker.wake()
    return result


# --- /cancel <deployment> ---------------------------------------------------------------------


async def _ask_cancel(update: Update, shop: Shop, key: str, deployment_id: int) -> None:
    try:
        dep, order = await shop.ledger.read(
            lambda conn: (lambda d: (d, ops.get_order(conn, d.order_id)))(jobs.get(conn, deployment_id)))
    except jobs.DeploymentNotFound:
        raise Usage(f"No deployment {deployment_id}.") from None
    who = await user_label(shop, dep.user_id)
    if dep.state == "queued":
        text = f"Cancel queued deployment #{dep.id} ({dep.service_id}) of user {who}? Its hold is released."
        options = [("✖ Cancel it (credits released)", "none")]
    elif dep.state == "ready":
        unused = state.unused_share(dep, shop.ledger.now(), order.amount)
        text = (f"Cancel running deployment #{dep.id} ({dep.service_id}, {dep.name}) of user {who}? "
                f"The VM is removed from the grid. Paid {format_tfc(order.amount)} for {dep.period_days} days, "
                f"until {_when(dep.expires_at)}.\nRefund to the user's credits:")
        options = [("No refund", "none")]
        if unused:
            options.append((f"Refund the unused part: {format_tfc(unused)}", "unused"))
        options.append((f"Refund the whole period: {format_tfc(order.amount)}", "full"))
    else:
        raise Usage(f"Deployment #{dep.id} is {dep.state}; only a queued or running one can be cancelled"
                    + (" (wait for the deploy to finish)." if dep.state == "deploying" else "."))
    await ask(update, shop, key, "cancel", {"deployment_id": dep.id}, text, options)


@admin_command("cancel", only_with_args=True)
async def cancel_command(update: Update, context: CustomContext) -> None:
    """/cancel <deployment>: cancel a queued or running deployment, with a refund choice.
    A bare /cancel is the user's command (cancel what you were doing)."""
    args = context.args or []
    if len(args) != 1:
        raise Usage(USAGE_CANCEL)
    await _ask_cancel(update, context.shop, command_key(update),
                      parse_id(args[0], "deployment", USAGE_CANCEL))


@runner("cancel")
async def run_cancel(update: Update, context: CustomContext, request: state.AdminRequest,
                     option: str) -> RunResult:
    shop = context.shop
    deployment_id = int(request.params["deployment_id"])
    if option not in ("none", "unused", "full"):
        return "Unknown choice; nothing changed."

    def write(conn: sqlite3.Connection, now: int) -> tuple[str, DeploymentRecord | None]:
        if not state.finish_request(conn, now, request.id, "done"):
            return "Already done.", None
        before = jobs.get(conn, deployment_id)
        price = ops.get_order(conn, before.order_id).amount
        refund = 0
        if before.state == "ready" and option != "none":
            refund = price if option == "full" else state.unused_share(before, now, price)
        dep = jobs.request_cancel(conn, now, deployment_id, f"cancelled by the shop (admin {request.admin_id})")
        state.refund_period(conn, now, deployment_id, refund, commission_ppm=shop.ledger.commission_ppm,
                            key=f"admin-cancel-refund:{request.key}")
        if refund:
            from ledger import outbox

            outbox.enqueue(conn, now, dep.user_id, notices.deployment_refunded(refund, dep.id),
                           key=f"admin:{request.key}")
        adminlog.record(conn, now, request.admin_id, "cancel", f"deployment {deployment_id}",
                        f"was {before.state}; refund {option} {format_tfc(refund)}", key=request.key)
        result = (f"✖ Deployment #{deployment_id} is {dep.state}"
                  + (f"; {format_tfc(refund)} returned to the user's credits." if refund else "."))
        state.set_result(conn, now, request.id, result)
        return result, dep

    try:
        result, dep = await shop.ledger.write(write)
    except LedgerError as exc:
        return f"❌ Not cancelled: {exc}"
    deployer = shop.deployer
    if dep is not None and dep.state == "cancelling" and deployer is not None:
        from grid.periods import finish_cancel
        from grid.worker import LedgerWriter

        try:
            dep = await finish_cancel(LedgerWriter(shop.ledger), deployer, dep)
            result += f" The grid contract is cancelled ({dep.state})."
        except Exception as exc:  # the periods job retries every 'cancelling' deployment
            log.warning("deployment %s: grid cancel failed: %s", deployment_id, exc)
            result += " The grid cancel will be retried by the periods job."
    elif dep is not None and dep.state == "cancelling":
        result += " The periods job removes it from the grid."
    return result


async def _deployment_button(update: Update, context: CustomContext, prefix: str,
                             ask: Callable[[Update, Shop, str, int], Awaitable[None]]) -> None:
    """A deployment's Retry or Cancel button on /user or /deployments: the same confirm step as
    the command, keyed on the button so a double tap asks once."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    try:
        await ask(update, context.shop, button_key(update, f"{prefix}:{data.args[0]}"), data.int_arg(0))
    except Usage as exc:
        await reply(update, str(exc))


@admin_button
async def retry_button(update: Update, context: CustomContext) -> None:
    await _deployment_button(update, context, "ret", _ask_retry)


@admin_button
async def cancel_button(update: Update, context: CustomContext) -> None:
    await _deployment_button(update, context, "can", _ask_cancel)


# --- the catalogue ----------------------------------------------------------------------------


def services_text(shop: Shop, overrides: dict[str, state.ServiceOverride]) -> tuple[str, InlineKeyboardMarkup]:
    lines = ["🛒 Services (✅ on sale, ⛔ hidden):"]
    rows = []
    for s in shop.catalogue.services:
        o = overrides.get(s.id)
        marks = []
        if o is not None and o.enabled is not None:
            marks.append(f"{'enabled' if o.enabled else 'disabled'} by admin {o.admin_id}")
        if o is not None and o.price is not None:
            marks.append("price set by admin")
        note = f"  ({'; '.join(marks)})" if marks else ""
        lines.append(f"{'✅' if s.enabled else '⛔'} {s.id}: {s.name}, {format_tfc(s.price_minor)} / {s.period_days} d{note}")
        label = f"⛔ Disable {s.id}" if s.enabled else f"✅ Enable {s.id}"
        rows.append([InlineKeyboardButton(label, callback_data=encode("adsvc", s.id, "off" if s.enabled else "on"))])
    lines.append("")
    lines.append(USAGE_SERVICE)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


@admin_command("services")
async def services_command(update: Update, context: CustomContext) -> None:
    """/services (for admins): every service, on sale or not, with enable/disable buttons."""
    shop = context.shop
    overrides = await shop.ledger.read(state.service_overrides)
    text, markup = services_text(shop, overrides)
    await reply(update, text, markup)


async def _set_service(shop: Shop, admin_id: int, service_id: str, key: str | None, *,
                       enabled: bool | None = None, price: int | None = None) -> str:
    service = shop.catalogue.get(service_id)
    if service is None:
        raise Usage(f"No service {service_id!r} in the catalogue.\n{USAGE_SERVICE}")

    def write(conn: sqlite3.Connection, now: int) -> dict[str, state.ServiceOverride]:
        before = state.service_overrides(conn).get(service_id)
        state.set_service_override(conn, now, service_id, admin_id, enabled=enabled, price=price)
        change = (f"enabled={enabled}" if enabled is not None else f"price={format_tfc(price or 0)}")
        was = f"was {'on' if service.enabled else 'off'}, {format_tfc(service.price_minor)}"
        if before is None or (enabled is not None and before.enabled != enabled) or \
                (price is not None and before.price != price):
            adminlog.record(conn, now, admin_id, "service", service_id, f"{change} ({was})", key=key)
        return state.service_overrides(conn)

    shop.catalogue.apply(await shop.ledger.write(write))
    service = shop.catalogue.get(service_id)
    assert service is not None
    return (f"Service {service_id} is now {'on sale' if service.enabled else 'hidden'} at "
            f"{format_tfc(service.price_minor)} (new orders only).")


@admin_command("service")
async def service_command(update: Update, context: CustomContext) -> None:
    """/service enable|disable <id>, /service price <id> <amount>."""
    args = context.args or []
    user = update.effective_user
    assert user is not None
    shop = context.shop
    if len(args) == 2 and args[0] in ("enable", "disable"):
        text = await _set_service(shop, user.id, args[1], command_key(update), enabled=args[0] == "enable")
    elif len(args) == 3 and args[0] == "price":
        text = await _set_service(shop, user.id, args[1], command_key(update),
                                  price=parse_amount(args[2], USAGE_SERVICE))
    else:
        raise Usage(USAGE_SERVICE)
    await reply(update, text)


@admin_button
async def service_button(update: Update, context: CustomContext) -> None:
    """⛔ Disable / ✅ Enable on /services (`v1:adsvc:<id>:on|off`): sets, so a double tap is harmless."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    shop = context.shop
    service_id, on = data.args[0], data.args[1] == "on"
    if data.args[1] not in ("on", "off") or shop.catalogue.get(service_id) is None:
        await answer(query, "Unknown service.", alert=True)
        return
    result = await _set_service(shop, query.from_user.id, service_id, None, enabled=on)
    await answer(query, result[:190])
    text, markup = services_text(shop, await shop.ledger.read(state.service_overrides))
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except Exception as exc:
        log.info("could not edit the services list: %s", exc)

"""Every text of the admin chat, in one place: the menu, usage lines, prompts and their buttons,
results, the /user card, /stats, /fleet and /service.

Plain text (no parse mode). Each message is one constant or function built from format strings
with named placeholders, marked for the translation catalogues (docs/i18n.md: `_`, `N_`,
`ngettext`) and read in the admin's language; amounts go through `core.i18n`. What the admin commands tell *users* (through the outbox) is in `core.notices`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from core import notices
from core.catalog import Service
from core.i18n import (
    N_,
    _,
    format_date,
    format_datetime,
    format_stars,
    format_tfc,
    format_tfc_signed,
    ngettext,
    translate_constants,
)
from core.i18n import stored as stored_text
from core.money import format_tft, tft_in_tfc
from ledger import (
    AccountInDebt,
    Balance,
    HoldAlreadyResolved,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    Order,
    OrderStateError,
    Payment,
    StoreError,
    Transfer,
    adminlog,
)
from ledger import admin_state as state
from ledger import stats as shop_stats
from ledger.deployments import DeploymentNotFound, DeploymentRecord, DeploymentStateError
from ledger.users import User
from payments.parked import ParkedPayment

# --- the menu and the commands ---------------------------------------------------------------

# For the README, the admins' command menu and /admin: the exact syntax of every admin command.
# None shares its name with a user command (texts.COMMANDS): an admin keeps every user command.
ADMIN_COMMANDS: list[tuple[str, str]] = [
    ("/admin", N_("the admin menu")),
    ("/stats [days]", N_("revenue, users, credits, debt, VMs, with a chart")),
    ("/user <id|@username>", N_("one user: balance, payments, orders, VMs")),
    ("/credit <user> <amount> <reason>", N_("give a user credits (after a confirm)")),
    ("/debit <user> <amount> <reason>", N_("take credits from a user (after a confirm)")),
    ("/refund <payment> [amount]", N_("refund Stars (in full) or Stripe (in full or part)")),
    ("/fleet [state]", N_("every VM of the shop, by state")),
    ("/retry <VM id>", N_("deploy a failed VM again")),
    ("/cancelvm <VM id>", N_("cancel a user's VM, with a refund choice")),
    ("/service", N_("the services: put on sale, hide, reprice")),
    ("/service enable|disable <id>", N_("put a service on sale or hide it")),
    ("/service price <id> <amount>", N_("change a price (new orders only)")),
    ("/broadcast <text>", N_("message every user who has not blocked the bot")),
    ("/parked", N_("payments the shop could not apply: credit or refund each")),
    ("/audit", N_("check the ledger")),
    ("/adminlog [count]", N_("the latest admin actions")),
]

# (label, menu item) of the /admin buttons.
MENU = [(N_("📊 Stats"), "stats"), (N_("🖥 Fleet"), "deps"), (N_("🛒 Services"), "svcs"),
        (N_("🧮 Audit"), "audit"), (N_("📜 Admin log"), "log"), (N_("❓ Commands"), "help")]
MENU_TEXT = N_("🛠 Admin menu\n"
             "Look a user up with /user <id|@username>; amounts are in TFC. The shop's own commands "
             "(/help) work for you as for every user.")
BTN_BACK = N_("« Admin menu")


def commands() -> str:
    return _("🛠 Admin commands:") + "\n" + "\n".join(
        "{syntax} — {what}".format(syntax=syntax, what=_(what)) for syntax, what in ADMIN_COMMANDS)


# --- usage lines -----------------------------------------------------------------------------

DEPLOYMENT_STATES = ("queued", "deploying", "ready", "failed", "cancelling", "cancelled")

USAGE_ADMINLOG = N_("Usage: /adminlog [count]   (1-50, default 20)")
USAGE_STATS = N_("Usage: /stats [days]   (1-365, default 30)")
USAGE_USER = N_("Usage: /user <id|@username>")
USAGE_CREDIT = N_("Usage: /credit <user> <amount> <reason>   e.g. /credit @alice 5 goodwill for the outage")
USAGE_DEBIT = N_("Usage: /debit <user> <amount> <reason>   e.g. /debit 12345 2.50 duplicate top-up")
USAGE_REFUND = N_("Usage: /refund <payment> [amount]   (payment: the id shown by /user, or the provider's "
                "charge or session id; amount in TFC, default: all not yet refunded)")
OPEN_STATES = ("queued", "deploying", "failed", "cancelling")  # what /fleet shows unless asked
USAGE_FLEET = N_("Usage: /fleet [state]   (state: queued, deploying, ready, failed, cancelling, cancelled)")
USAGE_RETRY = N_("Usage: /retry <VM id>   (the # shown by /fleet or /user)")
USAGE_CANCEL = N_("Usage: /cancelvm <VM id>   (the # shown by /fleet or /user)")
USAGE_SERVICE = N_("Usage: /service · /service enable <id> · /service disable <id> · /service price <id> <amount>\n"
                 "(a price change applies to new orders only)")
USAGE_BROADCAST = N_("Usage: /broadcast <text>   (sent to every user who has not blocked the bot, after a confirm)")


# --- arguments -------------------------------------------------------------------------------


def _when(ts: int) -> str:
    return format_datetime(ts)


def not_an_amount(text: str, usage: str) -> str:
    return _("{text} is not an amount in TFC (e.g. 5 or 2.50).\n{usage}").format(text=repr(text), usage=usage)


def amount_not_positive(usage: str) -> str:
    return _("The amount must be more than 0.\n{usage}").format(usage=usage)


_NOT_AN_ID = {"user": N_("{text} is not a user id.\n{usage}"),
              "deployment": N_("{text} is not a deployment id.\n{usage}")}


def not_an_id(text: str, kind: str, usage: str) -> str:
    """`kind` is 'user' or 'deployment'."""
    return _(_NOT_AN_ID[kind]).format(text=repr(text), usage=usage)


def unknown_user(ref: str | int) -> str:
    return _("No user {user} is known to the shop.").format(user=ref)


def user_label(user_id: int, name: str) -> str:
    """A user as prompts name them: '12345 (@alice)', or just the id when no name is known."""
    return "{user} ({name})".format(user=user_id, name=name) if name else str(user_id)


# --- confirm buttons -------------------------------------------------------------------------

BTN_CANCEL = N_("✖ Cancel")
ANSWER_WORKING = N_("Working…")
ANSWER_CANCELLED = N_("Cancelled.")
ANSWER_NOTHING_TO_CANCEL = N_("Nothing to cancel.")
PROMPT_CANCELLED = N_("✖ Cancelled; nothing was changed.")
ALREADY_DONE = N_("Already done.")


def answer_already(request_state: str) -> str:
    """A confirm button of a request that is no longer pending (done, failed, cancelled)."""
    return _("Already {state}.").format(state=request_state)


# --- /audit and /adminlog --------------------------------------------------------------------


def audit(ok: bool, summary: str, violations: Sequence[str], shown: int = 30) -> str:
    lines = [("✅ {summary}" if ok else "❌ {summary}").format(summary=summary)]
    lines += ["• {violation}".format(violation=v) for v in violations[:shown]]
    if len(violations) > shown:
        lines.append(_("… and {count} more (gridshop ledger audit lists them all)").format(
            count=len(violations) - shown))
    return "\n".join(lines)


def admin_log(entries: Sequence[adminlog.AdminAction]) -> str:
    if not entries:
        return _("📜 The admin log is empty.")
    lines = [_("{when} #{id} admin {admin} {action} {target}: {detail}").format(
        when=datetime.fromtimestamp(e.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S"), id=e.id,
        admin=e.admin_id, action=e.action, target=e.target, detail=e.detail) for e in entries]
    return _("📜 Admin log (newest first):") + "\n" + "\n".join(lines)


# --- /stats ----------------------------------------------------------------------------------


def _day(ts: int) -> str:
    return format_date(ts)


def grid_cost(cost: int, sold: int, tft_price: Decimal) -> str:
    """What the grid billed for deployments (1e-7 TFT) against what their buyers paid; the margin
    only when the TFT price is configured."""
    if not tft_price:
        return _("Grid cost: {cost} · sold {sold} (set grid.tft_price for the margin)").format(
            cost=format_tft(cost), sold=format_tfc(sold))
    in_tfc = tft_in_tfc(cost, tft_price)
    return _("Grid cost: {cost} ≈ {in_tfc} · sold {sold} · margin {margin}").format(
        cost=format_tft(cost), in_tfc=format_tfc(in_tfc), sold=format_tfc(sold),
        margin=format_tfc_signed(sold - in_tfc, minus="-"))


def stats(s: shop_stats.Stats, days: int, tft_price: Decimal = Decimal(0)) -> str:
    lines = [ngettext("📊 Last {days} day ({since} – {until} UTC)", "📊 Last {days} days ({since} – {until} UTC)", days).format(days=days, since=_day(s.since), until=_day(s.until)),
             _("Users: {users} ({new} new) · paying: {paying} ({paying_period} in the period)").format(
                 users=s.users, new=s.new_users, paying=s.paying_users, paying_period=s.paying_users_period),
             _("Revenue: {amount}").format(amount=format_tfc(s.revenue))]
    for provider, amount in sorted(s.revenue_by_provider.items()):
        lines.append("  {provider}: {amount}".format(provider=provider, amount=format_tfc(amount)))
    if s.refunded_by_provider:
        lines.append(_("Refunded / disputed: {by_provider}").format(by_provider=", ".join(
            "{provider} {amount}".format(provider=p, amount=format_tfc(a))
            for p, a in sorted(s.refunded_by_provider.items()))))
    by_state = " · ".join("{state} {count}".format(state=k, count=v) for k, v in s.deployments_by_state.items())
    lines += [_("Commission earned: {amount}").format(amount=format_tfc(s.commission)),
              _("Credits outstanding: {amount} (held {held})").format(amount=format_tfc(s.outstanding),
                                                                   held=format_tfc(s.held)),
              _("Debt: {amount} ({debtors} users)").format(amount=format_tfc(s.debt), debtors=s.debtors),
              _("Deployments: {by_state}").format(by_state=by_state) if by_state else _("Deployments: none"),
              grid_cost(s.grid_cost, s.grid_sold, tft_price)]
    return "\n".join(lines)


CHART_TITLE = N_("Revenue and VMs deployed per day (UTC)")
CHART_REVENUE = N_("revenue (TFC)")
CHART_DEPLOYMENTS = N_("VMs deployed")


# --- why a VM failed or was removed, as an admin reads it ------------------------------------

# A deployment keeps its reason in the buyer's words (core.notices, in English); admins read it
# about the user, in the third person.
_ADMIN_REASONS: dict[str, str] = {
    notices.REASON_CANCELLED_BY_USER: N_("cancelled by the user"),
    notices.REASON_RENEWAL_NOT_COVERED: N_("the user's balance did not cover the renewal"),
    notices.REASON_PERIOD_ENDED: N_("the paid period ended with auto-renew off"),
}
_ANY_ADMIN = 987654321
_BY_SHOP = re.compile(re.escape(notices.reason_cancelled_by_shop(_ANY_ADMIN)).replace(str(_ANY_ADMIN), r"(\d+)"))


def reason(stored: str) -> str:
    """A deployment's stored reason (failure or removal) in an admin's words."""
    by_shop = _BY_SHOP.fullmatch(stored)
    if by_shop:
        return _("cancelled by admin {admin}").format(admin=by_shop[1])
    return _(_ADMIN_REASONS[stored]) if stored in _ADMIN_REASONS else stored_text(stored)


# --- /user -----------------------------------------------------------------------------------


def user_card(user_id: int, profile: User | None, flag: str | None, balance: Balance,
              payments: Sequence[Payment], orders: Sequence[Order], deps: Sequence[DeploymentRecord],
              grid: tuple[int, int, Decimal] | None = None,
              transfers: Sequence[tuple[Transfer, int]] = ()) -> str:
    """The /user card; `grid` is (grid cost in 1e-7 TFT, sold in cents, TFT price) of all the
    user's deployments, `transfers` the user's latest transfers with other users (signed)."""
    name = ""
    if profile is not None:
        name = " ".join(x for x in (profile.first_name, f"@{profile.username}" if profile.username else "") if x)
    lines = [_("👤 User {user} {name}").format(user=user_id, name=name).rstrip()]
    if profile is not None and profile.blocked_at:
        lines.append(_("⛔ blocked the bot on {when}").format(when=_when(profile.blocked_at)))
    if flag:
        lines.append(_("⚠️ flagged: {flag}").format(flag=flag))
    lines.append(_("Available {available} · held {held} · debt {debt}").format(
        available=format_tfc(balance.available), held=format_tfc(balance.held), debt=format_tfc(balance.debt)))
    lines.append("")
    lines.append(_("Payments:") if payments else _("Payments: none"))
    for p in payments:
        values = {"id": p.id, "provider": p.provider, "amount": format_tfc(p.amount),
                  "refunded": format_tfc(p.refunded), "when": _when(p.created_at), "ref": p.external_id}
        line = (_("  #{id} {provider} {amount}, refunded {refunded} · {when} · {ref}") if p.refunded
                else "  #{id} {provider} {amount} · {when} · {ref}")
        lines.append(line.format(**values))
    lines.append(_("Orders:") if orders else _("Orders: none"))
    for o in orders:
        lines.append(_("  #{id} {what} {amount} {state} · {when}").format(
            id=o.id, what=o.service_id or _("top-up"), amount=format_tfc(o.amount), state=o.state,
            when=_when(o.created_at)))
    lines.append(_("Deployments:") if deps else _("Deployments: none"))
    for d in deps:
        if d.error and d.state in ("failed", "cancelling", "cancelled"):
            lines.append("  #{id} {service} {state} ({error})".format(
                id=d.id, service=d.service_id, state=d.state, error=reason(d.error)))
        else:
            lines.append("  #{id} {service} {state}".format(id=d.id, service=d.service_id, state=d.state))
    if grid is not None and deps:
        lines.append(grid_cost(*grid))
    lines.append(_("Transfers with users:") if transfers else _("Transfers with users: none"))
    for t, signed in transfers:
        lines.append("  {amount} {memo} · {when}".format(amount=format_tfc_signed(signed), memo=t.memo,
                                                          when=_when(t.created_at)))
    lines.append("")
    lines.append(_("/credit {user} <amount> <reason> · /debit {user} <amount> <reason>").format(user=user_id))
    return "\n".join(lines)


def btn_refund_payment(payment_id: int) -> str:
    return _("↩ Refund #{id}").format(id=payment_id)


def btn_retry_deployment(deployment_id: int) -> str:
    return _("🔁 Retry #{id}").format(id=deployment_id)


def btn_cancel_deployment(deployment_id: int) -> str:
    return _("✖ Cancel #{id}").format(id=deployment_id)


BTN_REFRESH = N_("🔄 Refresh")


# --- /credit and /debit ----------------------------------------------------------------------


def reason_missing(usage: str) -> str:
    return _("A reason is required. {usage}").format(usage=usage)


def reason_too_long(usage: str) -> str:
    return _("The reason is too long (200 characters at most).\n{usage}").format(usage=usage)


def ask_adjust(credit: bool, amount: int, user: str, reason: str, balance: Balance) -> str:
    template = (_("Credit {amount} to user {user}?\nReason: {reason}\nNow: available {available}, debt {debt}.")
                if credit else
                _("Debit {amount} from user {user}?\nReason: {reason}\nNow: available {available}, debt {debt}."))
    return template.format(amount=format_tfc(amount), user=user, reason=reason,
                           available=format_tfc(balance.available), debt=format_tfc(balance.debt))


def btn_adjust(credit: bool, amount: int) -> str:
    return (_("✅ Credit {amount}") if credit else _("✅ Debit {amount}")).format(amount=format_tfc(amount))


def adjusted(credit: bool, amount: int, user_id: int, transfer_id: int, available: int) -> str:
    template = (_("✅ Credited {amount} to user {user} (transfer #{transfer}). Available now {available}.")
                if credit else
                _("✅ Debited {amount} from user {user} (transfer #{transfer}). Available now {available}."))
    return template.format(amount=format_tfc(amount), user=user_id, transfer=transfer_id,
                           available=format_tfc(available))


def _short(amount: int, user: str, balance: Balance) -> str:
    """Why `amount` cannot be taken from (or held on) the user's balance, in TFC: what is
    available, what is held or owed besides, and by how much `amount` exceeds it."""
    if balance.debt:
        has = _("user {user} has {available} available and owes {debt}").format(
            user=user, available=format_tfc(balance.available), debt=format_tfc(balance.debt))
    elif balance.held:
        has = _("user {user} has {available} available ({held} more is held for purchases under way)").format(
            user=user, available=format_tfc(balance.available), held=format_tfc(balance.held))
    else:
        has = _("user {user} has {available} available").format(user=user, available=format_tfc(balance.available))
    return _("{has}: {amount} would exceed that by {short}").format(
        has=has, amount=format_tfc(amount), short=format_tfc(amount - balance.available))


def debit_refused(amount: int, user_id: int, user: str, balance: Balance) -> str:
    """A debit the user's balance does not cover: said instead of a confirm button, and again
    when the balance fell short between the prompt and the tap."""
    text = _("❌ Not debited: {why}. Nothing was changed.").format(why=_short(amount, user, balance))
    if balance.available:
        text += _("\nTo take what is there: /debit {user} {available} <reason>").format(
            user=user_id, available=format_tfc(balance.available).removesuffix(" TFC"))
    return text


# What an admin is told when the ledger refuses for a reason no screen words more precisely:
# by class (the most specific listed wins), never the ledger's own message (accounts, cents).
LEDGER_REFUSALS: dict[type[LedgerError], str] = {
    AccountInDebt: N_("the user is in debt and can spend nothing until it is repaid"),
    InsufficientFunds: N_("the user's available balance does not cover it"),
    HoldAlreadyResolved: N_("the credits held for it were released meanwhile"),
    OrderStateError: N_("its order has moved on meanwhile"),
    DeploymentStateError: N_("the VM has moved on meanwhile"),
    DeploymentNotFound: N_("there is no such VM"),
    IdempotencyConflict: N_("an earlier request under the same key did something else"),
    StoreError: N_("the database is busy or failing just now; try again in a moment"),
    LedgerError: N_("the ledger refused it (the details are in the shop's log)"),
}


def ledger_refusal(exc: LedgerError) -> str:
    """The words for a refusal of the ledger (see LEDGER_REFUSALS)."""
    for cls in type(exc).__mro__:
        if cls in LEDGER_REFUSALS:
            return _(LEDGER_REFUSALS[cls])
    return _(LEDGER_REFUSALS[LedgerError])


def refused(reason: str) -> str:
    return _("❌ Refused: {reason}. Nothing was changed.").format(reason=reason)


# --- /refund ---------------------------------------------------------------------------------


def no_payment(ref: str, usage: str) -> str:
    return _("No payment {ref} is recorded.\n{usage}").format(ref=ref, usage=usage)


ANSWER_NO_PAYMENT = N_("No such payment.")
STRIPE_NOT_CONFIGURED = N_("Stripe is not configured (STRIPE_SECRET_KEY is not set).")


def not_refundable_here(payment_id: int, provider: str) -> str:
    return _("Payment #{id} is a {provider} payment: refund it at the payment provider; only Stars and "
            "Stripe payments are refunded from here.").format(id=payment_id, provider=provider)


def refunded_in_full(payment_id: int) -> str:
    return _("Payment #{id} is already refunded in full.").format(id=payment_id)


def refund_over_remaining(payment_id: int, remaining: int) -> str:
    return _("Payment #{id} has only {remaining} left to refund.").format(id=payment_id, remaining=format_tfc(remaining))


def stars_refund_in_full(stars: int, amount: int) -> str:
    return _("Telegram refunds a Stars payment only in full ({stars} = {amount}); give no amount to refund it "
            "all.").format(stars=format_stars(stars), amount=format_tfc(amount))


def ask_refund(payment: Payment, user: str, amount: int, available: int, debt: int) -> str:
    values = {"id": payment.id, "provider": payment.provider, "ref": payment.external_id, "user": user,
              "stars": format_stars(payment.provider_amount), "amount": format_tfc(amount),
              "paid": format_tfc(payment.amount), "available": format_tfc(available), "debt": format_tfc(debt)}
    if payment.provider == "stars":
        text = _("Refund payment #{id} ({provider} {ref}) to user {user}: {stars}, and take {amount} of credits "
                 "back?\nThe user has {available} available.")
    else:
        text = _("Refund payment #{id} ({provider} {ref}) to user {user}: {amount} of {paid} by Stripe, and take "
                 "{amount} of credits back?\nThe user has {available} available.")
    if debt:
        text += "\n" + _("⚠️ The credits were already spent: this leaves the user a debt of {debt}, which blocks "
                          "their purchases until repaid.")
    return text.format(**values)


def btn_refund(amount: int) -> str:
    return _("↩ Refund {amount}").format(amount=format_tfc(amount))


def btn_refund_with_debt(debt: int) -> str:
    return _("↩ Refund and create a debt of {debt}").format(debt=format_tfc(debt))


def ask_refund_again(amount: int, debt: int) -> str:
    """The balance changed since the prompt: the refund now leaves a debt."""
    return _("⚠️ The user's credits were spent meanwhile: refunding {amount} now leaves a debt of {debt}. "
            "Refund anyway?").format(amount=format_tfc(amount), debt=format_tfc(debt))


def telegram_refused(message: str) -> str:
    return _("Telegram refused: {message}").format(message=message)


def telegram_unreachable(error: str) -> str:
    return _("❌ Telegram could not be reached ({error}); nothing changed. Try again.").format(error=error)


def refund_failed(why: str) -> str:
    return _("❌ Refund refused; nothing was taken back. {why}").format(why=why)


def refunded_by_telegram(stars: int) -> str:
    return _("{stars} refunded by Telegram").format(stars=format_stars(stars))


def refunded_by_stripe(amount: int, refund_id: str) -> str:
    return _("{amount} refunded by Stripe ({refund})").format(amount=format_tfc(amount), refund=refund_id)


def refund_found_at_stripe(amount: int, refund_id: str) -> str:
    """An earlier try's refund found at Stripe (its answer was lost): nothing new refunded."""
    return _("{amount} refunded by Stripe ({refund}, made by an earlier try whose answer was lost; "
            "nothing new was refunded)").format(amount=format_tfc(amount), refund=refund_id)


def refund_pending(payment_id: int, why: str) -> str:
    """Stripe's answer did not come: the refund may have happened. Never a refusal."""
    return _("⏳ Payment #{id}: the refund's outcome is not known yet ({why}). Nothing was taken back "
            "so far. If Stripe refunded, its webhook takes the credits back; /refund {id} again "
            "checks Stripe first and never refunds twice.").format(id=payment_id, why=why)


BTN_RECORD_REFUND = N_("↩ Record the refund")


def refund_not_recorded(payment_id: int, where: str, why: str) -> str:
    return _("⚠️ Payment #{id}: {where}, but the shop could not record it yet ({why}). Press the button to "
            "record it now; nothing is refunded twice. The provider's own notice records it too.").format(
        id=payment_id, where=where, why=why)


def refund_done(payment_id: int, where: str, taken: int, balance: int) -> str:
    """`where` is `refunded_by_telegram` or `refunded_by_stripe`."""
    template = (_("✅ Payment #{id}: {where}; {taken} of credits taken back. User balance {balance} (debt).")
                if balance < 0 else
                _("✅ Payment #{id}: {where}; {taken} of credits taken back. User balance {balance}."))
    return template.format(id=payment_id, where=where, taken=format_tfc(taken), balance=format_tfc(balance))


# --- /fleet, /retry, /cancelvm ----------------------------------------------------------------


def _maybe_when(ts: int | None) -> str:
    return _when(ts) if ts else "-"


def fleet(counts: Mapping[str, int], state_shown: str | None, rows: Sequence[DeploymentRecord],
          shown: int = 40) -> str:
    summary = " · ".join("{state} {count}".format(state=s, count=counts.get(s, 0)) for s in DEPLOYMENT_STATES)
    if state_shown:
        title = (_("VMs {state}:") if rows else _("VMs {state}: none")).format(state=state_shown)
    else:
        title = (_("VMs that need an eye (queued, deploying, failed, cancelling):") if rows
                 else _("No VM needs an eye (none queued, deploying, failed or cancelling)."))
    lines = [_("🖥 Fleet: {summary}").format(summary=summary), "", title]
    for d in rows[:shown]:
        values = {"id": d.id, "service": d.service_id, "user": d.user_id, "state": d.state,
                  "when": _maybe_when(d.updated_at), "error": reason(d.error or "")[:80]}
        line = (_("#{id} {service} user {user} {state} · {when} — {error}") if d.error
                else _("#{id} {service} user {user} {state} · {when}"))
        lines.append(line.format(**values))
    if rows:
        lines += ["", _("/retry <id> deploys a failed one again · /cancelvm <id> cancels one · /user <id> its owner")]
    else:
        lines += ["", _("/fleet ready lists the running ones.")]
    return "\n".join(lines)


def no_deployment(deployment_id: int) -> str:
    return _("No deployment {id}.").format(id=deployment_id)


def not_retryable(deployment_id: int, dep_state: str) -> str:
    return _("Deployment #{id} is {state}; only a failed (or queued) one can be retried.").format(
        id=deployment_id, state=dep_state)


def ask_retry_queued(deployment_id: int, attempt: int, last_error: str | None) -> str:
    return _("Deployment #{id} is queued (attempt {attempt}). Try it now instead of waiting?\nLast error: {error}").format(
        id=deployment_id, attempt=attempt, error=last_error or "-")


def ask_retry_on_hold(deployment_id: int, service_id: str, held: int, last_error: str | None) -> str:
    return _("Retry deployment #{id} ({service}) on its existing hold of {held}?\nLast error: {error}").format(
        id=deployment_id, service=service_id, held=format_tfc(held), error=last_error or "-")


def ask_retry_new_hold(deployment_id: int, service_id: str, user: str, price: int, available: int,
                       last_error: str | None) -> str:
    return _("Retry deployment #{id} ({service}) for user {user}?\nIts hold was released when it failed, so "
            "{price} is held again from the user's balance (available {available}).\nLast error: {error}").format(
        id=deployment_id, service=service_id, user=user, price=format_tfc(price),
        available=format_tfc(available), error=last_error or "-")


BTN_RETRY = N_("🔁 Retry")


def retried(deployment_id: int, hold_id: int) -> str:
    return _("🔁 Deployment #{id} is queued again (hold #{hold}).").format(id=deployment_id, hold=hold_id)


def not_retried(reason: str) -> str:
    return _("❌ Not retried: {reason}. Nothing was changed.").format(reason=reason)


def retry_not_covered(deployment_id: int, price: int, user_id: int, user: str, balance: Balance) -> str:
    """A retry whose fresh hold the user's balance does not cover: said instead of a confirm
    button, and again when the balance fell short between the prompt and the tap."""
    return _("❌ Not retried: VM #{id} needs its price held again, and {why}. Nothing was changed.\n"
            "If the shop pays for the retry: /credit {user_id} {short} <reason>, then /retry {id}.").format(
        id=deployment_id, why=_short(price, user, balance), user_id=user_id,
        short=format_tfc(price - balance.available).removesuffix(" TFC"))


def ask_cancel_queued(deployment_id: int, service_id: str, user: str) -> str:
    return _("Cancel queued deployment #{id} ({service}) of user {user}? Its hold is released.").format(
        id=deployment_id, service=service_id, user=user)


BTN_CANCEL_RELEASE = N_("✖ Cancel it (credits released)")


def ask_cancel_running(dep: DeploymentRecord, user: str, price: int) -> str:
    return ngettext("Cancel running deployment #{id} ({service}, {name}) of user {user}? The VM is removed from "
                    "the grid. Paid {price} for {days} day, until {until}.\nRefund to the user's credits:",
                    "Cancel running deployment #{id} ({service}, {name}) of user {user}? The VM is removed from "
                    "the grid. Paid {price} for {days} days, until {until}.\nRefund to the user's credits:",
                    dep.period_days or 0).format(
        id=dep.id, service=dep.service_id, name=dep.name, user=user, price=format_tfc(price),
        days=dep.period_days, until=_maybe_when(dep.expires_at))


BTN_NO_REFUND = N_("No refund")


def btn_refund_unused(amount: int) -> str:
    return _("Refund the unused part: {amount}").format(amount=format_tfc(amount))


def btn_refund_period(amount: int) -> str:
    return _("Refund the whole period: {amount}").format(amount=format_tfc(amount))


def not_cancellable(deployment_id: int, dep_state: str) -> str:
    if dep_state == "deploying":
        return _("Deployment #{id} is deploying; only a queued or running one can be cancelled (wait for the "
                "deploy to finish).").format(id=deployment_id)
    return _("Deployment #{id} is {state}; only a queued or running one can be cancelled.").format(
        id=deployment_id, state=dep_state)


UNKNOWN_CHOICE = N_("Unknown choice; nothing changed.")


def cancelled(deployment_id: int, dep_state: str, refunded: int) -> str:
    if refunded:
        return _("✖ Deployment #{id} is {state}; {refunded} returned to the user's credits.").format(
            id=deployment_id, state=dep_state, refunded=format_tfc(refunded))
    return _("✖ Deployment #{id} is {state}.").format(id=deployment_id, state=dep_state)


def grid_contract_cancelled(dep_state: str) -> str:
    """A sentence after `cancelled` (with its leading space)."""
    return _(" The grid contract is cancelled ({state}).").format(state=dep_state)


GRID_CANCEL_RETRIED = N_(" The grid cancel will be retried by the periods job.")
GRID_CANCEL_BY_PERIODS = N_(" The periods job removes it from the grid.")


def not_cancelled(reason: str) -> str:
    return _("❌ Not cancelled: {reason}. Nothing was changed.").format(reason=reason)


# --- /service ---------------------------------------------------------------------------------


def services(catalogue: Sequence[Service], overrides: Mapping[str, state.ServiceOverride]) -> str:
    lines = [_("🛒 Services (✅ on sale, ⛔ hidden):")]
    for s in catalogue:
        o = overrides.get(s.id)
        marks = []
        if o is not None and o.enabled is not None:
            marks.append((_("enabled by admin {admin}") if o.enabled else _("disabled by admin {admin}")).format(
                admin=o.admin_id))
        if o is not None and o.price is not None:
            marks.append(_("price set by admin"))
        values = {"id": s.id, "name": s.name, "price": format_tfc(s.price_minor), "days": s.period_days,
                  "marks": "; ".join(marks)}
        line = _("✅ {id}: {name}, {price} / {days} d") if s.enabled else _("⛔ {id}: {name}, {price} / {days} d")
        lines.append((line + "  ({marks})" if marks else line).format(**values))
    lines.append("")
    lines.append(_(USAGE_SERVICE))
    return "\n".join(lines)


def btn_service(service_id: str, enabled: bool) -> str:
    return (_("⛔ Disable {id}") if enabled else _("✅ Enable {id}")).format(id=service_id)


def no_service(service_id: str, usage: str) -> str:
    return _("No service {id} in the catalogue.\n{usage}").format(id=repr(service_id), usage=usage)


ANSWER_UNKNOWN_SERVICE = N_("Unknown service.")


def service_set(service_id: str, enabled: bool, price: int) -> str:
    template = (_("Service {id} is now on sale at {price} (new orders only).") if enabled
                else _("Service {id} is now hidden at {price} (new orders only)."))
    return template.format(id=service_id, price=format_tfc(price))


# --- /broadcast ------------------------------------------------------------------------------


def broadcast_too_long(length: int, maximum: int) -> str:
    return _("The text is {length} characters; {maximum} at most.").format(length=length, maximum=maximum)


def ask_broadcast(count: int, seconds: int, rate: float, text: str) -> str:
    return ngettext("Broadcast to {count} user (about {seconds} s at {rate:g}/s)?\n\n{text}",
                    "Broadcast to {count} users (about {seconds} s at {rate:g}/s)?\n\n{text}", count).format(
        count=count, seconds=seconds, rate=rate, text=text)


def btn_broadcast(count: int) -> str:
    return ngettext("📣 Send to {count} user", "📣 Send to {count} users", count).format(count=count)


# The finished text starts with BROADCAST_MARK: a restart follows again each broadcast whose
# recorded result does not.
BROADCAST_MARK = "📣"


def broadcast_progress(request_id: int, done: int, total: int, sent: int, blocked: int, failed: int) -> str:
    return _("📣 Broadcast #{id}: {done} of {total} done (sent {sent}, blocked {blocked}, failed {failed})…").format(
        id=request_id, done=done, total=total, sent=sent, blocked=blocked, failed=failed)


def broadcast_finished(request_id: int, total: int, sent: int, blocked: int, failed: int) -> str:
    return _("📣 Broadcast #{id} finished: sent {sent}, blocked {blocked}, failed {failed} (of {total}).").format(
        id=request_id, total=total, sent=sent, blocked=blocked, failed=failed)


# --- /parked ---------------------------------------------------------------------------------

USAGE_PARKED = N_("Usage: /parked   or   /parked <id> credit|refund")



def _who(p: ParkedPayment) -> str:
    return _("user {user}").format(user=p.user_id) if p.user_id is not None else _("no user")


def parked_line(p: ParkedPayment) -> str:
    worth = " = {credit}".format(credit=format_tfc(p.credit)) if p.credit is not None else ""
    return "#{id} {provider} {kind} · {when} · {who} · {shown}{worth}\n    {ref}: {reason}".format(
        id=p.event.id, provider=p.event.provider, kind=p.event.kind, when=_when(p.event.created_at),
        who=_who(p), shown=p.shown, worth=worth, ref=p.event.event_id, reason=p.event.reason[:200])


def parked_list(items: list[ParkedPayment]) -> str:
    if not items:
        return _("✅ No parked payments: every payment the shop received is applied.")
    lines = [_("⚠️ Parked payments ({count} shown), not applied to any order:").format(count=len(items))]
    lines += [parked_line(p) for p in items]
    lines += ["", _("Credit puts the payment on the user's balance; refund gives the money back.")]
    return "\n".join(lines)


def parked_credit_button(parked_id: int) -> str:
    return _("💰 Credit #{id}").format(id=parked_id)


def parked_refund_button(parked_id: int, at_telegram: bool) -> str:
    return (_("↩ Refund #{id}") if at_telegram else _("↩ Mark #{id} refunded")).format(id=parked_id)


def parked_confirm(p: ParkedPayment, how: str) -> tuple[str, str]:
    """The confirm prompt and its button label."""
    values = {"head": parked_line(p), "who": _who(p), "shown": p.shown, "provider": p.event.provider,
              "credit": format_tfc(p.credit) if p.credit is not None else ""}
    if how == "credit":
        assert p.credit is not None
        return (_("Credit parked payment:\n{head}\nto {who} as {credit} of credits?").format(**values),
                _("💰 Credit {credit}").format(**values))
    if p.stars_refundable:
        return (_("Refund parked payment:\n{head}\n{shown} go back to {who} through Telegram.").format(**values),
                _("↩ Refund {shown}").format(**values))
    return (_("Mark parked payment as refunded:\n{head}\nTelegram cannot refund a {provider} payment "
              "from here: refund it at the provider first, then confirm.").format(**values),
            _("↩ It is refunded: mark it"))


def parked_credited(p: ParkedPayment, amount: int) -> str:
    return _("✅ Parked payment #{id}: {amount} credited to {who}.").format(
        id=p.event.id, amount=format_tfc(amount), who=_who(p))


def parked_refunded(p: ParkedPayment, note: str) -> str:
    return _("↩️ Parked payment #{id}: {note}.").format(id=p.event.id, note=note)


def parked_refused(parked_id: int, why: str) -> str:
    return _("❌ Parked payment #{id} not resolved: {why}. Nothing was changed.").format(id=parked_id, why=why)


def parked_not_marked(parked_id: int, why: str) -> str:
    """The refund went to the provider (or was made there) but could not be recorded."""
    return _("⚠️ Parked payment #{id}: the refund could not be recorded ({why}). Press the button "
             "again to record it (a refund is never made twice).").format(id=parked_id, why=why)


def parked_unknown_outcome(parked_id: int, why: str) -> str:
    return _("⏳ Parked payment #{id}: Telegram did not answer ({why}); the refund may or may "
             "not have happened. Nothing is marked yet: press the button again to retry (a refund is "
             "never made twice).").format(id=parked_id, why=why)


def parked_unknown(parked_id: int) -> str:
    return _("No parked payment #{id}.\n{usage}").format(id=parked_id, usage=_(USAGE_PARKED))


def parked_already(parked_id: int, resolution: str | None) -> str:
    return _("Parked payment #{id} is already resolved ({resolution}).").format(
        id=parked_id, resolution=resolution or _("applied by the shop"))


def parked_not_creditable(parked_id: int) -> str:
    return _("Parked payment #{id} names no user and amount to credit; refund it instead.").format(id=parked_id)


translate_constants(__name__)

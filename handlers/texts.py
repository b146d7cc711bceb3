"""Every user-facing text of the chat, in one place. Money is shown through `core.money`.

Texts are plain (no parse mode), so names and descriptions need no escaping. Each message is
one constant or one function built from format strings with named placeholders, so a
translation catalogue can take them over; texts the chat shares with messages queued in the
outbox (a Stars refund, a VM's connection details) come from `core.notices`.
"""

from __future__ import annotations

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
    stored,
    translate_constants,
)
from ledger import Balance, Order, Payment
from ledger.deployments import DeploymentRecord
from ledger.statement import StatementEntry

# --- commands (shown in the Telegram menu by setMyCommands) ---

COMMANDS: list[tuple[str, str]] = [
    ("start", N_("Welcome and main menu")),
    ("services", N_("Browse the VMs on sale")),
    ("buy", N_("Buy a VM")),
    ("balance", N_("Your credits")),
    ("topup", N_("Add credits")),
    ("history", N_("Your credit history")),
    ("send", N_("Send credits to another user")),
    ("orders", N_("Your recent orders")),
    ("deployments", N_("Your VMs")),
    ("sshkey", N_("Your SSH key for new VMs")),
    ("help", N_("How this shop works")),
    ("cancel", N_("Cancel what you were doing")),
    ("paysupport", N_("Help with a payment, refunds")),
    ("terms", N_("Terms of service")),
    ("support", N_("Contact support")),
    ("language", N_("Change the language")),
]

# --- button labels ---

BTN_SERVICES = N_("🛒 Services")
BTN_BALANCE = N_("💰 Balance")
BTN_TOPUP = N_("➕ Top up")
BTN_HISTORY = N_("📜 History")
BTN_ORDERS = N_("🧾 Orders")
BTN_VMS = N_("🖥 My VMs")
BTN_MENU = N_("« Menu")
BTN_BACK_CATALOG = N_("« Catalog")
BTN_PREV = N_("‹ Previous")
BTN_NEXT = N_("Next ›")
BTN_OLDER = N_("Older ›")
BTN_NEWEST = N_("« Newest")
BTN_CUSTOM_AMOUNT = N_("Other amount…")
BTN_CONFIRM = N_("✅ Confirm purchase")
BTN_CANCEL = N_("✖ Cancel")


def btn_buy(service: Service) -> str:
    return _("Buy for {price}").format(price=format_tfc(service.price_minor))


def btn_pay_balance(amount: int) -> str:
    return _("💰 Pay {amount} from balance").format(amount=format_tfc(amount))


def btn_topup_difference(amount: int) -> str:
    return _("➕ Top up {amount}").format(amount=format_tfc(amount))


def btn_pay_stars(stars: int) -> str:
    return _("⭐ Pay {stars}").format(stars=format_stars(stars))


def btn_pay_card(amount: int) -> str:
    return _("💳 Pay {amount} by card").format(amount=format_tfc(amount))


BTN_PAY_STRIPE = N_("🌐 Pay with Stripe")
BTN_OPEN_STRIPE = N_("Open secure checkout")
BTN_OTHER_WAYS = N_("« Other ways to pay")


def btn_service(service: Service) -> str:
    return _("{name} · {price}").format(name=service.name, price=format_tfc(service.price_minor))


def btn_preset(amount: int) -> str:
    return format_tfc(amount)


# --- messages ---

def welcome(first_name: str, balance: Balance) -> str:
    return _("Hi {name}! This shop sells virtual machines on the ThreeFold grid.\n\n"
            "Your balance: {available} available.{debt}\n\n"
            "Pick a VM with /buy, add credits with /topup, or see /help.").format(
        name=first_name, available=format_tfc(balance.available), debt=debt_line(balance))


def debt_line(balance: Balance) -> str:
    """The sentence (on its own line) that tells a user in debt what they owe, or nothing."""
    if not balance.debt:
        return ""
    return _("\nYou owe {debt}; top up to clear it.").format(debt=format_tfc(balance.debt))


def help_text() -> str:
    """/help: how the shop works, and the command menu."""
    return _(
    "How it works:\n"
    "1. Add credits (TFC, 1 TFC = 1 USD) with /topup, paid in Telegram Stars.\n"
    "2. Pick a VM with /buy and pay from your balance or directly.\n"
    "3. Your VM is deployed on the ThreeFold grid; follow it with /deployments.\n\n"
    "Commands:") + "\n" + "\n".join("/{name} — {what}".format(name=name, what=_(what)) for name, what in COMMANDS)


def balance(balance: Balance) -> str:
    lines = [_("Available: {amount}").format(amount=format_tfc(balance.available))]
    if balance.held:
        lines.append(_("Held for purchases in progress: {amount}").format(amount=format_tfc(balance.held)))
    if balance.debt:
        lines.append(_("Debt: {amount} (top up to clear it; purchases are paused)").format(
            amount=format_tfc(balance.debt)))
    return _("Your balance") + "\n" + "\n".join(lines)


CATALOG_EMPTY = N_("Nothing is on sale right now. Please come back later.")


def catalog(page: int, pages: int) -> str:
    if pages > 1:
        return _("Our VMs (page {page} of {pages}). Pick one to see the details:").format(page=page + 1, pages=pages)
    return _("Our VMs. Pick one to see the details:")


def service_card(service: Service) -> str:
    values = {"name": service.name, "description": service.description, "cpu": service.cpu,
              "memory": service.memory_gb, "rootfs": service.rootfs_gb, "disk": service.disk_gb,
              "price": format_tfc(service.price_minor), "days": service.period_days}
    if service.disk_gb:
        template = ngettext("{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root, {disk} GB disk\n"
                            "Price: {price} for {days} day",
                            "{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root, {disk} GB disk\n"
                            "Price: {price} for {days} days", service.period_days)
    else:
        template = ngettext("{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root\n"
                            "Price: {price} for {days} day",
                            "{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root\n"
                            "Price: {price} for {days} days", service.period_days)
    return template.format(**values)


def payment_choices(service: Service, order: Order, balance: Balance) -> str:
    short = order.amount - balance.available
    lack = (_("\nYour balance ({available}) is {short} short.").format(
        available=format_tfc(balance.available), short=format_tfc(short)) if short > 0 else "")
    return ngettext("Order #{order}: {name}, {days} day, {amount}.{lack}{debt}\n\nHow would you like to pay?",
                    "Order #{order}: {name}, {days} days, {amount}.{lack}{debt}\n\nHow would you like to pay?",
                    service.period_days).format(
        order=order.id, name=service.name, days=service.period_days, amount=format_tfc(order.amount),
        lack=lack, debt=debt_line(balance))


def topup_choices(order: Order) -> str:
    return _("Top-up #{order}: {amount} of credits. How would you like to pay?").format(
        order=order.id, amount=format_tfc(order.amount))


def confirm_purchase(service: Service, order: Order, balance: Balance) -> str:
    return _("Buy {name} for {amount} from your balance?\nAvailable now: {available}").format(
        name=service.name, amount=format_tfc(order.amount), available=format_tfc(balance.available))


def purchased(dep: DeploymentRecord, order: Order, balance: Balance) -> str:
    """The order message once bought from the balance: its first status, which the worker edits."""
    paid = notices.paid_with("balance", order.amount, "TFC", order.amount)
    return notices.deployment_queued(dep.title, 0, paid) + "\n" + _("Available now: {available}.").format(
        available=format_tfc(balance.available))


def insufficient(order: Order, balance: Balance) -> str:
    return _("Your balance ({available}) does not cover order #{order} ({amount}).{debt}").format(
        available=format_tfc(balance.available), order=order.id, amount=format_tfc(order.amount),
        debt=debt_line(balance))


TOPUP_PROMPT = N_("How many credits would you like to add? 1 TFC = 1 USD.")


def topup_ask_amount(minimum: int, maximum: int) -> str:
    return _("Type the amount in TFC, between {minimum} and {maximum} (for example 12.50), or /cancel.").format(
        minimum=format_tfc(minimum), maximum=format_tfc(maximum))


def topup_bad_amount(minimum: int, maximum: int) -> str:
    return _("That is not an amount I can take. Type a number between {minimum} and {maximum} with at most "
            "2 decimals, or /cancel.").format(minimum=format_tfc(minimum), maximum=format_tfc(maximum))


NOT_UNDERSTOOD = N_("I did not get that. Use the menu buttons or /help.")
UNKNOWN_COMMAND = N_("I do not know {command}. /help lists what I can do.")


def unknown_command(command: str) -> str:
    """The answer to a command the shop does not have (admin-only ones included, for others)."""
    return _(UNKNOWN_COMMAND).format(command=command)


SUPPORT_DEFAULT = N_(
    "Questions about a payment: /paysupport. How the shop works: /help. The operator of this shop "
    "reads the messages sent to this chat."
)
TERMS_DEFAULT = N_(
    "Terms\n"
    "You buy prepaid credits (TFC, 1 TFC = 1 USD) and spend them on VMs on the ThreeFold grid, "
    "each for the period shown before you pay. A VM that cannot be deployed is refunded to your "
    "balance. Credits are not paid out; a payment can be refunded on request, see /paysupport."
)


def support(operator_text: str) -> str:
    """/support: the operator's `[shop] support_text`, or the default."""
    return operator_text.strip() or _(SUPPORT_DEFAULT)


def terms(operator_text: str) -> str:
    """/terms: the operator's `[shop] terms_text`, or the default."""
    return operator_text.strip() or _(TERMS_DEFAULT)


PAYSUPPORT = N_(
    "Help with a payment\n"
    "A VM that cannot be deployed is refunded to your balance automatically. For anything else "
    "(a payment that shows no credit, a refund of unused credits), write to /support with the "
    "payment number below; refunds go back the way you paid (Stars to your Stars balance, "
    "cards to the card).\n\n"
    "{payments}"
)
PAYSUPPORT_LINE = N_("Payment #{number} · {when} · {amount} · {provider} · id {external_id}{refunded}")
PAYSUPPORT_REFUNDED = N_(" · refunded {amount}")
PAYSUPPORT_NONE = N_("You have made no payments yet.")
PAYSUPPORT_RECENT = N_("Your recent payments:\n{lines}")
PROVIDER_NAMES = {"stars": N_("Telegram Stars"), "telegram_card": N_("card in Telegram"), "stripe": N_("Stripe")}


def paysupport(payments: list[Payment]) -> str:
    """/paysupport: how to get help or a refund, and the user's recent payments (newest first)."""
    if not payments:
        return _(PAYSUPPORT).format(payments=_(PAYSUPPORT_NONE))
    lines = [_(PAYSUPPORT_LINE).format(
        number=p.id, when=_when(p.created_at), amount=format_tfc(p.amount),
        provider=_(PROVIDER_NAMES.get(p.provider, p.provider)), external_id=p.external_id,
        refunded=_(PAYSUPPORT_REFUNDED).format(amount=format_tfc(p.refunded)) if p.refunded else "")
        for p in payments]
    return _(PAYSUPPORT).format(payments=_(PAYSUPPORT_RECENT).format(lines="\n".join(lines)))

CANCELLED = N_("Cancelled. Use /help to see what I can do.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel. Use /help to see what I can do.")


def order_cancelled(order: Order) -> str:
    return _("Order #{order} is cancelled.").format(order=order.id)


def invoice_title(service: Service | None, order: Order) -> str:
    if service is not None:
        return service.name
    return _("{amount} credits").format(amount=format_tfc(order.amount))


def invoice_description(service: Service | None, order: Order) -> str:
    if service is not None:
        return ngettext("Order #{order}: {name} for {days} day ({amount}).",
                        "Order #{order}: {name} for {days} days ({amount}).", service.period_days).format(
            order=order.id, name=service.name, days=service.period_days, amount=format_tfc(order.amount))
    return _("Order #{order}: {amount} of gridshop credits.").format(order=order.id, amount=format_tfc(order.amount))


def stripe_link(order: Order) -> str:
    return _("Pay order #{order} ({amount}) on Stripe's secure page:").format(
        order=order.id, amount=format_tfc(order.amount))


STRIPE_UNAVAILABLE = N_("Stripe checkout is not available right now. Please try another method.")


PAYMENT_BEING_RECORDED = N_("We received your payment; the shop could not record it just now and "
                          "will credit it in a moment. No need to pay again.")
PAYMENT_NOT_APPLIED = N_("We received your payment but could not match it to an order. "
                       "It is recorded and an admin will sort it out; no need to pay again.")


# --- history, orders, deployments ---

def _when(ts: int) -> str:
    return format_datetime(ts)


def _provider(provider: str | None) -> str:
    if provider == "stars":
        return _("Telegram Stars")
    if provider == "stripe":
        return _("card (Stripe)")
    if provider == "telegram_card":
        return _("card")
    return provider or ""


def _between_users(e: StatementEntry) -> str:
    """A /send between users; the entry's memo is the other user."""
    if e.amount < 0:
        return _("Sent to {user}").format(user=e.memo)
    return _("Received from {user}").format(user=e.memo)


def statement_what(e: StatementEntry, service: str | None) -> str:
    """What a statement entry was, as the user reads it; `service` is the VM's catalogue name."""
    values = {"provider": _provider(e.provider), "order": e.order_id, "vm": service or _("VM")}
    if e.what == "transfer":
        return _between_users(e)
    if e.what == "adjustment":
        return _("By the shop: {reason}").format(reason=e.memo)
    labels = {
        "payment": (_("Payment with {provider}, order #{order}"), _("Payment with {provider}")),
        "purchase": (_("{vm} bought, order #{order}"), _("{vm} bought")),
        "renewal": (_("{vm} renewed, order #{order}"), _("{vm} renewed")),
        "vm_refund": (_("{vm}: prepaid time refunded by the shop, order #{order}"),
                      _("{vm}: prepaid time refunded by the shop")),
        "refund": (_("Refund to {provider}, order #{order}"), _("Refund to {provider}")),
        "dispute": (_("Card payment disputed, order #{order}"), _("Card payment disputed")),
        "given_back": (_("Given back: a refund or dispute undone, order #{order}"),
                       _("Given back: a refund or dispute undone")),
    }
    if e.what not in labels:
        return stored(e.memo or e.what)
    with_order, without = labels[e.what]
    return (with_order if e.order_id else without).format(**values)


def history(lines: list[tuple[StatementEntry, str]], first_page: bool) -> str:
    """The statement page: one line per entry (with its `statement_what`), and the balance after it."""
    if not lines:
        return _("No history yet.") if first_page else _("No older entries.")
    rows = [_("{when}  {amount}  {what} · balance {balance}").format(
        when=_when(e.created_at), amount=format_tfc_signed(e.amount), what=what,
        balance=format_tfc(e.balance_after)) for e, what in lines]
    return _("Your history (newest first):") + "\n" + "\n".join(rows)


ORDER_STATES = notices.ORDER_STATES
WHAT_CREDITS = N_("credits")


def order_line(order: Order, service_name: str | None) -> str:
    return _("#{order} · {what} · {amount} · {state}").format(
        order=order.id, what=service_name or _(WHAT_CREDITS), amount=format_tfc(order.amount),
        state=_state(ORDER_STATES, order.state))


def orders(lines: list[str]) -> str:
    return _("Your recent orders:") + "\n" + "\n".join(lines) if lines else _("You have no orders yet.")


def order_status(order: Order, service_name: str | None) -> str:
    return _("Order {line}").format(line=order_line(order, service_name))


ORDER_UNKNOWN = N_("I could not find that order.")


DEPLOYMENT_STATES = {
    "queued": N_("queued"), "deploying": N_("deploying"), "ready": N_("ready"), "failed": N_("failed"),
    "cancelling": N_("being removed"), "cancelled": N_("cancelled"),
}


def _state(names: dict[str, str], state: str) -> str:
    """A state's name in the current language (an unknown state as it is)."""
    return _(names[state]) if state in names else state


def _deployment_state(dep: DeploymentRecord) -> str:
    state = _state(DEPLOYMENT_STATES, dep.state)
    if dep.state == "ready" and dep.expires_at is not None:
        return _("{state} until {until}").format(state=state, until=_when(dep.expires_at))
    return state


def deployment_line(dep: DeploymentRecord) -> str:
    return _("{name} · {state}").format(name=dep.title, state=_deployment_state(dep))


def deployments(deps: list[DeploymentRecord]) -> str:
    if not deps:
        return _("You have no VMs yet. Buy one with /buy.")
    lines = [deployment_line(d) for d in deps]
    return _("Your VMs (times in UTC):\n{lines}\n\nPick one for details and actions.").format(lines="\n".join(lines))


def deployment_details(dep: DeploymentRecord, service_name: str, renew_price: int | None) -> str:
    lines = [_("🖥 {name}").format(name=dep.title),
             _("{service} · {state}").format(service=service_name, state=_state(DEPLOYMENT_STATES, dep.state))]
    if dep.state in ("ready", "cancelling"):
        lines.extend(notices.connection_lines(dep.details))
    if dep.state == "ready" and dep.expires_at is not None:
        lines.append(_("Paid until {until} UTC; auto-renew is {auto_renew}.").format(
            until=_when(dep.expires_at), auto_renew=notices.on_off(dep.auto_renew)))
        if renew_price is not None:
            lines.append(_("One more period costs {price}.").format(price=format_tfc(renew_price)))
    if dep.state == "failed" and dep.error:
        lines.append(_("Reason: {reason}. The credits went back to your balance.").format(reason=stored(dep.error)))
    if dep.state in ("queued", "deploying"):
        lines.append(_("You will get a message when it is ready."))
    return "\n".join(lines)


def confirm_cancel_deployment(dep: DeploymentRecord, left_s: int = 0, unused: int = 0) -> str:
    """The question before cancelling: a queued VM is refunded; a running one forfeits `left_s`
    of prepaid time, worth `unused`."""
    if dep.state == "queued":
        return _("Cancel {name} before it is deployed? The held credits come back to you.").format(name=dep.title)
    return _("Remove {name} from the grid? It stops at once and its data is lost.\n"
            "You give up the unused prepaid time: {left} (paid until {until} UTC), worth about {worth}. "
            "Nothing is refunded.").format(name=dep.title, left=time_left(left_s),
                                           until=_when(dep.expires_at) if dep.expires_at is not None else "?",
                                           worth=format_tfc(unused))


def time_left(seconds: int) -> str:
    """What is left of a period: '29 days 23 h', '5 h 10 min', '12 min'."""
    seconds = max(0, seconds)
    days, hours, minutes = seconds // 86_400, seconds % 86_400 // 3600, seconds % 3600 // 60
    if days:
        return ngettext("{d} day {h} h", "{d} days {h} h", days).format(d=days, h=hours)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=minutes)
    return _("{m} min").format(m=minutes)


def deployment_cancelled(dep: DeploymentRecord) -> str:
    if dep.state == "cancelled" and dep.ready_at is None:
        return _("🚫 {name} is cancelled; the credits held for it are back in your balance.").format(name=dep.title)
    if dep.state == "cancelled":
        return _("🗑 {name} is removed from the grid.").format(name=dep.title)
    return _("{name} is being removed from the grid; you will get a message when it is gone.").format(
        name=dep.title)


def renewed(dep: DeploymentRecord, price: int, balance: Balance) -> str:
    return _("🔁 {name} renewed for {price}: paid until {until} UTC.\nAvailable now: {available}.").format(
        name=dep.title, price=format_tfc(price),
        until=_when(dep.expires_at) if dep.expires_at is not None else "?",
        available=format_tfc(balance.available))


def confirm_renew(dep: DeploymentRecord, price: int, days: int, balance: Balance) -> str:
    """The question before a renewal charges the balance: the amount and the new expiry."""
    until = (dep.expires_at or 0) + days * 86_400
    return ngettext("Renew {name} for {days} day?\n"
            "{price} is taken from your balance (available now: {available}); "
            "it is then paid until {until} UTC.",
            "Renew {name} for {days} days?\n"
            "{price} is taken from your balance (available now: {available}); "
            "it is then paid until {until} UTC.", days).format(
        name=dep.title, days=days, price=format_tfc(price), available=format_tfc(balance.available),
        until=_when(until))


def btn_confirm_renew(price: int, until: int) -> str:
    return _("✅ Pay {price}, renew until {until}").format(price=format_tfc(price),
                                                       until=format_date(until))


BTN_KEEP_AS_IS = N_("No, not now")


def renew_short(dep: DeploymentRecord, price: int, balance: Balance) -> str:
    return _("Renewing {name} costs {price}, but your balance is {available}.{debt}\n"
            "Top up, then renew again.").format(name=dep.title, price=format_tfc(price),
                                                available=format_tfc(balance.available), debt=debt_line(balance))


def btn_deployment(dep: DeploymentRecord) -> str:
    return _("{name} · {state}").format(name=dep.title, state=_state(DEPLOYMENT_STATES, dep.state))


def btn_renew(price: int, days: int) -> str:
    return ngettext("🔁 Renew {days} day for {price}", "🔁 Renew {days} days for {price}", days).format(days=days, price=format_tfc(price))


def btn_auto_renew(on: bool) -> str:
    return _("Auto-renew: on → turn off") if on else _("Auto-renew: off → turn on")


def btn_vm(name: str) -> str:
    return _("🖥 {name}").format(name=name)


BTN_RENAME_VM = N_("✏️ Rename")
BTN_BACK_TO_VM = N_("« Back")
NAME_EMPTY = N_("it is empty")
NAME_CHARACTERS = N_("use letters, digits, spaces and - _ . # ( ) ' + & / : only")


def name_too_long(limit: int, length: int) -> str:
    return ngettext("it is {length} characters long; at most {limit} fit",
                    "it is {length} characters long; at most {limit} fit", length).format(length=length, limit=limit)


def rename_prompt(name: str, limit: int) -> str:
    """The VM's screen while the chat waits for its new name."""
    return _("✏️ Send me the new name for {name} (up to {limit} characters: letters, digits, spaces and "
             "- _ . # ( ) ' + & / :).\nIt is the name you see in every message; the VM itself does not change.").format(
        name=name, limit=limit)


def name_refused(reason: str) -> str:
    return _("That name cannot be used: {reason}. Send another one, or /cancel.").format(reason=reason)


def renamed(name: str) -> str:
    return _("✏️ Renamed: this VM is now called {name}.").format(name=name)


BTN_CANCEL_VM = N_("🗑 Cancel this VM")
BTN_CONFIRM_CANCEL_VM = N_("Yes, cancel it")
BTN_KEEP_VM = N_("No, keep it")
BTN_MY_VMS = N_("« My VMs")
BTN_REFRESH = N_("⟳ Refresh")


# --- capacity ---

def btn_service_unavailable(service: Service) -> str:
    return _("{name} · unavailable").format(name=service.name)


SERVICE_UNAVAILABLE_LINE = N_("⛔ Unavailable right now: the grid has no room for this VM. Please check back later.")


# --- one order ---

def order_details(order: Order, service_name: str | None, payable: bool, vm: str | None,
                  expired: bool = False) -> str:
    state = "expired" if expired and order.state == "open" else order.state
    lines = [_("Order #{order}").format(order=order.id),
             _("What: {what}").format(what=service_name or _(WHAT_CREDITS)),
             _("Amount: {amount}").format(amount=format_tfc(order.amount)),
             _("State: {state}").format(state=_state(ORDER_STATES, state)),
             _("Created: {when} UTC").format(when=_when(order.created_at))]
    if vm is not None:
        lines.append(_("VM: {name} (see /deployments)").format(name=vm))
    if payable:
        lines.append("\n" + _("How would you like to pay?"))
    return "\n".join(lines)


def btn_order(order: Order, service_name: str | None) -> str:
    return _("#{order} · {what} · {state}").format(order=order.id, what=service_name or _(WHAT_CREDITS),
                                                state=_state(ORDER_STATES, order.state))


# --- answers to buttons (answerCallbackQuery, at most 200 characters) ---

ANSWER_INVALID = N_("This button is no longer valid. Please start again from the menu.")
ANSWER_NOT_YOURS = N_("This button belongs to someone else's order.")
ANSWER_UNKNOWN_ORDER = N_("This order no longer exists.")
ANSWER_ALREADY_PAID = N_("This order is already paid.")
ANSWER_EXPIRED = N_("This order has expired. Please start again with /buy or /topup.")
ANSWER_CANCELLED = N_("This order was cancelled.")
ANSWER_SERVICE_GONE = N_("This VM is no longer on sale.")
ANSWER_METHOD_OFF = N_("This payment method is not available.")
ANSWER_BOUGHT = N_("Bought! Your VM is queued.")
ANSWER_ALREADY_BOUGHT = N_("Already bought; nothing more was charged.")
ANSWER_NOT_ENOUGH = N_("Your balance does not cover this order.")
ANSWER_IN_DEBT = N_("Please clear your debt with a top-up first.")
ANSWER_AMOUNT = N_("That amount is outside the allowed range.")
ANSWER_TRY_LATER = N_("Something went wrong. Please try again in a moment.")
ANSWER_UNAVAILABLE = N_("Sorry, the grid has no room for this VM right now. Nothing was charged; please try later.")
ANSWER_UNKNOWN_DEPLOYMENT = N_("This VM no longer exists or is not yours.")
ANSWER_BEING_DEPLOYED = N_("This VM is being deployed; try again shortly.")
ANSWER_DEPLOYMENT_CLOSED = N_("This VM is no longer running; nothing was changed.")
ANSWER_ALREADY_CANCELLED = N_("This VM is already cancelled.")
ANSWER_RENEWED = N_("Renewed.")
ANSWER_ALREADY_RENEWED = N_("Already renewed; nothing more was charged.")
ANSWER_STALE_RENEW = N_("This renew button is out of date. Please look again.")
ANSWER_AUTO_RENEW_ON = N_("Auto-renew is on.")
ANSWER_AUTO_RENEW_OFF = N_("Auto-renew is off.")

# --- pre-checkout refusals (shown by Telegram in the payment form) ---

REFUSE_INVALID = N_("This invoice is not valid. Please order again.")
REFUSE_UNKNOWN = N_("This order no longer exists. Please order again.")
REFUSE_NOT_YOURS = N_("This invoice was issued to another user.")
REFUSE_PAID = N_("This order is already paid; you were not charged again.")
REFUSE_EXPIRED = N_("This invoice has expired. Please order again.")
REFUSE_CLOSED = N_("This order is closed. Please order again.")
REFUSE_CURRENCY = N_("This currency is not accepted for this order.")
REFUSE_AMOUNT = N_("The amount does not match the order. Please order again.")
REFUSE_SERVICE = N_("This VM is no longer on sale.")
REFUSE_ERROR = N_("We could not check this order right now. Please try again.")


# --- SSH key ---

def ssh_key_prompt(order: Order, name: str) -> str:
    """The order message while the buy flow waits for the buyer's SSH public key."""
    return _("Order #{order}: {name}, {amount}.\n\n"
             "🔑 One step before paying: your VM needs your SSH public key, so that you can log into it.\n"
             "Send it here as a message: the one line of your ~/.ssh/id_ed25519.pub (or id_rsa.pub), "
             "starting with ssh-ed25519 or ssh-rsa. Never send the private key (the file without .pub).\n\n"
             "You come back to this order as soon as it is saved.").format(
        order=order.id, name=name, amount=format_tfc(order.amount))


def ssh_key_saved_for_order(key: str) -> str:
    """The first line of the order message once the key the buy flow asked for is saved."""
    return _("✅ SSH key saved: {key}").format(key=_short_key(key))


def ssh_key_retry(reason: str) -> str:
    """The answer to a text sent when the buy flow asked for a public key and it is none."""
    return _("That is not an SSH public key ({reason}). Send the one line from your .pub file "
             "(e.g. ssh-ed25519 AAAA… you@laptop), or /cancel.").format(reason=reason.removeprefix("ssh_key "))


PRIVATE_KEY_DELETED = N_(
    "⚠️ That was a PRIVATE key. I deleted your message and did not keep it, but it was sent over the "
    "internet: consider this key compromised. Make a new key pair (ssh-keygen -t ed25519), remove the "
    "old public key wherever it is accepted, and send me only the line of the .pub file."
)
PRIVATE_KEY_NOT_DELETED = N_(
    "⚠️ That was a PRIVATE key. I did not keep it, but I could not delete your message: delete it "
    "yourself now, and consider this key compromised. Make a new key pair (ssh-keygen -t ed25519) and "
    "send me only the line of the .pub file."
)
SSH_KEY_REMOVED = N_("Your SSH key is removed. Set a new one with /sshkey <your public key> before buying.")


def _short_key(key: str) -> str:
    kind, body, *comment = key.split()
    return "{kind} …{tail}{comment}".format(kind=kind, tail=body[-12:], comment=" " + comment[0] if comment else "")


def ssh_key_status(key: str | None) -> str:
    if key is None:
        return _("You have no SSH key yet. Send /sshkey followed by your public key "
                "(the line in ~/.ssh/id_ed25519.pub) so you can log into the VMs you buy.")
    return _("Your SSH key: {key}\nIt goes on every VM you buy from now on. Send /sshkey <new key> to change "
            "it, or /sshkey remove.").format(key=_short_key(key))


def ssh_key_saved(key: str) -> str:
    return _("✅ SSH key saved: {key}\nYour next VMs will accept it.").format(key=_short_key(key))


def ssh_key_invalid(reason: str) -> str:
    return _("That is not an SSH public key ({reason}). Send the one line from your .pub file, e.g. /sshkey "
            "ssh-ed25519 AAAA… you@laptop. Never send a private key.").format(reason=reason.removeprefix("ssh_key "))


# --- /language ---

def language_prompt() -> str:
    return _("Choose the language I speak to you in:")


def language_set() -> str:
    """The answer to a language button, in the language just chosen."""
    return _("From now on I speak English to you. /language changes it.")


# --- /send ----------------------------------------------------------------------------------

SEND_USAGE = N_("Usage: /send <@username or user id> <amount>\n"
              "e.g. /send @alice 2.50 sends 2.50 TFC of your credits to Alice.")
SEND_SELF = N_("You cannot send credits to yourself.")
SEND_DONE_ANSWER = N_("Sent.")
SEND_ALREADY = N_("Already sent.")


def send_bad_amount(text: str) -> str:
    return _("{text!r} is not an amount to send: give a positive amount in TFC with at most 2 "
            "decimals (e.g. 5 or 2.50).\n{usage}").format(text=text, usage=_(SEND_USAGE))


def send_unknown(ref: str) -> str:
    return _("{ref} is not a user of this shop: they need to open the bot (/start) before they "
            "can receive credits.").format(ref=ref)


def send_in_debt(debt: int) -> str:
    return _("Your balance is in debt by {debt}: nothing can be sent until it is repaid.").format(
        debt=format_tfc(debt))


def send_not_enough(amount: int, available: int) -> str:
    return _("You have {available} available; sending {amount} needs more. Top up with /topup.").format(
        available=format_tfc(available), amount=format_tfc(amount))


def send_confirm(amount: int, who: str, available: int) -> str:
    return _("Send {amount} of your credits to {who}? This cannot be undone.\n"
            "You have {available} available.").format(amount=format_tfc(amount), who=who,
                                                      available=format_tfc(available))


def send_button(amount: int, who: str) -> str:
    return _("✅ Send {amount} to {who}").format(amount=format_tfc(amount), who=who)


def sent(amount: int, who: str, available: int) -> str:
    return _("✅ Sent {amount} to {who}. You have {available} available.").format(
        amount=format_tfc(amount), who=who, available=format_tfc(available))


def send_refused(reason: str) -> str:
    return _("Not sent: {reason}").format(reason=reason)[:190]


translate_constants(__name__)

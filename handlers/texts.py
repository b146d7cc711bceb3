"""Every user-facing text of the chat, in one place. Money is shown through `core.money`.

Texts are plain (no parse mode), so names and descriptions need no escaping. Each message is
one constant or one function built from format strings with named placeholders, so a
translation catalogue can take them over; texts the chat shares with messages queued in the
outbox (a Stars refund, a VM's connection details) come from `core.notices`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core import notices
from core.catalog import Service
from core.money import format_stars, format_tfc, format_tfc_signed
from ledger import Balance, HistoryEntry, Order, Payment
from ledger.deployments import DeploymentRecord

# --- commands (shown in the Telegram menu by setMyCommands) ---

COMMANDS: list[tuple[str, str]] = [
    ("start", "Welcome and main menu"),
    ("services", "Browse the VMs on sale"),
    ("buy", "Buy a VM"),
    ("balance", "Your credits"),
    ("topup", "Add credits"),
    ("history", "Your credit history"),
    ("send", "Send credits to another user"),
    ("orders", "Your recent orders"),
    ("deployments", "Your VMs"),
    ("sshkey", "Your SSH key for new VMs"),
    ("help", "How this shop works"),
    ("cancel", "Cancel what you were doing"),
    ("paysupport", "Help with a payment, refunds"),
    ("terms", "Terms of service"),
    ("support", "Contact support"),
]

# --- button labels ---

BTN_SERVICES = "🛒 Services"
BTN_BALANCE = "💰 Balance"
BTN_TOPUP = "➕ Top up"
BTN_HISTORY = "📜 History"
BTN_ORDERS = "🧾 Orders"
BTN_VMS = "🖥 My VMs"
BTN_MENU = "« Menu"
BTN_BACK_CATALOG = "« Catalog"
BTN_PREV = "‹ Previous"
BTN_NEXT = "Next ›"
BTN_OLDER = "Older ›"
BTN_NEWEST = "« Newest"
BTN_CUSTOM_AMOUNT = "Other amount…"
BTN_CONFIRM = "✅ Confirm purchase"
BTN_CANCEL = "✖ Cancel"


def btn_buy(service: Service) -> str:
    return "Buy for {price}".format(price=format_tfc(service.price_minor))


def btn_pay_balance(amount: int) -> str:
    return "💰 Pay {amount} from balance".format(amount=format_tfc(amount))


def btn_topup_difference(amount: int) -> str:
    return "➕ Top up {amount}".format(amount=format_tfc(amount))


def btn_pay_stars(stars: int) -> str:
    return "⭐ Pay {stars}".format(stars=format_stars(stars))


def btn_pay_card(amount: int) -> str:
    return "💳 Pay {amount} by card".format(amount=format_tfc(amount))


BTN_PAY_STRIPE = "🌐 Pay with Stripe"
BTN_OPEN_STRIPE = "Open secure checkout"


def btn_service(service: Service) -> str:
    return "{name} · {price}".format(name=service.name, price=format_tfc(service.price_minor))


def btn_preset(amount: int) -> str:
    return format_tfc(amount)


# --- messages ---

def welcome(first_name: str, balance: Balance) -> str:
    return ("Hi {name}! This shop sells virtual machines on the ThreeFold grid.\n\n"
            "Your balance: {available} available.{debt}\n\n"
            "Pick a VM with /buy, add credits with /topup, or see /help.").format(
        name=first_name, available=format_tfc(balance.available), debt=debt_line(balance))


def debt_line(balance: Balance) -> str:
    """The sentence (on its own line) that tells a user in debt what they owe, or nothing."""
    if not balance.debt:
        return ""
    return "\nYou owe {debt}; top up to clear it.".format(debt=format_tfc(balance.debt))


HELP = (
    "How it works:\n"
    "1. Add credits (TFC, 1 TFC = 1 USD) with /topup, paid in Telegram Stars.\n"
    "2. Pick a VM with /buy and pay from your balance or directly.\n"
    "3. Your VM is deployed on the ThreeFold grid; follow it with /deployments.\n\n"
    "Commands:\n" + "\n".join("/{name} — {what}".format(name=name, what=what) for name, what in COMMANDS)
)


def balance(balance: Balance) -> str:
    lines = ["Available: {amount}".format(amount=format_tfc(balance.available))]
    if balance.held:
        lines.append("Held for purchases in progress: {amount}".format(amount=format_tfc(balance.held)))
    if balance.debt:
        lines.append("Debt: {amount} (top up to clear it; purchases are paused)".format(
            amount=format_tfc(balance.debt)))
    return "Your balance\n" + "\n".join(lines)


CATALOG_EMPTY = "Nothing is on sale right now. Please come back later."


def catalog(page: int, pages: int) -> str:
    if pages > 1:
        return "Our VMs (page {page} of {pages}). Pick one to see the details:".format(page=page + 1, pages=pages)
    return "Our VMs. Pick one to see the details:"


def service_card(service: Service) -> str:
    values = {"name": service.name, "description": service.description, "cpu": service.cpu,
              "memory": service.memory_gb, "rootfs": service.rootfs_gb, "disk": service.disk_gb,
              "price": format_tfc(service.price_minor), "days": service.period_days}
    if service.disk_gb:
        template = ("{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root, {disk} GB disk\n"
                    "Price: {price} for {days} days")
    else:
        template = "{name}\n{description}\n\n{cpu} vCPU, {memory} GB RAM, {rootfs} GB root\nPrice: {price} for {days} days"
    return template.format(**values)


def payment_choices(service: Service, order: Order, balance: Balance) -> str:
    short = order.amount - balance.available
    lack = ("\nYour balance ({available}) is {short} short.".format(
        available=format_tfc(balance.available), short=format_tfc(short)) if short > 0 else "")
    return "Order #{order}: {name}, {days} days, {amount}.{lack}{debt}\n\nHow would you like to pay?".format(
        order=order.id, name=service.name, days=service.period_days, amount=format_tfc(order.amount),
        lack=lack, debt=debt_line(balance))


def topup_choices(order: Order) -> str:
    return "Top-up #{order}: {amount} of credits. How would you like to pay?".format(
        order=order.id, amount=format_tfc(order.amount))


def confirm_purchase(service: Service, order: Order, balance: Balance) -> str:
    return "Buy {name} for {amount} from your balance?\nAvailable now: {available}".format(
        name=service.name, amount=format_tfc(order.amount), available=format_tfc(balance.available))


def purchased(service_name: str, order: Order, deployment_id: int, balance: Balance) -> str:
    return ("✅ Bought {name} (order #{order}).\n"
            "{amount} is held until your VM is ready; deployment #{deployment} is queued.\n"
            "Available now: {available}. Follow it with /deployments.").format(
        name=service_name, order=order.id, amount=format_tfc(order.amount), deployment=deployment_id,
        available=format_tfc(balance.available))


def insufficient(order: Order, balance: Balance) -> str:
    return "Your balance ({available}) does not cover order #{order} ({amount}).{debt}".format(
        available=format_tfc(balance.available), order=order.id, amount=format_tfc(order.amount),
        debt=debt_line(balance))


TOPUP_PROMPT = "How many credits would you like to add? 1 TFC = 1 USD."


def topup_ask_amount(minimum: int, maximum: int) -> str:
    return "Type the amount in TFC, between {minimum} and {maximum} (for example 12.50), or /cancel.".format(
        minimum=format_tfc(minimum), maximum=format_tfc(maximum))


def topup_bad_amount(minimum: int, maximum: int) -> str:
    return ("That is not an amount I can take. Type a number between {minimum} and {maximum} with at most "
            "2 decimals, or /cancel.").format(minimum=format_tfc(minimum), maximum=format_tfc(maximum))


NOT_UNDERSTOOD = "I did not get that. Use the menu buttons or /help."
UNKNOWN_COMMAND = "I do not know {command}. /help lists what I can do."


def unknown_command(command: str) -> str:
    """The answer to a command the shop does not have (admin-only ones included, for others)."""
    return UNKNOWN_COMMAND.format(command=command)


SUPPORT_DEFAULT = (
    "Questions about a payment: /paysupport. How the shop works: /help. The operator of this shop "
    "reads the messages sent to this chat."
)
TERMS_DEFAULT = (
    "Terms\n"
    "You buy prepaid credits (TFC, 1 TFC = 1 USD) and spend them on VMs on the ThreeFold grid, "
    "each for the period shown before you pay. A VM that cannot be deployed is refunded to your "
    "balance. Credits are not paid out; a payment can be refunded on request, see /paysupport."
)


def support(operator_text: str) -> str:
    """/support: the operator's `[shop] support_text`, or the default."""
    return operator_text.strip() or SUPPORT_DEFAULT


def terms(operator_text: str) -> str:
    """/terms: the operator's `[shop] terms_text`, or the default."""
    return operator_text.strip() or TERMS_DEFAULT


PAYSUPPORT = (
    "Help with a payment\n"
    "A VM that cannot be deployed is refunded to your balance automatically. For anything else "
    "(a payment that shows no credit, a refund of unused credits), write to /support with the "
    "payment number below; refunds go back the way you paid (Stars to your Stars balance, "
    "cards to the card).\n\n"
    "{payments}"
)
PAYSUPPORT_LINE = "Payment #{number} · {when} · {amount} · {provider} · id {external_id}{refunded}"
PAYSUPPORT_REFUNDED = " · refunded {amount}"
PAYSUPPORT_NONE = "You have made no payments yet."
PAYSUPPORT_RECENT = "Your recent payments:\n{lines}"
PROVIDER_NAMES = {"stars": "Telegram Stars", "telegram_card": "card in Telegram", "stripe": "Stripe"}


def paysupport(payments: list[Payment]) -> str:
    """/paysupport: how to get help or a refund, and the user's recent payments (newest first)."""
    if not payments:
        return PAYSUPPORT.format(payments=PAYSUPPORT_NONE)
    lines = [PAYSUPPORT_LINE.format(
        number=p.id, when=_when(p.created_at), amount=format_tfc(p.amount),
        provider=PROVIDER_NAMES.get(p.provider, p.provider), external_id=p.external_id,
        refunded=PAYSUPPORT_REFUNDED.format(amount=format_tfc(p.refunded)) if p.refunded else "")
        for p in payments]
    return PAYSUPPORT.format(payments=PAYSUPPORT_RECENT.format(lines="\n".join(lines)))

CANCELLED = "Cancelled. Use /help to see what I can do."
NOTHING_TO_CANCEL = "There is nothing to cancel. Use /help to see what I can do."


def order_cancelled(order: Order) -> str:
    return "Order #{order} is cancelled.".format(order=order.id)


def invoice_title(service: Service | None, order: Order) -> str:
    if service is not None:
        return service.name
    return "{amount} credits".format(amount=format_tfc(order.amount))


def invoice_description(service: Service | None, order: Order) -> str:
    if service is not None:
        return "Order #{order}: {name} for {days} days ({amount}).".format(
            order=order.id, name=service.name, days=service.period_days, amount=format_tfc(order.amount))
    return "Order #{order}: {amount} of gridshop credits.".format(order=order.id, amount=format_tfc(order.amount))


def stripe_link(order: Order) -> str:
    return "Pay order #{order} ({amount}) on Stripe's secure page:".format(
        order=order.id, amount=format_tfc(order.amount))


STRIPE_UNAVAILABLE = "Stripe checkout is not available right now. Please try another method."


def receipt(amount: int, paid: str, order: Order, balance: Balance, placed: bool,
            purchase_error: str | None, unplaceable_state: str | None = None,
            service_name: str | None = None) -> str:
    """The answer to a payment: a placed purchase speaks of the VM; anything else of the credits."""
    if placed:
        return "✅ Payment received: {paid}.\nYour {name} is being deployed; its status follows below.".format(
            paid=paid, name=service_name or order.service_id or "VM")
    lines = ["✅ Payment received: {paid}.".format(paid=paid),
             "Credited {amount} for order #{order}.".format(amount=format_tfc(amount), order=order.id)]
    if unplaceable_state is not None:
        lines.append(notices.unplaceable(order.id, unplaceable_state))
    elif purchase_error is not None:
        lines.append("We could not place the purchase yet; the credits stay on your balance.")
    if balance.held:
        lines.append("Balance: {available} available, {held} held.".format(
            available=format_tfc(balance.available), held=format_tfc(balance.held)))
    else:
        lines.append("Balance: {available} available.".format(available=format_tfc(balance.available)))
    return "\n".join(lines)


def order_paid(order: Order, paid: str, service_name: str | None) -> str:
    """The order message once its payment arrived: what was paid, no pay buttons any more."""
    if order.kind == "purchase":
        return "Order #{order}: {name}, {amount}. Paid with {paid}.".format(
            order=order.id, name=service_name or order.service_id or "VM", amount=format_tfc(order.amount),
            paid=paid)
    return "Top-up #{order}: {amount} of credits. Paid with {paid}.".format(
        order=order.id, amount=format_tfc(order.amount), paid=paid)


PAYMENT_BEING_RECORDED = ("We received your payment; the shop could not record it just now and "
                          "will credit it in a moment. No need to pay again.")
PAYMENT_NOT_APPLIED = ("We received your payment but could not match it to an order. "
                       "It is recorded and an admin will sort it out; no need to pay again.")


# --- history, orders, deployments ---

def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M")


def history(entries: list[HistoryEntry], first_page: bool) -> str:
    if not entries:
        return "No history yet." if first_page else "No older entries."
    lines = ["{when}  {amount}  {what}".format(when=_when(e.created_at), amount=format_tfc_signed(e.amount),
                                               what=e.memo or e.kind) for e in entries]
    return "Your history (newest first):\n" + "\n".join(lines)


ORDER_STATES = {
    "open": "waiting for payment", "paid": "paid", "placed": "placed", "failed": "failed",
    "expired": "expired", "cancelled": "cancelled", "completed": "completed",
}
WHAT_CREDITS = "credits"


def order_line(order: Order, service_name: str | None) -> str:
    return "#{order} · {what} · {amount} · {state}".format(
        order=order.id, what=service_name or WHAT_CREDITS, amount=format_tfc(order.amount),
        state=ORDER_STATES.get(order.state, order.state))


def orders(lines: list[str]) -> str:
    return "Your recent orders:\n" + "\n".join(lines) if lines else "You have no orders yet."


def order_status(order: Order, service_name: str | None) -> str:
    return "Order {line}".format(line=order_line(order, service_name))


ORDER_UNKNOWN = "I could not find that order."


DEPLOYMENT_STATES = {
    "queued": "queued", "deploying": "deploying", "ready": "ready", "failed": "failed",
    "cancelling": "being removed", "cancelled": "cancelled",
}


def _deployment_state(dep: DeploymentRecord) -> str:
    state = DEPLOYMENT_STATES.get(dep.state, dep.state)
    if dep.state == "ready" and dep.expires_at is not None:
        return "{state} until {until}".format(state=state, until=_when(dep.expires_at))
    return state


def deployment_line(dep: DeploymentRecord, name: str) -> str:
    return "#{id} · {name} · {state}".format(id=dep.id, name=name, state=_deployment_state(dep))


def deployments(deps: list[DeploymentRecord], names: dict[str, str]) -> str:
    if not deps:
        return "You have no VMs yet. Buy one with /buy."
    lines = [deployment_line(d, names.get(d.service_id, d.service_id)) for d in deps]
    return "Your VMs (times in UTC):\n{lines}\n\nPick one for details and actions.".format(lines="\n".join(lines))


def deployment_details(dep: DeploymentRecord, name: str, renew_price: int | None) -> str:
    title = ("VM #{id}: {name} ({vm})" if dep.name else "VM #{id}: {name}").format(id=dep.id, name=name, vm=dep.name)
    lines = [title, "State: {state}".format(state=DEPLOYMENT_STATES.get(dep.state, dep.state))]
    if dep.state in ("ready", "cancelling"):
        lines.extend(notices.connection_lines(dep.details))
    if dep.state == "ready" and dep.expires_at is not None:
        lines.append("Paid until {until} UTC; auto-renew is {auto_renew}.".format(
            until=_when(dep.expires_at), auto_renew=notices.on_off(dep.auto_renew)))
        if renew_price is not None:
            lines.append("One more period costs {price}.".format(price=format_tfc(renew_price)))
    if dep.state == "failed" and dep.error:
        lines.append("Reason: {reason}. The credits went back to your balance.".format(reason=dep.error))
    if dep.state in ("queued", "deploying"):
        lines.append("You will get a message when it is ready.")
    return "\n".join(lines)


def confirm_cancel_deployment(dep: DeploymentRecord, name: str, left_s: int = 0, unused: int = 0) -> str:
    """The question before cancelling: a queued VM is refunded; a running one forfeits `left_s`
    of prepaid time, worth `unused`."""
    if dep.state == "queued":
        return "Cancel VM #{id} ({name}) before it is deployed? The held credits come back to you.".format(
            id=dep.id, name=name)
    return ("Remove VM #{id} ({name}) from the grid? It stops at once and its data is lost.\n"
            "You give up the unused prepaid time: {left} (paid until {until} UTC), worth about {worth}. "
            "Nothing is refunded.").format(id=dep.id, name=name, left=time_left(left_s),
                                           until=_when(dep.expires_at) if dep.expires_at is not None else "?",
                                           worth=format_tfc(unused))


def time_left(seconds: int) -> str:
    """What is left of a period: '29 days 23 h', '5 h 10 min', '12 min'."""
    seconds = max(0, seconds)
    days, hours, minutes = seconds // 86_400, seconds % 86_400 // 3600, seconds % 3600 // 60
    if days:
        return "{d} day{s} {h} h".format(d=days, s="" if days == 1 else "s", h=hours)
    if hours:
        return "{h} h {m} min".format(h=hours, m=minutes)
    return "{m} min".format(m=minutes)


def deployment_cancelled(dep: DeploymentRecord, name: str) -> str:
    if dep.state == "cancelled":
        return "VM #{id} ({name}) is cancelled.".format(id=dep.id, name=name)
    return "VM #{id} ({name}) is being removed from the grid; you will get a message when it is gone.".format(
        id=dep.id, name=name)


def renewed(dep: DeploymentRecord, name: str, price: int, balance: Balance) -> str:
    return "🔁 VM #{id} ({name}) renewed for {price}: paid until {until} UTC.\nAvailable now: {available}.".format(
        id=dep.id, name=name, price=format_tfc(price),
        until=_when(dep.expires_at) if dep.expires_at is not None else "?",
        available=format_tfc(balance.available))


def confirm_renew(dep: DeploymentRecord, name: str, price: int, days: int, balance: Balance) -> str:
    """The question before a renewal charges the balance: the amount and the new expiry."""
    until = (dep.expires_at or 0) + days * 86_400
    return ("Renew VM #{id} ({name}) for {days} days?\n"
            "{price} is taken from your balance (available now: {available}); "
            "it is then paid until {until} UTC.").format(
        id=dep.id, name=name, days=days, price=format_tfc(price), available=format_tfc(balance.available),
        until=_when(until))


def btn_confirm_renew(price: int, until: int) -> str:
    return "✅ Pay {price}, renew until {until}".format(price=format_tfc(price),
                                                       until=datetime.fromtimestamp(until, tz=UTC).strftime("%Y-%m-%d"))


BTN_KEEP_AS_IS = "No, not now"


def renew_short(dep: DeploymentRecord, price: int, balance: Balance) -> str:
    return ("Renewing VM #{id} costs {price}, but your balance is {available}.{debt}\n"
            "Top up, then renew again.").format(id=dep.id, price=format_tfc(price),
                                                available=format_tfc(balance.available), debt=debt_line(balance))


def btn_deployment(dep: DeploymentRecord, name: str) -> str:
    return "#{id} {name} · {state}".format(id=dep.id, name=name, state=DEPLOYMENT_STATES.get(dep.state, dep.state))


def btn_renew(price: int, days: int) -> str:
    return "🔁 Renew {days} days for {price}".format(days=days, price=format_tfc(price))


def btn_auto_renew(on: bool) -> str:
    return "Auto-renew: on → turn off" if on else "Auto-renew: off → turn on"


def btn_vm(deployment_id: int) -> str:
    return "🖥 VM #{id}".format(id=deployment_id)


BTN_CANCEL_VM = "🗑 Cancel this VM"
BTN_CONFIRM_CANCEL_VM = "Yes, cancel it"
BTN_KEEP_VM = "No, keep it"
BTN_MY_VMS = "« My VMs"
BTN_REFRESH = "⟳ Refresh"


def status_queued(service_id: str) -> str:
    """The first status message after a purchase; the worker edits it as the job moves."""
    return notices.deployment_queued(service_id, 0)


# --- capacity ---

def btn_service_unavailable(service: Service) -> str:
    return "{name} · unavailable".format(name=service.name)


SERVICE_UNAVAILABLE_LINE = "⛔ Unavailable right now: the grid has no room for this VM. Please check back later."


# --- one order ---

def order_details(order: Order, service_name: str | None, payable: bool, deployment_id: int | None,
                  expired: bool = False) -> str:
    state = "expired" if expired and order.state == "open" else order.state
    lines = ["Order #{order}".format(order=order.id),
             "What: {what}".format(what=service_name or WHAT_CREDITS),
             "Amount: {amount}".format(amount=format_tfc(order.amount)),
             "State: {state}".format(state=ORDER_STATES.get(state, state)),
             "Created: {when} UTC".format(when=_when(order.created_at))]
    if deployment_id is not None:
        lines.append("VM: #{deployment} (see /deployments)".format(deployment=deployment_id))
    if payable:
        lines.append("\nHow would you like to pay?")
    return "\n".join(lines)


def btn_order(order: Order, service_name: str | None) -> str:
    return "#{order} · {what} · {state}".format(order=order.id, what=service_name or WHAT_CREDITS,
                                                state=ORDER_STATES.get(order.state, order.state))


# --- answers to buttons (answerCallbackQuery, at most 200 characters) ---

ANSWER_INVALID = "This button is no longer valid. Please start again from the menu."
ANSWER_NOT_YOURS = "This button belongs to someone else's order."
ANSWER_UNKNOWN_ORDER = "This order no longer exists."
ANSWER_ALREADY_PAID = "This order is already paid."
ANSWER_EXPIRED = "This order has expired. Please start again with /buy or /topup."
ANSWER_CANCELLED = "This order was cancelled."
ANSWER_SERVICE_GONE = "This VM is no longer on sale."
ANSWER_METHOD_OFF = "This payment method is not available."
ANSWER_BOUGHT = "Bought! Your VM is queued."
ANSWER_ALREADY_BOUGHT = "Already bought; nothing more was charged."
ANSWER_NOT_ENOUGH = "Your balance does not cover this order."
ANSWER_IN_DEBT = "Please clear your debt with a top-up first."
ANSWER_AMOUNT = "That amount is outside the allowed range."
ANSWER_TRY_LATER = "Something went wrong. Please try again in a moment."
ANSWER_UNAVAILABLE = "Sorry, the grid has no room for this VM right now. Nothing was charged; please try later."
ANSWER_UNKNOWN_DEPLOYMENT = "This VM no longer exists or is not yours."
ANSWER_BEING_DEPLOYED = "This VM is being deployed; try again shortly."
ANSWER_DEPLOYMENT_CLOSED = "This VM is no longer running; nothing was changed."
ANSWER_ALREADY_CANCELLED = "This VM is already cancelled."
ANSWER_RENEWED = "Renewed."
ANSWER_ALREADY_RENEWED = "Already renewed; nothing more was charged."
ANSWER_STALE_RENEW = "This renew button is out of date. Please look again."
ANSWER_AUTO_RENEW_ON = "Auto-renew is on."
ANSWER_AUTO_RENEW_OFF = "Auto-renew is off."

# --- pre-checkout refusals (shown by Telegram in the payment form) ---

REFUSE_INVALID = "This invoice is not valid. Please order again."
REFUSE_UNKNOWN = "This order no longer exists. Please order again."
REFUSE_NOT_YOURS = "This invoice was issued to another user."
REFUSE_PAID = "This order is already paid; you were not charged again."
REFUSE_EXPIRED = "This invoice has expired. Please order again."
REFUSE_CLOSED = "This order is closed. Please order again."
REFUSE_CURRENCY = "This currency is not accepted for this order."
REFUSE_AMOUNT = "The amount does not match the order. Please order again."
REFUSE_SERVICE = "This VM is no longer on sale."
REFUSE_ERROR = "We could not check this order right now. Please try again."


# --- SSH key ---

ANSWER_NEED_SSH_KEY = (
    "Your VM needs your SSH public key so you can log in. Send /sshkey followed by your key "
    "(e.g. /sshkey ssh-ed25519 AAAA… you@laptop), then tap again."
)
SSH_KEY_REMOVED = "Your SSH key is removed. Set a new one with /sshkey <your public key> before buying."


def _short_key(key: str) -> str:
    kind, body, *comment = key.split()
    return "{kind} …{tail}{comment}".format(kind=kind, tail=body[-12:], comment=" " + comment[0] if comment else "")


def ssh_key_status(key: str | None) -> str:
    if key is None:
        return ("You have no SSH key yet. Send /sshkey followed by your public key "
                "(the line in ~/.ssh/id_ed25519.pub) so you can log into the VMs you buy.")
    return ("Your SSH key: {key}\nIt goes on every VM you buy from now on. Send /sshkey <new key> to change "
            "it, or /sshkey remove.").format(key=_short_key(key))


def ssh_key_saved(key: str) -> str:
    return "✅ SSH key saved: {key}\nYour next VMs will accept it.".format(key=_short_key(key))


def ssh_key_invalid(reason: str) -> str:
    return ("That is not an SSH public key ({reason}). Send the one line from your .pub file, e.g. /sshkey "
            "ssh-ed25519 AAAA… you@laptop. Never send a private key.").format(reason=reason.removeprefix("ssh_key "))


# --- /send ----------------------------------------------------------------------------------

SEND_USAGE = ("Usage: /send <@username or user id> <amount>\n"
              "e.g. /send @alice 2.50 sends 2.50 TFC of your credits to Alice.")
SEND_SELF = "You cannot send credits to yourself."
SEND_DONE_ANSWER = "Sent."
SEND_ALREADY = "Already sent."


def send_bad_amount(text: str) -> str:
    return ("{text!r} is not an amount to send: give a positive amount in TFC with at most 2 "
            "decimals (e.g. 5 or 2.50).\n{usage}").format(text=text, usage=SEND_USAGE)


def send_unknown(ref: str) -> str:
    return ("{ref} is not a user of this shop: they need to open the bot (/start) before they "
            "can receive credits.").format(ref=ref)


def send_in_debt(debt: int) -> str:
    return "Your balance is in debt by {debt}: nothing can be sent until it is repaid.".format(
        debt=format_tfc(debt))


def send_not_enough(amount: int, available: int) -> str:
    return "You have {available} available; sending {amount} needs more. Top up with /topup.".format(
        available=format_tfc(available), amount=format_tfc(amount))


def send_confirm(amount: int, who: str, available: int) -> str:
    return ("Send {amount} of your credits to {who}? This cannot be undone.\n"
            "You have {available} available.").format(amount=format_tfc(amount), who=who,
                                                      available=format_tfc(available))


def send_button(amount: int, who: str) -> str:
    return "✅ Send {amount} to {who}".format(amount=format_tfc(amount), who=who)


def sent(amount: int, who: str, available: int) -> str:
    return "✅ Sent {amount} to {who}. You have {available} available.".format(
        amount=format_tfc(amount), who=who, available=format_tfc(available))


def send_refused(reason: str) -> str:
    return "Not sent: {reason}".format(reason=reason)[:190]

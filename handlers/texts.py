"""Every user-facing text of the chat, in one place. Money is shown with `format_tfc`.

Texts are plain (no parse mode), so names and descriptions need no escaping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core import notices
from core.catalog import Service
from core.money import format_stars, format_tfc, format_tfc_signed
from ledger import Balance, HistoryEntry, Order
from ledger.deployments import DeploymentRecord

# --- commands (shown in the Telegram menu by setMyCommands) ---

COMMANDS: list[tuple[str, str]] = [
    ("start", "Welcome and main menu"),
    ("services", "Browse the VMs on sale"),
    ("buy", "Buy a VM"),
    ("balance", "Your credits"),
    ("topup", "Add credits"),
    ("history", "Your credit history"),
    ("orders", "Your recent orders"),
    ("deployments", "Your VMs"),
    ("sshkey", "Your SSH key for new VMs"),
    ("help", "How this shop works"),
    ("cancel", "Cancel what you were doing"),
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
    return f"Buy for {format_tfc(service.price_minor)}"


def btn_pay_balance(amount: int) -> str:
    return f"💰 Pay {format_tfc(amount)} from balance"


def btn_topup_difference(amount: int) -> str:
    return f"➕ Top up {format_tfc(amount)}"


def btn_pay_stars(stars: int) -> str:
    return f"⭐ Pay {format_stars(stars)}"


def btn_pay_card(amount: int) -> str:
    return f"💳 Pay {format_tfc(amount)} by card"


BTN_PAY_STRIPE = "🌐 Pay with Stripe"
BTN_OPEN_STRIPE = "Open secure checkout"


def btn_service(service: Service) -> str:
    return f"{service.name} · {format_tfc(service.price_minor)}"


def btn_preset(amount: int) -> str:
    return format_tfc(amount)


# --- messages ---

def welcome(first_name: str, balance: Balance) -> str:
    return (
        f"Hi {first_name}! This shop sells virtual machines on the ThreeFold grid.\n\n"
        f"Your balance: {format_tfc(balance.available)} available."
        f"{debt_line(balance)}\n\n"
        "Pick a VM with /buy, add credits with /topup, or see /help."
    )


def debt_line(balance: Balance) -> str:
    return f"\nYou owe {format_tfc(balance.debt)}; top up to clear it." if balance.debt else ""


HELP = (
    "How it works:\n"
    "1. Add credits (TFC, 1 TFC = 1 USD) with /topup, paid in Telegram Stars.\n"
    "2. Pick a VM with /buy and pay from your balance or directly.\n"
    "3. Your VM is deployed on the ThreeFold grid; follow it with /deployments.\n\n"
    "Commands:\n" + "\n".join(f"/{name} — {text}" for name, text in COMMANDS)
)


def balance(balance: Balance) -> str:
    lines = [f"Available: {format_tfc(balance.available)}"]
    if balance.held:
        lines.append(f"Held for purchases in progress: {format_tfc(balance.held)}")
    if balance.debt:
        lines.append(f"Debt: {format_tfc(balance.debt)} (top up to clear it; purchases are paused)")
    return "Your balance\n" + "\n".join(lines)


CATALOG_EMPTY = "Nothing is on sale right now. Please come back later."


def catalog(page: int, pages: int) -> str:
    suffix = f" (page {page + 1} of {pages})" if pages > 1 else ""
    return f"Our VMs{suffix}. Pick one to see the details:"


def service_card(service: Service) -> str:
    disk = f", {service.disk_gb} GB disk" if service.disk_gb else ""
    return (
        f"{service.name}\n{service.description}\n\n"
        f"{service.cpu} vCPU, {service.memory_gb} GB RAM, {service.rootfs_gb} GB root{disk}\n"
        f"Price: {format_tfc(service.price_minor)} for {service.period_days} days"
    )


def payment_choices(service: Service, order: Order, balance: Balance) -> str:
    short = order.amount - balance.available
    lack = (f"\nYour balance ({format_tfc(balance.available)}) is {format_tfc(short)} short."
            if short > 0 else "")
    return (
        f"Order #{order.id}: {service.name}, {service.period_days} days, "
        f"{format_tfc(order.amount)}.{lack}{debt_line(balance)}\n\nHow would you like to pay?"
    )


def topup_choices(order: Order) -> str:
    return f"Top-up #{order.id}: {format_tfc(order.amount)} of credits. How would you like to pay?"


def confirm_purchase(service: Service, order: Order, balance: Balance) -> str:
    return (
        f"Buy {service.name} for {format_tfc(order.amount)} from your balance?\n"
        f"Available now: {format_tfc(balance.available)}"
    )


def purchased(service_name: str, order: Order, deployment_id: int, balance: Balance) -> str:
    return (
        f"✅ Bought {service_name} (order #{order.id}).\n"
        f"{format_tfc(order.amount)} is held until your VM is ready; deployment #{deployment_id} "
        f"is queued.\nAvailable now: {format_tfc(balance.available)}. Follow it with /deployments."
    )


def insufficient(order: Order, balance: Balance) -> str:
    return (f"Your balance ({format_tfc(balance.available)}) does not cover order #{order.id} "
            f"({format_tfc(order.amount)}).{debt_line(balance)}")


TOPUP_PROMPT = "How many credits would you like to add? 1 TFC = 1 USD."


def topup_ask_amount(minimum: int, maximum: int) -> str:
    return (f"Type the amount in TFC, between {format_tfc(minimum)} and {format_tfc(maximum)} "
            "(for example 12.50), or /cancel.")


def topup_bad_amount(minimum: int, maximum: int) -> str:
    return (f"That is not an amount I can take. Type a number between {format_tfc(minimum)} and "
            f"{format_tfc(maximum)} with at most 2 decimals, or /cancel.")


NOT_UNDERSTOOD = "I did not get that. Use the menu buttons or /help."
CANCELLED = "Cancelled. Use /help to see what I can do."
NOTHING_TO_CANCEL = "There is nothing to cancel. Use /help to see what I can do."


def order_cancelled(order: Order) -> str:
    return f"Order #{order.id} is cancelled."


def invoice_title(service: Service | None, order: Order) -> str:
    return service.name if service is not None else f"{format_tfc(order.amount)} credits"


def invoice_description(service: Service | None, order: Order) -> str:
    if service is not None:
        return (f"Order #{order.id}: {service.name} for {service.period_days} days "
                f"({format_tfc(order.amount)}).")
    return f"Order #{order.id}: {format_tfc(order.amount)} of gridshop credits."


def stripe_link(order: Order) -> str:
    return f"Pay order #{order.id} ({format_tfc(order.amount)}) on Stripe's secure page:"


STRIPE_UNAVAILABLE = "Stripe checkout is not available right now. Please try another method."


def receipt(amount: int, paid: str, order: Order, balance: Balance, placed: bool,
            purchase_error: str | None, unplaceable_state: str | None = None) -> str:
    lines = [f"✅ Payment received: {paid}.", f"Credited {format_tfc(amount)} for order #{order.id}."]
    if placed:
        lines.append("Your purchase is placed; your VM is queued for deployment (/deployments).")
    elif unplaceable_state is not None:
        lines.append(notices.unplaceable(order.id, unplaceable_state))
    elif purchase_error is not None:
        lines.append("We could not place the purchase yet; the credits stay on your balance.")
    lines.append(f"Balance: {format_tfc(balance.available)} available"
                 + (f", {format_tfc(balance.held)} held" if balance.held else "") + ".")
    return "\n".join(lines)


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
    lines = [f"{_when(e.created_at)}  {format_tfc_signed(e.amount)}  {e.memo or e.kind}" for e in entries]
    return "Your history (newest first):\n" + "\n".join(lines)


ORDER_STATES = {
    "open": "waiting for payment", "paid": "paid", "placed": "placed", "failed": "failed",
    "expired": "expired", "cancelled": "cancelled", "completed": "completed",
}


def order_line(order: Order, service_name: str | None) -> str:
    what = service_name or "credits"
    return (f"#{order.id} · {what} · {format_tfc(order.amount)} · "
            f"{ORDER_STATES.get(order.state, order.state)}")


def orders(lines: list[str]) -> str:
    return "Your recent orders:\n" + "\n".join(lines) if lines else "You have no orders yet."


def order_status(order: Order, service_name: str | None) -> str:
    return "Order " + order_line(order, service_name)


ORDER_UNKNOWN = "I could not find that order."


DEPLOYMENT_STATES = {
    "queued": "queued", "deploying": "deploying", "ready": "ready", "failed": "failed",
    "cancelling": "being removed", "cancelled": "cancelled",
}


def _deployment_state(dep: DeploymentRecord) -> str:
    state = DEPLOYMENT_STATES.get(dep.state, dep.state)
    if dep.state == "ready" and dep.expires_at is not None:
        state += f" until {_when(dep.expires_at)}"
    return state


def deployment_line(dep: DeploymentRecord, name: str) -> str:
    return f"#{dep.id} · {name} · {_deployment_state(dep)}"


def deployments(deps: list[DeploymentRecord], names: dict[str, str]) -> str:
    if not deps:
        return "You have no VMs yet. Buy one with /buy."
    lines = [deployment_line(d, names.get(d.service_id, d.service_id)) for d in deps]
    return "Your VMs (times in UTC):\n" + "\n".join(lines) + "\n\nPick one for details and actions."


def deployment_details(dep: DeploymentRecord, name: str, renew_price: int | None) -> str:
    lines = [f"VM #{dep.id}: {name}" + (f" ({dep.name})" if dep.name else ""),
             f"State: {DEPLOYMENT_STATES.get(dep.state, dep.state)}"]
    if dep.state in ("ready", "cancelling"):
        lines.extend(notices.connection_lines(dep.details))
    if dep.state == "ready" and dep.expires_at is not None:
        lines.append(f"Paid until {_when(dep.expires_at)} UTC; auto-renew is {'on' if dep.auto_renew else 'off'}.")
        if renew_price is not None:
            lines.append(f"One more period costs {format_tfc(renew_price)}.")
    if dep.state == "failed" and dep.error:
        lines.append(f"Reason: {dep.error}. The credits went back to your balance.")
    if dep.state in ("queued", "deploying"):
        lines.append("You will get a message when it is ready.")
    return "\n".join(lines)


def confirm_cancel_deployment(dep: DeploymentRecord, name: str) -> str:
    if dep.state == "queued":
        return f"Cancel VM #{dep.id} ({name}) before it is deployed? The held credits come back to you."
    return (f"Remove VM #{dep.id} ({name}) from the grid? It stops at once and its data is lost; "
            "the paid period is not refunded.")


def deployment_cancelled(dep: DeploymentRecord, name: str) -> str:
    if dep.state == "cancelled":
        return f"VM #{dep.id} ({name}) is cancelled."
    return f"VM #{dep.id} ({name}) is being removed from the grid; you will get a message when it is gone."


def renewed(dep: DeploymentRecord, name: str, price: int, balance: Balance) -> str:
    until = _when(dep.expires_at) if dep.expires_at is not None else "?"
    return (f"🔁 VM #{dep.id} ({name}) renewed for {format_tfc(price)}: paid until {until} UTC.\n"
            f"Available now: {format_tfc(balance.available)}.")


def renew_short(dep: DeploymentRecord, price: int, balance: Balance) -> str:
    return (f"Renewing VM #{dep.id} costs {format_tfc(price)}, but your balance is "
            f"{format_tfc(balance.available)}.{debt_line(balance)}\nTop up, then renew again.")


def btn_deployment(dep: DeploymentRecord, name: str) -> str:
    return f"#{dep.id} {name} · {DEPLOYMENT_STATES.get(dep.state, dep.state)}"


def btn_renew(price: int, days: int) -> str:
    return f"🔁 Renew {days} days for {format_tfc(price)}"


def btn_auto_renew(on: bool) -> str:
    return "Auto-renew: on → turn off" if on else "Auto-renew: off → turn on"


def btn_vm(deployment_id: int) -> str:
    return f"🖥 VM #{deployment_id}"


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
    return f"{service.name} · unavailable"


SERVICE_UNAVAILABLE_LINE = "⛔ Unavailable right now: the grid has no room for this VM. Please check back later."


# --- one order ---

def order_details(order: Order, service_name: str | None, payable: bool, deployment_id: int | None,
                  expired: bool = False) -> str:
    state = "expired" if expired and order.state == "open" else order.state
    lines = [f"Order #{order.id}", f"What: {service_name or 'credits'}",
             f"Amount: {format_tfc(order.amount)}",
             f"State: {ORDER_STATES.get(state, state)}",
             f"Created: {_when(order.created_at)} UTC"]
    if deployment_id is not None:
        lines.append(f"VM: #{deployment_id} (see /deployments)")
    if payable:
        lines.append("\nHow would you like to pay?")
    return "\n".join(lines)


def btn_order(order: Order, service_name: str | None) -> str:
    return f"#{order.id} · {service_name or 'credits'} · {ORDER_STATES.get(order.state, order.state)}"


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
    return f"{kind} …{body[-12:]}" + (f" {comment[0]}" if comment else "")


def ssh_key_status(key: str | None) -> str:
    if key is None:
        return ("You have no SSH key yet. Send /sshkey followed by your public key "
                "(the line in ~/.ssh/id_ed25519.pub) so you can log into the VMs you buy.")
    return (f"Your SSH key: {_short_key(key)}\nIt goes on every VM you buy from now on. "
            "Send /sshkey <new key> to change it, or /sshkey remove.")


def ssh_key_saved(key: str) -> str:
    return f"✅ SSH key saved: {_short_key(key)}\nYour next VMs will accept it."


def ssh_key_invalid(reason: str) -> str:
    return (f"That is not an SSH public key ({reason.removeprefix('ssh_key ')}). Send the one line "
            "from your .pub file, e.g. /sshkey ssh-ed25519 AAAA… you@laptop. Never send a private key.")

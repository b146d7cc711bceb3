"""Texts of the messages the shop queues in the notification outbox: a payment credited or
refunded, a dispute, a deployment's status and details, its period running out, renewed or
removed, what admins are told about money that needs a look; and the answers the Stripe
checkout gives the chat, which payments/ produces below the handlers.

Each message is one function returning plain text (no parse mode, so no value needs escaping)
from one format string with named placeholders, so a translation catalogue can take the
strings over as they are. Amounts are integer TFC cents, shown through `core.money`. It imports
nothing of gridshop's but `core.money`, so the ledger, payments and the chat may all use it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .i18n import (
    N_,
    _,
    format_card_amount,
    format_datetime,
    format_stars,
    format_tfc,
    ngettext,
    stored,
)

# --- parts of messages -----------------------------------------------------------------------


def elapsed(seconds: int) -> str:
    """65 -> '1m 05s'; 3725 -> '1h 02m'."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return _("{s}s").format(s=seconds)
    if seconds < 3600:
        return _("{m}m {s:02d}s").format(m=seconds // 60, s=seconds % 60)
    return _("{h}h {m:02d}m").format(h=seconds // 3600, m=seconds % 3600 // 60)


def date(ts: int) -> str:
    """A moment as the messages show it: '2026-01-31 12:00 UTC'."""
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def local_date(ts: int) -> str:
    """`date` as the current language writes it: '31.01.2026, 12:00 UTC' in Russian."""
    return _("{moment} UTC").format(moment=format_datetime(ts))


def on_off(on: bool) -> str:
    return _("on") if on else _("off")


# --- money: payments, refunds, adjustments ---------------------------------------------------


def topup_paid(order_id: int, amount: int, paid: str, available: int) -> str:
    """A top-up's receipt (in its order message): what was paid and the balance now."""
    return _("✅ Top-up #{order}: {amount} of credits, paid with {paid}.\nBalance: {available}.").format(
        order=order_id, amount=format_tfc(amount), paid=paid, available=format_tfc(available))


def purchase_paid_not_placed(order_id: int, paid: str, amount: int, available: int, unplaceable_state: str | None,
                             error: str | None) -> str:
    """The receipt of a purchase payment that could not buy the VM: the credits stay on the balance."""
    lines = [_("✅ Payment received: {paid}; {amount} credited to your balance.").format(
        paid=paid, amount=format_tfc(amount))]
    if unplaceable_state is not None:
        lines.append(unplaceable(order_id, unplaceable_state))
    elif error is not None:
        lines.append(_("The VM could not be bought yet (say, a debt to repay first); the credits stay on "
                       "your balance."))
    lines.append(_("Balance: {available}.").format(available=format_tfc(available)))
    return "\n".join(lines)


def bank_payment_failed(order_id: int, amount: int) -> str:
    return _("❌ Your bank payment for order {order} ({amount}) failed. "
            "Nothing was charged; you can pay again another way.").format(order=order_id, amount=format_tfc(amount))


def card_refund_failed(amount: int) -> str:
    """A Stripe refund that failed or was cancelled at the bank: the credits are back."""
    return _("↩️ A refund of {amount} to your card could not be completed by your bank, so the credits are "
            "back on your balance.").format(amount=format_tfc(amount))


def dispute_inquiry(order_id: int | None, amount: int) -> str:
    """The card issuer asked about a payment (an inquiry): nothing is taken back."""
    return _("ℹ️ Your bank asked us about your card payment of {amount}{order}. Nothing changes on "
            "your balance while it is looked into.").format(amount=format_tfc(amount), order=_for_order(order_id))


def dispute_withdrawn(order_id: int | None, taken: int) -> str:
    """A chargeback: the bank took the money back, so the credits are taken back too."""
    return _("⚠️ Your card payment{order} is disputed with your bank, which took the money back: "
            "{taken} taken off your balance.").format(order=_for_order(order_id), taken=format_tfc(taken))


def dispute_reinstated(order_id: int | None, given: int) -> str:
    """The dispute was decided for the shop: the credits come back."""
    return _("✅ The dispute of your card payment{order} is closed and the money came back: {given} "
            "credited again.").format(order=_for_order(order_id), given=format_tfc(given))


def dispute_closed(order_id: int | None, status: str) -> str:
    """A dispute closed without money moving now: lost, or an inquiry closed."""
    if status == "lost":
        return _("The dispute of your card payment{order} was decided for the cardholder; the credits "
                "taken back stay off your balance.").format(order=_for_order(order_id))
    return _("ℹ️ Your bank's inquiry about your card payment{order} is closed; nothing changed on your "
            "balance.").format(order=_for_order(order_id))


def balance_now(balance: int) -> str:
    """The sentence after a change of balance: the balance, or the debt sentence."""
    if balance < 0:
        return now_in_debt(balance)
    return _("Balance: {balance}.").format(balance=format_tfc(balance))


def _for_order(order_id: int | None) -> str:
    return _(" for order {order}").format(order=order_id) if order_id is not None else ""


def refunded_to_stars(stars: int, taken: int, order_id: int | None, balance: int) -> str:
    """A Stars payment refunded at Telegram (by the shop or by Telegram), its credits taken
    back: the one message about it, with the balance after (`balance_now`)."""
    return _("↩️ Refund{order}: {stars} returned to you in Telegram Stars; {taken} of credits taken off "
             "your balance. {balance}").format(order=_for_order_number(order_id), stars=format_stars(stars),
                                                taken=format_tfc(taken), balance=balance_now(balance))


def refunded_to_card(amount: int, order_id: int | None, balance: int) -> str:
    """A Stripe refund (by the shop, or made in Stripe's dashboard), its credits taken back:
    the one message about it, with the balance after (`balance_now`)."""
    return _("↩️ Refund{order}: {amount} returned to your card and taken off your balance. {balance}").format(
        order=_for_order_number(order_id), amount=format_tfc(amount), balance=balance_now(balance))


def _for_order_number(order_id: int | None) -> str:
    return _(" for order #{order}").format(order=order_id) if order_id else ""


def now_in_debt(balance: int) -> str:
    """The sentence after a refund that left the balance below zero."""
    return _("Your balance is now {balance} (debt); new purchases wait until it is repaid.").format(
        balance=format_tfc(balance))


def credited_by_shop(amount: int, reason: str, available: int) -> str:
    return _("ℹ️ {amount} was added to your balance by the shop: {reason}. Available now: {available}.").format(
        amount=format_tfc(amount), reason=reason, available=format_tfc(available))


def debited_by_shop(amount: int, reason: str, available: int) -> str:
    return _("ℹ️ {amount} was taken from your balance by the shop: {reason}. Available now: {available}.").format(
        amount=format_tfc(amount), reason=reason, available=format_tfc(available))


def cancelled_by_shop_refunded(name: str, amount: int, balance: int) -> str:
    """An admin cancelled a running VM (`name`: its user-facing name) and gave (part of) its
    prepaid time back: the one message about both (its removal from the grid afterwards sends
    nothing more)."""
    return _("🗑 The shop cancelled {name}; it is being removed from the grid. {amount} was "
             "returned to your balance. {balance}").format(name=name, amount=format_tfc(amount),
                                                            balance=balance_now(balance))


# --- deployments -----------------------------------------------------------------------------


def _so_far(seconds: int) -> str:
    """' (2m 05s so far)' once a deploy takes a minute or more; nothing before (it is noise)."""
    return _(" ({elapsed} so far)").format(elapsed=elapsed(seconds)) if seconds >= 60 else ""


def paid_with(provider: str, provider_amount: int, provider_currency: str, amount: int) -> str:
    """How a payment was made, as its receipt says it: '308 Stars', '4.00 USD by card',
    '4.00 TFC by card (Stripe)', '4.00 TFC from your balance'."""
    if provider == "stars":
        return format_stars(provider_amount)
    if provider == "telegram_card":
        return _("{amount} by card").format(amount=format_card_amount(provider_amount, provider_currency))
    if provider == "stripe":
        return _("{amount} by card (Stripe)").format(amount=format_tfc(amount))
    return _("{amount} from your balance").format(amount=format_tfc(amount))


def deployment_queued(name: str, since_s: int, paid: str | None = None) -> str:
    """A VM bought and waiting for the grid: the order message's first state after payment."""
    queued = _("⏳ {name} is queued for deployment on the ThreeFold grid{so_far}.").format(
        name=name, so_far=_so_far(since_s))
    return _("✅ Paid with {paid}.").format(paid=paid) + "\n" + queued if paid else queued


def deployment_deploying(name: str, since_s: int, attempt: int, max_attempts: int) -> str:
    if attempt > 1:
        return _("⚙️ {name} is being deployed on the ThreeFold grid{so_far}, attempt {attempt} of "
                 "{max_attempts}.").format(name=name, so_far=_so_far(since_s), attempt=attempt,
                                           max_attempts=max_attempts)
    return _("⚙️ {name} is being deployed on the ThreeFold grid{so_far}.").format(
        name=name, so_far=_so_far(since_s))


def connection_lines(info: dict[str, Any]) -> list[str]:
    """A deployment's connection details, one line each, only those it has: Mycelium IP,
    IPv4, IPv6 and the ssh command. Shared by the ready message and the chat's VM details."""
    lines = []
    if info.get("mycelium_ip"):
        lines.append(_("Mycelium IP: {ip}").format(ip=info["mycelium_ip"]))
    if info.get("ipv4"):
        lines.append(_("IPv4: {ip}").format(ip=info["ipv4"]))
    if info.get("ipv6"):
        lines.append(_("IPv6: {ip}").format(ip=info["ipv6"]))
    if info.get("ssh_command"):
        lines.append(_("Connect: {command}").format(command=info["ssh_command"]))
    return lines


def deployment_ready(name: str, info: dict[str, Any], expires_at: int, auto_renew: bool) -> str:
    """The VM runs: how to reach it and how long it is paid for (the order message's last state)."""
    lines = [_("✅ {name} is ready.").format(name=name)]
    lines.extend(connection_lines(info))
    lines.append(_("Paid until {until}; auto-renew is {auto_renew}.").format(
        until=local_date(expires_at), auto_renew=on_off(auto_renew)))
    return "\n".join(lines)


BTN_MY_VM = N_("🖥 My VM")


def my_vm_markup(deployment_id: int) -> dict[str, Any]:
    """The "My VM" button under a ready VM's message: the chat's `v1:dep:<id>` (its details
    and actions; `handlers.callbacks` decodes it)."""
    return {"inline_keyboard": [[{"text": _(BTN_MY_VM), "callback_data": f"v1:dep:{deployment_id}"}]]}


def deployment_failed(name: str, took_s: int, reason: str, refunded: int, balance: int = 0) -> str:
    """A deployment given up; `refunded` went back to the balance, which is `balance` after."""
    if refunded:
        return _("❌ {name} could not be deployed: {reason}. {refunded} is back in your balance. {balance}").format(
            name=name, reason=stored(reason), refunded=format_tfc(refunded), balance=balance_now(balance))
    return _("❌ {name} could not be deployed: {reason}.").format(name=name, reason=stored(reason))


def deployment_cancelled_before_deploy(name: str, refunded: int, balance: int = 0) -> str:
    """A queued deployment cancelled, its hold released (`refunded`); `balance` is the balance after."""
    if not refunded:
        return _("🚫 {name} was cancelled before it was deployed.").format(name=name)
    return _("🚫 {name} was cancelled before it was deployed. {refunded} is back in your balance. {balance}").format(
        name=name, refunded=format_tfc(refunded), balance=balance_now(balance))


def deployment_retried(name: str) -> str:
    """An admin put a failed deployment back in the queue."""
    return _("🔁 {name}: its deployment is being tried again.").format(name=name)


def expiry_warning(name: str, expires_at: int, auto_renew: bool, price: int, shortfall: int = 0,
                   grace_days: int = 0) -> str:
    """Before a period ends: whether the renewal will go through, and if the balance is
    `shortfall` short of it, by how much and what happens then."""
    values = {"name": name, "until": local_date(expires_at), "price": format_tfc(price),
              "shortfall": format_tfc(shortfall), "days": grace_days}
    if auto_renew and not shortfall:
        return _("⚠️ {name} expires on {until}; auto-renew is on and your balance covers it: "
                 "{price} will be taken from it for the next period.").format(**values)
    if auto_renew:
        then = ngettext("If it is still short then, the VM keeps running for {days} more day and is removed "
                        "after that.", "If it is still short then, the VM keeps running for {days} more days and "
                        "is removed after that.", grace_days) if grace_days else _("If it is still short then, "
                                                                                   "the VM is removed.")
        return (_("⚠️ {name} expires on {until}; auto-renew is on, but your balance is {shortfall} "
                  "short of the {price} renewal. Top up by then and it renews itself.") + " " + then).format(**values)
    if shortfall:
        return _("⚠️ {name} expires on {until}; auto-renew is off: the VM will be removed unless you "
                 "renew it ({price}; your balance is {shortfall} short of it).").format(**values)
    return _("⚠️ {name} expires on {until}; auto-renew is off: the VM will be removed unless you "
             "renew it ({price}).").format(**values)


def grace_reminder(name: str, expired_at: int, removed_at: int, price: int, shortfall: int) -> str:
    """A day of the grace period: the VM runs past its paid period; the renewal it waits for,
    charged from its expiry, and when it is removed without it."""
    return _("⏳ {name} could not be renewed on {expired}: your balance is {shortfall} short of the "
             "{price} renewal. It keeps running until {removed}; top up by then and it renews itself, "
             "paid from {expired} on. Otherwise it is removed then.").format(
        name=name, expired=local_date(expired_at), removed=local_date(removed_at), price=format_tfc(price),
        shortfall=format_tfc(shortfall))


def period_renewed(name: str, price: int, expires_at: int) -> str:
    return _("🔁 {name} renewed: {price} charged, paid until {until}.").format(
        name=name, price=format_tfc(price), until=local_date(expires_at))


def deployment_removed(name: str, reason: str) -> str:
    return _("🗑 {name} was removed from the grid: {reason}.").format(name=name, reason=stored(reason))


# --- to admins -------------------------------------------------------------------------------


def admin_stripe_mismatch(session_id: str, order_id: int, user_id: int, problems: str) -> str:
    return _("⚠️ Stripe session {session} for order {order} (user {user}) was paid with {problems}. "
            "Not credited; please check.").format(session=session_id, order=order_id, user=user_id,
                                                  problems=problems)


def admin_debt_after_stripe_refund(user_id: int, debt: int, refunded: int, order_id: int | None) -> str:
    return _("User {user} is in debt {debt} after a Stripe refund of {refunded} (order {order}).").format(
        user=user_id, debt=format_tfc(debt), refunded=format_tfc(refunded), order=order_id)


def admin_stripe_dispute(dispute_id: str, user_id: int, order_id: int | None, status: str,
                         disputed: int, moved: str, balance: int) -> str:
    """One step of a Stripe dispute (`moved` from `dispute_moved`); the user is flagged."""
    return _("⚠️ Stripe dispute {dispute} ({status}): user {user}, order {order}, {disputed}. {moved} "
            "Balance now {balance}. The user is flagged.").format(
        dispute=dispute_id, status=status, user=user_id, order=order_id,
        disputed=format_tfc(disputed), moved=moved, balance=format_tfc(balance))


def dispute_moved(step: str, amount: int) -> str:
    """What a dispute step did, for `admin_stripe_dispute`."""
    moved = {
        "inquiry": N_("Inquiry: nothing moved."),
        "withdrawn": N_("Funds withdrawn: {amount} taken back."),
        "reinstated": N_("Funds reinstated: {amount} given back."),
        "closed": N_("Closed; nothing more moves."),
    }
    return _(moved[step]).format(amount=format_tfc(amount))


def admin_stripe_refund_failed(refund_id: str, user_id: int, given: int, reason: str) -> str:
    """A Stripe refund failed or was cancelled; `reason` is one of Stripe's documented values."""
    return _("Stripe refund {refund} for user {user} failed ({reason}): {given} credited back to the user.").format(
        refund=refund_id, user=user_id, reason=reason, given=format_tfc(given))


def admin_stars_refund_missed(charge_id: str, user_id: int, order_id: int | None, taken: int,
                              balance: int) -> str:
    """Reconciliation found a Stars refund the ledger had missed and took the credits back."""
    values = {"charge": charge_id, "user": user_id, "order": order_id, "taken": format_tfc(taken),
              "balance": format_tfc(balance)}
    if order_id:
        return _("Stars payment {charge} of user {user} for order #{order} was refunded at Telegram but the "
                "ledger had missed it; reconciliation took back {taken}. Balance now {balance}.").format(**values)
    return _("Stars payment {charge} of user {user} was refunded at Telegram but the ledger had missed it; "
            "reconciliation took back {taken}. Balance now {balance}.").format(**values)


# --- payments for orders that can no longer be placed ----------------------------------------

# Why an order could no longer be placed when its payment came (its state then).
UNPLACEABLE = {
    "failed": N_("its deployment failed and was refunded"),
    "cancelled": N_("it was cancelled"),
    "expired": N_("it expired"),
    "placed": N_("it was already placed, paid another way"),
    "completed": N_("it was already placed, paid another way"),
}


def unplaceable(order_id: int, state: str) -> str:
    """A line after a payment's receipt: its order can no longer be placed, so it is balance."""
    why = _(UNPLACEABLE[state]) if state in UNPLACEABLE else _("it is {state}").format(state=state)
    return _("Order #{order} can no longer be placed ({why}), so this payment stays on your balance "
            "as credits: use them with /buy, nothing is lost.").format(order=order_id, why=why)


# --- parked payments -------------------------------------------------------------------------


def payment_parked(parked_id: int, provider: str, external_id: str, kind: str, reason: str) -> str:
    """To admins: a payment (or payment event) the shop could not apply was parked."""
    return _("⚠️ Parked payment #{id}: {provider} {kind} {ref} was not applied: {reason}. "
            "/parked lists it, with buttons to credit it to the user or refund it.").format(
        id=parked_id, provider=provider, kind=kind, ref=external_id, reason=reason[:300])


def parked_payment_credited(amount: int, available: int) -> str:
    """To the user: an admin credited a payment the shop had set aside."""
    return _("✅ Your payment was checked by the shop: {amount} credited to your balance. "
            "Available now: {available}.").format(amount=format_tfc(amount), available=format_tfc(available))


def parked_payment_refunded(what: str) -> str:
    """To the user: an admin refunded a payment the shop could not apply."""
    return _("↩️ Your payment of {what} could not be applied to an order and was refunded.").format(what=what)


# --- why a deployment failed, as the buyer reads it ------------------------------------------

# A buyer never sees what a grid tool printed: the kind of a grid failure (grid.errors sets
# `kind` on each exception class) gives one short reason from this fixed set.
GRID_FAILURE_REASONS: dict[str, str] = {
    "no_capacity": N_("no capacity on the grid for this service right now"),
    "node_unavailable": N_("no node of the grid could take it right now"),
    "insufficient_funds": N_("the shop could not pay the grid for it"),
    "grid_busy": N_("the grid is busy"),
    "invalid": N_("the grid refused this service's settings"),
    "failed": N_("the grid refused the deployment"),
}


def grid_failure_reason(kind: str) -> str:
    """The buyer's reason for a grid failure of `kind`; an unknown kind reads as refused."""
    return GRID_FAILURE_REASONS.get(kind, GRID_FAILURE_REASONS["failed"])


# Why a deployment failed or was removed, kept on the deployment and read by the buyer in
# `deployment_failed` and `deployment_removed` (and by admins in /deployments and /user).
REASON_GRID_KEPT_FAILING = N_("the grid kept failing")
REASON_HOLD_LAPSED = N_("the payment hold lapsed before the deployment started")
REASON_NOT_SETTLED = N_("the payment could not be settled")
REASON_RENEWAL_NOT_COVERED = N_("the balance did not cover the renewal")
REASON_GRACE_ENDED = N_("the balance did not cover the renewal by the end of the grace period")
REASON_PERIOD_ENDED = N_("the paid period ended and auto-renew is off")
REASON_CANCELLED_BY_USER = N_("cancelled at your request")
REASON_CANCELLED = N_("cancelled")


def reason_service_withdrawn(service_id: str) -> str:
    return "service {service} is no longer offered".format(service=service_id)


def reason_cancelled_by_shop(admin_id: int) -> str:
    return "cancelled by the shop (admin {admin})".format(admin=admin_id)


# --- answers of the Stripe checkout (shown in the chat by the payment button) ----------------

CHECKOUT_UNAVAILABLE = N_("Card payment is not available right now. Please try again later or pay another way.")
CHECKOUT_NO_ORDER = N_("This order does not exist.")
CHECKOUT_ALREADY_PAID = N_("This order was already paid; your credits arrive in a moment.")


# An order's states as people read them (the chat's order lists use them too).
ORDER_STATES = {
    "open": N_("waiting for payment"), "paid": N_("paid"), "placed": N_("placed"), "failed": N_("failed"),
    "expired": N_("expired"), "cancelled": N_("cancelled"), "completed": N_("completed"),
}


def checkout_order_closed(order_id: int, state: str) -> str:
    return _("Order {order} is {state}; it cannot be paid again.").format(
        order=order_id, state=_(ORDER_STATES[state]) if state in ORDER_STATES else state)


# --- the grid's contracts, as reconciliation finds them --------------------------------------


def admin_grid_orphans(name: str, contract_ids: list[int], reason: str, dry_run: bool) -> str:
    """To admins: contracts of the operator's twin that no live deployment owns."""
    then = _("not cancelled (dry run)") if dry_run else _("cancelling them")
    return _("⚠️ Grid contracts {ids} of {name} bill the shop's wallet but {reason}; {then}.").format(
        ids=", ".join(str(c) for c in contract_ids), name=name, reason=reason, then=then)


def admin_grid_orphans_gone(name: str, contract_ids: list[int]) -> str:
    """To admins: the orphaned contracts are no longer listed by gridproxy."""
    return _("✅ Grid contracts {ids} of {name} are cancelled.").format(
        ids=", ".join(str(c) for c in contract_ids), name=name)


def admin_grid_vanished(deployment_id: int, name: str, user_id: int) -> str:
    """To admins: a running deployment has no contract on the grid any more."""
    return _("⚠️ Deployment #{deployment} ({name}, user {user}) is ready in the shop but has no contract "
            "on the grid any more; please check it.").format(deployment=deployment_id, name=name, user=user_id)


def grid_vanished(name: str) -> str:
    """To the user: their VM is gone from the grid; the shop is looking into it."""
    return _("⚠️ {name} no longer shows on the ThreeFold grid. The shop has been told and will "
            "look into it.").format(name=name)


# --- transfers between users -----------------------------------------------------------------


def transfer_received(amount: int, sender: str, available: int) -> str:
    """To the recipient of a /send."""
    return _("💸 {sender} sent you {amount} of credits. Available now: {available}.").format(
        sender=sender, amount=format_tfc(amount), available=format_tfc(available))

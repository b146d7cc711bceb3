"""Inline keyboards. Every callback button's data comes from the codec in `callbacks`."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core.catalog import Service
from core.i18n import LANGUAGE_NAMES
from ledger import Balance, Order
from ledger.deployments import DeploymentRecord

from . import texts
from .callbacks import encode

__all__ = [
    "CATALOG_PAGE", "catalog", "confirm", "confirm_cancel_deployment", "confirm_renew", "deployment_actions",
    "deployments", "history", "languages", "main_menu", "orders", "payment_choices", "service_card",
    "topup_presets",
]

CATALOG_PAGE = 5


def _button(text: str, action: str, *args: str | int) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=encode(action, *args))


def main_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [_button(texts.BTN_SERVICES, "cat", 0), _button(texts.BTN_BALANCE, "bal")],
        [_button(texts.BTN_TOPUP, "topm"), _button(texts.BTN_HISTORY, "hist", 0)],
        [_button(texts.BTN_ORDERS, "ords"), _button(texts.BTN_VMS, "deps")],
    ])


def catalog_pages(services: list[Service]) -> int:
    return max(1, -(-len(services) // CATALOG_PAGE))


def catalog(services: list[Service], page: int,
            unavailable: frozenset[str] | set[str] = frozenset()) -> InlineKeyboardMarkup:
    """One page of services; those in `unavailable` (no grid capacity) are labelled so."""
    start = page * CATALOG_PAGE
    rows = [[_button(texts.btn_service_unavailable(s) if s.id in unavailable else texts.btn_service(s),
                     "svc", s.id)]
            for s in services[start:start + CATALOG_PAGE]]
    nav = []
    if page > 0:
        nav.append(_button(texts.BTN_PREV, "cat", page - 1))
    if start + CATALOG_PAGE < len(services):
        nav.append(_button(texts.BTN_NEXT, "cat", page + 1))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(rows)


def service_card(service: Service, available: bool = True) -> InlineKeyboardMarkup:
    rows = [[_button(texts.btn_buy(service), "buy", service.id)]] if available else []
    rows.append([_button(texts.BTN_BACK_CATALOG, "cat", 0)])
    return InlineKeyboardMarkup(rows)


def payment_choices(order: Order, balance: Balance, *, stars: int, card: bool,
                    stripe: bool) -> InlineKeyboardMarkup:
    """Pay from balance (purchases it covers) or top up the lack, Stars, card, Stripe."""
    rows = []
    if order.kind == "purchase":
        if balance.available >= order.amount and not balance.debt:
            rows.append([_button(texts.btn_pay_balance(order.amount), "pay", order.id, "bal")])
        else:
            lack = order.amount - balance.available + balance.debt
            rows.append([_button(texts.btn_topup_difference(lack), "topd", order.id)])
    rows.append([_button(texts.btn_pay_stars(stars), "pay", order.id, "stars")])
    if card:
        rows.append([_button(texts.btn_pay_card(order.amount), "pay", order.id, "card")])
    if stripe:
        rows.append([_button(texts.BTN_PAY_STRIPE, "pay", order.id, "stripe")])
    rows.append([_button(texts.BTN_CANCEL, "cancel", order.id)])
    return InlineKeyboardMarkup(rows)


def confirm(order: Order) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [_button(texts.BTN_CONFIRM, "ok", order.id)],
        [_button(texts.BTN_CANCEL, "cancel", order.id)],
    ])


def cancel_order(order: Order) -> InlineKeyboardMarkup:
    """One button: cancel the order (while the buy flow waits for something typed)."""
    return InlineKeyboardMarkup([[_button(texts.BTN_CANCEL, "cancel", order.id)]])


def topup_presets(presets: list[int]) -> InlineKeyboardMarkup:
    buttons = [_button(texts.btn_preset(p), "top", p) for p in presets]
    rows = [buttons[i:i + 4] for i in range(0, len(buttons), 4)]
    rows.append([_button(texts.BTN_CUSTOM_AMOUNT, "topc")])
    return InlineKeyboardMarkup(rows)


def languages(current: str) -> InlineKeyboardMarkup:
    """One button per language the shop speaks, each in its own name; the current one ticked."""
    return InlineKeyboardMarkup([
        [_button(("✓ " if code == current else "") + name, "lang", code)]
        for code, name in LANGUAGE_NAMES.items()
    ])


def back_to_menu() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(texts.BTN_MENU, "menu")]])


def history(next_before: int | None, first_page: bool) -> InlineKeyboardMarkup | None:
    nav = []
    if not first_page:
        nav.append(_button(texts.BTN_NEWEST, "hist", 0))
    if next_before is not None:
        nav.append(_button(texts.BTN_OLDER, "hist", next_before))
    return InlineKeyboardMarkup([nav]) if nav else None


def url_button(text: str, url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, url=url)]])


def stripe_checkout(order: Order, url: str) -> InlineKeyboardMarkup:
    """The order message while it waits for Stripe: the secure page, or back to the other ways."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.BTN_OPEN_STRIPE, url=url)],
                                 [_button(texts.BTN_OTHER_WAYS, "ord", order.id)]])


def deployments(deps: list[DeploymentRecord]) -> InlineKeyboardMarkup | None:
    rows = [[_button(texts.btn_deployment(d), "dep", d.id)] for d in deps]
    return InlineKeyboardMarkup(rows) if rows else None


def deployment_actions(dep: DeploymentRecord, renew_price: int | None, period_days: int) -> InlineKeyboardMarkup:
    """What a user can do with a VM in its state: renew, auto-renew, cancel (ready); cancel
    (queued); refresh (in progress); rename (while it is not closed)."""
    rows = []
    if dep.state == "ready" and dep.expires_at is not None:
        if renew_price is not None:
            rows.append([_button(texts.btn_renew(renew_price, period_days), "dren", dep.id, dep.expires_at)])
        rows.append([_button(texts.btn_auto_renew(dep.auto_renew), "dauto", dep.id, 0 if dep.auto_renew else 1)])
    if dep.state not in ("failed", "cancelled"):
        rows.append([_button(texts.BTN_RENAME_VM, "dname", dep.id)])
    if dep.state in ("ready", "queued"):
        rows.append([_button(texts.BTN_CANCEL_VM, "dcan", dep.id)])
    if dep.state in ("queued", "deploying", "cancelling"):
        rows.append([_button(texts.BTN_REFRESH, "dep", dep.id)])
    rows.append([_button(texts.BTN_MY_VMS, "deps")])
    return InlineKeyboardMarkup(rows)


def back_to_vm(dep: DeploymentRecord) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[_button(texts.BTN_BACK_TO_VM, "dep", dep.id)]])


def confirm_cancel_deployment(dep: DeploymentRecord) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [_button(texts.BTN_CONFIRM_CANCEL_VM, "dcanok", dep.id)],
        [_button(texts.BTN_KEEP_VM, "dep", dep.id)],
    ])


def confirm_renew(dep: DeploymentRecord, price: int, days: int) -> InlineKeyboardMarkup:
    """Pay and renew (`drenok`, for the expiry shown), or back to the VM."""
    until = (dep.expires_at or 0) + days * 86_400
    return InlineKeyboardMarkup([
        [_button(texts.btn_confirm_renew(price, until), "drenok", dep.id, dep.expires_at or 0)],
        [_button(texts.BTN_KEEP_AS_IS, "dep", dep.id)],
    ])


def renew_topup(dep: DeploymentRecord) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([
        [_button(texts.BTN_TOPUP, "dtop", dep.id)],
        [_button(texts.BTN_MY_VMS, "deps")],
    ])


def orders(orders: list[Order], names: dict[str, str]) -> InlineKeyboardMarkup | None:
    rows = [[_button(texts.btn_order(o, names.get(o.service_id or "") if o.service_id else None), "ord", o.id)]
            for o in orders]
    return InlineKeyboardMarkup(rows) if rows else None


def order_actions(markup: InlineKeyboardMarkup | None, dep: DeploymentRecord | None) -> InlineKeyboardMarkup:
    """An order's screen: its payment choices when still open, a link to its VM, and back."""
    rows = [list(row) for row in markup.inline_keyboard] if markup is not None else []
    if dep is not None:
        rows.append([_button(texts.btn_vm(dep.title), "dep", dep.id)])
    rows.append([_button(texts.BTN_ORDERS, "ords")])
    return InlineKeyboardMarkup(rows)

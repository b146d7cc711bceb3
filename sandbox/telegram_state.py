"""In-memory world of the Telegram emulator: the bot, users, chats, messages and updates.

Holds what the real Telegram keeps for one bot, and the operations shared by the Bot API
methods (``telegram_methods``) and the test control surface (``telegram_api``): storing
messages, queueing updates (with the getUpdates/allowed_updates rules), callback and
pre-checkout queries, invoices and Star payments. Nothing here speaks HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.telegram_text import detect_entities

DEFAULT_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
    "chat_boost", "removed_chat_boost",
})
ALL_UPDATE_TYPES = DEFAULT_UPDATE_TYPES | {"chat_member", "message_reaction", "message_reaction_count"}


class ControlError(ValueError):
    """A test asked the emulator for something a real Telegram client could not do."""


def now() -> int:
    return int(time.time())


@dataclass
class Invoice:
    """An invoice as created by sendInvoice or createInvoiceLink."""

    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    provider_token: str
    start_parameter: str = ""
    subscription_period: int = 0
    max_tip_amount: int = 0
    link: str | None = None

    @property
    def total_amount(self) -> int:
        return sum(int(p["amount"]) for p in self.prices)

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "description": self.description, "start_parameter": self.start_parameter,
                "currency": self.currency, "total_amount": self.total_amount}


@dataclass
class ChatMessage:
    """One message in a chat as the emulator stores it, with its current content."""

    chat_id: int
    message_id: int
    from_bot: bool
    data: dict[str, Any]
    deleted: bool = False
    edit_count: int = 0
    invoice: Invoice | None = None

    @property
    def text(self) -> str | None:
        return self.data.get("text")

    @property
    def caption(self) -> str | None:
        return self.data.get("caption")

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        return self.data.get("reply_markup")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """All inline buttons, row by row."""
        markup = self.reply_markup or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class CallbackQueryRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created: float
    answer: dict[str, Any] | None = None


@dataclass
class PreCheckoutRecord:
    id: str
    user_id: int
    invoice: Invoice
    total_amount: int
    created: float
    done: asyncio.Future[tuple[bool, str | None]]
    answered: bool = False
    expired: bool = False


@dataclass
class PaymentResult:
    """What happened when a user tried to pay: ``status`` is "paid", "rejected" or "expired"."""

    status: str
    pre_checkout_query_id: str
    currency: str
    total_amount: int
    invoice_payload: str
    error_message: str | None = None
    telegram_payment_charge_id: str | None = None
    provider_payment_charge_id: str | None = None
    message: dict[str, Any] | None = None

    @property
    def paid(self) -> bool:
        return self.status == "paid"


@dataclass
class StarCharge:
    charge_id: str
    user_id: int
    amount: int
    payload: str
    provider_charge_id: str
    subscription_period: int = 0
    refunded: bool = False


@dataclass
class WebhookState:
    url: str = ""
    secret_token: str = ""
    max_connections: int = 40
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class World:
    """Everything Telegram knows about one bot."""

    token: str
    bot_user: dict[str, Any]
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, dict[int, ChatMessage]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 100_000_001
    allowed_updates: list[str] | None = None
    webhook: WebhookState = field(default_factory=WebhookState)
    commands: dict[tuple[str, str], list[dict[str, str]]] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryRecord] = field(default_factory=dict)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    pre_checkouts: dict[str, PreCheckoutRecord] = field(default_factory=dict)
    invoice_links: dict[str, Invoice] = field(default_factory=dict)
    charges: dict[str, StarCharge] = field(default_factory=dict)
    star_transactions: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    _user_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(7_000_000_001))
    _tick: asyncio.Event = field(default_factory=asyncio.Event)
    # Called with every message stored (a benchmark times the bot's answers with it).
    on_message: Callable[[ChatMessage], None] | None = None

    # -- change notification -------------------------------------------------------------
    def notify(self) -> None:
        """Wake everything waiting for a change (long polls, webhook worker, test waits)."""
        self._tick.set()
        self._tick = asyncio.Event()

    async def wait_change(self, timeout: float) -> None:
        tick = self._tick
        try:
            await asyncio.wait_for(tick.wait(), timeout)
        except TimeoutError:
            pass

    # -- users and chats -----------------------------------------------------------------
    def add_user(self, first_name: str, *, user_id: int | None = None, username: str | None = None,
                 last_name: str | None = None, language_code: str | None = "en",
                 is_premium: bool = False) -> dict[str, Any]:
        uid = user_id
        while uid is None or (user_id is None and uid in self.users):
            uid = next(self._user_ids)  # skipping ids given explicitly before
        user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        if is_premium:
            user["is_premium"] = True
        self.users[uid] = user
        chat: dict[str, Any] = {"id": uid, "type": "private", "first_name": first_name}
        if last_name:
            chat["last_name"] = last_name
        if username:
            chat["username"] = username
        self.chats[uid] = chat
        self.messages.setdefault(uid, {})
        return copy.deepcopy(user)

    def user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.users:
            raise ControlError(f"unknown user {user_id}; call add_user first")
        return self.users[user_id]

    # -- messages ------------------------------------------------------------------------
    def store_message(self, chat_id: int, *, from_bot: bool, sender: dict[str, Any],
                      content: dict[str, Any], invoice: Invoice | None = None) -> ChatMessage:
        message_id = self.next_message_id.get(chat_id, 1)
        self.next_message_id[chat_id] = message_id + 1
        data = {"message_id": message_id, "from": copy.deepcopy(sender), "chat": copy.deepcopy(self.chats[chat_id]),
                "date": now(), **content}
        stored = ChatMessage(chat_id, message_id, from_bot, data, invoice=invoice)
        self.messages.setdefault(chat_id, {})[message_id] = stored
        self.notify()
        if self.on_message is not None:
            self.on_message(stored)
        return stored

    def find_message(self, chat_id: int, message_id: int) -> ChatMessage | None:
        found = self.messages.get(chat_id, {}).get(message_id)
        return None if found is None or found.deleted else found

    # -- updates -------------------------------------------------------------------------
    def enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update unless the bot's allowed_updates filter excludes its type."""
        allowed = set(self.allowed_updates) if self.allowed_updates else DEFAULT_UPDATE_TYPES
        if kind not in allowed:
            return None
        update = {"update_id": self.next_update_id, kind: copy.deepcopy(payload)}
        self.next_update_id += 1
        self.updates.append(update)
        self.notify()
        return update

    def confirm(self, offset: int) -> None:
        """getUpdates offset semantics: forget confirmed updates (or all but the last -offset)."""
        if offset > 0:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        elif offset < 0:
            self.updates = self.updates[offset:]

    # -- user actions --------------------------------------------------------------------
    def user_sends_text(self, user_id: int, text: str, reply_to: int | None = None) -> ChatMessage:
        user = self.user(user_id)
        if not text:
            raise ControlError("a client cannot send an empty message")
        content: dict[str, Any] = {"text": text}
        entities = detect_entities(text)
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            target = self.find_message(user_id, reply_to)
            if target is None:
                raise ControlError(f"no message {reply_to} in chat {user_id}")
            content["reply_to_message"] = copy.deepcopy(target.data)
        stored = self.store_message(user_id, from_bot=False, sender=user, content=content)
        self.enqueue("message", stored.data)
        return stored

    def press_button(self, user_id: int, chat_id: int, message_id: int, data: str | None,
                     text: str | None) -> dict[str, Any]:
        user = self.user(user_id)
        message = self.find_message(chat_id, message_id)
        if message is None:
            raise ControlError(f"no message {message_id} in chat {chat_id}")
        buttons = [b for b in message.buttons if "callback_data" in b]
        for button in buttons:
            if (data is None or button["callback_data"] == data) and (text is None or button["text"] == text):
                break
        else:
            raise ControlError(f"message {message_id} has no callback button data={data!r} text={text!r}")
        query_id = str(secrets.randbits(63))
        record = CallbackQueryRecord(query_id, user_id, chat_id, message_id, button["callback_data"], time.monotonic())
        self.callback_queries[query_id] = record
        query = {"id": query_id, "from": copy.deepcopy(user), "message": copy.deepcopy(message.data),
                 "chat_instance": str(abs(hash((self.token, chat_id))) % 10**18), "data": button["callback_data"]}
        self.enqueue("callback_query", query)
        return query

    def set_blocked(self, user_id: int, blocked: bool) -> None:
        user = self.user(user_id)
        if (user_id in self.blocked) == blocked:
            return
        (self.blocked.add if blocked else self.blocked.discard)(user_id)
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        new_member: dict[str, Any] = {"status": new, "user": copy.deepcopy(self.bot_user)}
        if blocked:
            new_member["until_date"] = 0
        self.enqueue("my_chat_member", {
            "chat": copy.deepcopy(self.chats[user_id]), "from": copy.deepcopy(user), "date": now(),
            "old_chat_member": {"status": old, "user": copy.deepcopy(self.bot_user),
                                **({"until_date": 0} if old == "kicked" else {})},
            "new_chat_member": new_member,
        })

    # -- payments ------------------------------------------------------------------------
    def start_pre_checkout(self, user_id: int, invoice: Invoice, tip_amount: int) -> PreCheckoutRecord:
        user = self.user(user_id)
        if tip_amount and (invoice.currency == "XTR" or tip_amount > invoice.max_tip_amount):
            raise ControlError("tip not allowed for this invoice")
        query_id = str(secrets.randbits(63))
        total = invoice.total_amount + tip_amount
        record = PreCheckoutRecord(query_id, user_id, invoice, total, time.monotonic(),
                                   asyncio.get_running_loop().create_future())
        self.pre_checkouts[query_id] = record
        self.enqueue("pre_checkout_query", {
            "id": query_id, "from": copy.deepcopy(user), "currency": invoice.currency,
            "total_amount": total, "invoice_payload": invoice.payload,
        })
        return record

    def complete_payment(self, record: PreCheckoutRecord) -> tuple[dict[str, Any], str, str]:
        """Record the charge and post the successful_payment service message."""
        invoice = record.invoice
        user = self.users[record.user_id]
        if invoice.currency == "XTR":
            charge_id = "stx" + secrets.token_urlsafe(48).replace("-", "").replace("_", "")[:60]
            provider_id = f"{record.user_id}_{secrets.randbelow(10**9)}"
        else:
            charge_id = f"{record.user_id}_{secrets.randbelow(10**9)}_{secrets.randbelow(10**9)}"
            provider_id = "ch_" + secrets.token_hex(12)
        payment: dict[str, Any] = {"currency": invoice.currency, "total_amount": record.total_amount,
                                   "invoice_payload": invoice.payload, "telegram_payment_charge_id": charge_id,
                                   "provider_payment_charge_id": provider_id}
        if invoice.subscription_period:
            payment["subscription_expiration_date"] = now() + invoice.subscription_period
            payment["is_recurring"] = True
            payment["is_first_recurring"] = True
        if invoice.currency == "XTR":
            self.charges[charge_id] = StarCharge(charge_id, record.user_id, record.total_amount, invoice.payload,
                                                 provider_id, invoice.subscription_period)
            source: dict[str, Any] = {"type": "user", "transaction_type": "invoice_payment",
                                      "user": copy.deepcopy(user), "invoice_payload": invoice.payload}
            if invoice.subscription_period:
                source["subscription_period"] = invoice.subscription_period
            self.star_transactions.append({"id": charge_id, "amount": record.total_amount, "date": now(),
                                           "source": source})
        stored = self.store_message(record.user_id, from_bot=False, sender=user,
                                    content={"successful_payment": payment})
        self.enqueue("message", stored.data)
        return stored.data, charge_id, provider_id

    def refund(self, charge: StarCharge) -> None:
        charge.refunded = True
        user = self.users[charge.user_id]
        self.star_transactions.append({
            "id": charge.charge_id, "amount": charge.amount, "date": now(),
            "receiver": {"type": "user", "transaction_type": "invoice_payment", "user": copy.deepcopy(user),
                         "invoice_payload": charge.payload},
        })
        refunded = {"currency": "XTR", "total_amount": charge.amount, "invoice_payload": charge.payload,
                    "telegram_payment_charge_id": charge.charge_id,
                    "provider_payment_charge_id": charge.provider_charge_id}
        stored = self.store_message(charge.user_id, from_bot=False, sender=user, content={"refunded_payment": refunded})
        self.enqueue("message", stored.data)

"""The Stripe events gridshop acts on, as plain values: which types, the fields read from each
object (a Checkout Session, a charge, a refund, a dispute), what applying one did, and the two
side effects every branch shares (keep an event for the admins, tell the admins).

`parse_event` reads a verified event (a plain dict) outside the ledger write and never raises:
a wrong shape gives None fields. Currencies are compared as Stripe sends them (lowercase ISO
codes), never case-folded.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.settings import Config

from . import inbox, outbox

log = logging.getLogger(__name__)

PROVIDER = "stripe"
CURRENCY = "usd"  # 1 TFC = 1 USD; TFC cents are USD cents

SESSION_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
)
REFUND_EVENTS = ("charge.refunded", "refund.updated", "charge.refund.updated")
DISPUTE_EVENTS = (
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
)
CHARGE_EVENTS = REFUND_EVENTS + DISPUTE_EVENTS
# Exactly what the webhook endpoint subscribes to and reconciliation lists (`types[]` <= 20).
HANDLED_EVENTS = SESSION_EVENTS + CHARGE_EVENTS


@dataclass(frozen=True, slots=True)
class Policy:
    """What apply_event needs from the configuration."""

    admin_ids: Sequence[int] = ()
    hold_ttl_s: int = 2 * 3600

    @classmethod
    def of(cls, config: Config) -> Policy:
        """The policy the configuration gives: its admins and hold lifetime."""
        return cls(admin_ids=tuple(config.admin.user_ids),
                   hold_ttl_s=config.marketplace.hold_ttl_s)


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class StripeEvent:
    """The fields of a Stripe event gridshop acts on; `raw` is kept for the inbox."""

    id: str
    type: str
    object_id: str
    order_id: int | None
    user_id: int | None
    amount: int | None  # session amount_total, charge / refund / dispute amount
    currency: str | None
    payment_status: str | None  # sessions
    status: str | None  # session, refund or dispute status
    amount_refunded: int | None  # charges (a refund's expanded charge)
    payment_intent: str | None
    mode: str | None = None  # sessions
    charge_id: str | None = None  # charges, refunds, disputes
    withdrawn: bool = False  # disputes: a balance transaction took the funds
    reinstated: bool = False  # disputes: a balance transaction gave them back
    failure_reason: str | None = None  # refunds
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an event did. `status` is one of: credited, duplicate, waiting, failed, expired,
    clawed_back, given_back, told, kept, ignored, need_session, noop."""

    status: str
    detail: str = ""
    order_id: int | None = None

    @property
    def marked_applied(self) -> bool:
        """The write marked the event applied (`apply_and_mark`): a redelivery changes nothing.
        Not so for an event type the shop ignores, nor one waiting for its session's lookup."""
        return self.status not in ("ignored", "need_session")


def whole_number(value: Any) -> int | None:
    """An id or amount read from provider JSON: an int, or a string of digits; else None."""
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: Any) -> str | None:
    """An expandable field: the id string, or the id of the expanded object."""
    return _str(value) if not isinstance(value, dict) else _str(value.get("id"))


def parse_event(raw: Mapping[str, Any]) -> StripeEvent:
    """Read the fields we use; never raises (a wrong shape gives None fields)."""
    obj = _dict(_dict(raw.get("data")).get("object"))
    kind = obj.get("object")
    charge = _dict(obj.get("charge"))  # a refund read back with expand[]=charge
    metadata = _dict(obj.get("metadata"))
    if "order_id" not in metadata:  # a refund names the order through its charge
        metadata = _dict(charge.get("metadata")) or metadata
    order_id = whole_number(metadata.get("order_id"))
    if order_id is None and kind == "checkout.session":
        order_id = whole_number(obj.get("client_reference_id"))
    amount = obj.get("amount_total") if kind == "checkout.session" else obj.get("amount")
    refunded = obj.get("amount_refunded") if kind == "charge" else charge.get("amount_refunded")
    movements = obj.get("balance_transactions")
    moves = [whole_number(_dict(t).get("amount")) or 0
             for t in (movements if isinstance(movements, list) else [])]
    return StripeEvent(
        id=_str(raw.get("id")) or "",
        type=_str(raw.get("type")) or "",
        object_id=_str(obj.get("id")) or "",
        order_id=order_id,
        user_id=whole_number(metadata.get("telegram_user_id")),
        amount=whole_number(amount),
        currency=_str(obj.get("currency")),
        payment_status=_str(obj.get("payment_status")),
        status=_str(obj.get("status")),
        amount_refunded=whole_number(refunded),
        payment_intent=_id(obj.get("payment_intent")),
        mode=_str(obj.get("mode")),
        charge_id=_str(obj.get("id")) if kind == "charge" else _id(obj.get("charge")),
        withdrawn=any(m < 0 for m in moves),
        reinstated=any(m > 0 for m in moves),
        failure_reason=_str(obj.get("failure_reason")),
        raw=raw,
    )


def session_event(session: Mapping[str, Any], event_type: str, event_id: str) -> StripeEvent:
    """A synthetic event around a session read from the API (reconciliation, charge lookups)."""
    return parse_event({"id": event_id, "type": event_type, "data": {"object": dict(session)}})


def keep(conn: sqlite3.Connection, now: int, event: StripeEvent, reason: str) -> None:
    """Keep the event for the admins (and reconciliation) instead of applying it."""
    payload = json.dumps(event.raw, sort_keys=True, default=str)
    inbox.keep(conn, now, PROVIDER, event.id or f"noid:{event.object_id}", event.type, payload,
               reason)
    log.warning("stripe event %s (%s) kept for reconciliation: %s", event.id, event.type, reason)


def tell_admins(conn: sqlite3.Connection, now: int, policy: Policy, key: str, text: outbox.Text) -> None:
    for admin_id in policy.admin_ids:
        outbox.enqueue(conn, now, admin_id, text, key=f"{key}:admin:{admin_id}")

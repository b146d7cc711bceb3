"""The Stripe emulator's state and behaviour, without HTTP.

`StripeCore` holds checkout sessions, payment intents, charges, refunds, disputes and
events, and implements both the API operations (create/retrieve/list/expire sessions,
refunds, event listing) and the "outside world" actions a test drives: a customer paying a
session, an async payment settling, a dispute, the clock moving past `expires_at`. Every
state change that Stripe announces produces an event through `emit`.
"""

from __future__ import annotations

import copy
import heapq
import operator
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any

from . import stripe_disputes as disputes
from . import stripe_objects as obj
from .stripe_params import StripeError, invalid, missing, not_found

DAY = 86400
OUTCOMES = ("succeeded", "async_pending", "async_succeeded", "async_failed")
DISPUTE_REASONS = (
    "bank_cannot_process", "check_returned", "credit_not_processed", "customer_initiated",
    "debit_not_authorized", "duplicate", "fraudulent", "general",
    "incorrect_account_details", "insufficient_funds", "product_not_received",
    "product_unacceptable", "subscription_canceled", "unrecognized",
)


class ControlError(ValueError):
    """A control action that cannot happen in the emulated world (e.g. paying an expired
    session)."""


class RequestInfo:
    """The API request that caused an event (`event.request`); None fields for actions
    taken outside the API (a customer paying, a bank settling)."""

    def __init__(self, request_id: str | None = None, idempotency_key: str | None = None):
        self.id = request_id
        self.idempotency_key = idempotency_key


NO_REQUEST = RequestInfo()


class StripeCore:
    """All emulated Stripe objects plus the emulator's clock."""

    def __init__(self, api_version: str, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.api_version = api_version
        self.clock_offset = 0.0
        self.base_url = ""
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.session_pi_data: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}  # insertion order = creation order
        self.declined: dict[str, str] = {}  # open session -> PaymentIntent of a declined card
        # (expires_at, session id) of every session created open, soonest first: a sweep looks
        # only at those whose time has come, however many sessions the emulator has seen.
        self._expiring: list[tuple[int, str]] = []
        self._on_event = on_event

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        return int(time.time() + self.clock_offset)

    def advance_clock(self, seconds: float) -> int:
        self.clock_offset += seconds
        self.sweep()
        return self.now()

    def sweep(self) -> None:
        """Expire open sessions whose `expires_at` has passed, as Stripe does."""
        now = self.now()
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            s = self.sessions[heapq.heappop(expiring)[1]]
            if s["status"] == "open":  # not paid or expired by hand meanwhile
                self._expire(s, NO_REQUEST)

    # ------------------------------------------------------------------ events

    def emit(
        self, type: str, o: dict[str, Any], req: RequestInfo = NO_REQUEST,
        previous: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        ev = obj.event(
            eid=obj.new_id("evt_"), type=type, obj=copy.deepcopy(o), created=self.now(),
            api_version=self.api_version, pending_webhooks=0, request_id=req.id,
            idempotency_key=req.idempotency_key, previous_attributes=previous,
        )
        self.events[ev["id"]] = ev
        self._on_event(ev)
        return ev

    def list_events(self, p: dict[str, Any], delivered: Callable[[str], bool]) -> list[dict[str, Any]]:
        if "type" in p and "types" in p:
            raise invalid("You may only specify one of these parameters: type, types.",
                          "type", "parameters_exclusive")
        out = []
        for ev in reversed(self.events.values()):
            if "type" in p and not fnmatchcase(ev["type"], p["type"]):
                continue
            if "types" in p and ev["type"] not in p["types"]:
                continue
            if "created" in p and not _in_range(ev["created"], p["created"]):
                continue
            if "delivery_success" in p and delivered(ev["id"]) != p["delivery_success"]:
                continue
            out.append(ev)
        return out

    # ------------------------------------------------------------------ sessions

    def create_session(self, p: dict[str, Any]) -> dict[str, Any]:
        """Create a checkout session from checked params, applying Stripe's rules."""
        if "mode" not in p:
            raise missing("mode")
        mode = p["mode"]
        ui_mode = p.get("ui_mode", "hosted")
        if ui_mode == "hosted":
            if "success_url" not in p:
                raise missing("success_url")
            if "return_url" in p:
                raise invalid("You can only use `return_url` with `ui_mode` set to "
                              "`embedded` or `custom`.", "return_url")
        else:
            for forbidden in ("success_url", "cancel_url"):
                if forbidden in p:
                    raise invalid(f"`{forbidden}` is not allowed when `ui_mode` is "
                                  f"`{ui_mode}`; use `return_url` instead.", forbidden)
            if "return_url" not in p and p.get("redirect_on_completion") != "never":
                raise missing("return_url")
        items = p.get("line_items", [])
        if mode == "payment" and not items:
            raise missing("line_items")
        if mode == "setup" and items:
            raise invalid("You cannot pass `line_items` in `setup` mode.", "line_items")
        if mode == "subscription" and not any(
            i.get("price_data", {}).get("recurring") for i in items
        ):
            raise invalid("You must provide at least one recurring price in `subscription` "
                          "mode when using prices.", "line_items")
        currency = _currency(p["currency"], "currency") if "currency" in p else None
        total = 0
        for n, item in enumerate(items):
            cur, amount = self._check_item(item, f"line_items[{n}]")
            if currency is None:
                currency = cur
            elif cur != currency:
                raise invalid("All line items must use the same currency; "
                              f"line_items[{n}] uses {cur} but the session uses {currency}.",
                              f"line_items[{n}][price_data][currency]")
            total += amount
        if mode == "setup" and currency is None and "payment_method_types" not in p:
            raise missing("currency")
        if mode == "payment":
            assert currency is not None
            minimum = obj.MINIMUM_AMOUNT.get(currency, 1)
            if total < minimum:
                raise invalid("The Checkout Session's total amount due must add up to at "
                              f"least {obj.format_amount(minimum, currency)}")
            if total > obj.MAX_AMOUNT:
                raise invalid("The Checkout Session's total amount due must be no more than "
                              f"{obj.format_amount(obj.MAX_AMOUNT, currency)}")
        now = self.now()
        expires_at = p.get("expires_at", now + DAY)
        if expires_at < now + 30 * 60:
            raise invalid("The `expires_at` timestamp must be at least 30 minutes from "
                          "Checkout Session creation.", "expires_at")
        if expires_at > now + DAY:
            raise invalid("The `expires_at` timestamp must be less than 24 hours from "
                          "Checkout Session creation.", "expires_at")
        sid = obj.new_id("cs_test_", 58)
        url = f"{self.base_url}/c/pay/{sid}" if ui_mode == "hosted" else None
        session = obj.checkout_session(
            sid=sid, params=p, amount_total=total if mode != "setup" else None,
            currency=currency, created=now, expires_at=expires_at, url=url,
        )
        product = obj.new_id("prod_", 14)
        self.line_items[sid] = [obj.line_item(i, currency or "", product) for i in items]
        self.session_pi_data[sid] = p.get("payment_intent_data", {})
        self.sessions[sid] = session
        heapq.heappush(self._expiring, (session["expires_at"], sid))
        return session

    def _check_item(self, item: dict[str, Any], path: str) -> tuple[str, int]:
        if "price" in item and "price_data" in item:
            raise invalid("You may only specify one of these parameters: price, price_data.",
                          f"{path}[price]", "parameters_exclusive")
        if "price" in item:
            raise StripeError(f"No such price: '{item['price']}'", status=400,
                              code="resource_missing", param=f"{path}[price]",
                              validation=True)
        if "price_data" not in item:
            raise invalid(f"You must specify either `price` or `price_data` in {path}.",
                          path, "parameter_missing")
        pd = item["price_data"]
        pp = f"{path}[price_data]"
        if "product" in pd and "product_data" in pd:
            raise invalid("You may only specify one of these parameters: product, "
                          "product_data.", f"{pp}[product]", "parameters_exclusive")
        if "product" in pd:
            raise StripeError(f"No such product: '{pd['product']}'", status=400,
                              code="resource_missing", param=f"{pp}[product]",
                              validation=True)
        if "product_data" not in pd:
            raise invalid("You must specify either `product` or `product_data` when creating "
                          "a price.", f"{pp}[product_data]", "parameter_missing")
        currency = _currency(pd["currency"], f"{pp}[currency]")
        if "unit_amount" in pd and "unit_amount_decimal" in pd:
            raise invalid("You may only specify one of these parameters: unit_amount, "
                          "unit_amount_decimal.", f"{pp}[unit_amount]", "parameters_exclusive")
        if "unit_amount_decimal" in pd:
            try:
                dec = Decimal(pd["unit_amount_decimal"])
            except InvalidOperation:
                raise invalid(f"Invalid decimal: {pd['unit_amount_decimal']}",
                              f"{pp}[unit_amount_decimal]") from None
            if dec != dec.to_integral_value():
                raise invalid("The emulator only supports whole unit_amount_decimal values.",
                              f"{pp}[unit_amount_decimal]")
            pd["unit_amount"] = int(dec)
        if "unit_amount" not in pd:
            raise invalid("You must specify either `unit_amount` or `unit_amount_decimal`.",
                          f"{pp}[unit_amount]", "parameter_missing")
        unit = pd["unit_amount"]
        if unit < 0:
            raise invalid("This value must be greater than or equal to 0.",
                          f"{pp}[unit_amount]")
        if unit > obj.MAX_AMOUNT:
            raise invalid(f"This value must be less than or equal to {obj.MAX_AMOUNT}.",
                          f"{pp}[unit_amount]")
        if "quantity" not in item:
            raise invalid(f"Quantity is required. Add `quantity` to `{path}`",
                          f"{path}[quantity]", "parameter_missing")
        qty = item["quantity"]
        if qty < 1:
            raise invalid("This value must be greater than or equal to 1.", f"{path}[quantity]")
        if qty > 999_999:
            raise invalid("This value must be less than or equal to 999999.",
                          f"{path}[quantity]")
        pd["currency"] = currency
        return currency, unit * qty

    def get_session(self, sid: str) -> dict[str, Any]:
        self.sweep()
        if sid not in self.sessions:
            raise not_found("checkout.session", sid, "session")
        return self.sessions[sid]

    def list_sessions(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for s in reversed(self.sessions.values()):
            if "payment_intent" in p and s["payment_intent"] != p["payment_intent"]:
                continue
            if "status" in p and s["status"] != p["status"]:
                continue
            if "customer" in p and s["customer"] != p["customer"]:
                continue
            if "created" in p and not _in_range(s["created"], p["created"]):
                continue
            if "customer_details" in p and (s["customer_details"] or {}).get(
                "email") != p["customer_details"]["email"]:
                continue
            if "payment_link" in p or "subscription" in p:
                continue  # the emulator creates neither
            out.append(s)
        return out

    def expire_session(self, sid: str, req: RequestInfo) -> dict[str, Any]:
        s = self.get_session(sid)
        if s["status"] != "open":
            raise StripeError(
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{s["status"]}".', param="session"
            )
        self._expire(s, req)
        return s

    def _expire(self, s: dict[str, Any], req: RequestInfo) -> None:
        s["status"] = "expired"
        s["url"] = None
        self.emit("checkout.session.expired", s, req)

    # ------------------------------------------------------------------ paying

    def _payable(self, sid: str) -> dict[str, Any]:
        """The open payment-mode session a customer is paying on the Checkout page."""
        self.sweep()
        s = self.sessions.get(sid)
        if s is None:
            raise ControlError(f"no such checkout session {sid!r}")
        if s["status"] != "open":
            raise ControlError(f"checkout session {sid} is {s['status']}, not open")
        if s["mode"] != "payment":
            raise ControlError("the emulator can only pay sessions in payment mode")
        return s

    def _intent(self, sid: str, method: str) -> tuple[dict[str, Any], bool]:
        """The session's PaymentIntent for this attempt and whether it is new: a card attempt
        after a declined card confirms the same PaymentIntent again, as Checkout does."""
        s = self.sessions[sid]
        earlier = self.payment_intents.get(self.declined.get(sid, ""))
        if earlier is not None and method == "card":
            earlier["last_payment_error"] = None
            return earlier, False
        pid_data = self.session_pi_data.get(sid, {})
        pi = obj.payment_intent(
            pid=obj.new_id("pi_"), amount=s["amount_total"], currency=s["currency"],
            created=self.now(), metadata=dict(pid_data.get("metadata", {})),
            method_type=method, description=pid_data.get("description"),
        )
        self.payment_intents[pi["id"]] = pi
        return pi, True

    def decline_card(self, sid: str, code: str, decline_code: str, message: str,
                     card: dict[str, Any] | None = None,
                     email: str = "customer@example.com") -> dict[str, Any]:
        """A card payment attempt on the Checkout page is declined: the charge fails
        (`charge.failed`, `payment_intent.payment_failed`) and the session stays open for
        another try. Shapes per the Charge `outcome` and PaymentIntent `last_payment_error`
        of Stripe's OpenAPI spec; codes per docs.stripe.com/testing#declined-payments."""
        s = self._payable(sid)
        pi, created = self._intent(sid, "card")
        ch = obj.charge(cid=obj.new_id("ch_"), pi=pi, created=self.now(), status="failed",
                        billing_email=email)
        ch.update(failure_code=code, failure_message=message)
        ch["outcome"].update(network_status="declined_by_network", reason=decline_code,
                             type="issuer_declined", seller_message="The bank did not return any further details "
                             "with this decline.")
        if card:
            ch["payment_method_details"]["card"].update(card)
        self.charges[ch["id"]] = ch
        pi.update(status="requires_payment_method", latest_charge=ch["id"], last_payment_error={
            "type": "card_error", "code": code, "decline_code": decline_code,
            "message": message, "charge": ch["id"],
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        })
        self.declined[sid] = pi["id"]
        if created:
            self.emit("payment_intent.created", pi, NO_REQUEST)
        self.emit("charge.failed", ch, NO_REQUEST)
        self.emit("payment_intent.payment_failed", pi, NO_REQUEST)
        return s

    def pay_session(self, sid: str, outcome: str = "succeeded",
                    email: str = "customer@example.com",
                    card: dict[str, Any] | None = None) -> dict[str, Any]:
        """A customer completes the Checkout page; see `OUTCOMES`. `card` (brand, last4,
        ...) replaces the default Visa 4242 in the charge's card details."""
        if outcome not in OUTCOMES:
            raise ControlError(f"outcome must be one of {', '.join(OUTCOMES)}")
        s = self._payable(sid)
        method = "card" if outcome == "succeeded" else "us_bank_account"
        pi, created = self._intent(sid, method)
        ch = obj.charge(cid=obj.new_id("ch_"), pi=pi, created=self.now(),
                        status="succeeded" if outcome == "succeeded" else "pending",
                        billing_email=email)
        if card and method == "card":
            ch["payment_method_details"]["card"].update(card)
        self.charges[ch["id"]] = ch
        self.declined.pop(sid, None)
        pi["latest_charge"] = ch["id"]
        s["status"] = "complete"
        s["url"] = None
        s["payment_intent"] = pi["id"]
        s["customer_details"] = {
            "address": obj.empty_address() | {"country": "US"}, "business_name": None,
            "email": email, "individual_name": None, "name": "Jenny Rosen", "phone": None,
            "tax_exempt": "none", "tax_ids": [],
        }
        s["payment_method_types"] = [method] if method not in s["payment_method_types"] \
            else s["payment_method_types"]
        if created:
            self.emit("payment_intent.created", pi, NO_REQUEST)
        if outcome == "succeeded":
            pi["status"] = "succeeded"
            pi["amount_received"] = pi["amount"]
            s["payment_status"] = "paid"
            self.emit("charge.succeeded", ch, NO_REQUEST)
            self.emit("payment_intent.succeeded", pi, NO_REQUEST)
        else:
            pi["status"] = "processing"
            pi["processing"] = {"type": method}
            self.emit("payment_intent.processing", pi, NO_REQUEST)
            self.emit("charge.pending", ch, NO_REQUEST)
        self.emit("checkout.session.completed", s, NO_REQUEST)
        if outcome == "async_succeeded":
            self.settle_async_payment(sid, succeeded=True)
        elif outcome == "async_failed":
            self.settle_async_payment(sid, succeeded=False)
        return s

    def settle_async_payment(self, sid: str, succeeded: bool = True) -> dict[str, Any]:
        """The bank settles (or fails) a delayed payment of a completed, unpaid session."""
        s = self.sessions.get(sid)
        if s is None:
            raise ControlError(f"no such checkout session {sid!r}")
        pi = self.payment_intents.get(s["payment_intent"] or "")
        if s["status"] != "complete" or pi is None or pi["status"] != "processing":
            raise ControlError(f"checkout session {sid} has no processing payment")
        ch = self.charges[pi["latest_charge"]]
        pi["processing"] = None
        if succeeded:
            ch.update(status="succeeded", paid=True, captured=True,
                      amount_captured=ch["amount"], balance_transaction=obj.new_id("txn_"))
            pi.update(status="succeeded", amount_received=pi["amount"])
            s["payment_status"] = "paid"
            self.emit("charge.succeeded", ch, NO_REQUEST)
            self.emit("payment_intent.succeeded", pi, NO_REQUEST)
            self.emit("checkout.session.async_payment_succeeded", s, NO_REQUEST)
        else:
            ch.update(status="failed", failure_code="insufficient_funds",
                      failure_message="The customer's account has insufficient funds to "
                      "cover this payment.")
            pi.update(status="requires_payment_method", last_payment_error={
                "type": "card_error" if ch["payment_method_details"]["type"] == "card"
                else "invalid_request_error",
                "code": "payment_intent_payment_attempt_failed",
                "message": ch["failure_message"],
            })
            self.emit("charge.failed", ch, NO_REQUEST)
            self.emit("payment_intent.payment_failed", pi, NO_REQUEST)
            self.emit("checkout.session.async_payment_failed", s, NO_REQUEST)
        return s

    # ------------------------------------------------------------------ refunds

    def create_refund(self, p: dict[str, Any], req: RequestInfo) -> dict[str, Any]:
        if "charge" in p and "payment_intent" in p:
            raise invalid("You may only specify one of these parameters: charge, "
                          "payment_intent.", "charge", "parameters_exclusive")
        if "charge" in p:
            ch = self.get_charge(p["charge"], param="charge")
        elif "payment_intent" in p:
            pi = self.get_payment_intent(p["payment_intent"], param="payment_intent")
            if pi["status"] != "succeeded" or not pi["latest_charge"]:
                raise StripeError(f"This PaymentIntent ({pi['id']}) does not have a "
                                  "successful charge to refund.", param="payment_intent")
            ch = self.charges[pi["latest_charge"]]
        else:
            raise invalid("One of the following params should be provided for this request: "
                          "payment_intent or charge.", None, "parameter_missing")
        if ch["status"] != "succeeded":
            raise StripeError(f"Charge {ch['id']} has not succeeded and cannot be refunded.",
                              param="charge")
        if ch["disputed"]:
            raise StripeError(f"Charge {ch['id']} has been charged back; cannot issue a "
                              "refund.", code="charge_disputed")
        remaining = ch["amount"] - ch["amount_refunded"]
        if remaining <= 0:
            raise StripeError(f"Charge {ch['id']} has already been refunded.",
                              code="charge_already_refunded")
        if "currency" in p and p["currency"].lower() != ch["currency"]:
            raise StripeError(f"The currency of the refund ({p['currency']}) must match the "
                              f"currency of the charge ({ch['currency']}).", param="currency")
        amount = p.get("amount", remaining)
        if amount <= 0:
            raise invalid("Invalid positive integer", "amount")
        if amount > remaining:
            raise StripeError(
                f"Refund amount ({obj.format_amount(amount, ch['currency'])}) is greater than "
                f"unrefunded amount on charge ({obj.format_amount(remaining, ch['currency'])})",
                param="amount", code="amount_too_large")
        return self._refund(ch, amount, p.get("reason"), p.get("metadata", {}), req)

    def _refund(self, ch: dict[str, Any], amount: int, reason: str | None,
                metadata: dict[str, str], req: RequestInfo) -> dict[str, Any]:
        r = obj.refund(rid=obj.new_id("re_"), ch=ch, amount=amount, created=self.now(),
                       reason=reason, metadata=metadata)
        self.refunds[r["id"]] = r
        previous = {"amount_refunded": ch["amount_refunded"], "refunded": ch["refunded"]}
        ch["amount_refunded"] += amount
        ch["refunded"] = ch["amount_refunded"] == ch["amount"]
        ch["refunds"]["data"].insert(0, r)
        self.emit("refund.created", r, req)
        if not ch["refunded"]:
            previous.pop("refunded")
        self.emit("charge.refunded", ch, req, previous)
        return r

    def refund_payment(self, charge_or_pi: str, amount: int | None = None,
                       reason: str | None = None) -> dict[str, Any]:
        """A refund made outside the API (e.g. in the Dashboard)."""
        p: dict[str, Any] = {"payment_intent" if charge_or_pi.startswith("pi_")
                             else "charge": charge_or_pi}
        if amount is not None:
            p["amount"] = amount
        if reason is not None:
            p["reason"] = reason
        try:
            return self.create_refund(p, NO_REQUEST)
        except StripeError as exc:
            raise ControlError(exc.message) from None

    # ------------------------------------------------------------------ disputes

    def dispute_payment(self, charge_or_pi: str, reason: str = "fraudulent",
                        amount: int | None = None, inquiry: bool = False) -> dict[str, Any]:
        """The cardholder disputes a charge: `charge.dispute.created`, and for a chargeback
        (not an inquiry) `charge.dispute.funds_withdrawn` (see sandbox/stripe_disputes.py)."""
        if reason not in DISPUTE_REASONS:
            raise ControlError(f"reason must be one of {', '.join(DISPUTE_REASONS)}")
        ch = self._charge_for(charge_or_pi)
        if ch["status"] != "succeeded":
            raise ControlError(f"charge {ch['id']} has not succeeded")
        if ch["disputed"]:
            raise ControlError(f"charge {ch['id']} is already disputed")
        return disputes.open_dispute(self, ch, amount or ch["amount"], reason, inquiry)

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        try:
            return disputes.close_dispute(self, dispute_id, won)
        except disputes.DisputeError as exc:
            raise ControlError(str(exc)) from None

    def fail_refund(self, refund_id: str, status: str = "failed",
                    failure_reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        try:
            return disputes.fail_refund(self, refund_id, status, failure_reason)
        except disputes.DisputeError as exc:
            raise ControlError(str(exc)) from None

    def get_dispute(self, did: str) -> dict[str, Any]:
        if did not in self.disputes:
            raise not_found("dispute", did, "dispute")
        return self.disputes[did]

    def list_refunds(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """`GET /v1/refunds` (spec: paths./v1/refunds.get: `charge`, `payment_intent`,
        `created`), newest first."""
        out = []
        for r in reversed(self.refunds.values()):
            if "charge" in p and r["charge"] != p["charge"]:
                continue
            if "payment_intent" in p and r["payment_intent"] != p["payment_intent"]:
                continue
            if "created" in p and not _in_range(r["created"], p["created"]):
                continue
            out.append(r)
        return out

    def _charge_for(self, ident: str) -> dict[str, Any]:
        if ident in self.charges:
            return self.charges[ident]
        pi = self.payment_intents.get(ident)
        if pi and pi["latest_charge"]:
            return self.charges[pi["latest_charge"]]
        s = self.sessions.get(ident)
        if s and s["payment_intent"]:
            return self._charge_for(s["payment_intent"])
        raise ControlError(f"no charge found for {ident!r}")

    # ------------------------------------------------------------------ lookups

    def get_payment_intent(self, pid: str, param: str = "intent") -> dict[str, Any]:
        if pid not in self.payment_intents:
            raise not_found("payment_intent", pid, param)
        return self.payment_intents[pid]

    def get_charge(self, cid: str, param: str = "charge") -> dict[str, Any]:
        if cid not in self.charges:
            raise not_found("charge", cid, param)
        return self.charges[cid]

    def get_refund(self, rid: str) -> dict[str, Any]:
        if rid not in self.refunds:
            raise not_found("refund", rid, "refund")
        return self.refunds[rid]

    def get_event(self, eid: str) -> dict[str, Any]:
        if eid not in self.events:
            raise not_found("event", eid, "id")
        return self.events[eid]

    def lookup(self, ident: str) -> dict[str, Any] | None:
        for store in (self.payment_intents, self.charges, self.refunds, self.disputes,
                      self.sessions):
            if ident in store:
                return store[ident]
        return None


def _currency(value: str, param: str) -> str:
    # Stripe accepts any case and answers in lowercase.
    cur = value.lower()
    if cur not in obj.CURRENCIES:
        raise invalid(f"Invalid currency: {value}. Stripe currently supports these "
                      f"currencies: {', '.join(sorted(obj.CURRENCIES))}", param)
    return cur


def _in_range(value: int, spec: dict[str, int]) -> bool:
    return all(_OPS[op](value, bound) for op, bound in spec.items())


_OPS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq, "gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
    "lte": operator.le,
}

"""HTTP emulator of the parts of Stripe's v1 API that gridshop uses.

Serves Checkout Sessions, Events, Refunds and read-only PaymentIntents/Charges with Stripe's
authentication, form encoding, parameter checks, error shapes and idempotency keys, and
delivers signed webhooks with retries. Tests drive the outside world (a customer paying, a
bank settling, a dispute, time passing) through `/_control/...` or the matching methods of
`StripeEmulator`. See docs/sandbox.md.

Standalone:
    python -m sandbox.stripe_api --port 12111 --webhook-url http://127.0.0.1:8080/webhooks/stripe \
        --webhook-secret whsec_...
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from aiohttp import web

from . import stripe_objects as obj
from .stripe_core import OUTCOMES, ControlError, RequestInfo, StripeCore
from .stripe_endpoints import WebhookEndpoints
from .stripe_faults import ERROR_500, LOST_ANSWER, Faults
from .stripe_params import (
    Str,
    StripeError,
    check_params,
    decode_form,
    invalid,
    not_found,
)
from .stripe_schemas import (
    CHECKOUT_SESSION_CREATE,
    CHECKOUT_SESSION_LIST,
    EVENT_LIST,
    LIST,
    REFUND_CREATE,
    REFUND_LIST,
    RETRIEVE,
    WEBHOOK_ENDPOINT_CREATE,
    WEBHOOK_ENDPOINT_UPDATE,
)
from .stripe_webhooks import STRIPE_RETRY_SCHEDULE, DeliveryAttempt, WebhookDeliverer

DEFAULT_API_VERSION = "2026-10-28.endive"  # the version stripe-python 16.1 pins
IDEMPOTENCY_TTL = 24 * 3600

__all__ = ["StripeEmulator", "ControlError", "DeliveryAttempt", "OUTCOMES", "main"]

Handler = Callable[[web.Request, dict[str, Any], RequestInfo], dict[str, Any]]


@dataclass
class _IdempotencyRecord:
    method: str
    path: str
    params: dict[str, Any]
    created: float
    request_id: str
    status: int = 0
    body: bytes = b""
    in_flight: bool = True


class StripeEmulator:
    """An in-process Stripe API emulator with webhook delivery.

    Webhook options: `retry_schedule` gives the delays (seconds) before each retry of a
    failed delivery (its length is the number of retries); `duplicate_deliveries` sends
    every event twice; `reorder` shuffles deliveries that are due together; `delay_seconds`
    holds every first delivery back; `max_concurrency` allows parallel POSTs;
    `enabled_events` filters which event types are sent (all are still listed by the API).
    """

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_test_secret",
        api_key: str = "sk_test_emulator",
        *,
        api_version: str = DEFAULT_API_VERSION,
        retry_schedule: Sequence[float] = STRIPE_RETRY_SCHEDULE,
        webhook_timeout: float = 10.0,
        max_concurrency: int = 1,
        duplicate_deliveries: bool = False,
        reorder: bool = False,
        delay_seconds: float = 0.0,
        enabled_events: Sequence[str] = ("*",),
        seed: int | None = None,
        async_settle_s: float | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.api_key = api_key
        self.api_version = api_version
        self.enabled_events = tuple(enabled_events)
        self.async_settle_s = async_settle_s
        self.core = StripeCore(api_version, self._on_event)
        self._deliverer_options = dict(
            retry_schedule=retry_schedule, timeout=webhook_timeout,
            max_concurrency=max_concurrency, duplicate_deliveries=duplicate_deliveries,
            reorder=reorder, delay_seconds=delay_seconds, seed=seed,
        )
        self.deliverer: WebhookDeliverer | None = None
        self._delivered: dict[str, bool | None] = {}
        self._idempotency: dict[str, _IdempotencyRecord] = {}
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []  # (method, path with query) of API calls
        self.webhook_endpoints = WebhookEndpoints(api_version)
        self._runner: web.AppRunner | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.base_url = ""

    # ================================================================ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns the base URL (`http://host:port`) to give the SDK."""
        if self.webhook_url:
            self.deliverer = WebhookDeliverer(
                self.webhook_url, self.webhook_secret, self.core.get_event,
                self._on_settled, **self._deliverer_options,  # type: ignore[arg-type]
            )
            self.deliverer.start()
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        self.core.base_url = self.base_url
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        return self.base_url

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
        if self.deliverer:
            await self.deliverer.stop()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> StripeEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.core.sweep()

    # ================================================================ control API

    def now(self) -> int:
        """The emulator's clock (unix seconds), real time plus any `advance_clock`."""
        return self.core.now()

    def advance_clock(self, seconds: float) -> int:
        """Move the emulator's clock forward; sessions past `expires_at` expire now."""
        return self.core.advance_clock(seconds)

    def pay_session(self, session_id: str, outcome: str = "succeeded",
                    email: str = "customer@example.com",
                    card: dict[str, Any] | None = None) -> dict[str, Any]:
        """The customer pays on the Checkout page; returns the session.

        outcome: "succeeded" (card: completed, paid), "async_pending" (completed, unpaid;
        settle later with `settle_async_payment`), "async_succeeded" / "async_failed"
        (completed unpaid, then settled at once).
        """
        return copy.deepcopy(self.core.pay_session(session_id, outcome, email, card))

    def decline_card(self, session_id: str, code: str, decline_code: str, message: str,
                     card: dict[str, Any] | None = None,
                     email: str = "customer@example.com") -> dict[str, Any]:
        """A card attempt on the Checkout page is declined; the session stays open."""
        return copy.deepcopy(self.core.decline_card(session_id, code, decline_code, message, card, email))

    def settle_later(self, session_id: str, succeeded: bool) -> None:
        """Settle a bank debit paid on the Checkout page after `async_settle_s` seconds (the
        bank's delay), unless something settled it first; without the option it waits for
        `settle_async_payment`."""
        if self.async_settle_s is None:
            return

        def settle() -> None:
            try:
                self.core.settle_async_payment(session_id, succeeded)
            except ControlError:
                pass  # settled by hand already
        asyncio.get_running_loop().call_later(self.async_settle_s, settle)

    def settle_async_payment(self, session_id: str, succeeded: bool = True) -> dict[str, Any]:
        """A delayed payment settles: async_payment_succeeded or _failed; returns session."""
        return copy.deepcopy(self.core.settle_async_payment(session_id, succeeded))

    def expire_session(self, session_id: str) -> dict[str, Any]:
        """Stripe expires an open session (not via the API: `request.id` is null)."""
        s = self.core.sessions.get(session_id)
        if s is None or s["status"] != "open":
            raise ControlError(f"checkout session {session_id!r} is not open")
        self.core._expire(s, RequestInfo())
        return copy.deepcopy(s)

    def refund_payment(self, payment: str, amount: int | None = None,
                       reason: str | None = None) -> dict[str, Any]:
        """Refund a charge (`ch_...`) or payment intent (`pi_...`) from outside the API;
        full when `amount` is None. Emits refund.created and charge.refunded; returns
        the refund."""
        return copy.deepcopy(self.core.refund_payment(payment, amount, reason))

    def dispute_payment(self, payment: str, reason: str = "fraudulent",
                        amount: int | None = None, inquiry: bool = False) -> dict[str, Any]:
        """The cardholder disputes a charge (`ch_`, `pi_` or paid `cs_` id); emits
        charge.dispute.created, and for a chargeback (not an `inquiry`)
        charge.dispute.funds_withdrawn; returns the dispute."""
        return copy.deepcopy(self.core.dispute_payment(payment, reason, amount, inquiry))

    def close_dispute(self, dispute_id: str, won: bool) -> dict[str, Any]:
        """The card network decides a dispute: an inquiry closes `warning_closed`; a chargeback
        `won` (charge.dispute.funds_reinstated first) or `lost`; then charge.dispute.closed."""
        return copy.deepcopy(self.core.close_dispute(dispute_id, won))

    def fail_refund(self, refund_id: str, status: str = "failed",
                    failure_reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        """A refund fails (`failed`) or is `canceled` after it was created: the charge's
        amount_refunded drops back; refund.updated and charge.refund.updated."""
        return copy.deepcopy(self.core.fail_refund(refund_id, status, failure_reason))

    def fail_next(self, path: str, method: str = "POST", times: int = 1) -> None:
        """The next `times` requests to a path starting with `path` answer 500 `api_error`
        without being applied; the answer is stored under the request's idempotency key
        and replayed to every retry with that key, as Stripe does."""
        self.faults.plan(ERROR_500, path, method, times)

    def lose_next_answer(self, path: str, method: str = "POST", times: int = 1) -> None:
        """The next `times` requests to `path...` are applied (and their answer stored under
        the idempotency key), then the connection is dropped before the answer is sent."""
        self.faults.plan(LOST_ANSWER, path, method, times)

    def skew_clock(self, seconds: float) -> int:
        """Stripe's clock runs `seconds` ahead of ours (the `Date` header and every
        timestamp follow it); unlike `advance_clock` nothing is expired at once."""
        self.core.clock_offset += seconds
        return self.core.now()

    def redeliver(self, event_id: str, delay: float = 0.0) -> None:
        """Send an event to the webhook endpoint again (like the Dashboard's "Resend")."""
        if event_id not in self.core.events:
            raise ControlError(f"no such event {event_id!r}")
        if self.deliverer is None:
            raise ControlError("no webhook_url configured")
        self.deliverer.enqueue(event_id, counts=False, manual=True, delay=delay)

    def set_delivery_options(self, **options: Any) -> None:
        """Change `duplicate_deliveries`, `reorder`, `delay_seconds` or `retry_schedule`
        of a running emulator."""
        for key, value in options.items():
            if key not in ("duplicate_deliveries", "reorder", "delay_seconds",
                           "retry_schedule"):
                raise ControlError(f"unknown delivery option {key!r}")
            if key == "retry_schedule":
                value = tuple(value)
            self._deliverer_options[key] = value
            if self.deliverer:
                setattr(self.deliverer, key, value)

    async def wait_for_deliveries(self, timeout: float = 10.0) -> None:
        """Wait until no webhook delivery is queued, awaiting a retry, or in flight.

        Raises `TimeoutError` if deliveries are still pending after `timeout` seconds.
        """
        if self.deliverer is not None:
            await self.deliverer.wait_idle(timeout)

    @property
    def delivery_attempts(self) -> list[DeliveryAttempt]:
        """Every webhook POST made so far, oldest first."""
        return list(self.deliverer.attempts) if self.deliverer else []

    def events(self, type: str | None = None) -> list[dict[str, Any]]:
        """Events created so far, oldest first, optionally of one type."""
        return [copy.deepcopy(e) for e in self.core.events.values()
                if type is None or e["type"] == type]

    def charges(self) -> list[dict[str, Any]]:
        """Every charge, newest first, as the Dashboard's payments list shows them."""
        return [copy.deepcopy(c) for c in reversed(self.core.charges.values())]

    def disputes(self) -> list[dict[str, Any]]:
        """Every dispute, newest first."""
        return [copy.deepcopy(d) for d in reversed(self.core.disputes.values())]

    def get_object(self, ident: str) -> dict[str, Any] | None:
        """Any stored object (cs_, pi_, ch_, re_, dp_, evt_) by id, or None."""
        found = self.core.lookup(ident) or self.core.events.get(ident)
        return copy.deepcopy(found) if found else None

    # ================================================================ events

    def _on_event(self, ev: dict[str, Any]) -> None:
        wanted = "*" in self.enabled_events or ev["type"] in self.enabled_events
        if self.deliverer is not None and wanted:
            ev["pending_webhooks"] = 1
            self._delivered[ev["id"]] = None
            self.deliverer.enqueue(ev["id"])
        else:
            self._delivered[ev["id"]] = True

    def _on_settled(self, event_id: str, ok: bool) -> None:
        self.core.events[event_id]["pending_webhooks"] = 0
        if ok or self._delivered.get(event_id) is not True:
            self._delivered[event_id] = ok

    def _delivery_success(self, event_id: str) -> bool:
        return self._delivered.get(event_id) is True

    # ================================================================ HTTP app

    def make_app(self) -> web.Application:
        """The aiohttp application (for embedding in another server)."""
        app = web.Application()
        r = app.router
        r.add_post("/v1/checkout/sessions", self._api(self._create_session, post=True))
        r.add_get("/v1/checkout/sessions", self._api(self._list_sessions))
        r.add_get("/v1/checkout/sessions/{session}", self._api(self._get_session))
        r.add_post("/v1/checkout/sessions/{session}/expire",
                   self._api(self._expire_session, post=True))
        r.add_get("/v1/checkout/sessions/{session}/line_items", self._api(self._line_items))
        r.add_get("/v1/events", self._api(self._list_events))
        r.add_get("/v1/events/{id}", self._api(self._get_event))
        r.add_post("/v1/refunds", self._api(self._create_refund, post=True))
        r.add_get("/v1/refunds", self._api(self._list_refunds))
        r.add_get("/v1/refunds/{refund}", self._api(self._get_refund))
        r.add_get("/v1/disputes/{dispute}", self._api(self._get_dispute))
        r.add_post("/v1/webhook_endpoints", self._api(self._create_endpoint, post=True))
        r.add_get("/v1/webhook_endpoints", self._api(self._list_endpoints))
        r.add_get("/v1/webhook_endpoints/{endpoint}", self._api(self._get_endpoint))
        r.add_post("/v1/webhook_endpoints/{endpoint}",
                   self._api(self._update_endpoint, post=True))
        r.add_delete("/v1/webhook_endpoints/{endpoint}",
                     self._api(self._delete_endpoint, post=None))
        r.add_get("/v1/payment_intents/{intent}", self._api(self._get_payment_intent))
        r.add_get("/v1/charges/{charge}", self._api(self._get_charge))
        r.add_route("*", "/v1/{tail:.*}", self._api(self._unrecognized, post=None))
        from .stripe_control import add_control_routes

        add_control_routes(app, self)
        return app

    def _api(self, fn: Handler, post: bool | None = False) -> Callable[
            [web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            request_id = obj.new_id("req_", 14)
            self.requests.append((request.method, request.path_qs))
            headers = {
                # Stripe's own clock, which a shop may read to plan timestamps (expires_at).
                "Date": formatdate(self.core.now(), usegmt=True),
                "Request-Id": request_id,
                "Stripe-Version": request.headers.get("Stripe-Version", self.api_version),
                "Access-Control-Allow-Origin": "*",
            }
            key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
            if key is not None:
                headers["Idempotency-Key"] = key
            record: _IdempotencyRecord | None = None
            fault: str | None = None
            try:
                self._authenticate(request)
                is_post = request.method == "POST" if post is None else post
                source = await request.text() if is_post else request.query_string
                raw = decode_form(source)
                self.core.sweep()
                fault = self.faults.take(request.method, request.path)
                if key is not None:
                    replay = self._idempotency_replay(request, key, raw)
                    if replay is not None:
                        if fault == LOST_ANSWER and request.transport is not None:
                            request.transport.abort()  # the replayed answer is lost too
                        return replay
                    record = _IdempotencyRecord(request.method, request.path, raw,
                                                time.time(), request_id)
                    self._idempotency[key] = record
                if fault == ERROR_500:
                    raise StripeError("An unknown error occurred", status=500, type="api_error")
                status, body = 200, fn(request, raw, RequestInfo(request_id, key))
            except StripeError as exc:
                status, body = exc.status, exc.body(request_id)
                if record is not None and exc.validation:
                    # Stripe stores nothing for requests that failed validation.
                    del self._idempotency[key]  # type: ignore[arg-type]
                    record = None
            except Exception as exc:  # an emulator bug: answer like Stripe's 500s
                err = StripeError(f"An unknown error occurred ({type(exc).__name__}: {exc})",
                                  status=500, type="api_error")
                status, body = err.status, err.body(request_id)
            # Compact: Stripe indents its JSON, but json's C encoder only writes it unindented.
            data = json.dumps(body).encode()
            if record is not None:
                record.status, record.body, record.in_flight = status, data, False
            if fault == LOST_ANSWER and request.transport is not None:
                request.transport.abort()  # applied and stored; the caller never hears back
            return web.Response(body=data, status=status, headers=headers,
                                content_type="application/json")

        return handler

    def _authenticate(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        key: str | None = None
        if auth.startswith("Bearer "):
            key = auth[len("Bearer "):].strip()
        elif auth.startswith("Basic "):
            try:
                key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
                "details, or we can help at https://support.stripe.com/.", status=401,
            )
        if key != self.api_key:
            shown = key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else key
            raise StripeError(f"Invalid API Key provided: {shown}", status=401)

    def _idempotency_replay(self, request: web.Request, key: str,
                            raw: dict[str, Any]) -> web.Response | None:
        if len(key) > 255:
            raise invalid("Idempotency keys can be no longer than 255 characters.")
        record = self._idempotency.get(key)
        if record is not None and record.created < time.time() - IDEMPOTENCY_TTL:
            del self._idempotency[key]
            record = None
        if record is None:
            return None
        if record.in_flight:
            raise StripeError(
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " + key + ". Please try again later.",
                status=409, type="idempotency_error",
            )
        if (record.method, record.path) != (request.method, request.path):
            raise StripeError(
                "Keys for idempotent requests can only be used for the same endpoint they "
                f"were first used for ('{record.method} {record.path}' vs '{request.method} "
                f"{request.path}'). Try using a key other than '{key}' if you meant to "
                "execute a different request.", type="idempotency_error",
            )
        if record.params != raw:
            raise StripeError(
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.", type="idempotency_error",
            )
        return web.Response(
            body=record.body, status=record.status, content_type="application/json",
            headers={"Request-Id": obj.new_id("req_", 14), "Idempotency-Key": key,
                     "Idempotent-Replayed": "true", "Original-Request": record.request_id,
                     "Stripe-Version": request.headers.get("Stripe-Version",
                                                           self.api_version)},
        )

    # ================================================================ endpoints

    def _create_session(self, request: web.Request, raw: dict[str, Any],
                        req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, CHECKOUT_SESSION_CREATE)
        s = self.core.create_session(p)
        return self._expand(s, p.get("expand", []))

    def _get_session(self, request: web.Request, raw: dict[str, Any],
                     req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        sid = request.match_info["session"]
        return self._expand(self.core.get_session(sid), p.get("expand", []))

    def _expire_session(self, request: web.Request, raw: dict[str, Any],
                        req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        s = self.core.expire_session(request.match_info["session"], req)
        return self._expand(s, p.get("expand", []))

    def _list_sessions(self, request: web.Request, raw: dict[str, Any],
                       req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, CHECKOUT_SESSION_LIST)
        return self._page(self.core.list_sessions(p), self.core.sessions, p,
                          "/v1/checkout/sessions", "checkout.session")

    def _line_items(self, request: web.Request, raw: dict[str, Any],
                    req: RequestInfo) -> dict[str, Any]:
        sid = request.match_info["session"]
        p = check_params(raw, {k: CHECKOUT_SESSION_LIST[k] for k in
                               ("ending_before", "expand", "limit", "starting_after")})
        self.core.get_session(sid)
        items = list(reversed(self.core.line_items[sid]))
        order = {i["id"]: n for n, i in enumerate(self.core.line_items[sid])}
        return self._page(items, order, p, f"/v1/checkout/sessions/{sid}/line_items", "item")

    def _list_events(self, request: web.Request, raw: dict[str, Any],
                     req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, EVENT_LIST)
        items = self.core.list_events(p, self._delivery_success)
        return self._page(items, self.core.events, p, "/v1/events", "event")

    def _get_event(self, request: web.Request, raw: dict[str, Any],
                   req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        return self._expand(self.core.get_event(request.match_info["id"]),
                            p.get("expand", []))

    def _create_refund(self, request: web.Request, raw: dict[str, Any],
                       req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, REFUND_CREATE)
        return self._expand(self.core.create_refund(p, req), p.get("expand", []))

    def _get_refund(self, request: web.Request, raw: dict[str, Any],
                    req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        return self._expand(self.core.get_refund(request.match_info["refund"]),
                            p.get("expand", []))

    def _list_refunds(self, request: web.Request, raw: dict[str, Any],
                      req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, REFUND_LIST)
        return self._page(self.core.list_refunds(p), self.core.refunds, p, "/v1/refunds",
                          "refund")

    def _get_dispute(self, request: web.Request, raw: dict[str, Any],
                     req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        return self._expand(self.core.get_dispute(request.match_info["dispute"]),
                            p.get("expand", []))

    def _create_endpoint(self, request: web.Request, raw: dict[str, Any],
                         req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, WEBHOOK_ENDPOINT_CREATE)
        return self.webhook_endpoints.create(p, self.core.now())

    def _list_endpoints(self, request: web.Request, raw: dict[str, Any],
                        req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, LIST)
        return self._page(self.webhook_endpoints.newest_first(),
                          self.webhook_endpoints.endpoints, p, "/v1/webhook_endpoints",
                          "webhook_endpoint")

    def _get_endpoint(self, request: web.Request, raw: dict[str, Any],
                      req: RequestInfo) -> dict[str, Any]:
        check_params(raw, RETRIEVE)
        return self.webhook_endpoints.get(request.match_info["endpoint"])

    def _update_endpoint(self, request: web.Request, raw: dict[str, Any],
                         req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, WEBHOOK_ENDPOINT_UPDATE)
        return self.webhook_endpoints.update(request.match_info["endpoint"], p)

    def _delete_endpoint(self, request: web.Request, raw: dict[str, Any],
                         req: RequestInfo) -> dict[str, Any]:
        return self.webhook_endpoints.delete(request.match_info["endpoint"])

    def _get_payment_intent(self, request: web.Request, raw: dict[str, Any],
                            req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE | {"client_secret": Str()})
        return self._expand(self.core.get_payment_intent(request.match_info["intent"]),
                            p.get("expand", []))

    def _get_charge(self, request: web.Request, raw: dict[str, Any],
                    req: RequestInfo) -> dict[str, Any]:
        p = check_params(raw, RETRIEVE)
        return self._expand(self.core.get_charge(request.match_info["charge"]),
                            p.get("expand", []))

    def _unrecognized(self, request: web.Request, raw: dict[str, Any],
                      req: RequestInfo) -> dict[str, Any]:
        raise StripeError(
            f"Unrecognized request URL ({request.method}: {request.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            status=404, validation=True,
        )

    # ================================================================ helpers

    def _page(self, items: list[dict[str, Any]], order: Mapping[str, Any],
              p: dict[str, Any], url: str, kind: str) -> dict[str, Any]:
        """Paginate `items` (newest first) like Stripe's list endpoints."""
        limit = p.get("limit", 10)
        if limit < 1:
            raise invalid("This value must be greater than or equal to 1.", "limit")
        if limit > 100:
            raise invalid("This value must be less than or equal to 100.", "limit")
        if "starting_after" in p and "ending_before" in p:
            raise invalid("You may only specify one of these parameters: ending_before, "
                          "starting_after.", "ending_before", "parameters_exclusive")
        position = {ident: n for n, ident in enumerate(order)}

        def cursor(param: str) -> int:
            if p[param] not in position:
                raise not_found(kind, p[param], param)
            return position[p[param]]

        if "starting_after" in p:
            c = cursor("starting_after")
            rest = [i for i in items if position[i["id"]] < c]
            page, has_more = rest[:limit], len(rest) > limit
        elif "ending_before" in p:
            c = cursor("ending_before")
            rest = [i for i in items if position[i["id"]] > c]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        expand = [e.removeprefix("data.") for e in p.get("expand", [])
                  if e.startswith("data.")]
        for e in p.get("expand", []):
            if not e.startswith("data."):
                raise invalid(f"This property cannot be expanded ({e}).", "expand")
        return obj.list_object([self._expand(i, expand) for i in page], url, has_more)

    def _expand(self, o: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
        if not paths:
            return o  # serialized at once by the handler, never changed on the way
        out = copy.deepcopy(o)
        for path in paths:
            self._expand_path(out, path.split("."), path)
        return out

    def _expand_path(self, o: dict[str, Any], parts: list[str], full: str) -> None:
        head, rest = parts[0], parts[1:]
        cannot = invalid(f"This property cannot be expanded ({full}).", "expand")
        if o.get("object") == "checkout.session" and head == "line_items" and not rest:
            o["line_items"] = obj.list_object(
                copy.deepcopy(self.core.line_items.get(o["id"], [])),
                f"/v1/checkout/sessions/{o['id']}/line_items", False)
            return
        if o.get("object") == "list" and head == "data":
            for item in o["data"]:
                self._expand_path(item, rest, full)
            return
        if head not in o:
            raise cannot
        value = o[head]
        if isinstance(value, str):
            found = self.core.lookup(value)
            if found is None:
                raise cannot
            value = o[head] = copy.deepcopy(found)
        elif value is None:
            return
        elif not (isinstance(value, dict) and ("id" in value or "object" in value)):
            raise cannot
        if rest:
            self._expand_path(value, rest, full)


# ==================================================================== CLI


def main(argv: Sequence[str] | None = None) -> None:
    """Run the emulator standalone until interrupted."""
    ap = argparse.ArgumentParser(prog="python -m sandbox.stripe_api", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=12111)
    ap.add_argument("--api-key", default="sk_test_emulator")
    ap.add_argument("--webhook-url")
    ap.add_argument("--webhook-secret", default="whsec_test_secret")
    ap.add_argument("--retry-schedule", default=None,
                    help="comma-separated retry delays in seconds (default: Stripe's, ~3 days)")
    ap.add_argument("--duplicate-deliveries", action="store_true")
    ap.add_argument("--reorder", action="store_true")
    ap.add_argument("--delay-seconds", type=float, default=0.0)
    args = ap.parse_args(argv)
    schedule = (tuple(float(x) for x in args.retry_schedule.split(",") if x)
                if args.retry_schedule is not None else STRIPE_RETRY_SCHEDULE)

    async def run() -> None:
        emu = StripeEmulator(
            args.webhook_url, args.webhook_secret, args.api_key, retry_schedule=schedule,
            duplicate_deliveries=args.duplicate_deliveries, reorder=args.reorder,
            delay_seconds=args.delay_seconds,
        )
        url = await emu.start(args.host, args.port)
        print(f"Stripe emulator listening on {url} (api key {args.api_key})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await emu.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""`POST /webhooks/stripe`: verify the signature on the raw body, apply the event in ONE ledger
transaction (or, in a burst, store it in the inbox in one), and answer 2xx only after COMMIT.

With few events in flight (at most `inline_max`) and none waiting in the inbox, an event is
applied before the answer, as always: read back from Stripe, credited, then 200. Otherwise, as Stripe recommends (answer
quickly, handle the event asynchronously), a verified event is stored in the Stripe inbox
(`payments.stripe_inbox`), answered 200 `queued` after that COMMIT, and applied by the inbox's
consumer right after, with the same read-back and the same write; a 200 means "durably
accepted", and the consumer retries until Stripe and the database let it apply.

Missing, forged or stale signatures (tolerance 300 s) and malformed bodies (not JSON, not an
object, nested too deep) get 400 and change nothing; a body over the server's limit gets 413 (aiohttp's `client_max_size`). A duplicate is
answered 200 and changes nothing. When the event cannot be applied now (database or Stripe API
down) the answer is 503, and Stripe delivers it again. An event rendered in another API
version than the one the SDK pins (`stripe.api_version`) is logged as a warning: its fields may
not be where this code reads them (`gridshop stripe setup` pins the endpoint's version).

The body is verified with `stripe.WebhookSignature.verify_header` and parsed once with
`json.loads`: that is what `stripe.Webhook.construct_event` does, without the second parse
into a `StripeObject` the handler would not use.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import stripe
from aiohttp import web

from core.bounded import BoundedDict
from ledger import Ledger
from ledger.stripe_events import HANDLED_EVENTS, Policy
from payments.stripe_dispatch import RetryLater, handle_event
from payments.stripe_inbox import StripeInbox

log = logging.getLogger(__name__)

TOLERANCE_S = 300
# Event ids this instance saw applied. An applied event stays applied (another instance's
# write cannot unapply it), so a hit answers a redelivery with no read at all; a miss asks the
# ledger as before. 100k ids of ~30 bytes: a few MB.
APPLIED_CACHE = 100_000
# Events applied before the answer at once; more than this in flight are queued in the inbox.
INLINE_MAX = 1


@dataclass
class StripeWebhook:
    """The handler's dependencies: the ledger, the signing secret and the apply policy."""

    ledger: Ledger
    secret: str
    policy: Policy
    client: stripe.StripeClient | None = None  # to look up the session of a dispute
    inline_max: int = INLINE_MAX
    owner: int | None = None  # this instance's id on PostgreSQL (`ledger.roles`), for claims
    applied: BoundedDict[str, None] = field(default_factory=lambda: BoundedDict(APPLIED_CACHE))
    in_flight: int = 0  # requests being handled now
    inbox: StripeInbox = field(init=False)

    def __post_init__(self) -> None:
        self.inbox = StripeInbox(self.ledger, self.policy, self.client, owner=self.owner,
                                 on_applied=self._applied)

    def _applied(self, event_id: str) -> None:
        if event_id.startswith("evt_"):
            self.applied[event_id] = None

    async def on_startup(self, app: web.Application) -> None:
        self.inbox.start()

    async def on_cleanup(self, app: web.Application) -> None:
        await self.inbox.stop()

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.inbox.idle.clear()
        try:
            return await self._handle(request)
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.inbox.idle.set()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()  # raises 413 beyond client_max_size
        signature = request.headers.get("Stripe-Signature")
        if not signature:
            log.warning("stripe webhook without Stripe-Signature from %s", request.remote)
            return _error(400, "missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(body, signature, self.secret, TOLERANCE_S)
        except stripe.SignatureVerificationError as exc:
            log.warning("stripe webhook with a bad signature from %s: %s", request.remote, exc)
            return _error(400, "invalid signature")
        except ValueError as exc:  # not UTF-8
            log.warning("stripe webhook with a malformed body: %s", exc)
            return _error(400, "malformed body")
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as exc:
            log.warning("stripe webhook with a malformed body: %s", type(exc).__name__)
            return _error(400, "malformed body")
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            log.warning("stripe webhook body is not an event object")
            return _error(400, "malformed body")
        if raw.get("api_version") != stripe.api_version:
            log.warning("stripe event %s is rendered in API version %r, not the SDK's %r: set "
                        "the endpoint's version with `gridshop stripe setup`", raw.get("id"),
                        raw.get("api_version"), stripe.api_version)
        event_id = raw.get("id")
        if isinstance(event_id, str) and event_id in self.applied:
            log.info("stripe event %s (%s): duplicate applied already", event_id, raw["type"])
            return web.json_response({"received": True, "status": "duplicate"})
        if ((self.in_flight > self.inline_max or self.inbox.busy) and raw["type"] in HANDLED_EVENTS
                and isinstance(event_id, str) and event_id.startswith("evt_")):
            return await self._queue(event_id, raw["type"], body)
        try:
            outcome = await handle_event(self.ledger, raw, self.policy, self.client)
        except RetryLater as exc:
            log.warning("stripe event %s not applied now: %s", raw.get("id"), exc)
            return _error(503, "try again later")
        if outcome.marked_applied and isinstance(event_id, str):
            self._applied(event_id)  # handle_event marked it applied in the ledger
        log.info("stripe event %s (%s): %s %s", raw.get("id"), raw.get("type"), outcome.status,
                 outcome.detail)
        return web.json_response({"received": True, "status": outcome.status})


    async def _queue(self, event_id: str, kind: str, body: bytes) -> web.Response:
        try:
            new = await self.inbox.accept(event_id, kind, body.decode())
        except RetryLater as exc:
            log.warning("stripe event %s not accepted now: %s", event_id, exc)
            return _error(503, "try again later")
        status = "queued" if new else "duplicate"
        log.info("stripe event %s (%s): %s", event_id, kind, status)
        return web.json_response({"received": True, "status": status})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)

"""`/_control/...` HTTP routes and the hosted Checkout page of the Stripe emulator.

These are not part of Stripe's API: they let a test or a person at `gridshop sandbox` act as
the world around Stripe (the customer paying, the bank settling, a cardholder disputing,
time passing) over HTTP. Each route calls the `StripeEmulator` method of the same name.
Parameters come from the query string, a form body or a JSON body; answers are JSON, and a
refused action is a 400 `{"error": {"type": "control_error", "message": ...}}`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from .stripe_checkout_page import add_checkout_page
from .stripe_core import ControlError

if TYPE_CHECKING:
    from .stripe_api import StripeEmulator

Action = Callable[["StripeEmulator", dict[str, str]], Awaitable[Any] | Any]


async def _params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    body = await request.text()
    if body:
        if request.content_type == "application/json":
            params.update(json.loads(body))
        else:
            params.update(parse_qsl(body, keep_blank_values=True))
    params.update(request.match_info)
    return params


def _bool(value: Any) -> bool:
    return value in (True, "true", "1", "yes")


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _route(emu: StripeEmulator, action: Action) -> Callable[
        [web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        try:
            p = await _params(request)
            result = action(emu, p)
            if hasattr(result, "__await__"):
                result = await result
        except (ControlError, ValueError, KeyError) as exc:
            return web.json_response(
                {"error": {"type": "control_error", "message": str(exc)}}, status=400)
        except TimeoutError:
            return web.json_response(
                {"error": {"type": "control_error", "message": "deliveries still pending",
                           "pending": emu.deliverer.pending if emu.deliverer else 0}},
                status=408)
        return web.json_response(result if result is not None else {"ok": True})

    return handler


async def _wait(emu: StripeEmulator, p: dict[str, Any]) -> dict[str, Any]:
    await emu.wait_for_deliveries(float(p.get("timeout", 10)))
    return {"pending": 0}


def _options(emu: StripeEmulator, p: dict[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    for key in ("duplicate_deliveries", "reorder"):
        if key in p:
            opts[key] = _bool(p[key])
    if "delay_seconds" in p:
        opts["delay_seconds"] = float(p["delay_seconds"])
    if "retry_schedule" in p:
        sched = p["retry_schedule"]
        opts["retry_schedule"] = [float(x) for x in (
            sched.split(",") if isinstance(sched, str) else sched) if x != ""]
    emu.set_delivery_options(**opts)
    return {"ok": True}


ROUTES: list[tuple[str, str, Action]] = [
    ("POST", "/_control/checkout/sessions/{session}/pay", lambda e, p: e.pay_session(
        p["session"], p.get("outcome", "succeeded"), p.get("email", "customer@example.com"))),
    ("POST", "/_control/checkout/sessions/{session}/settle", lambda e, p:
        e.settle_async_payment(p["session"], _bool(p.get("succeeded", "true")))),
    ("POST", "/_control/checkout/sessions/{session}/expire", lambda e, p:
        e.expire_session(p["session"])),
    ("POST", "/_control/refunds", lambda e, p: e.refund_payment(
        p["payment"], _int(p.get("amount")), p.get("reason"))),
    ("POST", "/_control/disputes", lambda e, p: e.dispute_payment(
        p["payment"], p.get("reason", "fraudulent"), _int(p.get("amount")),
        _bool(p.get("inquiry", "false")))),
    ("POST", "/_control/disputes/{dispute}/close", lambda e, p: e.close_dispute(
        p["dispute"], _bool(p.get("won", "false")))),
    ("POST", "/_control/refunds/{refund}/fail", lambda e, p: e.fail_refund(
        p["refund"], p.get("status", "failed"), p.get("failure_reason", "expired_or_canceled_card"))),
    ("POST", "/_control/faults/error_500", lambda e, p: e.fail_next(
        p["path"], p.get("method", "POST"), int(p.get("times", 1)))),
    ("POST", "/_control/faults/lost_answer", lambda e, p: e.lose_next_answer(
        p["path"], p.get("method", "POST"), int(p.get("times", 1)))),
    ("POST", "/_control/clock/skew", lambda e, p: {"now": e.skew_clock(float(p["seconds"]))}),
    ("GET", "/_control/clock", lambda e, p: {"now": e.now()}),
    ("POST", "/_control/clock/advance", lambda e, p: {
        "now": e.advance_clock(float(p["seconds"]))}),
    ("POST", "/_control/events/{event}/redeliver", lambda e, p:
        e.redeliver(p["event"], float(p.get("delay", 0)))),
    ("POST", "/_control/webhooks/options", _options),
    ("POST", "/_control/webhooks/wait", _wait),
    ("GET", "/_control/charges", lambda e, p: e.charges()),
    ("GET", "/_control/webhooks/attempts", lambda e, p: [
        dataclasses.asdict(a) for a in e.delivery_attempts]),
]

def add_control_routes(app: web.Application, emu: StripeEmulator) -> None:
    """Register `/_control/...` and the hosted Checkout page `/c/pay/{session}`."""
    for method, path, action in ROUTES:
        app.router.add_route(method, path, _route(emu, action))
    add_checkout_page(app, emu)

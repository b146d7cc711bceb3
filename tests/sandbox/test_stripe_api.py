"""Stripe emulator API tests: the real stripe SDK and raw HTTP against `StripeEmulator`.

Covers checkout session create/retrieve/expire/list, authentication, Stripe's error shapes for
unknown, ill-typed and missing parameters, session rules, idempotency keys, refunds and
read-only payment intents and charges.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import stripe

from sandbox.stripe_api import StripeEmulator
from tests.sandbox.test_stripe_support import API_KEY, client, session_params


@pytest.fixture
async def emu() -> AsyncIterator[StripeEmulator]:
    e = StripeEmulator(api_key=API_KEY)
    await e.start()
    yield e
    await e.stop()


@pytest.fixture
async def sdk(emu: StripeEmulator) -> stripe.StripeClient:
    return client(emu.base_url)


async def raw(emu: StripeEmulator, method: str, path: str, data: Any = None,
              headers: dict[str, str] | None = None, auth: bool = True
              ) -> tuple[int, dict[str, Any], Any]:
    h = {"Authorization": f"Bearer {API_KEY}"} if auth else {}
    h.update(headers or {})
    async with aiohttp.ClientSession() as http:
        async with http.request(method, emu.base_url + path, data=data, headers=h) as resp:
            return resp.status, await resp.json(), resp.headers


# ------------------------------------------------------------------ sessions


async def test_create_retrieve_session_shape(emu: StripeEmulator,
                                             sdk: stripe.StripeClient) -> None:
    s = await sdk.v1.checkout.sessions.create_async(params=session_params(
        line_items=[{"quantity": 2, "price_data": {
            "currency": "USD", "unit_amount": 750, "product_data": {"name": "VM"}}}]))
    assert s.id.startswith("cs_test_") and s.object == "checkout.session"
    assert (s.amount_total, s.currency, s.mode) == (1500, "usd", "payment")
    assert (s.status, s.payment_status, s.payment_intent) == ("open", "unpaid", None)
    assert s.client_reference_id == "order-1" and s.metadata.to_dict() == {"telegram_user_id": "42"}
    assert s.url.endswith(s.id) and s.livemode is False
    assert 24 * 3600 - 5 <= s.expires_at - s.created <= 24 * 3600
    got = await sdk.v1.checkout.sessions.retrieve_async(s.id, params={"expand": ["line_items"]})
    assert got.id == s.id and got.line_items.data[0].quantity == 2
    assert "line_items" not in (await sdk.v1.checkout.sessions.retrieve_async(s.id))


async def test_expire_session_via_api(emu: StripeEmulator, sdk: stripe.StripeClient) -> None:
    s = await sdk.v1.checkout.sessions.create_async(params=session_params())
    expired = await sdk.v1.checkout.sessions.expire_async(s.id)
    assert expired.status == "expired" and expired.url is None
    [ev] = emu.events("checkout.session.expired")
    assert ev["data"]["object"]["id"] == s.id and ev["request"]["id"].startswith("req_")
    with pytest.raises(stripe.InvalidRequestError, match="status of \"expired\""):
        await sdk.v1.checkout.sessions.expire_async(s.id)


async def test_retrieve_missing_is_404_resource_missing(emu: StripeEmulator) -> None:
    status, body, _ = await raw(emu, "GET", "/v1/checkout/sessions/cs_test_nope")
    assert status == 404
    assert body["error"]["code"] == "resource_missing"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "No such checkout.session: 'cs_test_nope'"
    assert body["error"]["param"] == "session"
    status, body, _ = await raw(emu, "GET", "/v1/events/evt_nope")
    assert status == 404 and body["error"]["code"] == "resource_missing"


async def test_list_sessions_filters_and_pagination(emu: StripeEmulator,
                                                    sdk: stripe.StripeClient) -> None:
    ids = [(await sdk.v1.checkout.sessions.create_async(
        params=session_params(client_reference_id=f"o{i}"))).id for i in range(5)]
    page = await sdk.v1.checkout.sessions.list_async(params={"limit": 2})
    assert [s.id for s in page.data] == ids[::-1][:2] and page.has_more
    page2 = await sdk.v1.checkout.sessions.list_async(
        params={"limit": 2, "starting_after": page.data[-1].id})
    assert [s.id for s in page2.data] == ids[::-1][2:4] and page2.has_more
    before = await sdk.v1.checkout.sessions.list_async(
        params={"limit": 2, "ending_before": ids[1]})
    assert [s.id for s in before.data] == [ids[3], ids[2]]
    emu.pay_session(ids[0])
    pi = emu.get_object(ids[0])["payment_intent"]
    by_pi = await sdk.v1.checkout.sessions.list_async(params={"payment_intent": pi})
    assert [s.id for s in by_pi.data] == [ids[0]]
    complete = await sdk.v1.checkout.sessions.list_async(params={"status": "complete"})
    assert [s.id for s in complete.data] == [ids[0]]
    status, body, _ = await raw(emu, "GET", "/v1/checkout/sessions?limit=101")
    assert status == 400 and body["error"]["param"] == "limit"


# ------------------------------------------------------------------ auth


async def test_authentication(emu: StripeEmulator) -> None:
    status, body, _ = await raw(emu, "GET", "/v1/events", auth=False)
    assert status == 401 and body["error"]["type"] == "invalid_request_error"
    assert "You did not provide an API key" in body["error"]["message"]
    status, body, _ = await raw(emu, "GET", "/v1/events",
                                headers={"Authorization": "Bearer sk_test_wrongwrongwrong"})
    assert status == 401
    assert body["error"]["message"] == "Invalid API Key provided: sk_test_***********rong"
    basic = base64.b64encode(f"{API_KEY}:".encode()).decode()
    status, body, _ = await raw(emu, "GET", "/v1/events", auth=False,
                                headers={"Authorization": f"Basic {basic}"})
    assert status == 200 and body["object"] == "list"
    with pytest.raises(stripe.AuthenticationError):
        await client(emu.base_url, "sk_test_other").v1.events.list_async()


async def test_unrecognized_url(emu: StripeEmulator) -> None:
    status, body, _ = await raw(emu, "POST", "/v1/events")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (POST: /v1/events)")


# ------------------------------------------------------------------ parameter checks

CREATE = "/v1/checkout/sessions"
BASE = {"mode": "payment", "success_url": "https://e.com/s",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "VM"}


@pytest.mark.parametrize("data, code, param, message", [
    ({**BASE, "bogus": "1"}, "parameter_unknown", "bogus", "Received unknown parameter: bogus"),
    ({**BASE, "line_items[0][price_data][colour]": "red"}, "parameter_unknown",
     "line_items[0][price_data][colour]", None),
    ({**BASE, "line_items[0][price_data][unit_amount]": "abc"}, "parameter_invalid_integer",
     "line_items[0][price_data][unit_amount]", "Invalid integer: abc"),
    ({k: v for k, v in BASE.items() if k != "mode"}, "parameter_missing", "mode",
     "Missing required param: mode."),
    ({k: v for k, v in BASE.items() if k != "success_url"}, "parameter_missing",
     "success_url", None),
    ({k: v for k, v in BASE.items() if not k.startswith("line_items")}, "parameter_missing",
     "line_items", None),
    ({k: v for k, v in BASE.items() if k != "line_items[0][quantity]"}, "parameter_missing",
     "line_items[0][quantity]", None),
    ({**BASE, "success_url": ""}, "parameter_invalid_empty", "success_url", None),
    ({**BASE, "mode": "charge"}, None, "mode",
     "Invalid mode: must be one of payment, setup, or subscription"),
    ({**BASE, "allow_promotion_codes": "maybe"}, None, "allow_promotion_codes",
     "Invalid boolean: maybe"),
    ({**BASE, "line_items[0][price_data][currency]": "xyz"}, None,
     "line_items[0][price_data][currency]", None),
    ({**BASE, "line_items[0][price_data][unit_amount]": "-5"}, None,
     "line_items[0][price_data][unit_amount]", None),
    ({**BASE, "line_items[0][price_data][unit_amount]": "100000000"}, None,
     "line_items[0][price_data][unit_amount]", None),
    ({**BASE, "line_items[0][quantity]": "0"}, None, "line_items[0][quantity]", None),
    ({**BASE, "client_reference_id": "x" * 201}, None, "client_reference_id", None),
    ({**BASE, **{f"metadata[k{i}]": "v" for i in range(51)}}, None, "metadata", None),
    ({**BASE, "metadata[" + "k" * 41 + "]": "v"}, None, "metadata[" + "k" * 41 + "]", None),
    ({**BASE, "metadata[k]": "v" * 501}, None, "metadata[k]", None),
    ({**BASE, "expires_at": str(int(time.time()) + 600)}, None, "expires_at", None),
    ({**BASE, "expires_at": str(int(time.time()) + 25 * 3600)}, None, "expires_at", None),
    ({**BASE, "line_items[0][price]": "price_123"}, "parameters_exclusive",
     "line_items[0][price]", None),
    ({**BASE, "ui_mode": "embedded"}, None, "success_url", None),
])
async def test_create_rejects_like_stripe(emu: StripeEmulator, data: dict[str, str],
                                          code: str | None, param: str,
                                          message: str | None) -> None:
    status, body, headers = await raw(emu, "POST", CREATE, data)
    assert status == 400, body
    err = body["error"]
    assert err["type"] == "invalid_request_error"
    assert err.get("code") == code and err["param"] == param
    if message:
        assert err["message"] == message
    assert headers["Request-Id"].startswith("req_")
    assert emu.core.sessions == {}


async def test_create_accepts_edge_values(emu: StripeEmulator) -> None:
    ok = {**BASE, "client_reference_id": "x" * 200,
          **{f"metadata[{i:02d}{'k' * 38}]": "v" * 500 for i in range(50)},
          "expires_at": str(int(time.time()) + 31 * 60), "expand[]": "line_items",
          "payment_intent_data[metadata][order]": "o1"}
    status, body, _ = await raw(emu, "POST", CREATE, ok)
    assert status == 200, body
    assert body["line_items"]["data"][0]["amount_total"] == 500
    assert len(body["metadata"]) == 50


async def test_below_minimum_amount_and_mixed_currencies(emu: StripeEmulator) -> None:
    status, body, _ = await raw(emu, "POST", CREATE, {
        **BASE, "line_items[0][price_data][unit_amount]": "49"})
    assert status == 400 and "at least 0.50 usd" in body["error"]["message"]
    status, body, _ = await raw(emu, "POST", CREATE, {
        **BASE, "line_items[1][quantity]": "1",
        "line_items[1][price_data][currency]": "eur",
        "line_items[1][price_data][unit_amount]": "500",
        "line_items[1][price_data][product_data][name]": "x"})
    assert status == 400 and body["error"]["param"] == "line_items[1][price_data][currency]"


async def test_embedded_ui_mode(emu: StripeEmulator) -> None:
    data = {k: v for k, v in BASE.items() if k != "success_url"}
    status, body, _ = await raw(emu, "POST", CREATE, {
        **data, "ui_mode": "embedded", "return_url": "https://e.com/r"})
    assert status == 200 and body["url"] is None and body["client_secret"]


async def test_sdk_raises_invalid_request_error(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        await sdk.v1.checkout.sessions.create_async(params=session_params(shipping="x"))
    assert info.value.code == "parameter_unknown" and info.value.param == "shipping"
    assert info.value.http_status == 400


# ------------------------------------------------------------------ idempotency


async def test_idempotent_replay_and_conflict(emu: StripeEmulator,
                                              sdk: stripe.StripeClient) -> None:
    opts: Any = {"idempotency_key": "order-7-session"}
    first = await sdk.v1.checkout.sessions.create_async(params=session_params(), options=opts)
    again = await sdk.v1.checkout.sessions.create_async(params=session_params(), options=opts)
    assert again.id == first.id and len(emu.core.sessions) == 1
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(stripe.IdempotencyError) as info:
        await sdk.v1.checkout.sessions.create_async(
            params=session_params(client_reference_id="order-8"), options=opts)
    assert info.value.http_status == 400
    assert "same parameters" in info.value.user_message
    assert len(emu.core.sessions) == 1


async def test_idempotency_raw_param_order_and_endpoint(emu: StripeEmulator) -> None:
    key = {"Idempotency-Key": "abc"}
    s1, b1, h1 = await raw(emu, "POST", CREATE, BASE, key)
    assert s1 == 200 and "Idempotent-Replayed" not in h1
    s2, b2, h2 = await raw(emu, "POST", CREATE, dict(reversed(list(BASE.items()))), key)
    assert (s2, b2["id"], h2["Idempotent-Replayed"]) == (200, b1["id"], "true")
    s3, b3, _ = await raw(emu, "POST", "/v1/refunds", {"charge": "ch_x"}, key)
    assert s3 == 400 and b3["error"]["type"] == "idempotency_error"


async def test_validation_errors_are_not_stored(emu: StripeEmulator) -> None:
    key = {"Idempotency-Key": "retry-after-fix"}
    status, _, _ = await raw(emu, "POST", CREATE, {**BASE, "bogus": "1"}, key)
    assert status == 400
    status, body, headers = await raw(emu, "POST", CREATE, BASE, key)
    assert status == 200 and "Idempotent-Replayed" not in headers


async def test_executed_errors_are_replayed(emu: StripeEmulator) -> None:
    key = {"Idempotency-Key": "refund-missing"}
    s1, b1, _ = await raw(emu, "POST", "/v1/refunds", {"charge": "ch_missing"}, key)
    s2, b2, h2 = await raw(emu, "POST", "/v1/refunds", {"charge": "ch_missing"}, key)
    assert s1 == s2 == 404 and b1 == b2 and h2["Idempotent-Replayed"] == "true"


# ------------------------------------------------------------------ refunds and reads


async def test_refunds_partial_then_full(emu: StripeEmulator, sdk: stripe.StripeClient) -> None:
    s = await sdk.v1.checkout.sessions.create_async(params=session_params())
    paid = emu.pay_session(s.id)
    pi = await sdk.v1.payment_intents.retrieve_async(paid["payment_intent"])
    assert pi.status == "succeeded" and pi.amount_received == 1500
    r1 = await sdk.v1.refunds.create_async(params={
        "payment_intent": pi.id, "amount": 500, "reason": "requested_by_customer",
        "metadata": {"order": "order-1"}})
    assert (r1.object, r1.amount, r1.status, r1.charge) == (
        "refund", 500, "succeeded", pi.latest_charge)
    assert r1.metadata.to_dict() == {"order": "order-1"}
    ch = await sdk.v1.charges.retrieve_async(pi.latest_charge)
    assert (ch.amount_refunded, ch.refunded) == (500, False)
    with pytest.raises(stripe.InvalidRequestError) as info:
        await sdk.v1.refunds.create_async(params={"charge": ch.id, "amount": 1001})
    assert info.value.code == "amount_too_large"
    r2 = await sdk.v1.refunds.create_async(params={"charge": ch.id})
    assert r2.amount == 1000
    assert (await sdk.v1.refunds.retrieve_async(r2.id)).id == r2.id
    ch = await sdk.v1.charges.retrieve_async(ch.id)
    assert (ch.amount_refunded, ch.refunded) == (1500, True)
    with pytest.raises(stripe.InvalidRequestError) as info:
        await sdk.v1.refunds.create_async(params={"charge": ch.id})
    assert info.value.code == "charge_already_refunded"
    refunded = emu.events("charge.refunded")
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [500, 1500]
    assert refunded[0]["data"]["previous_attributes"] == {"amount_refunded": 0}


async def test_refund_param_checks(emu: StripeEmulator) -> None:
    status, body, _ = await raw(emu, "POST", "/v1/refunds", {})
    assert status == 400 and body["error"]["code"] == "parameter_missing"
    status, body, _ = await raw(emu, "POST", "/v1/refunds",
                                {"charge": "ch_1", "reason": "because"})
    assert status == 400 and body["error"]["param"] == "reason"
    status, body, _ = await raw(emu, "POST", "/v1/refunds",
                                {"charge": "ch_1", "amount": "1.5"})
    assert status == 400 and body["error"]["message"] == "Invalid integer: 1.5"
    status, body, _ = await raw(emu, "POST", "/v1/refunds", {"payment_intent": "pi_nope"})
    assert status == 404 and body["error"]["param"] == "payment_intent"


async def test_expand_payment_intent(emu: StripeEmulator, sdk: stripe.StripeClient) -> None:
    s = await sdk.v1.checkout.sessions.create_async(params=session_params())
    emu.pay_session(s.id)
    got = await sdk.v1.checkout.sessions.retrieve_async(
        s.id, params={"expand": ["payment_intent.latest_charge"]})
    assert got.payment_intent.object == "payment_intent"
    assert got.payment_intent.latest_charge.object == "charge"
    status, body, _ = await raw(emu, "GET", f"/v1/checkout/sessions/{s.id}?expand[]=metadata")
    assert status == 400 and "cannot be expanded" in body["error"]["message"]

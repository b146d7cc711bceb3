"""Stripe emulator control flows and webhook delivery.

Each control action must produce the event sequence Stripe sends; deliveries are signed so
that the real `stripe.Webhook.construct_event` accepts them, failed deliveries are retried and
show up under `delivery_success=false`, and duplicates, delays and reordering happen on request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import sys

import aiohttp
import pytest
import stripe

from sandbox.stripe_api import ControlError, StripeEmulator
from sandbox.stripe_webhooks import sign_payload
from tests.sandbox.conftest import FAST
from tests.sandbox.test_stripe_support import API_KEY, SECRET, Receiver, client, session_params


async def new_session(emu: StripeEmulator, **overrides: object) -> str:
    s = await client(emu.base_url).v1.checkout.sessions.create_async(
        params=session_params(**overrides))
    return s.id


def checkout_types(types: list[str]) -> list[str]:
    return [t for t in types if t.startswith("checkout.")]


# ------------------------------------------------------------------ flows


async def test_card_payment_flow(emu: StripeEmulator, receiver: Receiver) -> None:
    sid = await new_session(emu)
    emu.pay_session(sid)
    await emu.wait_for_deliveries()
    assert receiver.types == ["payment_intent.created", "charge.succeeded",
                              "payment_intent.succeeded", "checkout.session.completed"]
    completed = receiver.events[-1]
    s = completed.data.object
    assert (s.id, s.status, s.payment_status) == (sid, "complete", "paid")
    assert s.client_reference_id == "order-1" and s.payment_intent.startswith("pi_")
    assert completed.id.startswith("evt_") and completed.object == "event"
    assert completed.livemode is False and completed.api_version
    assert completed.request.id is None
    assert receiver.bad_signatures == 0
    stored = emu.get_object(completed.id)
    assert stored is not None and stored["pending_webhooks"] == 0


@pytest.mark.parametrize("outcome, last, paid_at_end", [
    ("async_succeeded", "checkout.session.async_payment_succeeded", "paid"),
    ("async_failed", "checkout.session.async_payment_failed", "unpaid"),
])
async def test_async_payment_flows(emu: StripeEmulator, receiver: Receiver, outcome: str,
                                   last: str, paid_at_end: str) -> None:
    sid = await new_session(emu)
    emu.pay_session(sid, outcome)
    await emu.wait_for_deliveries()
    checkout = [e for e in receiver.events if e.type.startswith("checkout.")]
    assert [e.type for e in checkout] == ["checkout.session.completed", last]
    assert checkout[0].data.object.payment_status == "unpaid"
    assert checkout[1].data.object.payment_status == paid_at_end
    assert checkout[1].data.object.id == sid


async def test_async_pending_then_settle_over_http(emu: StripeEmulator,
                                                   receiver: Receiver) -> None:
    sid = await new_session(emu)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/_control/checkout/sessions/{sid}/pay",
                             data={"outcome": "async_pending"}) as resp:
            assert resp.status == 200 and (await resp.json())["payment_status"] == "unpaid"
        async with http.post(f"{emu.base_url}/_control/webhooks/wait") as resp:
            assert resp.status == 200
        assert checkout_types(receiver.types) == ["checkout.session.completed"]
        pi = emu.get_object(emu.get_object(sid)["payment_intent"])
        assert pi is not None and pi["status"] == "processing"
        async with http.post(f"{emu.base_url}/_control/checkout/sessions/{sid}/settle",
                             json={"succeeded": True}) as resp:
            assert (await resp.json())["payment_status"] == "paid"
        async with http.post(f"{emu.base_url}/_control/checkout/sessions/{sid}/settle") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["type"] == \
                "control_error"
    await emu.wait_for_deliveries()
    assert checkout_types(receiver.types) == [
        "checkout.session.completed", "checkout.session.async_payment_succeeded"]


async def test_refund_and_dispute_flows(emu: StripeEmulator, receiver: Receiver) -> None:
    sid = await new_session(emu)
    pi = emu.pay_session(sid)["payment_intent"]
    refund = emu.refund_payment(pi, amount=400)
    assert refund["object"] == "refund" and refund["amount"] == 400
    await emu.wait_for_deliveries()
    refunded = [e for e in receiver.events if e.type == "charge.refunded"]
    assert len(refunded) == 1
    charge = refunded[0].data.object
    assert (charge.amount_refunded, charge.refunded, charge.payment_intent) == (400, False, pi)
    assert charge.refunds.data[0].id == refund["id"]
    assert "refund.created" in receiver.types
    dispute = emu.dispute_payment(sid, reason="product_not_received")
    await emu.wait_for_deliveries()
    assert receiver.types[-2:] == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]
    d = receiver.events[-2].data.object
    assert (d.id, d.object, d.charge, d.amount, d.reason, d.status) == (
        dispute["id"], "dispute", charge.id, 1500, "product_not_received", "needs_response")
    with pytest.raises(ControlError):
        emu.dispute_payment(sid)
    with pytest.raises(ControlError):
        emu.refund_payment(pi)  # disputed


async def test_expire_and_clock(emu: StripeEmulator, receiver: Receiver) -> None:
    # 30 s over Stripe's 30-minute minimum, so a create that lands late under load still passes.
    short = await new_session(emu, expires_at=emu.now() + 1830)
    longer = await new_session(emu)
    manual = await new_session(emu)
    emu.expire_session(manual)
    emu.advance_clock(1831)
    assert emu.get_object(short)["status"] == "expired"  # type: ignore[index]
    assert emu.get_object(longer)["status"] == "open"  # type: ignore[index]
    with pytest.raises(ControlError):
        emu.pay_session(short)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/_control/clock/advance",
                             data={"seconds": "86400"}) as resp:
            assert (await resp.json())["now"] >= emu.now() - 1
    listed = await client(emu.base_url).v1.checkout.sessions.list_async(
        params={"status": "expired"})
    assert {s.id for s in listed.data} == {short, longer, manual}
    await emu.wait_for_deliveries()
    expired = [e for e in receiver.events if e.type == "checkout.session.expired"]
    assert [e.data.object.id for e in expired] == [manual, short, longer]
    assert all(e.data.object.status == "expired" for e in expired)
    # Signatures use wall-clock time, so a moved clock never trips the 300 s tolerance.
    assert receiver.bad_signatures == 0


# ------------------------------------------------------------------ signatures


def test_signature_matches_stripe_scheme() -> None:
    header = sign_payload(b'{"id": "evt_1"}', "whsec_x", timestamp=1700000000)
    expected = hmac.new(b"whsec_x", b'1700000000.{"id": "evt_1"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(b'{"id": "evt_1"}', header, "whsec_x")  # too old


async def test_wrong_secret_is_rejected_by_sdk(receiver: Receiver) -> None:
    emu = StripeEmulator(receiver.url, "whsec_other", API_KEY, retry_schedule=())
    await emu.start()
    try:
        emu.pay_session(await new_session(emu))
        await emu.wait_for_deliveries()
    finally:
        await emu.stop()
    assert receiver.bad_signatures == 4 and receiver.events == []
    assert all(a.status == 400 and not a.ok for a in emu.delivery_attempts)


# ------------------------------------------------------------------ retries


async def test_failed_deliveries_are_retried(emu: StripeEmulator, receiver: Receiver) -> None:
    receiver.fail_first = 2
    await new_session(emu)
    emu.expire_session((await client(emu.base_url).v1.checkout.sessions.list_async()).data[0].id)
    await emu.wait_for_deliveries()
    attempts = emu.delivery_attempts
    assert [(a.attempt, a.status) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    assert len({a.event_id for a in attempts}) == 1
    assert receiver.types == ["checkout.session.expired"]
    ok = await client(emu.base_url).v1.events.list_async(params={"delivery_success": True})
    assert [e.type for e in ok.data] == ["checkout.session.expired"]


async def test_exhausted_retries_listed_as_failed_then_redelivered(
        emu: StripeEmulator, receiver: Receiver) -> None:
    receiver.fail_first = 100
    sid = await new_session(emu)
    emu.pay_session(sid)
    await emu.wait_for_deliveries()
    assert len(emu.delivery_attempts) == 4 * (1 + len(FAST))
    sdk = client(emu.base_url)
    failed = await sdk.v1.events.list_async(params={"delivery_success": False})
    assert len(failed.data) == 4 and all(e.pending_webhooks == 0 for e in failed.data)
    completed = await sdk.v1.events.list_async(
        params={"delivery_success": False, "type": "checkout.session.completed"})
    [event] = completed.data
    receiver.fail_first = 0
    emu.redeliver(event.id)
    await emu.wait_for_deliveries()
    assert receiver.types == ["checkout.session.completed"]
    failed = await sdk.v1.events.list_async(params={"delivery_success": False})
    assert event.id not in {e.id for e in failed.data} and len(failed.data) == 3


async def test_network_errors_are_retried() -> None:
    receiver = Receiver()
    url = await receiver.start()
    await receiver.stop()  # nothing listens there any more
    emu = StripeEmulator(url, SECRET, API_KEY, retry_schedule=(0.3,))
    await emu.start()
    try:
        emu.expire_session(await new_session(emu))
        pending = await client(emu.base_url).v1.events.list_async(
            params={"delivery_success": False})
        assert pending.data[0].pending_webhooks == 1
        await emu.wait_for_deliveries()
        attempts = emu.delivery_attempts
        assert [a.attempt for a in attempts] == [1, 2]
        assert all(a.status is None and a.error for a in attempts)
    finally:
        await emu.stop()


async def test_redirects_count_as_failures(emu: StripeEmulator, receiver: Receiver) -> None:
    receiver.fail_first, receiver.status_when_failing = 1, 302
    emu.expire_session(await new_session(emu))
    await emu.wait_for_deliveries()
    assert [a.status for a in emu.delivery_attempts] == [302, 200]


# ------------------------------------------------------------------ ordering and duplicates


async def test_duplicate_deliveries(receiver: Receiver) -> None:
    emu = StripeEmulator(receiver.url, SECRET, API_KEY, duplicate_deliveries=True)
    await emu.start()
    try:
        emu.pay_session(await new_session(emu))
        await emu.wait_for_deliveries()
    finally:
        await emu.stop()
    ids = [e.id for e in receiver.events]
    assert len(ids) == 8 and all(ids.count(i) == 2 for i in ids)


async def test_reorder_and_delay(receiver: Receiver) -> None:
    emu = StripeEmulator(receiver.url, SECRET, API_KEY, reorder=True, seed=3,
                         delay_seconds=0.2, max_concurrency=1)
    await emu.start()
    try:
        for _ in range(3):
            emu.pay_session(await new_session(emu))
        await asyncio.sleep(0.05)
        assert receiver.events == []  # held back by delay_seconds
        await emu.wait_for_deliveries()
    finally:
        await emu.stop()
    created = [e["id"] for e in emu.events()]
    received = [e.id for e in receiver.events]
    assert sorted(received) == sorted(created) and received != created


async def test_set_delivery_options_over_http(emu: StripeEmulator, receiver: Receiver) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/_control/webhooks/options",
                             data={"duplicate_deliveries": "true"}) as resp:
            assert resp.status == 200
        emu.expire_session(await new_session(emu))
        async with http.post(f"{emu.base_url}/_control/webhooks/wait",
                             params={"timeout": "5"}) as resp:
            assert resp.status == 200
        async with http.get(f"{emu.base_url}/_control/webhooks/attempts") as resp:
            attempts = await resp.json()
    assert [a["status"] for a in attempts] == [200, 200]
    assert receiver.types == ["checkout.session.expired"] * 2


async def test_enabled_events_filter_delivery_not_listing(receiver: Receiver) -> None:
    emu = StripeEmulator(receiver.url, SECRET, API_KEY,
                         enabled_events=["checkout.session.completed"])
    await emu.start()
    try:
        emu.pay_session(await new_session(emu))
        await emu.wait_for_deliveries()
        listed = await client(emu.base_url).v1.events.list_async()
    finally:
        await emu.stop()
    assert receiver.types == ["checkout.session.completed"]
    assert len(listed.data) == 4


# ------------------------------------------------------------------ event listing


async def test_event_list_filters(emu: StripeEmulator) -> None:
    for _ in range(2):
        emu.pay_session(await new_session(emu))
    sdk = client(emu.base_url)
    wildcard = await sdk.v1.events.list_async(params={"type": "checkout.session.*"})
    assert [e.type for e in wildcard.data] == ["checkout.session.completed"] * 2
    several = await sdk.v1.events.list_async(
        params={"types": ["charge.succeeded", "checkout.session.completed"], "limit": 3})
    assert len(several.data) == 3 and several.has_more
    rest = await sdk.v1.events.list_async(params={
        "types": ["charge.succeeded", "checkout.session.completed"],
        "starting_after": several.data[-1].id})
    assert len(rest.data) == 1 and not rest.has_more
    now = emu.now()
    assert len((await sdk.v1.events.list_async(params={"created": {"gte": now - 60}})).data) == 8
    assert (await sdk.v1.events.list_async(params={"created": {"gt": now + 1}})).data == []
    one = await sdk.v1.events.retrieve_async(several.data[0].id)
    assert one.id == several.data[0].id and one.data.object.object
    with pytest.raises(stripe.InvalidRequestError):
        await sdk.v1.events.list_async(params={"type": "a", "types": ["b"]})
    with pytest.raises(stripe.InvalidRequestError) as info:
        await sdk.v1.events.list_async(params={"delivery_success": "perhaps"})  # type: ignore
    assert info.value.param == "delivery_success"


async def test_checkout_page_and_control_errors(emu: StripeEmulator) -> None:
    sid = await new_session(emu)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/c/pay/{sid}") as resp:
            assert resp.status == 200 and "4242 4242 4242 4242" in await resp.text()
        async with http.post(f"{emu.base_url}/_control/checkout/sessions/cs_test_x/pay") as r:
            assert r.status == 400
        async with http.post(f"{emu.base_url}/_control/checkout/sessions/{sid}/pay",
                             data={"outcome": "bogus"}) as r:
            assert r.status == 400


async def test_standalone_cli() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sandbox.stripe_api", "--port", "0", "--api-key", API_KEY,
        stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        base = line.split(" listening on ")[1].split()[0]
        events = await client(base).v1.events.list_async()
        assert events.data == []
    finally:
        proc.terminate()
        await proc.wait()


async def test_sdk_auto_paging_over_failed_events() -> None:
    emu = StripeEmulator(api_key=API_KEY)
    await emu.start()
    try:
        for _ in range(6):
            emu.pay_session(await new_session(emu))
        page = await client(emu.base_url).v1.events.list_async(
            params={"limit": 5, "type": "checkout.session.completed"})
        seen = [e.id async for e in page.auto_paging_iter()]
    finally:
        await emu.stop()
    assert seen == [e["id"] for e in reversed(emu.events("checkout.session.completed"))]

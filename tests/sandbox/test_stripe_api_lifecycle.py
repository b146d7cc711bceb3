"""What happens at Stripe after a payment, through the real SDK and signed webhooks: disputes
(inquiry, chargeback, won, lost), refunds that fail, a 500 stored under its idempotency key, an
answer lost after the request was applied, Stripe's clock ahead of ours, webhook endpoints,
and the event list's filters and cursors."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx
import pytest
import stripe

from sandbox.stripe_api import ControlError, StripeEmulator
from tests.sandbox.test_stripe_support import API_KEY, Receiver, client, session_params


async def paid_session(emu: StripeEmulator) -> tuple[str, str]:
    s = await client(emu.base_url).v1.checkout.sessions.create_async(params=session_params())
    pi = emu.pay_session(s.id)["payment_intent"]
    charge = emu.get_object(pi)["latest_charge"]  # type: ignore[index]
    return s.id, charge


def dispute_types(receiver: Receiver) -> list[str]:
    return [t for t in receiver.types if t.startswith("charge.dispute.")]


async def test_inquiry_withdraws_nothing_and_closes_as_warning_closed(
        emu: StripeEmulator, receiver: Receiver) -> None:
    _, charge = await paid_session(emu)
    d = emu.dispute_payment(charge, inquiry=True)
    assert d["status"] == "warning_needs_response" and d["balance_transactions"] == []
    emu.close_dispute(d["id"], won=True)
    await emu.wait_for_deliveries()
    assert dispute_types(receiver) == ["charge.dispute.created", "charge.dispute.closed"]
    closed = receiver.events[-1]
    assert closed.data.object.status == "warning_closed"
    assert closed.data.previous_attributes.status == "warning_needs_response"
    got = await client(emu.base_url).v1.disputes.retrieve_async(d["id"])
    assert got.status == "warning_closed" and got.balance_transactions == []


async def test_chargeback_withdraws_then_won_reinstates(emu: StripeEmulator,
                                                         receiver: Receiver) -> None:
    _, charge = await paid_session(emu)
    d = emu.dispute_payment(charge, amount=1000)
    assert d["status"] == "needs_response"
    [withdrawal] = d["balance_transactions"]
    assert (withdrawal["amount"], withdrawal["fee"], withdrawal["net"]) == (-1000, 1500, -2500)
    emu.close_dispute(d["id"], won=True)
    await emu.wait_for_deliveries()
    assert dispute_types(receiver) == ["charge.dispute.created", "charge.dispute.funds_withdrawn",
                                       "charge.dispute.funds_reinstated", "charge.dispute.closed"]
    got = await client(emu.base_url).v1.disputes.retrieve_async(d["id"])
    assert got.status == "won" and [t.amount for t in got.balance_transactions] == [-1000, 1000]
    with pytest.raises(ControlError):
        emu.close_dispute(d["id"], won=False)


async def test_chargeback_lost_keeps_the_funds_withdrawn(emu: StripeEmulator,
                                                         receiver: Receiver) -> None:
    _, charge = await paid_session(emu)
    d = emu.dispute_payment(charge)
    emu.close_dispute(d["id"], won=False)
    await emu.wait_for_deliveries()
    assert dispute_types(receiver)[-1] == "charge.dispute.closed"
    assert receiver.events[-1].data.object.status == "lost"
    assert len(emu.get_object(d["id"])["balance_transactions"]) == 1  # type: ignore[index]


@pytest.mark.parametrize("status", ["failed", "canceled"])
async def test_failed_refund_gives_the_amount_back_on_the_charge(
        emu: StripeEmulator, receiver: Receiver, status: str) -> None:
    _, charge = await paid_session(emu)
    refund = emu.refund_payment(charge, amount=600)
    failed = emu.fail_refund(refund["id"], status, "expired_or_canceled_card")
    assert (failed["status"], failed["failure_reason"]) == (status, "expired_or_canceled_card")
    assert failed["failure_balance_transaction"].startswith("txn_")
    await emu.wait_for_deliveries()
    assert receiver.types[-2:] == ["refund.updated", "charge.refund.updated"]
    assert receiver.events[-1].data.object.id == refund["id"]
    assert receiver.events[-1].data.previous_attributes.status == "succeeded"
    sdk = client(emu.base_url)
    assert (await sdk.v1.charges.retrieve_async(charge)).amount_refunded == 0
    listed = await sdk.v1.refunds.list_async(params={"charge": charge})
    assert [(r.id, r.status) for r in listed.data] == [(refund["id"], status)]
    with pytest.raises(ControlError):
        emu.fail_refund(refund["id"])


async def test_a_stored_500_is_replayed_under_its_key_and_a_new_key_goes_through(
        emu: StripeEmulator) -> None:
    sdk = client(emu.base_url)
    emu.fail_next("/v1/checkout/sessions")
    for _ in range(2):
        with pytest.raises(stripe.APIError) as caught:
            await sdk.v1.checkout.sessions.create_async(params=session_params(),
                                                        options={"idempotency_key": "k-1"})
        assert caught.value.http_status == 500
    assert emu.core.sessions == {}  # the 500 applied nothing
    s = await sdk.v1.checkout.sessions.create_async(params=session_params(),
                                                    options={"idempotency_key": "k-2"})
    assert s.status == "open"


async def test_a_lost_answer_was_applied_and_the_same_key_gets_it_back(
        emu: StripeEmulator) -> None:
    sdk = client(emu.base_url)
    emu.lose_next_answer("/v1/checkout/sessions")
    with pytest.raises(stripe.APIConnectionError):
        await sdk.v1.checkout.sessions.create_async(params=session_params(),
                                                    options={"idempotency_key": "k-lost"})
    [created] = emu.core.sessions.values()
    again = await sdk.v1.checkout.sessions.create_async(params=session_params(),
                                                        options={"idempotency_key": "k-lost"})
    assert again.id == created["id"] and len(emu.core.sessions) == 1


async def test_skewed_clock_shows_in_the_date_header_and_the_expires_at_check(
        emu: StripeEmulator) -> None:
    emu.skew_clock(600)
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{emu.base_url}/v1/events",
                              headers={"Authorization": f"Bearer {API_KEY}"})
    stripe_now = parsedate_to_datetime(resp.headers["Date"]).timestamp()
    assert stripe_now - time.time() > 590
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await client(emu.base_url).v1.checkout.sessions.create_async(
            params=session_params(expires_at=int(time.time()) + 31 * 60))
    assert caught.value.param == "expires_at"


async def test_webhook_endpoints_secret_only_on_create(emu: StripeEmulator) -> None:
    sdk = client(emu.base_url)
    created = await sdk.v1.webhook_endpoints.create_async(params={
        "url": "https://shop.example/webhooks/stripe", "api_version": "2026-10-28.endive",
        "enabled_events": ["checkout.session.completed"]})
    assert created.secret.startswith("whsec_") and created.api_version == "2026-10-28.endive"
    listed = await sdk.v1.webhook_endpoints.list_async()
    assert [e.id for e in listed.data] == [created.id] and "secret" not in listed.data[0]
    updated = await sdk.v1.webhook_endpoints.update_async(
        created.id, params={"enabled_events": ["charge.refunded", "charge.dispute.closed"]})
    assert updated.enabled_events == ["charge.refunded", "charge.dispute.closed"]
    assert "secret" not in updated
    with pytest.raises(stripe.InvalidRequestError):
        await sdk.v1.webhook_endpoints.update_async(created.id,
                                                    params={"api_version": "2020-01-01"})  # type: ignore[typeddict-unknown-key]


async def test_event_list_types_created_and_cursors(emu: StripeEmulator) -> None:
    _, charge = await paid_session(emu)
    emu.refund_payment(charge, amount=100)
    emu.refund_payment(charge, amount=100)
    sdk = client(emu.base_url)
    page = await sdk.v1.events.list_async(params={
        "types": ["charge.refunded", "checkout.session.completed"],
        "created": {"gte": emu.now() - 60}, "limit": 2})
    assert [e.type for e in page.data] == ["charge.refunded", "charge.refunded"] and page.has_more
    older = await sdk.v1.events.list_async(params={
        "types": ["charge.refunded", "checkout.session.completed"],
        "starting_after": page.data[-1].id})
    assert [e.type for e in older.data] == ["checkout.session.completed"]
    newer = await sdk.v1.events.list_async(params={
        "types": ["charge.refunded", "checkout.session.completed"],
        "ending_before": older.data[0].id, "limit": 1})
    assert [e.id for e in newer.data] == [page.data[-1].id]

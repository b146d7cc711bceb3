"""The Stripe emulator's hosted Checkout page: Stripe's test cards and bank accounts behave as
its testing docs say, a declined card keeps the session open for another try, and a page
refusal (bad number, past expiry) reaches no bank and sends no event."""

from __future__ import annotations

import asyncio
import html
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sandbox.stripe_api import StripeEmulator
from tests.sandbox.test_stripe_support import API_KEY, SECRET, Receiver, client, session_params

CARD = {"email": "ada@example.com", "method": "card", "expiry": "12 / 34", "cvc": "123"}


@pytest.fixture
async def emu(receiver: Receiver) -> AsyncIterator[StripeEmulator]:
    e = StripeEmulator(receiver.url, SECRET, API_KEY, retry_schedule=(0.02, 0.05), async_settle_s=0.05)
    await e.start()
    yield e
    await e.stop()


async def submit(emu: StripeEmulator, sid: str, **form: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emu.base_url}/c/pay/{sid}", data=form) as resp:
            return resp.status, await resp.text()


async def new_session(emu: StripeEmulator) -> str:
    session = await client(emu.base_url).v1.checkout.sessions.create_async(params=session_params())
    async with aiohttp.ClientSession() as http:
        async with http.get(session.url) as resp:
            assert resp.status == 200 and "TEST MODE" in await resp.text()
    return session.id


async def test_declined_card_keeps_the_session_open_and_a_good_card_then_pays(
        emu: StripeEmulator, receiver: Receiver) -> None:
    sid = await new_session(emu)
    status, page = await submit(emu, sid, number="4000 0000 0000 0002", **CARD)
    assert status == 402 and "Your card was declined." in page
    await emu.wait_for_deliveries()
    assert receiver.types == ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"]
    failed = receiver.events[1].data.object
    assert (failed.failure_code, failed.outcome.reason, failed.paid) == ("card_declined", "generic_decline", False)
    error = receiver.events[2].data.object.last_payment_error
    assert (error.type, error.code, error.decline_code) == ("card_error", "card_declined", "generic_decline")
    assert emu.get_object(sid)["status"] == "open"

    status, page = await submit(emu, sid, number="4242424242424242", **CARD)
    assert status == 200 and "Payment successful" in page
    await emu.wait_for_deliveries()
    assert receiver.types[3:] == ["charge.succeeded", "payment_intent.succeeded", "checkout.session.completed"]
    session = emu.get_object(sid)
    assert (session["status"], session["payment_status"]) == ("complete", "paid")
    assert session["payment_intent"] == failed.payment_intent  # the same PaymentIntent, confirmed again
    charge = emu.get_object(receiver.events[3].data.object.id)
    assert charge["payment_method_details"]["card"]["last4"] == "4242"


@pytest.mark.parametrize(("number", "code", "message"), [
    ("4000000000009995", "card_declined", "Your card has insufficient funds."),
    ("4000000000000069", "expired_card", "Your card has expired."),
    ("4000000000000127", "incorrect_cvc", "Your card's security code is incorrect."),
    ("5105105105105100", "card_declined", "used a non test card"),
])
async def test_declines_by_test_card(emu: StripeEmulator, receiver: Receiver, number: str, code: str,
                                     message: str) -> None:
    sid = await new_session(emu)
    status, page = await submit(emu, sid, number=number, **CARD)
    assert status == 402 and html.escape(message) in page
    await emu.wait_for_deliveries()
    assert receiver.events[1].data.object.failure_code == code


@pytest.mark.parametrize(("field", "value", "message"), [
    ("number", "4242 4242 4242 4241", "Your card number is invalid."),
    ("expiry", "01 / 20", "Your card's expiration year is in the past."),
    ("cvc", "1", "Your card's security code is incomplete."),
])
async def test_refused_on_the_page_reaches_no_bank(emu: StripeEmulator, receiver: Receiver, field: str,
                                                   value: str, message: str) -> None:
    sid = await new_session(emu)
    status, page = await submit(emu, sid, **{"number": "4242424242424242", **CARD, field: value})
    assert status == 402 and html.escape(message) in page
    await asyncio.sleep(0.1)
    assert emu.events() == [] and emu.get_object(sid)["status"] == "open"


async def test_bank_debit_completes_unpaid_then_settles_later(emu: StripeEmulator, receiver: Receiver) -> None:
    paid, failing = await new_session(emu), await new_session(emu)
    status, page = await submit(emu, paid, method="bank", routing="110000000", account="000123456789")
    assert status == 200 and "Payment processing" in page
    assert emu.get_object(paid)["payment_status"] == "unpaid"
    await submit(emu, failing, method="bank", routing="110000000", account="000222222227")
    await asyncio.sleep(0.2)
    await emu.wait_for_deliveries()
    assert emu.get_object(paid)["payment_status"] == "paid"
    assert emu.get_object(failing)["payment_status"] == "unpaid"
    types = receiver.types
    assert "checkout.session.async_payment_succeeded" in types
    assert "checkout.session.async_payment_failed" in types


async def test_dispute_test_card_succeeds_then_is_disputed(emu: StripeEmulator, receiver: Receiver) -> None:
    sid = await new_session(emu)
    status, _ = await submit(emu, sid, number="4000000000000259", **CARD)
    assert status == 200
    await emu.wait_for_deliveries()
    assert receiver.types[-3:] == ["checkout.session.completed", "charge.dispute.created",
                                   "charge.dispute.funds_withdrawn"]
    assert emu.charges()[0]["disputed"] is True

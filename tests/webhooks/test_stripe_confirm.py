"""Money moves only on what Stripe itself confirms: a correctly signed event is read back from
the API before anything is credited, so a leaked webhook secret mints nothing; and bodies that
are signed but not an event object get a 400, never a 500."""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator

import pytest

from ledger import Ledger
from sandbox.stripe_webhooks import sign_payload
from tests.webhooks.harness import SECRET, Shop, running_shop


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger) as s:
        await s.collect_only()  # the test posts each event itself
        yield s


def forged_completed(session: dict, **changes: object) -> dict:
    obj = copy.deepcopy(session) | {"status": "complete", "payment_status": "paid"} | changes
    return {"id": "evt_forged", "object": "event", "type": "checkout.session.completed",
            "api_version": "2026-10-28.endive", "data": {"object": obj}}


async def test_signed_event_for_a_session_stripe_does_not_know_credits_nothing(shop: Shop) -> None:
    order = await shop.order(amount=5000)
    sid = await shop.session_of(order)
    event = forged_completed(shop.emu.get_object(sid) or {}, id="cs_test_never_made_by_stripe")
    assert await shop.post_event(event) == 200
    assert await shop.available() == 0 and await shop.payment_count() == 0
    [kept] = await shop.kept()
    assert "not confirmed by Stripe" in kept.reason
    assert (await shop.ledger.get_order(order.id)).state == "open"


async def test_signed_completed_event_for_an_unpaid_or_expired_session_credits_nothing(
        shop: Shop) -> None:
    order = await shop.order(amount=5000)
    sid = await shop.session_of(order)
    assert await shop.post_event(forged_completed(shop.emu.get_object(sid) or {})) == 200
    shop.emu.expire_session(sid)
    assert await shop.post_event(forged_completed(shop.emu.get_object(sid) or {})) == 200
    assert await shop.available() == 0 and await shop.payment_count() == 0


async def test_a_real_payment_is_credited_from_stripes_copy_not_the_body(shop: Shop) -> None:
    order = await shop.order(amount=1200)
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid)
    event = shop.emu.events("checkout.session.completed")[0]
    tampered = copy.deepcopy(event)
    tampered["data"]["object"]["amount_total"] = 99_999  # signed by the leaked secret
    assert await shop.post_event(tampered) == 200
    assert await shop.available() == 1200


async def test_upper_case_currency_from_stripe_is_not_usd(shop: Shop) -> None:
    order = await shop.order(amount=1200)
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid)
    shop.emu.core.sessions[sid]["currency"] = "USD"  # Stripe answers lowercase ISO codes only
    assert await shop.post_event(shop.emu.events("checkout.session.completed")[0]) == 200
    assert await shop.available() == 0
    assert "currency USD instead of usd" in (await shop.kept())[0].reason


async def test_stripe_unreachable_for_the_read_back_is_503_and_changes_nothing(shop: Shop) -> None:
    order = await shop.order(amount=1200)
    sid = await shop.session_of(order)
    shop.emu.pay_session(sid)
    event = shop.emu.events("checkout.session.completed")[0]
    shop.emu.fail_next(f"/v1/checkout/sessions/{sid}", method="GET")
    assert await shop.post_event(event) == 503
    assert await shop.available() == 0
    assert await shop.post_event(event) == 200
    assert await shop.available() == 1200


@pytest.mark.parametrize("body", [b"[]", b"1", b'"event"', b"null", b"[" * 50_000 + b"]" * 50_000,
                                  b'{"id": "evt_1"}', b"\xff\xfe"])
async def test_signed_non_object_json_is_400(shop: Shop, body: bytes) -> None:
    header = sign_payload(body, SECRET)
    assert await shop.post_raw(body, {"Stripe-Signature": header}) == 400
    assert await shop.kept() == [] and await shop.payment_count() == 0


async def test_event_in_another_api_version_is_logged(shop: Shop,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    event = {"id": "evt_old", "object": "event", "type": "customer.created",
             "api_version": "2020-08-27", "data": {"object": {"id": "cus_1"}}}
    with caplog.at_level(logging.WARNING, logger="webhooks.stripe"):
        assert await shop.post_event(event) == 200
    assert any("2020-08-27" in r.getMessage() for r in caplog.records)

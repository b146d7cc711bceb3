"""The Stripe inbox end to end: events the webhook queues (a burst; `inline_max=0` queues every
handled event) are answered 200 after one durable write, then read back from Stripe and
credited by the consumer, exactly once, through Stripe outages and a SIGKILL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ledger import Ledger, stripe_inbox
from payments.stripe_checkout import StripeCheckout, make_client
from sandbox.stripe_api import StripeEmulator
from sandbox.stripe_webhooks import sign_payload, webhook_body
from tests.webhooks.harness import API_KEY, SECRET, Shop, free_socket, inbox_drained, running_shop

REPO = Path(__file__).resolve().parents[2]
COMPLETED = "checkout.session.completed"


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger, inline_max=0) as s:
        await s.collect_only()  # the tests post the events themselves, to read each answer
        yield s


async def post(shop: Shop, event: dict[str, object]) -> tuple[int, dict[str, object]]:
    body = webhook_body(event)  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as http, http.post(
            shop.stripe_url, data=body,
            headers={"Stripe-Signature": sign_payload(body, SECRET)}) as resp:
        return resp.status, await resp.json()


async def paid_event(shop: Shop, amount: int, user_id: int = 42) -> dict[str, object]:
    order = await shop.order(user_id=user_id, amount=amount)
    shop.emu.pay_session(await shop.session_of(order))
    return next(e for e in shop.emu.events(COMPLETED)
                if e["data"]["object"]["client_reference_id"] == str(order.id))


async def test_a_queued_event_is_answered_200_then_credited_once(shop: Shop) -> None:
    event = await paid_event(shop, 900)
    assert await post(shop, event) == (200, {"received": True, "status": "queued"})
    await inbox_drained(shop.ledger)
    assert await shop.available() == 900 and await shop.payment_count() == 1
    assert len(await shop.notifications(42)) == 1
    for _ in range(2):  # redeliveries, queued again or not, change nothing
        assert (await post(shop, event))[0] == 200
    await inbox_drained(shop.ledger)
    assert await shop.available() == 900 and await shop.payment_count() == 1
    assert len(await shop.notifications(42)) == 1


async def test_a_burst_is_credited_once_each_and_its_redeliveries_change_nothing(shop: Shop) -> None:
    events = [await paid_event(shop, 100 + n, user_id=500 + n) for n in range(30)]
    answers = await asyncio.gather(*(post(shop, e) for e in events + events))
    assert all(status == 200 for status, _ in answers)
    await inbox_drained(shop.ledger)
    assert await shop.payment_count() == 30
    for n in range(30):
        assert await shop.available(500 + n) == 100 + n
    assert (await shop.ledger.audit()).ok


async def test_stripe_down_is_accepted_and_credited_once_stripe_answers(shop: Shop) -> None:
    event = await paid_event(shop, 1100)
    sid = event["data"]["object"]["id"]  # type: ignore[index]
    shop.emu.fail_next(f"/v1/checkout/sessions/{sid}", method="GET", times=2)
    assert await post(shop, event) == (200, {"received": True, "status": "queued"})
    await inbox_drained(shop.ledger, timeout=30)  # two failed read-backs, backed off, then a good one
    assert await shop.available() == 1100 and await shop.payment_count() == 1
    assert len(await shop.notifications(42)) == 1


async def test_a_queued_forgery_of_an_unknown_session_credits_nothing(shop: Shop) -> None:
    event = await paid_event(shop, 1200)
    forged = json.loads(json.dumps(event))
    forged["id"] = "evt_forged00000000000000000"
    forged["data"]["object"]["id"] = "cs_test_unknown_to_stripe"
    assert (await post(shop, forged))[0] == 200
    await inbox_drained(shop.ledger)
    assert await shop.payment_count() == 0 and await shop.available() == 0
    assert [k.event_id for k in await shop.kept()] == ["evt_forged00000000000000000"]


async def test_bad_input_is_400_and_queues_nothing(shop: Shop) -> None:
    event = await paid_event(shop, 1300)
    body = webhook_body(event)  # type: ignore[arg-type]
    bad = [(body, sign_payload(body, "whsec_someone_else")), (b"[]", sign_payload(b"[]", SECRET)),
           (b"{not json", sign_payload(b"{not json", SECRET))]
    for payload, header in bad:
        assert await shop.post_raw(payload, {"Stripe-Signature": header}) == 400
    assert await shop.ledger.read(stripe_inbox.waiting) == (0, None)
    assert await shop.payment_count() == 0


# --------------------------------------------------------------------------- SIGKILL


def count(db: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql).fetchone()[0])


async def hanging_api() -> tuple[asyncio.base_events.Server, str]:
    """A "Stripe API" that takes each request and never answers: read-backs hang, their
    events stay claimed."""
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.read()
    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def start_server(db: Path, port: int, api: str, log: Path) -> asyncio.subprocess.Process:
    with open(log, "ab") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.webhooks.stripe_crash_server", str(db), str(port),
            SECRET, api, "--inline-max", "0", cwd=REPO, stdout=asyncio.subprocess.PIPE,
            stderr=out, env={**os.environ, "PYTHONPATH": str(REPO), "STRIPE_SECRET_KEY": API_KEY})
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 15)
    assert line.strip() == b"ready", log.read_text()
    return proc


async def test_events_accepted_before_a_sigkill_are_credited_once_after_the_restart(
        db_path: Path, tmp_path: Path) -> None:
    emu = StripeEmulator(None, SECRET, API_KEY)
    await emu.start()
    hang, hang_url = await hanging_api()
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    client = make_client(API_KEY, emu.base_url, max_network_retries=0)
    ledger = await Ledger.open(db_path)
    try:
        orders = [await ledger.create_order(f"k-{n}", 300 + n, "topup", 400 + n) for n in range(5)]
        checkout = StripeCheckout(ledger, client, bot_username="GridShopBot")
        for order in orders:
            await checkout.checkout_url(order)
    finally:
        await ledger.close()
    for sid in list(emu.core.sessions):
        emu.pay_session(sid)
    events = emu.events(COMPLETED)
    log = tmp_path / "server.log"
    try:
        proc = await start_server(db_path, port, hang_url, log)  # read-backs hang
        async with aiohttp.ClientSession() as http:
            for event in events:
                body = webhook_body(event)
                async with http.post(f"http://127.0.0.1:{port}/webhooks/stripe", data=body,
                                     headers={"Stripe-Signature": sign_payload(body, SECRET)}) as r:
                    assert r.status == 200 and (await r.json())["status"] == "queued"
        deadline = time.monotonic() + 10
        while count(db_path, "SELECT count(*) FROM stripe_inbox WHERE lease_until > 0") < 5:
            assert time.monotonic() < deadline, "the consumer did not claim the events"
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # claimed, being read back: nothing credited yet
        assert await proc.wait() == -signal.SIGKILL
        assert count(db_path, "SELECT count(*) FROM payments") == 0

        proc = await start_server(db_path, port, emu.base_url, log)  # Stripe answers now
        try:
            deadline = time.monotonic() + 20
            while count(db_path, "SELECT count(*) FROM stripe_inbox"):
                assert time.monotonic() < deadline, log.read_text()
                await asyncio.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGINT)
            await proc.wait()
    finally:
        hang.close()
        await client.aclose()
        await emu.stop()
    assert count(db_path, "SELECT count(*) FROM payments") == 5
    assert count(db_path, "SELECT count(DISTINCT external_id) FROM payments") == 5
    ledger = await Ledger.open(db_path)
    try:
        for n in range(5):
            assert (await ledger.balance(300 + n)).available == 400 + n
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()

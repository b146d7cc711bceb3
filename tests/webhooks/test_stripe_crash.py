"""Crashes and races around a Stripe payment.

1. The webhook server SIGKILLed between the ledger COMMIT and its 2xx: Stripe's retry changes
   nothing and the credit is there (the real server in a subprocess on a real SQLite file).
2. The session's `checkout.session.completed` arriving before the create call returned (nothing
   stored on the order yet): credited once, and the order cannot be paid a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ledger import Ledger, stripe_state
from ledger.models import Order
from payments.stripe_checkout import OrderNotPayable, StripeCheckout, make_client
from sandbox.stripe_api import ControlError, StripeEmulator
from tests.webhooks.harness import API_KEY, SECRET, Shop, free_socket, running_shop

REPO = Path(__file__).resolve().parents[2]
COMPLETED = "checkout.session.completed"


# --------------------------------------------------------------------------- helpers


class Server:
    """`tests/webhooks/stripe_crash_server.py` in a subprocess."""

    def __init__(self, db: Path, port: int, log: Path, stripe_api: str) -> None:
        self.db, self.port, self.log, self.stripe_api = db, port, log, stripe_api
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, *, kill_after_commit: bool = False) -> None:
        args = [sys.executable, "-m", "tests.webhooks.stripe_crash_server",
                str(self.db), str(self.port), SECRET, self.stripe_api]
        if kill_after_commit:
            args.append("--kill-after-commit")
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *args, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
                env={**os.environ, "PYTHONPATH": str(REPO), "STRIPE_SECRET_KEY": API_KEY},
            )
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), 15)
        except TimeoutError:
            line = b""
        assert line.strip() == b"ready", f"server did not start:\n{self.log.read_text()}"

    async def wait_dead(self, timeout: float = 10) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # asyncio.run cancels serve(): a clean close
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def count(db: Path, sql: str, *args: Any) -> int:
    """Read the file directly, as a second process would (no Ledger in this process)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


def sessions_of(emu: StripeEmulator, order_id: int) -> list[str]:
    return [s["id"] for s in emu.core.sessions.values()
            if s.get("client_reference_id") == str(order_id)]


# --------------------------------------------------------------------------- 1. SIGKILL


@pytest.fixture
async def emulator_for_port() -> AsyncIterator[tuple[StripeEmulator, int]]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the subprocess binds it (reuse_address), now and after its restart
    emu = StripeEmulator(f"http://127.0.0.1:{port}/webhooks/stripe", SECRET, API_KEY,
                         retry_schedule=(0.3, 0.5, 1.0, 2.0, 4.0), enabled_events=[COMPLETED])
    await emu.start()
    try:
        yield emu, port
    finally:
        await emu.stop()


async def test_sigkill_between_commit_and_2xx_then_retry_changes_nothing(
    db_path: Path, tmp_path: Path, emulator_for_port: tuple[StripeEmulator, int]
) -> None:
    emu, port = emulator_for_port
    client = make_client(API_KEY, emu.base_url, max_network_retries=0)

    # The order and its Checkout Session, through StripeCheckout and the real SDK.
    ledger = await Ledger.open(db_path)
    try:
        order = await ledger.create_order("crash-order", 42, "topup", 1300, None)
        url = await StripeCheckout(ledger, client, bot_username="GridShopBot").checkout_url(order)
        ref = await ledger.read(lambda c: stripe_state.order_ref(c, order.id))
    finally:
        await ledger.close()
    assert ref is not None and ref.provider_ref and url.endswith(ref.provider_ref)
    sid = ref.provider_ref

    server = Server(db_path, port, tmp_path / "server.log", emu.base_url)
    try:
        await server.start(kill_after_commit=True)
        emu.pay_session(sid)
        assert await server.wait_dead() == -signal.SIGKILL
        # The kill came after COMMIT: the credit is on disk before any retry.
        assert count(db_path, "SELECT count(*) FROM payments WHERE external_id = ?", sid) == 1
        first = emu.delivery_attempts
        assert len(first) >= 1 and not first[0].ok and first[0].status is None, first

        await server.start()  # same port, same file, no kill
        await emu.wait_for_deliveries(timeout=15)
    finally:
        await server.stop()

    attempts = [a for a in emu.delivery_attempts if a.event_type == COMPLETED]
    assert len({a.event_id for a in attempts}) == 1
    assert not attempts[0].ok and attempts[-1].ok and attempts[-1].status == 200, attempts
    assert sum(a.ok for a in attempts) == 1

    ledger = await Ledger.open(db_path)
    try:
        assert await ledger.read(lambda c: c.execute("PRAGMA integrity_check").fetchall()) == [("ok",)]
        payments = await ledger.read(lambda c: c.execute(
            "SELECT external_id, amount, order_id, transfer_id FROM payments").fetchall())
        assert len(payments) == 1 and payments[0][:3] == (sid, 1300, order.id)
        credits = await ledger.read(lambda c: c.execute(
            "SELECT id, amount FROM transfers WHERE kind = 'payment'").fetchall())
        assert credits == [(payments[0][3], 1300)]
        balance = await ledger.balance(42)
        assert (balance.posted, balance.held, balance.available) == (1300, 0, 1300)
        assert (await ledger.get_order(order.id)).state == "paid"
        told = await ledger.read(lambda c: c.execute(
            "SELECT count(*) FROM notifications WHERE chat_id = 42").fetchone()[0])
        assert told == 1
        report = await ledger.audit()
        assert report.ok, report
    finally:
        await ledger.close()


# --------------------------------------------------------------------------- 2. early webhook


@pytest.fixture
async def shop(ledger: Ledger) -> AsyncIterator[Shop]:
    async with running_shop(ledger, enabled_events=[COMPLETED]) as s:
        yield s


async def assert_paid_once(shop: Shop, order: Order, sid: str) -> None:
    assert await shop.payment_count() == 1
    payment = await shop.ledger.get_payment("stripe", sid)
    assert payment is not None and payment.order_id == order.id and payment.amount == order.amount
    assert await shop.available(order.user_id) == order.amount
    assert (await shop.ledger.get_order(order.id)).state == "paid"
    assert len(await shop.notifications(order.user_id)) == 1
    assert all(a.ok for a in shop.emu.delivery_attempts)
    assert (await shop.ledger.audit()).ok


async def test_webhook_before_the_session_id_was_stored_credits_once_and_no_second_session(
    shop: Shop,
) -> None:
    """StripeCheckout planned the session and its create reached Stripe, but its answer was
    never stored (crash, lost response). The customer pays that session and the webhook comes
    while the order still has no provider_ref."""
    order = await shop.order(amount=1700)
    planned = shop.ledger.now() + 45 * 60
    await shop.ledger.write(
        lambda c, t: stripe_state.set_provider_ref(c, t, order.id, None, planned))
    session = await shop.checkout._create(order, planned)  # the very create StripeCheckout sends
    ref = await shop.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
    assert ref is not None and ref.provider_ref is None

    shop.emu.pay_session(session.id)
    await shop.emu.wait_for_deliveries()
    await assert_paid_once(shop, order, session.id)

    # A later "Pay with Stripe" for the order: refused, and no second session exists.
    with pytest.raises(OrderNotPayable):
        await shop.checkout.checkout_url(order)
    assert sessions_of(shop.emu, order.id) == [session.id]
    await assert_paid_once(shop, order, session.id)


async def test_webhook_while_the_create_call_is_in_flight(shop: Shop) -> None:
    """The create call is slow: Stripe made the session, the customer paid it and the webhook
    was applied before `create_async` returned to StripeCheckout."""
    order = await shop.order(amount=900)
    sessions = shop.checkout.client.v1.checkout.sessions
    real_create = sessions.create_async
    paid: list[str] = []

    async def slow_create(*args: Any, **kwargs: Any) -> Any:
        session = await real_create(*args, **kwargs)
        ref = await shop.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
        assert ref is not None and ref.provider_ref is None  # nothing stored yet
        shop.emu.pay_session(session.id)
        await shop.emu.wait_for_deliveries()
        paid.append(session.id)
        return session

    sessions.create_async = slow_create  # type: ignore[method-assign]
    try:
        url = await shop.checkout.checkout_url(order)
    finally:
        del sessions.create_async
    [sid] = paid
    await assert_paid_once(shop, order, sid)

    # What the product does: the create's answer is stored and its URL returned, but that
    # session is complete and cannot be paid again.
    assert url.endswith(sid)
    ref = await shop.ledger.read(lambda c: stripe_state.order_ref(c, order.id))
    assert ref is not None and ref.provider_ref == sid
    with pytest.raises(ControlError):
        shop.emu.pay_session(sid)

    # Asking again: refused; still one session, one payment.
    with pytest.raises(OrderNotPayable) as refused:
        await shop.checkout.checkout_url(order)
    assert "cannot be paid again" in refused.value.user_message
    assert sessions_of(shop.emu, order.id) == [sid]
    await assert_paid_once(shop, order, sid)

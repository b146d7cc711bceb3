"""The business operations that span several ledger steps, each through a real SQLite file:
the savepoint a refused step rolls back to, finding a payment by any reference, an admin's
adjustment, retry, cancel and catalogue change, each with its admin log entry, a broadcast
queued in chunks, a buyer's confirm and renew buttons, a Stars refund taken back."""

from __future__ import annotations

import sqlite3
from functools import partial
from pathlib import Path

import pytest

from ledger import (
    PAYABLE_GRID,
    InsufficientFunds,
    InvalidRequest,
    Ledger,
    PaymentNotFound,
    admin_actions,
    admin_state,
    broadcasts,
    ops,
    stars_refunds,
    users,
)
from ledger import deployments as jobs
from ledger.admin_state import AdminRequest
from ledger.deployments import DeploymentNotFound
from ledger.savepoint import savepoint

from .helpers import dump, fund, rows


async def test_a_refused_step_rolls_back_alone_and_the_write_goes_on(
    ledger: Ledger, db_path: Path
) -> None:
    alice = await fund(ledger, 1, 100)
    bob = await ledger.user_account(2)

    def write(conn: sqlite3.Connection, now: int) -> str:
        ops.transfer(conn, now, "kept", alice, bob, 30, "transfer")
        try:
            with savepoint(conn, "step"):
                ops.transfer(conn, now, "undone", alice, bob, 10, "transfer")
                ops.transfer(conn, now, "refused", alice, bob, 1_000, "transfer")  # no cover
        except InsufficientFunds:
            return "refused"
        return "all"

    assert await ledger.write(write) == "refused"
    assert rows(db_path, "SELECT key FROM transfers WHERE kind = 'transfer'") == [("kept",)]
    assert (await ledger.balance(1)).posted == 70
    assert (await ledger.audit()).ok


async def test_a_savepoint_name_must_be_an_identifier(ledger: Ledger, db_path: Path) -> None:
    before = dump(db_path)
    with pytest.raises(ValueError, match="identifier"):
        await ledger.write(lambda conn, now: savepoint(conn, "x; DROP TABLE transfers"))
    assert dump(db_path) == before


async def test_a_payment_is_found_by_its_id_or_the_providers_id(ledger: Ledger) -> None:
    await fund(ledger, 1, 100, external_id="cs_first")
    second = await ledger.record_payment("stars", "charge-7", user_id=2, amount=50,
                                         provider_amount=10, provider_currency="XTR")
    payment_id = second.payment.id
    assert (await ledger.find_payment(str(payment_id))) == second.payment
    assert (await ledger.find_payment(f"#{payment_id}")) == second.payment
    assert (await ledger.find_payment("charge-7")) == second.payment
    found = await ledger.find_payment("cs_first")
    assert found is not None and found.user_id == 1
    assert await ledger.find_payment("999") is None
    assert await ledger.find_payment("0") is None
    assert await ledger.find_payment("no-such-charge") is None
    assert await ledger.find_payment(str(2**63)) is None  # not an id SQLite could hold


# --- an admin's adjustment -------------------------------------------------------------------


async def _request(ledger: Ledger, key: str, params: dict) -> AdminRequest:
    opened = await ledger.write(lambda conn, now: admin_state.open_request(
        conn, now, key, 77, "adjust", params, 77))
    return opened.request


async def test_an_adjustment_commits_with_its_log_and_message_and_replays_the_first(
    ledger: Ledger, db_path: Path
) -> None:
    await fund(ledger, 1, 100)
    request = await _request(ledger, "cmd:1", {"user_id": 1, "amount": -40, "reason": "dup"})
    adjust = partial(admin_actions.adjust_balance, request=request, user_id=1, amount=-40,
                     reason="dup")
    first = await ledger.write(adjust)
    assert first is not None and first.new
    assert (first.amount, first.balance.available, first.transfer.memo) == (-40, 60, "admin 77: dup")
    assert rows(db_path, "SELECT action, target FROM admin_log") == [("debit", "user 1")]
    assert rows(db_path, "SELECT chat_id, text FROM notifications") == [
        (1, "ℹ️ 0.40 TFC was taken from your balance by the shop: dup. Available now: 0.60 TFC.")]
    assert rows(db_path, "SELECT state FROM admin_requests") == [("done",)]
    before = dump(db_path)
    again = await ledger.write(adjust)
    assert again is not None and not again.new and again.transfer == first.transfer
    assert dump(db_path) == before


async def test_a_refused_adjustment_changes_nothing_and_its_refusal_is_logged_once(
    ledger: Ledger, db_path: Path
) -> None:
    await fund(ledger, 1, 100)
    request = await _request(ledger, "cmd:2", {"user_id": 1, "amount": -500, "reason": "x"})
    before = dump(db_path)
    with pytest.raises(InsufficientFunds):
        await ledger.write(partial(admin_actions.adjust_balance, request=request, user_id=1,
                                   amount=-500, reason="x"))
    assert dump(db_path) == before
    refuse = partial(admin_actions.refuse, request=request, action="adjust.refused",
                     target="user 1", reason="no cover", result="❌ Refused: no cover")
    await ledger.write(refuse)
    await ledger.write(refuse)
    assert rows(db_path, "SELECT action, detail FROM admin_log") == [("adjust.refused", "no cover")]
    assert rows(db_path, "SELECT state, result FROM admin_requests") == [
        ("failed", "❌ Refused: no cover")]
    # A closed request does not run: nothing is credited by a late tap.
    late = await ledger.write(partial(admin_actions.adjust_balance, request=request, user_id=1,
                                      amount=500, reason="x"))
    assert late is None
    assert (await ledger.balance(1)).available == 100


# --- an admin's retry, cancel and catalogue change --------------------------------------------


async def _failed_deployment(ledger: Ledger, user_id: int, price: int) -> int:
    order = await ledger.create_order(f"o:{user_id}", user_id, "purchase", price, "vm-small")
    bought = await ledger.purchase(order.id, user_id)
    await ledger.write(lambda conn, now: jobs.complete_failure(conn, now, bought.deployment_id, "grid"))
    return bought.deployment_id


async def test_a_retry_holds_the_price_again_once_and_a_refused_one_changes_nothing(
    ledger: Ledger, db_path: Path
) -> None:
    await fund(ledger, 1, 100)
    deployment_id = await _failed_deployment(ledger, 1, 80)
    await ledger.transfer("spend", await ledger.user_account(1), PAYABLE_GRID, 50)
    request = await _request(ledger, "cmd:retry", {"deployment_id": deployment_id})
    retry = partial(admin_actions.retry_deployment, request=request, deployment_id=deployment_id,
                    hold_ttl_s=3600)
    before = dump(db_path)
    with pytest.raises(InsufficientFunds):  # 50 available, 80 to hold
        await ledger.write(retry)
    assert dump(db_path) == before
    await fund(ledger, 1, 30, external_id="more")
    dep = await ledger.write(retry)
    assert dep is not None and dep.state == "queued"
    assert (await ledger.balance(1)).held == 80
    assert rows(db_path, "SELECT action FROM admin_log") == [("retry",)]
    after = dump(db_path)
    assert await ledger.write(retry) is None
    assert dump(db_path) == after


async def test_a_cancel_with_a_refund_choice_runs_once(ledger: Ledger, db_path: Path) -> None:
    await fund(ledger, 1, 100)
    order = await ledger.create_order("o:queued", 1, "purchase", 60, "vm-small")
    bought = await ledger.purchase(order.id, 1)
    request = await _request(ledger, "cmd:cancel", {"deployment_id": bought.deployment_id})
    with pytest.raises(InvalidRequest):
        await ledger.write(partial(admin_actions.cancel_deployment, request=request,
                                   deployment_id=bought.deployment_id, refund="half",
                                   commission_ppm=100_000))
    cancel = partial(admin_actions.cancel_deployment, request=request,
                     deployment_id=bought.deployment_id, refund="none", commission_ppm=100_000)
    done = await ledger.write(cancel)
    assert done is not None and done.refund == 0
    assert (await ledger.balance(1)).available == 100  # the queued one's hold is released
    assert rows(db_path, "SELECT action, detail FROM admin_log") == [
        ("cancel", "was queued; refund none 0.00 TFC")]
    after = dump(db_path)
    assert await ledger.write(cancel) is None
    assert dump(db_path) == after


async def test_a_catalogue_change_is_logged_only_when_it_changes_something(
    ledger: Ledger, db_path: Path
) -> None:
    change = partial(admin_actions.set_service, admin_id=77, service_id="vm-small", key=None,
                     was_enabled=True, was_price=500, enabled=False)
    overrides = await ledger.write(change)
    assert overrides["vm-small"].enabled is False
    await ledger.write(change)
    assert rows(db_path, "SELECT action, target, detail FROM admin_log") == [
        ("service", "vm-small", "enabled=False (was on, 5.00 TFC)")]
    with pytest.raises(InvalidRequest):
        await ledger.write(partial(change, enabled=None, price=0))
    assert (await ledger.read(admin_state.service_overrides))["vm-small"].price is None


# --- a broadcast, queued in chunks ------------------------------------------------------------


async def test_a_broadcast_is_queued_in_chunks_once_each_in_user_order(
    ledger: Ledger, db_path: Path
) -> None:
    def seed(conn: sqlite3.Connection, now: int) -> None:
        for user_id in range(1, 9):
            users.upsert(conn, now, user_id, None, "U")
        users.set_blocked(conn, now, 5, True)

    await ledger.write(seed)
    request = (await ledger.write(lambda conn, now: admin_state.open_request(
        conn, now, "cmd:bc", 77, "broadcast", {"text": "hi"}, 77))).request
    first = await ledger.write(partial(broadcasts.start, request=request, text="hi", rate=2, chunk=3))
    assert first == broadcasts.Queued(3, False)
    assert (await ledger.read(partial(broadcasts.progress, request_id=request.id))).queuing
    assert await ledger.write(partial(broadcasts.start, request=request, text="hi", rate=2,
                                      chunk=3)) is None  # a second tap queues nothing
    step = partial(broadcasts.queue_next, request_id=request.id, text="hi", rate=2, chunk=3)
    assert await ledger.write(step) == broadcasts.Queued(6, False)
    assert await ledger.write(step) == broadcasts.Queued(7, True)
    queued = rows(db_path, "SELECT chat_id, next_attempt_at - created_at FROM notifications "
                           "ORDER BY chat_id")
    assert queued == [(1, 0), (2, 0), (3, 1), (4, 1), (6, 2), (7, 2), (8, 3)]  # 2 a second
    assert rows(db_path, "SELECT action, target FROM admin_log") == [("broadcast", "7 users")]
    done = await ledger.read(partial(broadcasts.progress, request_id=request.id))
    assert (done.total, done.pending, done.queuing, done.finished) == (7, 7, False, False)
    before = dump(db_path)
    assert await ledger.write(step) == broadcasts.Queued(7, True)  # a replay after a restart
    assert dump(db_path) == before


# --- the buyer's own buttons ------------------------------------------------------------------


async def test_a_double_tapped_confirm_places_the_purchase_once(ledger: Ledger, db_path: Path) -> None:
    await fund(ledger, 1, 100)
    order = await ledger.create_order("o:buy", 1, "purchase", 70, "vm-small")
    place = partial(ops.place_purchase, order_id=order.id, user_id=1, hold_ttl_s=3600)
    first = await ledger.write(place)
    assert first.new and first.purchase.balance.available == 30
    after = dump(db_path)
    again = await ledger.write(place)
    assert not again.new and again.purchase.deployment_id == first.purchase.deployment_id
    assert dump(db_path) == after
    second = await ledger.create_order("o:buy2", 1, "purchase", 70, "vm-small")
    before = dump(db_path)
    with pytest.raises(InsufficientFunds):  # 30 available
        await ledger.write(partial(place, order_id=second.id))
    assert dump(db_path) == before


async def _running(ledger: Ledger, user_id: int, price: int) -> jobs.DeploymentRecord:
    order = await ledger.create_order(f"o:run:{user_id}", user_id, "purchase", price, "vm-small")
    bought = await ledger.purchase(order.id, user_id)

    def deploy(conn: sqlite3.Connection, now: int) -> jobs.DeploymentRecord:
        jobs.claim_next(conn, now, 60)
        return jobs.complete_success(conn, now, bought.deployment_id, "{}", 30,
                                     f"settle:{bought.deployment_id}", commission_ppm=100_000)

    return await ledger.write(deploy)


async def test_a_renewal_charges_once_for_the_expiry_the_user_saw(ledger: Ledger, db_path: Path) -> None:
    await fund(ledger, 1, 100)
    dep = await _running(ledger, 1, 40)
    assert dep.expires_at is not None
    renew = partial(jobs.renew_for_user, deployment_id=dep.id, user_id=1,
                    seen_expires_at=dep.expires_at, price=40, period_days=30, commission_ppm=100_000)
    with pytest.raises(DeploymentNotFound):  # not user 2's
        await ledger.write(partial(renew, user_id=2))
    first = await ledger.write(renew)
    assert first.new and first.deployment.expires_at == dep.expires_at + 30 * jobs.DAY_S
    assert (await ledger.balance(1)).available == 20
    after = dump(db_path)
    again = await ledger.write(renew)  # the same button again: renewed already
    assert not again.new and again.deployment == first.deployment
    assert dump(db_path) == after
    assert first.deployment.expires_at is not None
    with pytest.raises(InsufficientFunds):  # 20 available, 40 to pay
        await ledger.write(partial(renew, seen_expires_at=first.deployment.expires_at))
    assert dump(db_path) == after


async def test_blocking_and_unblocking_the_bot_is_remembered(ledger: Ledger) -> None:
    member = partial(users.record_membership, user_id=5, username="ann", first_name="Ann",
                     language="en")
    await ledger.write(partial(member, blocked=True))
    assert 5 not in await ledger.read(users.reachable_ids)
    await ledger.write(partial(member, blocked=False))
    assert 5 in await ledger.read(users.reachable_ids)
    user = await ledger.read(lambda conn: users.get(conn, 5))
    assert user is not None and user.username == "ann"


# --- a Stars payment refunded -----------------------------------------------------------------


async def test_a_stars_refund_is_taken_back_once_whichever_path_comes_first(
    ledger: Ledger, db_path: Path
) -> None:
    await ledger.record_payment("stars", "ch-1", user_id=1, amount=100, provider_amount=20,
                                provider_currency="XTR")
    before = dump(db_path)
    with pytest.raises(PaymentNotFound):
        await ledger.write(partial(stars_refunds.take_back, charge_id="ch-unknown"))
    assert dump(db_path) == before
    missed = partial(stars_refunds.clawback_missed_refund, charge_id="ch-1", admin_ids=[77])
    first = await ledger.write(missed)
    assert (first.amount, first.memo, first.key) == (100, "Telegram Stars refund", "refund:stars:ch-1")
    assert rows(db_path, "SELECT chat_id FROM notifications ORDER BY chat_id") == [(1,), (77,)]
    after = dump(db_path)
    assert await ledger.write(missed) == first  # reconciliation running again
    assert await ledger.write(partial(stars_refunds.take_back, charge_id="ch-1")) == 0
    assert dump(db_path) == after
    assert (await ledger.balance(1)).available == 0


async def test_an_admins_refund_is_recorded_once_and_a_refused_take_back_changes_nothing(
    ledger: Ledger, db_path: Path
) -> None:
    paid = await ledger.record_payment("stars", "ch-2", user_id=1, amount=100, provider_amount=20,
                                       provider_currency="XTR")
    await ledger.transfer("spent", await ledger.user_account(1), PAYABLE_GRID, 60)
    request = await _request(ledger, "cmd:refund", {"payment_id": paid.payment.id, "amount": 100})
    record = partial(admin_actions.record_refund, request=request, payment=paid.payment,
                     where="20 Stars refunded by Telegram")
    before = dump(db_path)
    with pytest.raises(PaymentNotFound):
        await ledger.write(partial(record, take_back=partial(stars_refunds.take_back,
                                                             charge_id="ch-unknown")))
    assert dump(db_path) == before
    take_back = partial(stars_refunds.take_back, charge_id="ch-2")
    first = await ledger.write(partial(record, take_back=take_back))
    assert (first.taken, first.balance.posted) == (100, -60)  # spent credits become debt
    assert rows(db_path, "SELECT text FROM notifications") == [(
        "↩️ Refund: 20 Stars returned to you in Telegram Stars; 1.00 TFC of credits taken off your "
        "balance. Your balance is now -0.60 TFC (debt); new purchases wait until it is repaid.",)]
    again = await ledger.write(partial(record, take_back=take_back))
    assert again.taken == 0
    assert rows(db_path, "SELECT count(*) FROM admin_log") == [(1,)]
    assert rows(db_path, "SELECT count(*) FROM notifications") == [(1,)]


async def test_a_status_message_attached_late_is_brought_up_to_date_once(
    ledger: Ledger, db_path: Path
) -> None:
    await fund(ledger, 1, 100)
    order = await ledger.create_order("o:status", 1, "purchase", 40, "vm-small")
    bought = await ledger.purchase(order.id, 1)
    await ledger.write(lambda conn, now: jobs.claim_next(conn, now, 60))  # the worker was first
    attach = partial(jobs.attach_status_message, deployment_id=bought.deployment_id, chat_id=1,
                     message_id=555)
    with pytest.raises(DeploymentNotFound):
        await ledger.write(partial(attach, deployment_id=999))
    dep = await ledger.write(attach)
    assert (dep.state, dep.status_message_id) == ("deploying", 555)
    edits = "SELECT edit_message_id, text FROM notifications WHERE edit_message_id IS NOT NULL"
    [(message_id, text)] = rows(db_path, edits)
    assert message_id == 555 and "being deployed" in text
    await ledger.write(attach)
    assert len(rows(db_path, edits)) == 1

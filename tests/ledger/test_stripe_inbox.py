"""The Stripe inbox's rows on both stores: each verified event is accepted once (and never once
applied), claimed by one consumer at a time, backed off when it cannot be applied, and left
only once applied; on PostgreSQL a dead instance's claims are claimed again at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path

import pytest

from ledger import Ledger, cursors, stripe_inbox
from ledger.dialect import INSTANCE_LOCK_SPACE
from ledger.roles import PgRoles

from .helpers import rows


@pytest.fixture
async def ledger(db_path: Path | str) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(db_path)
    try:
        yield opened
    finally:
        await opened.close()


async def accept(ledger: Ledger, event_id: str) -> bool:
    return await ledger.write(partial(stripe_inbox.accept, event_id=event_id,
                                      kind="checkout.session.completed", payload='{"id": 1}'))


async def claim(ledger: Ledger, limit: int = 10, owner: int | None = None) -> list[str]:
    rows_ = await ledger.write(partial(stripe_inbox.claim, limit=limit, lease_s=600, owner=owner))
    return [r.event_id for r in rows_]


async def test_an_event_is_accepted_once_and_not_at_all_once_applied(ledger: Ledger) -> None:
    assert await accept(ledger, "evt_a")
    assert not await accept(ledger, "evt_a")
    await ledger.write(lambda c, n: cursors.mark_applied(c, n, "stripe", "evt_b"))
    assert not await accept(ledger, "evt_b")
    assert (await ledger.read(stripe_inbox.waiting))[0] == 1


async def test_a_claimed_event_is_not_claimed_again_until_released_or_retried(ledger: Ledger) -> None:
    for n in range(3):
        await accept(ledger, f"evt_{n}")
    assert await claim(ledger, limit=2) == ["evt_0", "evt_1"]
    assert await claim(ledger) == ["evt_2"]
    assert await claim(ledger) == []
    delay = await ledger.write(partial(stripe_inbox.retry_later, event_id="evt_1", error="503"))
    assert delay == stripe_inbox.BACKOFF_S[0]
    assert await claim(ledger) == []  # not due before its backoff
    due = await ledger.read(stripe_inbox.next_due)  # the retry; the others are claimed
    assert due is not None and ledger.now() < due <= ledger.now() + delay
    assert await ledger.write(lambda c, n: stripe_inbox.release_all(c)) == 2  # evt_0, evt_2
    assert sorted(await claim(ledger)) == ["evt_0", "evt_2"]
    await ledger.write(lambda c, n: stripe_inbox.done(c, "evt_0"))
    assert (await ledger.read(stripe_inbox.waiting))[0] == 2


async def test_each_retry_waits_longer(ledger: Ledger) -> None:
    await accept(ledger, "evt_r")
    delays = [await ledger.write(partial(stripe_inbox.retry_later, event_id="evt_r", error="x"))
              for _ in range(len(stripe_inbox.BACKOFF_S) + 2)]
    assert delays == sorted(delays) and delays[0] < delays[-1] == stripe_inbox.BACKOFF_S[-1]


async def test_a_dead_instances_claims_are_claimed_at_once_and_a_live_ones_are_not(
        pg_url: str) -> None:
    pair = []
    for _ in range(2):
        roles = PgRoles(pg_url)
        await roles.start()
        pair.append((await Ledger.open(pg_url), roles))
    (ledger_a, roles_a), (ledger_b, roles_b) = pair
    try:
        for n in range(4):
            await accept(ledger_a, f"evt_{n}")
        first, second = await asyncio.gather(claim(ledger_a, 2, roles_a.instance_id),
                                             claim(ledger_b, 2, roles_b.instance_id))
        assert sorted(first + second) == ["evt_0", "evt_1", "evt_2", "evt_3"]
        assert await claim(ledger_b, 10, roles_b.instance_id) == []  # A is alive
        assert rows(pg_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE "
                    "locktype = 'advisory' AND classid = ? AND objid = ? AND granted",
                    (INSTANCE_LOCK_SPACE, roles_a.instance_id)) == [(1,)]
        for _ in range(100):
            taken = await claim(ledger_b, 10, roles_b.instance_id)
            if taken:
                break
            await asyncio.sleep(0.05)
        assert sorted(taken) == sorted(first)
    finally:
        for ledger, roles in pair:
            await roles.close()
            await ledger.close()


async def test_claims_released_at_a_stop_are_claimed_again_and_only_those(ledger: Ledger) -> None:
    for n in range(3):
        await accept(ledger, f"evt_{n}")
    assert await claim(ledger) == ["evt_0", "evt_1", "evt_2"]
    await ledger.write(lambda c, n: stripe_inbox.release(c, ["evt_1", "evt_2"]))
    assert await claim(ledger) == ["evt_1", "evt_2"]

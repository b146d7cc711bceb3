"""Instances on one PostgreSQL database: each deployment job is claimed by one instance, a
live instance's job is left to it and a dead instance's is claimed at once; instances opening
a new database together apply each migration once; a job claimed before instances had ids is
claimed at once after the upgrade."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from grid.simulated import SimulatedGrid
from grid.worker import DeploymentWorker, WorkerOptions
from ledger import Ledger
from ledger import deployments as jobs
from ledger.dialect import INSTANCE_LOCK_SPACE
from ledger.roles import PgRoles
from ledger.schema import MIGRATIONS

from ..pg_cluster import fresh_database
from .helpers import fund, rows

LEASE_S = 600


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[list[tuple[Ledger, PgRoles]]]:
    opened = []
    for _ in range(2):
        roles = PgRoles(pg_url)
        await roles.start()
        opened.append((await Ledger.open(pg_url), roles))
    try:
        yield opened
    finally:
        for ledger, roles in opened:
            await roles.close()
            await ledger.close()


async def _purchases(ledger: Ledger, count: int) -> None:
    await fund(ledger, 1, 100 * count)
    for n in range(count):
        order = await ledger.create_order(f"o{n}", 1, "purchase", 100, service_id="vm-small")
        await ledger.purchase(order.id, 1)


async def _claim(ledger: Ledger, roles: PgRoles) -> jobs.DeploymentRecord | None:
    return await ledger.write(lambda conn, now: jobs.claim_next(
        conn, now, LEASE_S, owner=roles.instance_id))


async def test_jobs_claimed_by_two_instances_at_once_are_each_claimed_once(
        pair: list[tuple[Ledger, PgRoles]], pg_url: str) -> None:
    await _purchases(pair[0][0], 30)

    async def claim_all(ledger: Ledger, roles: PgRoles) -> list[int]:
        claimed = []
        while (dep := await _claim(ledger, roles)) is not None:
            claimed.append(dep.id)
        return claimed

    first, second = await asyncio.gather(*(claim_all(*p) for p in pair))
    assert not set(first) & set(second)
    assert sorted(first + second) == [r[0] for r in rows(pg_url, "SELECT id FROM deployments ORDER BY id")]
    owners = dict(rows(pg_url, "SELECT id, lease_owner FROM deployments"))
    assert all(owners[i] == pair[0][1].instance_id for i in first)
    assert all(owners[i] == pair[1][1].instance_id for i in second)


async def test_a_dead_instances_job_is_claimed_at_once_and_a_live_ones_is_not(
        pair: list[tuple[Ledger, PgRoles]], pg_url: str) -> None:
    (ledger_a, roles_a), (ledger_b, roles_b) = pair
    await _purchases(ledger_a, 1)
    claimed = await _claim(ledger_a, roles_a)
    assert claimed is not None
    assert await _claim(ledger_b, roles_b) is None  # A is alive, its lease runs for 10 minutes
    # A dies: its connection, and the instance lock on it, go.
    assert rows(pg_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE "
                "locktype = 'advisory' AND classid = ? AND objid = ? AND granted",
                (INSTANCE_LOCK_SPACE, roles_a.instance_id)) == [(1,)]
    for _ in range(100):  # the server ends the backend a moment after the call
        taken = await _claim(ledger_b, roles_b)
        if taken is not None:
            break
        await asyncio.sleep(0.05)
    assert taken is not None and taken.id == claimed.id
    assert rows(pg_url, "SELECT lease_owner FROM deployments") == [(roles_b.instance_id,)]


async def test_instances_opening_a_new_database_at_once_migrate_it_once(pg_cluster: str) -> None:
    for _ in range(3):  # a race: give it several chances to show
        url = fresh_database(pg_cluster)
        opened = await asyncio.gather(*(Ledger.open(url) for _ in range(4)), return_exceptions=True)
        try:
            assert [o for o in opened if isinstance(o, BaseException)] == []
            assert rows(url, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]
        finally:
            for ledger in opened:
                if isinstance(ledger, Ledger):
                    await ledger.close()


async def test_a_job_claimed_before_instances_had_ids_is_claimed_at_once_after_the_upgrade(
        pair: list[tuple[Ledger, PgRoles]], tmp_path: Path) -> None:
    (ledger_a, roles_a), (ledger_b, roles_b) = pair
    await _purchases(ledger_a, 2)
    # One job claimed by a gridshop from before migration 10 (no owner), stopped for the
    # upgrade; one by instance A, alive.
    old = await ledger_a.write(lambda conn, now: jobs.claim_next(conn, now, LEASE_S))
    live = await _claim(ledger_a, roles_a)
    assert old is not None and live is not None and await _claim(ledger_b, roles_b) is None
    # B starts (the upgraded gridshop): its worker makes the ownerless job claimable, not A's.
    worker = DeploymentWorker(ledger_b, SimulatedGrid(str(tmp_path / "grid.sqlite3")),
                              WorkerOptions(), instance_id=roles_b.instance_id)
    assert await worker.recover() == 1
    taken = await _claim(ledger_b, roles_b)
    assert taken is not None and taken.id == old.id
    assert await _claim(ledger_b, roles_b) is None

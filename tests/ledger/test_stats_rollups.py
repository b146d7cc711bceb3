"""/stats from its roll-ups (migration v13) shows exactly what it showed from the rows.

A shop lives through 40 days on both stores: payments by every provider, purchases deployed,
failed, cancelled before and after running, renewed, billed by the grid; refunds, a dispute
lost and one won back; days with nothing at all. Every /stats period an admin can ask for,
and periods that end mid-day in the past or start mid-day, must give the same figures from
the roll-ups (`stats.collect`) as from the rows (`stats.from_rows`), and the audit must find
the roll-ups in step. With any one roll-up write left out, both the figures and the audit
tell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from handlers import admin_texts
from ledger import Ledger, clawbacks, deployments, grid_contracts, rollups
from ledger import stats as shop_stats
from ledger.pg_store import is_postgres_url
from ledger.schema import ROLLUPS_VERSION, V13_TRIGGERS, fill_rollups

from ..conftest import FakeClock
from .helpers import execute, schema_version, set_schema_version

DAY = shop_stats.DAY_S
PROVIDERS = {"stripe": "usd", "stars": "XTR", "telegram_card": "usd"}
COMMISSION_PPM = 100_000
TRIGGERS = [t.split()[2] for t in V13_TRIGGERS]
TRIGGER_TABLES = {t.split()[2]: t.split(" ON ")[1].split()[0] for t in V13_TRIGGERS}


async def live_a_while(ledger: Ledger, clock: FakeClock, tag: str = "") -> None:
    """40 days of a shop (some with nothing), ending with a few payments this morning."""
    n = 0

    async def pay(user: int, provider: str, amount: int) -> str:
        nonlocal n
        n += 1
        await ledger.record_payment(provider, f"{provider}-{tag}{n}", user_id=user, amount=amount,
                                    provider_amount=amount, provider_currency=PROVIDERS[provider])
        return f"{provider}-{tag}{n}"

    async def buy(user: int, price: int) -> int:
        nonlocal n
        n += 1
        order = await ledger.create_order(f"buy:{tag}{n}", user, "purchase", price, service_id="vm-small")
        return (await ledger.purchase(order.id, user)).deployment_id

    def step(fn):  # one write through the ledger, on its clock
        return ledger.write(fn)

    async def deploy(dep_id: int) -> None:
        await step(lambda c, now: deployments.claim_next(c, now, 600))
        await step(lambda c, now: deployments.complete_success(
            c, now, dep_id, "{}", 30, f"settle:{dep_id}", commission_ppm=COMMISSION_PPM))

    for day in range(40):
        if day % 7 in (3, 4):  # nothing at all on these days
            clock.advance(DAY)
            continue
        user = 100 + day % 9
        clock.advance(3600 * (1 + day % 5))
        ext = await pay(user, list(PROVIDERS)[day % 3], 2000 + 10 * day)
        await pay(100 + (day + 4) % 9, "stars", 700)
        ready = await buy(user, 800)
        clock.advance(120)
        await deploy(ready)
        await step(lambda c, now, d=ready, day=day: grid_contracts.record_cost(c, now, d, 1000 * (day + 1)))
        if day % 3 == 0:  # a job that fails: its hold comes back
            failed = await buy(user, 300)
            await step(lambda c, now: deployments.claim_next(c, now, 600))
            await step(lambda c, now, d=failed: deployments.complete_failure(c, now, d, "no capacity"))
        if day % 4 == 1:  # cancelled while still queued
            queued = await buy(user, 200)
            await step(lambda c, now, d=queued: deployments.request_cancel(c, now, d, "changed my mind"))
        if day % 5 == 2:  # renewed, billed again, then cancelled and removed
            await step(lambda c, now, d=ready: deployments.renew(c, now, d, commission_ppm=COMMISSION_PPM))
            clock.advance(3600)
            await step(lambda c, now, d=ready, day=day: grid_contracts.record_cost(c, now, d, 5000 * (day + 1)))
            await step(lambda c, now, d=ready: deployments.request_cancel(c, now, d, "done"))
            await step(lambda c, now, d=ready: deployments.mark_cancelled(c, now, d))
        if day % 6 == 5:  # a refund
            await ledger.clawback(list(PROVIDERS)[day % 3], ext, f"refund:{ext}", 500, reason="refund")
        if day % 11 == 7:  # a dispute: taken back, then won back
            await ledger.clawback(list(PROVIDERS)[day % 3], ext, f"dispute:{ext}", 900, reason="dispute")
            clock.advance(600)
            await step(lambda c, now, p=list(PROVIDERS)[day % 3], e=ext: clawbacks.reverse_clawback(
                c, now, p, e, f"won:{e}", 900, "dispute won"))
        clock.now = (clock.now // DAY + 1) * DAY  # on to the next day
    clock.advance(5 * 3600)  # this morning
    await pay(101, "stripe", 1500)
    await buy(101, 400)  # still queued


def periods(now: int) -> list[tuple[int, int]]:
    """Every /stats period (1 to 365 days ending now), and periods ending or starting mid-day."""
    until = now + 1
    asked = [(shop_stats.day_start(now) - (days - 1) * DAY, until) for days in (1, 2, 7, 30, 365)]
    return [*asked, (0, until),
            (now - 9 * DAY - 4321, until),  # starts mid-day
            (now - 20 * DAY, now - 6 * DAY + 7777),  # ends mid-day, with rows after its end
            (shop_stats.day_start(now) - 30 * DAY, shop_stats.day_start(now) - 2 * DAY),  # whole days
            (now - 15 * DAY - 3000, now - 15 * DAY + 3000),  # within one day
            (now + DAY, now + 2 * DAY)]  # nothing yet


async def shop(db_path: Path | str, clock: FakeClock) -> Ledger:
    return await Ledger.open(db_path, clock=clock, commission_ppm=COMMISSION_PPM)


async def both(ledger: Ledger, since: int, until: int) -> tuple[shop_stats.Stats, shop_stats.Stats]:
    """The period's figures from the roll-ups and from the rows, in one snapshot."""
    return await ledger.read(lambda c: (shop_stats.collect(c, since, until),
                                        shop_stats.from_rows(c, since, until)))


async def test_stats_from_the_rollups_equal_the_figures_from_the_rows(db_path: Path | str, clock: FakeClock) -> None:
    ledger = await shop(db_path, clock)
    try:
        await live_a_while(ledger, clock)
        now = ledger.now()
        for since, until in periods(now):
            rolled, counted = await both(ledger, since, until)
            assert rolled == counted, (since - now, until - now)
            assert admin_texts.stats(rolled, 30) == admin_texts.stats(counted, 30)
        # The shop did what the test means it to: every figure has something in it.
        year = await ledger.read(lambda c: shop_stats.collect(c, 0, now + 1))
        assert set(year.revenue_by_provider) == set(PROVIDERS)
        assert year.refunded_by_provider and year.commission > 0 and year.grid_cost > 0
        assert set(year.deployments_by_state) == {"cancelled", "failed", "queued", "ready"}
        assert 0 < year.paying_users_period == year.paying_users
        assert any(p.revenue == 0 and p.deployments == 0 for p in year.days)
        renewed = await ledger.read(lambda c: c.execute(
            "SELECT count(*) FROM transfers WHERE kind = 'renewal'").fetchone()[0])
        assert renewed and year.grid_sold > 0
        # A clock that stepped back: what was written "later" keeps /stats exact.
        clock.now -= 3 * 3600
        stepped = ledger.now()
        assert stepped < now
        for since, until in periods(stepped)[:4]:
            rolled, counted = await both(ledger, since, until)
            assert rolled == counted
        report = await ledger.audit()
        assert report.ok, report.violations
    finally:
        await ledger.close()


def _drop_trigger(db_path: Path | str, name: str) -> None:
    table = TRIGGER_TABLES[name]
    if is_postgres_url(db_path):
        execute(db_path, f"DROP TRIGGER {name} ON {table}")
    else:
        execute(db_path, f"DROP TRIGGER {name}")


@pytest.mark.parametrize("trigger", TRIGGERS)
async def test_a_rollup_write_left_out_shows_in_the_figures_and_the_audit(
    db_path: Path | str, clock: FakeClock, trigger: str
) -> None:
    ledger = await shop(db_path, clock)
    try:
        _drop_trigger(db_path, trigger)
        await live_a_while(ledger, clock)
        now = ledger.now()
        differ = [rolled != counted for rolled, counted in
                  [await both(ledger, since, until) for since, until in periods(now)]]
        report = await ledger.audit()
        assert any(differ)
        assert not report.ok and all("/stats roll-up" in v for v in report.violations)
        # Rebuilt from the rows (as a copy to PostgreSQL does), they agree again.
        await ledger.write(lambda c, now: fill_rollups(c))
        assert (await ledger.audit()).ok
        rolled, counted = await both(ledger, 0, now + 1)
        assert rolled == counted
    finally:
        await ledger.close()


async def test_a_shop_from_before_the_rollups_gets_them_from_its_rows(db_path: Path | str, clock: FakeClock) -> None:
    """Migration v13 on a shop with history: its backfill sums every existing row."""
    ledger = await shop(db_path, clock)
    try:
        await live_a_while(ledger, clock)
    finally:
        await ledger.close()
    pg = is_postgres_url(db_path)
    execute(db_path, *[f"DROP FUNCTION {name}_apply() CASCADE" if pg else f"DROP TRIGGER {name}"
                       for name in TRIGGERS], *[f"DROP TABLE {table}" for table in rollups.TABLES])
    set_schema_version(db_path, ROLLUPS_VERSION - 1)
    ledger = await shop(db_path, clock)
    try:
        assert schema_version(db_path) >= ROLLUPS_VERSION
        now = ledger.now()
        for since, until in periods(now):
            rolled, counted = await both(ledger, since, until)
            assert rolled == counted
        assert (await ledger.audit()).ok
        await live_a_while(ledger, clock, "again")  # and the triggers keep them from then on
        assert (await ledger.audit()).ok
    finally:
        await ledger.close()


@pytest.mark.parametrize("table, tamper", [
    ("stats_provider_days", "UPDATE stats_provider_days SET revenue = revenue + 1 WHERE provider = 'stars'"),
    ("stats_days", "UPDATE stats_days SET commission = commission - 1 WHERE commission > 0"),
    ("stats_days", "UPDATE stats_days SET last_at = last_at - 1 WHERE deployments > 0"),
    ("stats_payers", "UPDATE stats_payers SET last_paid_at = last_paid_at - 1 WHERE user_id = 101"),
    ("stats_payers", "DELETE FROM stats_payers WHERE user_id = 102"),
    ("stats_deployment_states", "UPDATE stats_deployment_states SET deployments = 0 WHERE state = 'failed'"),
])
async def test_the_audit_names_a_rollup_out_of_step(db_path: Path | str, clock: FakeClock, table: str,
                                                    tamper: str) -> None:
    ledger = await shop(db_path, clock)
    try:
        await live_a_while(ledger, clock)
        execute(db_path, tamper)
        report = await ledger.audit()
    finally:
        await ledger.close()
    assert report.violations and all(f"/stats roll-up {table} " in v for v in report.violations)

"""`GET /metrics` on the metrics listener, scraped over HTTP: the states read from a real ledger
(on either store) at each scrape (parked payments, outbox backlog and age, deployments by
state), through index reads only, and the ledger's write latency and reader wait as histograms."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from ledger import Ledger, gauges, inbox, outbox, stripe_inbox
from tests.conftest import FakeClock
from tests.grid.worker_support import buy, fund
from tests.ledger.conftest import db_path, sqlite_path, store_kind  # noqa: F401  # fixtures: both stores
from tests.metrics_support import moved, scrape, value
from webhooks.metrics import make_metrics_app


@pytest.fixture
async def shop(db_path: Path | str, clock: FakeClock) -> AsyncIterator[tuple[Ledger, str]]:
    """A ledger on the fake clock and its metrics listener on a free port; yields the URL."""
    ledger = await Ledger.open(db_path, clock=clock)
    runner = web.AppRunner(make_metrics_app(ledger))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield ledger, f"http://127.0.0.1:{port}/metrics"
    finally:
        await runner.cleanup()
        await ledger.close()


async def test_the_ledgers_states_are_read_at_each_scrape(shop: tuple[Ledger, str], clock: FakeClock) -> None:
    ledger, url = shop
    empty = await scrape(url)
    assert value(empty, "gridshop_ledger_up") == 1
    assert value(empty, "gridshop_parked_payments") == 0
    assert value(empty, "gridshop_outbox_pending") == 0
    assert value(empty, "gridshop_outbox_oldest_pending_age_seconds") == 0
    assert value(empty, "gridshop_stripe_inbox_events") == 0
    assert value(empty, "gridshop_stripe_inbox_oldest_age_seconds") == 0
    for state in gauges.COUNTED_DEPLOYMENT_STATES:
        assert value(empty, "gridshop_deployments", state=state) == 0

    await ledger.write(lambda conn, now: outbox.enqueue(conn, now, 7, "first"))
    await ledger.write(lambda conn, now: stripe_inbox.accept(conn, now, "evt_1", "checkout.session.completed", "{}"))
    clock.advance(90)
    await ledger.write(lambda conn, now: outbox.enqueue(conn, now, 8, "second"))
    await ledger.write(lambda conn, now: inbox.keep(conn, now, "stars", "ch-1", "successful_payment",
                                                    "{}", "invalid payload"))
    await fund(ledger, 9, 1000)
    await buy(ledger, 9, "vm-small", key="first")
    await buy(ledger, 9, "vm-small", key="second")
    clock.advance(30)

    busy = await scrape(url)
    assert value(busy, "gridshop_parked_payments") == 1
    assert value(busy, "gridshop_outbox_pending") == 2
    assert value(busy, "gridshop_outbox_oldest_pending_age_seconds") == 120
    assert value(busy, "gridshop_stripe_inbox_events") == 1
    assert value(busy, "gridshop_stripe_inbox_oldest_age_seconds") == 120
    assert value(busy, "gridshop_deployments", state="queued") == 2
    assert value(busy, "gridshop_deployments", state="ready") == 0

    # Sent and resolved: the figures go back down at the next scrape.
    await ledger.write(lambda conn, now: conn.execute("UPDATE notifications SET state = 'sent'"))
    await ledger.write(lambda conn, now: conn.execute("UPDATE provider_events SET state = 'resolved'"))
    await ledger.write(lambda conn, now: stripe_inbox.done(conn, "evt_1"))
    done = await scrape(url)
    assert value(done, "gridshop_outbox_pending") == 0
    assert value(done, "gridshop_outbox_oldest_pending_age_seconds") == 0
    assert value(done, "gridshop_parked_payments") == 0
    assert value(done, "gridshop_stripe_inbox_events") == 0
    assert value(done, "gridshop_stripe_inbox_oldest_age_seconds") == 0


async def test_ledger_writes_and_reads_are_timed(shop: tuple[Ledger, str]) -> None:
    ledger, url = shop
    before = await scrape(url)
    for n in range(5):
        await fund(ledger, 1, 100, ref=f"p{n}")  # one write each
    for _ in range(3):
        await ledger.balance(1)
    after = await scrape(url)
    assert moved(before, after, "gridshop_ledger_write_seconds_count") == 5
    assert moved(before, after, "gridshop_ledger_write_seconds_sum") > 0
    # The three reads, and the scrape's own read of the gauges.
    assert moved(before, after, "gridshop_ledger_read_wait_seconds_count") == 4
    assert value(after, "gridshop_ledger_write_seconds_bucket", le="+Inf") == value(
        after, "gridshop_ledger_write_seconds_count")


async def test_a_scrape_while_the_ledger_is_down_says_so_and_still_serves_the_counters(
        shop: tuple[Ledger, str]) -> None:
    ledger, url = shop
    await ledger.close()
    samples = await scrape(url)
    assert value(samples, "gridshop_ledger_up") == 0
    assert ("gridshop_outbox_pending", ()) not in samples
    assert ("gridshop_ledger_write_seconds_count", ()) in samples


async def test_the_scrape_queries_walk_indexes_not_tables(sqlite_path: Path) -> None:
    await (await Ledger.open(sqlite_path)).close()
    conn = sqlite3.connect(sqlite_path)
    try:
        for sql, args in gauges.QUERIES:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
            assert plan and all(re.search(r" USING (COVERING )?INDEX ", step) for step in plan), (sql, plan)
    finally:
        conn.close()

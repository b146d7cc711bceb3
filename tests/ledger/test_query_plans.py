"""The hot queries read through an index: none scans a table that grows with the shop's history.

Each hot path (a user's reads, pre-checkout's order, /stats, the writer's periodic lookups, a
broadcast chunk, refunds finding an order's payment) runs against a populated ledger with every
SQL statement recorded; each statement's EXPLAIN QUERY PLAN must not SCAN such a table without
an index. The audit reads everything by design, but once per row: no scan inside a correlated
subquery (that is what made it quadratic).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from ledger import Ledger, broadcasts, deployments, ops, outbox, queries, stripe_state, users
from ledger import admin_state as state
from ledger import stats as shop_stats
from ledger.audit import run_audit
from ledger.schema import V13_TRIGGERS, migrate
from tests.ledger.helpers import fund

# Tables that grow with every payment, purchase, message or admin action (or day: the /stats
# roll-ups). Users, accounts and stats_payers grow with the users only; /stats sums those on
# purpose (credits outstanding, debt, paying users).
GROWING = {"transfers", "payments", "orders", "holds", "deployments", "notifications", "admin_log",
           "provider_events", "admin_requests", "stripe_sessions", "stats_days", "stats_provider_days"}
USERS = 30


async def populated(path: str) -> Ledger:
    """A ledger with users who paid, bought (settled and failed), were refunded and messaged."""
    ledger = await Ledger.open(path)
    for n in range(USERS):
        user = 1000 + n
        await fund(ledger, user, 5000, external_id=f"ch_{n}")
        order = await ledger.create_order(f"o:{n}", user, "purchase", 800, service_id="vm-small")
        bought = await ledger.purchase(order.id, user)
        if n % 3:
            await ledger.settle_hold(bought.hold.id, f"settle:{n}")
        if n % 5 == 0:
            await ledger.clawback("stripe", f"ch_{n}", f"refund:{n}", 100, reason="refund")
        await ledger.write(lambda conn, now, user=user: outbox.enqueue(conn, now, user, "hi"))
    return ledger


def plan_lines(conn: sqlite3.Connection, sql: str) -> list[tuple[int, int, str]]:
    """(id, parent, detail) of each step of the statement's plan."""
    return [(r[0], r[1], r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql)]


def aliases(sql: str) -> dict[str, str]:
    """Each table of the statement by the name its plan calls it (`transfers t` -> t)."""
    names = {}
    for table, alias in re.findall(r"(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(\w+))?", sql, re.I):
        names[table] = table
        if alias and alias.upper() not in {"WHERE", "JOIN", "ON", "LEFT", "GROUP", "ORDER", "LIMIT",
                                           "INNER", "USING", "UNION", "AND"}:
            names[alias] = table
    return names


def scanned(sql: str, detail: str) -> str | None:
    """The growing table this plan step reads whole without an index, if it does."""
    match = re.match(r"SCAN (\w+)", detail)
    if match is None or "INDEX" in detail:
        return None
    table = aliases(sql).get(match.group(1), match.group(1))
    return table if table in GROWING else None


def recorded(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], Any]) -> list[str]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        fn(conn)
    finally:
        conn.set_trace_callback(None)
    return [s for s in statements if s.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE",
                                                                      "INSERT", "WITH"))]


def full_scans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    return [f"{table}: {sql}" for sql in statements for _, _, detail in plan_lines(conn, sql)
            if (table := scanned(sql, detail))]


def hot_reads(now: int) -> dict[str, Callable[[sqlite3.Connection], Any]]:
    since = shop_stats.day_start(now) - 29 * shop_stats.DAY_S
    return {
        "balance": lambda c: queries.user_balance(c, 1003),
        "history": lambda c: queries.history(c, queries.account_of_user(c, 1003) or 0, 20, None),
        "history next page": lambda c: queries.history(c, queries.account_of_user(c, 1003) or 0, 20, 5),
        "orders": lambda c: queries.orders_of_user(c, 1003, 10),
        "payments": lambda c: queries.payments_of_user(c, 1003, 10),
        "pre-checkout order": lambda c: ops.get_order(c, 3),
        "payment by charge": lambda c: ops.get_payment(c, "stripe", "ch_3"),
        "find payment": lambda c: (queries.find_payment(c, "#2"), queries.find_payment(c, "ch_4")),
        "order's payment": lambda c: stripe_state.payment_of_order(c, "stripe", 3),
        "deployments of a user": lambda c: deployments.list_by_user(c, 1003),
        "stats": lambda c: shop_stats.collect(c, since, now + 1),
        # a period ending mid-day with rows after its end: that day's part read from the rows
        "stats ending earlier": lambda c: shop_stats.collect(c, since, shop_stats.day_start(now) + 1),
        "stats starting mid-day": lambda c: shop_stats.collect(c, since + 3600, now + 1),
        "expiry warnings": lambda c: deployments.due_for_warning(c, now, 3 * 86_400),
        "expiry": lambda c: deployments.due_for_expiry(c, now),
    }


@pytest.mark.parametrize("name", list(hot_reads(0)))
async def test_a_hot_read_never_scans_a_growing_table(tmp_path, name):
    ledger = await populated(str(tmp_path / "shop.db"))
    try:
        read = hot_reads(ledger.now())[name]
        scans = await ledger.read(lambda conn: full_scans(conn, recorded(conn, read)))
    finally:
        await ledger.close()
    assert scans == []


async def test_the_writers_hot_steps_never_scan_a_growing_table(tmp_path):
    """Claiming due messages and queuing a broadcast chunk, inside the single writer."""
    ledger = await Ledger.open(str(tmp_path / "shop.db"))
    try:
        for n in range(USERS):
            await ledger.write(lambda conn, now, n=n: users.upsert(conn, now, 1000 + n, None, "someone"))
        opened = await ledger.write(lambda conn, now: state.open_request(
            conn, now, "k", 1, "broadcast", {"text": "hi"}, chat_id=1))

        def steps(conn: sqlite3.Connection, now: int) -> list[str]:
            statements = recorded(conn, lambda c: broadcasts.start(
                c, now, opened.request, text="hi", rate=25, chunk=7))
            statements += recorded(conn, lambda c: broadcasts.queue_next(
                c, now, opened.request.id, text="hi", rate=25, chunk=7))
            statements += recorded(conn, lambda c: outbox.due(c, now + 3600, 10))
            # An edit sent: the older edits of its message still waiting are done with, found
            # among the pending messages only (not by reading every older message).
            edit = outbox.enqueue(conn, now, 1000, "edited", edit_message_id=7)
            statements += recorded(conn, lambda c: outbox.mark_sent(c, now, edit, 7))
            supersede = [s for s in statements if "superseded" in s]
            assert supersede and all("USING INDEX notifications_due" in detail
                                     for s in supersede for _, _, detail in plan_lines(conn, s))
            return full_scans(conn, statements)

        scans = await ledger.write(steps)
    finally:
        await ledger.close()
    assert scans == []


async def test_the_audit_reads_each_row_once(tmp_path):
    """No correlated subquery of the audit scans a growing table: it stays linear."""
    ledger = await populated(str(tmp_path / "shop.db"))

    def quadratic(conn: sqlite3.Connection) -> list[str]:
        found = []
        for sql in recorded(conn, run_audit):
            lines = plan_lines(conn, sql)
            parents = {i: (p, d) for i, p, d in lines}
            for _, parent, detail in lines:
                table, ancestor = scanned(sql, detail), parent
                while table and ancestor in parents:
                    if "CORRELATED" in parents[ancestor][1]:
                        found.append(f"{table}: {sql}")
                        break
                    ancestor = parents[ancestor][0]
        return found

    try:
        found = await ledger.read(quadratic)
        report = await ledger.audit()
    finally:
        await ledger.close()
    assert report.ok, report.violations
    assert found == []


@pytest.mark.parametrize("trigger", V13_TRIGGERS, ids=[t.split()[2] for t in V13_TRIGGERS])
def test_a_rollup_trigger_finds_its_rows_by_key(tmp_path, trigger):
    """Each statement of the /stats roll-ups' triggers (run with every write of a payment,
    transfer or deployment) looks up and updates rows by key, never by a scan."""
    conn = sqlite3.connect(tmp_path / "shop.db", isolation_level=None)
    try:
        migrate(conn)
        body = trigger.split("\nBEGIN ", 1)[1].rsplit("; END", 1)[0]
        # The row's values as literals: the plan is the one the trigger runs.
        statements = [re.sub(r"\b(NEW|OLD)\.\w+", "1", s) for s in body.split("; ")]
        scans = [f"{table}: {sql}" for sql in statements for _, _, detail in plan_lines(conn, sql)
                 if (table := scanned(sql, detail)) or detail.startswith("SCAN stats_")]
    finally:
        conn.close()
    assert statements and scans == []

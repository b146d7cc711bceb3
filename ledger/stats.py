"""Read-only aggregates for the admin /stats command: users, payments, commission, credits, debt,
deployments, and a per-day series of revenue and deployments. Run on the reader connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from .schema import REVENUE_COMMISSION

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day (UTC) of the series: revenue in TFC cents and deployments started."""

    day_start: int  # unix seconds at 00:00 UTC
    revenue: int
    deployments: int


@dataclass(frozen=True, slots=True)
class Stats:
    """The shop over `[since, until)` (period figures) and right now (balances, states)."""

    since: int
    until: int
    users: int  # everyone the bot has met
    new_users: int  # first seen in the period
    paying_users: int  # paid at least once, ever
    paying_users_period: int
    revenue_by_provider: dict[str, int]  # credited in the period, TFC cents
    refunded_by_provider: dict[str, int]  # taken back in the period (refunds and disputes)
    commission: int  # net commission earned in the period
    outstanding: int  # credits users hold now (positive balances)
    held: int  # of which reserved by pending holds
    debt: int  # owed by users in debt now
    debtors: int
    deployments_by_state: dict[str, int]
    days: list[DayPoint] = field(default_factory=list)
    grid_cost: int = 0  # what the grid billed for the period's deployments, 1e-7 TFT
    grid_sold: int = 0  # what their buyers paid for them (first period and renewals), TFC cents

    @property
    def revenue(self) -> int:
        return sum(self.revenue_by_provider.values())


def day_start(ts: int) -> int:
    return ts - ts % DAY_S


def collect(conn: sqlite3.Connection, since: int, until: int) -> Stats:
    """Every figure of /stats in one read snapshot."""
    q = conn.execute
    users = q("SELECT count(*) FROM users").fetchone()[0]
    new_users = q("SELECT count(*) FROM users WHERE created_at >= ? AND created_at < ?",
                  (since, until)).fetchone()[0]
    paying = q("SELECT count(DISTINCT user_id) FROM payments").fetchone()[0]
    paying_period = q("SELECT count(DISTINCT user_id) FROM payments WHERE created_at >= ? AND created_at < ?",
                      (since, until)).fetchone()[0]
    revenue = dict(q("SELECT provider, sum(amount) FROM payments WHERE created_at >= ? AND created_at < ? "
                     "GROUP BY provider ORDER BY provider", (since, until)).fetchall())
    refunded = dict(q(
        "SELECT p.provider, sum(t.amount) FROM transfers t JOIN payments p ON p.id = t.payment_id "
        "WHERE t.kind = 'clawback' AND t.created_at >= ? AND t.created_at < ? GROUP BY p.provider "
        "ORDER BY p.provider", (since, until)).fetchall())
    # The account written out, as in the partial index transfers_commission_by_time (v9).
    commission = q(
        f"SELECT coalesce(sum(CASE WHEN credit_account_id = {REVENUE_COMMISSION} THEN amount "
        "ELSE -amount END), 0) FROM transfers "
        f"WHERE (credit_account_id = {REVENUE_COMMISSION} OR debit_account_id = {REVENUE_COMMISSION}) "
        "AND created_at >= :since AND created_at < :until",
        {"since": since, "until": until}).fetchone()[0]
    outstanding, held = q("SELECT coalesce(sum(max(balance, 0)), 0), coalesce(sum(held), 0) "
                          "FROM accounts WHERE kind = 'user'").fetchone()
    debt, debtors = q("SELECT coalesce(sum(-balance), 0), count(*) FROM accounts "
                      "WHERE kind = 'user' AND balance < 0").fetchone()
    by_state = dict(q("SELECT state, count(*) FROM deployments GROUP BY state ORDER BY state").fetchall())
    grid_cost, grid_sold = grid_figures(conn, since, until)
    return Stats(since, until, users, new_users, paying, paying_period, revenue, refunded,
                 commission, outstanding, held, debt, debtors, by_state, daily(conn, since, until),
                 grid_cost, grid_sold)


def grid_figures(conn: sqlite3.Connection, since: int, until: int, user_id: int | None = None) -> tuple[int, int]:
    """(grid cost in 1e-7 TFT, sold in TFC cents) of the deployments created in `[since, until)`
    (of one user, if given): the grid's bills so far, and what their buyers paid for them (the
    first period of those that became ready, and every renewal)."""
    who = "" if user_id is None else " AND d.user_id = :user"
    params = {"since": since, "until": until, "user": user_id}
    cost, first = conn.execute(
        "SELECT coalesce(sum(d.grid_cost), 0), coalesce(sum(CASE WHEN d.ready_at IS NOT NULL "
        "THEN o.amount ELSE 0 END), 0) FROM deployments d JOIN orders o ON o.id = d.order_id "
        "WHERE d.created_at >= :since AND d.created_at < :until" + who, params).fetchone()
    renewals = conn.execute(
        "SELECT coalesce(sum(t.amount), 0) FROM transfers t JOIN deployments d ON d.order_id = t.order_id "
        "WHERE t.kind = 'renewal' AND d.created_at >= :since AND d.created_at < :until" + who,
        params).fetchone()[0]
    return int(cost), int(first) + int(renewals)


def daily(conn: sqlite3.Connection, since: int, until: int) -> list[DayPoint]:
    """Revenue and deployments per UTC day, every day of the period (zeros included)."""
    first = day_start(since)
    revenue = dict(conn.execute(
        "SELECT created_at - created_at % 86400, sum(amount) FROM payments "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1", (since, until)).fetchall())
    deployed = dict(conn.execute(
        "SELECT created_at - created_at % 86400, count(*) FROM deployments "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1", (since, until)).fetchall())
    return [DayPoint(day, revenue.get(day, 0), deployed.get(day, 0))
            for day in range(first, until, DAY_S)]

"""Read-only aggregates for the admin /stats command: users, payments, commission, credits, debt,
deployments, and a per-day series of revenue and deployments. Run on the reader connection.

The period figures come from the roll-ups of migration v13 (a few rows per day, kept in step
by triggers in the same transaction as the rows they summarise: docs/ledger.md), the all-time
ones from their counters; only what the roll-ups cannot answer exactly is read from the rows:
the part of a day at either end of a period that does not cover it whole (a period ending now
is served whole by the roll-ups as long as nothing summarised lies later than its end).
`from_rows` computes every figure from the rows alone, as /stats did before v13; the tests
hold the two equal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True, slots=True)
class _Period:
    """The figures of a stretch of time that add up: revenue and refunds by provider, the net
    commission, per day the revenue and the deployments, the grid's figures."""

    revenue: dict[str, int]
    refunded: dict[str, int]
    commission: int
    revenue_by_day: dict[int, int]
    deployed_by_day: dict[int, int]
    grid_cost: int
    grid_sold: int

    def __add__(self, other: _Period) -> _Period:
        return _Period(_plus(self.revenue, other.revenue), _plus(self.refunded, other.refunded),
                       self.commission + other.commission,
                       _plus(self.revenue_by_day, other.revenue_by_day),
                       _plus(self.deployed_by_day, other.deployed_by_day),
                       self.grid_cost + other.grid_cost, self.grid_sold + other.grid_sold)


_NOTHING = _Period({}, {}, 0, {}, {}, 0, 0)


def _plus(a: dict[Any, int], b: dict[Any, int]) -> dict[Any, int]:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def collect(conn: sqlite3.Connection, since: int, until: int) -> Stats:
    """Every figure of /stats in one read snapshot, from the roll-ups wherever they are exact."""
    first = -(-since // DAY_S) * DAY_S  # the first day the period covers whole
    last = day_start(until)  # the day `until` falls in (covered whole when `until` starts it)
    complete = _nothing_since(conn, last, until)
    if first > last:  # within one day: no whole day
        period = _period_rows(conn, since, until)
    else:
        end = last + DAY_S if complete and last < until else last
        period = _period_rows(conn, since, first) + _period_rollups(conn, first, end)
        if end < until:
            period += _period_rows(conn, end, until)
    paying_period = (
        conn.execute("SELECT count(*) FROM stats_payers WHERE last_paid_at >= ?", (since,)).fetchone()[0]
        if complete else _paying_rows(conn, since, until))
    paying = conn.execute("SELECT count(*) FROM stats_payers").fetchone()[0]
    by_state = dict(conn.execute("SELECT state, deployments FROM stats_deployment_states "
                                 "WHERE deployments <> 0 ORDER BY state").fetchall())
    return _stats(conn, since, until, period, paying, paying_period, by_state)


def from_rows(conn: sqlite3.Connection, since: int, until: int) -> Stats:
    """Every figure of /stats from the rows themselves (each period figure reads every row of
    the period): what `collect` must equal."""
    q = conn.execute
    paying = q("SELECT count(DISTINCT user_id) FROM payments").fetchone()[0]
    by_state = dict(q("SELECT state, count(*) FROM deployments GROUP BY state ORDER BY state").fetchall())
    return _stats(conn, since, until, _period_rows(conn, since, until), paying,
                  _paying_rows(conn, since, until), by_state)


def _stats(conn: sqlite3.Connection, since: int, until: int, period: _Period, paying: int,
           paying_period: int, by_state: dict[str, int]) -> Stats:
    """The figures bounded by the users (counts, balances), with the period's."""
    q = conn.execute
    users = q("SELECT count(*) FROM users").fetchone()[0]
    new_users = q("SELECT count(*) FROM users WHERE created_at >= ? AND created_at < ?",
                  (since, until)).fetchone()[0]
    outstanding, held = q("SELECT coalesce(sum(CASE WHEN balance > 0 THEN balance ELSE 0 END), 0), "
                          "coalesce(sum(held), 0) FROM accounts WHERE kind = 'user'").fetchone()
    debt, debtors = q("SELECT coalesce(sum(-balance), 0), count(*) FROM accounts "
                      "WHERE kind = 'user' AND balance < 0").fetchone()
    days = [DayPoint(day, period.revenue_by_day.get(day, 0), period.deployed_by_day.get(day, 0))
            for day in range(day_start(since), until, DAY_S)]
    return Stats(since, until, users, new_users, paying, paying_period, dict(sorted(period.revenue.items())),
                 dict(sorted(period.refunded.items())), period.commission, outstanding, held, debt,
                 debtors, by_state, days, period.grid_cost, period.grid_sold)


def _nothing_since(conn: sqlite3.Connection, day: int, until: int) -> bool:
    """Whether the roll-ups summarise nothing at `until` or later (looking from `day` on)."""
    latest = max(
        conn.execute("SELECT coalesce(max(last_at), 0) FROM stats_days WHERE day >= ?", (day,)).fetchone()[0],
        conn.execute("SELECT coalesce(max(last_at), 0) FROM stats_provider_days WHERE day >= ?",
                     (day,)).fetchone()[0])
    return bool(latest < until)


def _period_rollups(conn: sqlite3.Connection, first: int, end: int) -> _Period:
    """The whole days `[first, end)` from the roll-ups."""
    revenue: dict[str, int] = {}
    refunded: dict[str, int] = {}
    revenue_by_day: dict[int, int] = {}
    for day, provider, paid, taken in conn.execute(
            "SELECT day, provider, revenue, refunded FROM stats_provider_days WHERE day >= ? AND day < ?",
            (first, end)):
        if paid:
            revenue[provider] = revenue.get(provider, 0) + paid
            revenue_by_day[day] = revenue_by_day.get(day, 0) + paid
        if taken:
            refunded[provider] = refunded.get(provider, 0) + taken
    commission = cost = sold = 0
    deployed: dict[int, int] = {}
    for day, net, started, billed, paid in conn.execute(
            "SELECT day, commission, deployments, grid_cost, grid_sold FROM stats_days "
            "WHERE day >= ? AND day < ?", (first, end)):
        commission, cost, sold = commission + net, cost + billed, sold + paid
        if started:
            deployed[day] = started
    return _Period(revenue, refunded, commission, revenue_by_day, deployed, cost, sold)


def _period_rows(conn: sqlite3.Connection, since: int, until: int) -> _Period:
    """`[since, until)` from the rows: every payment, clawback, commission transfer and
    deployment of the period."""
    if since >= until:
        return _NOTHING
    q = conn.execute
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
        "AND created_at >= ? AND created_at < ?", (since, until)).fetchone()[0]
    revenue_by_day = dict(q(
        "SELECT created_at - created_at % 86400, sum(amount) FROM payments "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1", (since, until)).fetchall())
    deployed = dict(q(
        "SELECT created_at - created_at % 86400, count(*) FROM deployments "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1", (since, until)).fetchall())
    cost, sold = grid_figures(conn, since, until)
    return _Period({k: int(v) for k, v in revenue.items()}, {k: int(v) for k, v in refunded.items()},
                   int(commission), {int(k): int(v) for k, v in revenue_by_day.items()},
                   {int(k): int(v) for k, v in deployed.items()}, cost, sold)


def _paying_rows(conn: sqlite3.Connection, since: int, until: int) -> int:
    return int(conn.execute("SELECT count(DISTINCT user_id) FROM payments WHERE created_at >= ? "
                            "AND created_at < ?", (since, until)).fetchone()[0])


def grid_figures(conn: sqlite3.Connection, since: int, until: int, user_id: int | None = None) -> tuple[int, int]:
    """(grid cost in 1e-7 TFT, sold in TFC cents) of the deployments created in `[since, until)`
    (of one user, if given): the grid's bills so far, and what their buyers paid for them (the
    first period of those that became ready, and every renewal)."""
    # Positional parameters: PostgreSQL's store numbers `?`, it has no `:name`.
    who = "" if user_id is None else " AND d.user_id = ?"
    params = (since, until) if user_id is None else (since, until, user_id)
    cost, first = conn.execute(
        "SELECT coalesce(sum(d.grid_cost), 0), coalesce(sum(CASE WHEN d.ready_at IS NOT NULL "
        "THEN o.amount ELSE 0 END), 0) FROM deployments d JOIN orders o ON o.id = d.order_id "
        "WHERE d.created_at >= ? AND d.created_at < ?" + who, params).fetchone()
    renewals = conn.execute(
        "SELECT coalesce(sum(t.amount), 0) FROM transfers t JOIN deployments d ON d.order_id = t.order_id "
        "WHERE t.kind = 'renewal' AND d.created_at >= ? AND d.created_at < ?" + who,
        params).fetchone()[0]
    return int(cost), int(first) + int(renewals)

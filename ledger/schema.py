"""Versioned schema migrations for the ledger's database, one definition for both stores.

The schema version (SQLite's `PRAGMA user_version`, PostgreSQL's `schema_version` table:
`ledger.dialect`) holds the number of migrations applied. Each migration runs in its own
transaction, so a crash mid-upgrade leaves the previous version intact. The statements are
SQLite's; the PostgreSQL store runs them through `ledger.pg_sql.to_postgres`, the one place the
dialects differ. Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .dialect import SQLITE, Dialect

# Fixed ids of the system accounts, created by the first migration. User accounts come after.
SOURCE_STRIPE = 1
SOURCE_STARS = 2
SOURCE_TELEGRAM_CARD = 3
REVENUE_COMMISSION = 4
PAYABLE_GRID = 5
ADJUSTMENTS = 6

SOURCE_ACCOUNT_BY_PROVIDER: dict[str, int] = {
    "stripe": SOURCE_STRIPE,
    "stars": SOURCE_STARS,
    "telegram_card": SOURCE_TELEGRAM_CARD,
}

_V1 = """
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    code            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('user', 'source', 'revenue', 'payable', 'equity')),
    user_id         INTEGER UNIQUE,
    -- credits minus debits; typeof() keeps SQLite from silently turning an overflow into REAL
    balance         INTEGER NOT NULL DEFAULT 0 CHECK (typeof(balance) = 'integer'),
    held            INTEGER NOT NULL DEFAULT 0 CHECK (typeof(held) = 'integer' AND held >= 0),
    allow_negative  INTEGER NOT NULL DEFAULT 0,
    flagged         TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE transfers (
    id                    INTEGER PRIMARY KEY,
    key                   TEXT NOT NULL UNIQUE,
    debit_account_id      INTEGER NOT NULL REFERENCES accounts(id),
    credit_account_id     INTEGER NOT NULL REFERENCES accounts(id),
    amount                INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    kind                  TEXT NOT NULL,
    memo                  TEXT NOT NULL DEFAULT '',
    order_id              INTEGER,
    hold_id               INTEGER,
    payment_id            INTEGER,
    debit_balance_after   INTEGER NOT NULL,
    credit_balance_after  INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, id);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, id);
CREATE INDEX transfers_by_hold ON transfers (hold_id) WHERE hold_id IS NOT NULL;
CREATE INDEX transfers_by_payment ON transfers (payment_id) WHERE payment_id IS NOT NULL;

CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;
CREATE TRIGGER transfers_no_delete BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are immutable'); END;

CREATE TABLE holds (
    id             INTEGER PRIMARY KEY,
    key            TEXT NOT NULL UNIQUE,
    account_id     INTEGER NOT NULL REFERENCES accounts(id),
    amount         INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    state          TEXT NOT NULL CHECK (state IN ('pending', 'posted', 'voided', 'expired')),
    order_id       INTEGER,
    memo           TEXT NOT NULL DEFAULT '',
    expires_at     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER,
    resolve_key    TEXT UNIQUE,
    posted_amount  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('topup', 'purchase')),
    service_id  TEXT,
    amount      INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    state       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX orders_by_user ON orders (user_id, id);

CREATE TABLE payments (
    id                 INTEGER PRIMARY KEY,
    provider           TEXT NOT NULL,
    external_id        TEXT NOT NULL,
    user_id            INTEGER NOT NULL,
    order_id           INTEGER,
    amount             INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
    provider_amount    INTEGER NOT NULL,
    provider_currency  TEXT NOT NULL,
    transfer_id        INTEGER NOT NULL,
    refunded           INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
    created_at         INTEGER NOT NULL,
    UNIQUE (provider, external_id)
);
CREATE INDEX payments_by_user ON payments (user_id, id);

CREATE TABLE deployments (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL,
    service_id   TEXT NOT NULL,
    hold_id      INTEGER NOT NULL,
    state        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX deployments_by_state ON deployments (state, id);
CREATE INDEX deployments_by_user ON deployments (user_id, id);
"""

_SYSTEM_ACCOUNTS = [
    (SOURCE_STRIPE, "source:stripe", "source"),
    (SOURCE_STARS, "source:stars", "source"),
    (SOURCE_TELEGRAM_CARD, "source:telegram_card", "source"),
    (REVENUE_COMMISSION, "revenue:commission", "revenue"),
    (PAYABLE_GRID, "payable:grid", "payable"),
    (ADJUSTMENTS, "equity:adjustments", "equity"),
]


def _v1(conn: sqlite3.Connection) -> None:
    _script(_V1)(conn)
    # System accounts mirror the outside world, so they may go below zero; user accounts may not.
    conn.executemany(
        "INSERT INTO accounts (id, code, kind, allow_negative, created_at) VALUES (?, ?, ?, 1, 0)",
        _SYSTEM_ACCOUNTS,
    )


_V2 = """
CREATE TABLE users (
    user_id     INTEGER PRIMARY KEY,
    username    TEXT,
    first_name  TEXT NOT NULL DEFAULT '',
    language    TEXT,
    blocked_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX users_by_username ON users (username COLLATE NOCASE);

CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    key              TEXT UNIQUE,
    chat_id          INTEGER NOT NULL,
    text             TEXT NOT NULL,
    reply_markup     TEXT,
    parse_mode       TEXT,
    edit_message_id  INTEGER,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'blocked')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    message_id       INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';

ALTER TABLE orders ADD COLUMN buy_now INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orders ADD COLUMN provider_ref TEXT;
ALTER TABLE orders ADD COLUMN provider_ref_expires_at INTEGER;
ALTER TABLE orders ADD COLUMN flag TEXT;
CREATE INDEX orders_by_provider_ref ON orders (provider_ref) WHERE provider_ref IS NOT NULL;

ALTER TABLE deployments ADD COLUMN name TEXT;
ALTER TABLE deployments ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN lease_until INTEGER;
ALTER TABLE deployments ADD COLUMN next_attempt_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN details TEXT;
ALTER TABLE deployments ADD COLUMN error TEXT;
ALTER TABLE deployments ADD COLUMN status_chat_id INTEGER;
ALTER TABLE deployments ADD COLUMN status_message_id INTEGER;
ALTER TABLE deployments ADD COLUMN period_days INTEGER;
ALTER TABLE deployments ADD COLUMN started_at INTEGER;
ALTER TABLE deployments ADD COLUMN ready_at INTEGER;
ALTER TABLE deployments ADD COLUMN expires_at INTEGER;
ALTER TABLE deployments ADD COLUMN auto_renew INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN warned_at INTEGER;
CREATE INDEX deployments_by_expiry ON deployments (expires_at) WHERE state = 'ready';

CREATE TABLE provider_events (
    id          INTEGER PRIMARY KEY,
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    created_at  INTEGER NOT NULL,
    UNIQUE (provider, event_id)
);

CREATE TABLE admin_log (
    id          INTEGER PRIMARY KEY,
    key         TEXT UNIQUE,
    admin_id    INTEGER NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def apply(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";\n"):
            if statement.strip():
                conn.execute(statement)

    return apply


# v3: admin chat commands. Catalogue overrides set from the chat (a NULL column means "as in
# config.toml"), and admin requests awaiting a confirm button, keyed by the command message so a
# re-delivered update finds its request instead of making a second.
_V3 = """
CREATE TABLE service_overrides (
    service_id  TEXT PRIMARY KEY,
    enabled     INTEGER CHECK (enabled IS NULL OR enabled IN (0, 1)),
    price       INTEGER CHECK (price IS NULL OR (typeof(price) = 'integer' AND price > 0)),
    admin_id    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE admin_requests (
    id                 INTEGER PRIMARY KEY,
    key                TEXT NOT NULL UNIQUE,
    admin_id           INTEGER NOT NULL,
    action             TEXT NOT NULL,
    params             TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('pending', 'done', 'cancelled', 'failed')),
    chat_id            INTEGER NOT NULL,
    prompt_message_id  INTEGER,
    result             TEXT NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX admin_requests_by_action ON admin_requests (action, state, id);
"""

# v4: the buyer's SSH public key, put on the VMs they buy.
_V4 = "ALTER TABLE users ADD COLUMN ssh_key TEXT"

# v5: every Checkout Session made for an order (an order may have had several links), so the
# ones still open when the order stops being open are expired at Stripe; reconciliation cursors
# (where the last pass of a provider's event list got to) and the provider events applied.
_V5 = """
CREATE TABLE stripe_sessions (
    session_id  TEXT PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id),
    expires_at  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'complete', 'expired')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX stripe_sessions_open ON stripe_sessions (state, order_id);
INSERT INTO stripe_sessions (session_id, order_id, expires_at, state, created_at, updated_at)
    SELECT provider_ref, id, provider_ref_expires_at, 'open', updated_at, updated_at FROM orders
    WHERE provider_ref IS NOT NULL AND provider_ref_expires_at IS NOT NULL AND state = 'open';
CREATE TABLE provider_cursors (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE applied_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (provider, event_id)
);
"""

# v6: parked payments an admin must see and resolve: told when parked, resolved by credit,
# refund or closing, by whom and when.
_V6 = """
ALTER TABLE provider_events ADD COLUMN alerted_at INTEGER;
ALTER TABLE provider_events ADD COLUMN resolution TEXT;
ALTER TABLE provider_events ADD COLUMN resolved_by INTEGER;
ALTER TABLE provider_events ADD COLUMN resolved_at INTEGER;
CREATE INDEX provider_events_open ON provider_events (state, id);
"""


# v7: the grid side of a deployment. `error` is what the buyer is told (a fixed reason),
# `error_detail` the tool's text for admins (scrubbed of secrets); the contract ids and what
# the grid billed for them (TFT in its smallest unit, 1e-7 TFT). `shop_meta` holds the shop id
# that makes this database's grid names its own; `grid_orphans` the contracts of the operator's
# twin that no live deployment owns, until gridproxy no longer lists them.
_V7 = """
ALTER TABLE deployments ADD COLUMN error_detail TEXT;
ALTER TABLE deployments ADD COLUMN contract_ids TEXT;
ALTER TABLE deployments ADD COLUMN grid_cost INTEGER NOT NULL DEFAULT 0 CHECK (grid_cost >= 0);
ALTER TABLE deployments ADD COLUMN grid_checked_at INTEGER;
CREATE TABLE shop_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
CREATE TABLE grid_orphans (
    contract_id   INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    cancel_attempts INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    gone_at       INTEGER
);
"""

# v8: the language a user chose with /language ('en', 'ru'); NULL follows their Telegram
# `language` (language_code).
_V8 = "ALTER TABLE users ADD COLUMN locale TEXT"

# v9: the indexes the hot queries' plans ask for (tests/ledger/test_query_plans.py fails on a
# full scan): /stats reads a period by time (payments, deployments, users, clawbacks and the
# commission account's transfers, each from its own index); the audit and /stats find an order's
# transfers (a renewal, a settlement without hold); refunds and disputes find an order's payment.
_V9 = f"""
CREATE INDEX transfers_by_order ON transfers (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX transfers_clawbacks_by_time ON transfers (created_at) WHERE kind = 'clawback';
CREATE INDEX transfers_commission_by_time ON transfers (created_at)
    WHERE credit_account_id = {REVENUE_COMMISSION} OR debit_account_id = {REVENUE_COMMISSION};
CREATE INDEX payments_by_time ON payments (created_at);
CREATE INDEX payments_by_order ON payments (order_id) WHERE order_id IS NOT NULL;
CREATE INDEX deployments_by_time ON deployments (created_at);
CREATE INDEX users_by_time ON users (created_at);
"""

# v10: which running instance claimed a job being deployed (several instances on PostgreSQL):
# once that instance is gone its job may be claimed at once, not only when its lease lapses.
_V10 = "ALTER TABLE deployments ADD COLUMN lease_owner INTEGER"

# v11: the one message a purchase or top-up shows its whole life in (the chat's order message:
# payment choices, paid, deploying, ready), and what the order buys by name; a VM's name as its
# owner reads it everywhere ("Small VM #3" by default, or what they renamed it to).
_V11 = """
ALTER TABLE orders ADD COLUMN chat_id INTEGER;
ALTER TABLE orders ADD COLUMN message_id INTEGER;
ALTER TABLE orders ADD COLUMN item_name TEXT;
ALTER TABLE deployments ADD COLUMN label TEXT;
"""

# v12: the Stripe inbox (`ledger.stripe_inbox`): verified webhook events accepted durably and
# not applied yet; a row leaves once its event was applied. Claimed by lease (`lease_until`,
# `lease_owner` as for deployments); `next_at` orders the due ones and backs off retries; the
# index also covers `received_at` for the metrics' count and oldest age.
_V12 = """
CREATE TABLE stripe_inbox (
    event_id     TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    lease_owner  INTEGER,
    last_error   TEXT
);
CREATE INDEX stripe_inbox_due ON stripe_inbox (next_at, received_at);
"""

# v13: roll-ups of what /stats shows, so it reads a few rows per day instead of every payment,
# deployment and commission transfer of the period (docs/ledger.md, "Roll-ups for /stats").
# Triggers keep them in step in the same transaction as every write of the rows they summarise;
# the audit checks them against those rows (`ledger.rollups`). Per UTC day (`day`: unix seconds
# at 00:00) and provider: payments credited and clawed back; per day: the commission account's
# net, deployments created, and for those deployments what the grid billed and what their buyers
# paid (the first period once ready, every renewal); `last_at`: the latest time summarised in
# the row (a deployment's figures count at its creation), so a period ending mid-day knows
# whether that day's row holds anything later. Per user: their latest payment (paying users
# ever, and in a period ending now). Per state: how many deployments are in it.
_DAY = "{t} - {t} % 86400"
_LATEST = "last_at = CASE WHEN excluded.last_at > {table}.last_at THEN excluded.last_at ELSE {table}.last_at END"
_V13_TABLES = """
CREATE TABLE stats_provider_days (
    day       INTEGER NOT NULL,
    provider  TEXT NOT NULL,
    revenue   INTEGER NOT NULL DEFAULT 0,
    refunded  INTEGER NOT NULL DEFAULT 0,
    last_at   INTEGER NOT NULL,
    PRIMARY KEY (day, provider)
);
CREATE TABLE stats_days (
    day          INTEGER NOT NULL PRIMARY KEY,
    commission   INTEGER NOT NULL DEFAULT 0,
    deployments  INTEGER NOT NULL DEFAULT 0,
    grid_cost    INTEGER NOT NULL DEFAULT 0,
    grid_sold    INTEGER NOT NULL DEFAULT 0,
    last_at      INTEGER NOT NULL
);
CREATE TABLE stats_payers (
    user_id       INTEGER NOT NULL PRIMARY KEY,
    last_paid_at  INTEGER NOT NULL
);
CREATE INDEX stats_payers_by_time ON stats_payers (last_paid_at);
CREATE TABLE stats_deployment_states (
    state        TEXT PRIMARY KEY,
    deployments  INTEGER NOT NULL
)
"""


def _add_to_provider_day(column: str, select: str) -> str:
    """Add `select`'s (day, provider, amount, at) to the provider's day."""
    return (f"INSERT INTO stats_provider_days (day, provider, {column}, last_at) {select} "
            f"ON CONFLICT (day, provider) DO UPDATE SET "
            f"{column} = stats_provider_days.{column} + excluded.{column}, "
            + _LATEST.format(table="stats_provider_days"))


def _add_to_day(columns: str, select: str) -> str:
    """Add `select`'s (day, *columns, at) to the day's figures."""
    names = [c.strip() for c in columns.split(",")]
    sums = ", ".join(f"{c} = stats_days.{c} + excluded.{c}" for c in names)
    return (f"INSERT INTO stats_days (day, {columns}, last_at) {select} "
            f"ON CONFLICT (day) DO UPDATE SET {sums}, " + _LATEST.format(table="stats_days"))


_ORDER_AMOUNT = "(SELECT o.amount FROM orders o WHERE o.id = NEW.order_id)"
_ADD_STATE = ("INSERT INTO stats_deployment_states (state, deployments) VALUES (NEW.state, 1) "
              "ON CONFLICT (state) DO UPDATE SET deployments = stats_deployment_states.deployments + 1")
# Each trigger's body is one line per statement (the migration runs them whole, not split).
V13_TRIGGERS = [
    "CREATE TRIGGER stats_payment AFTER INSERT ON payments\nBEGIN "
    + _add_to_provider_day("revenue", f"SELECT {_DAY.format(t='NEW.created_at')}, NEW.provider, "
                           "NEW.amount, NEW.created_at WHERE TRUE") + "; "
    "INSERT INTO stats_payers (user_id, last_paid_at) VALUES (NEW.user_id, NEW.created_at) "
    "ON CONFLICT (user_id) DO UPDATE SET last_paid_at = CASE WHEN excluded.last_paid_at > "
    "stats_payers.last_paid_at THEN excluded.last_paid_at ELSE stats_payers.last_paid_at END; END",

    # Refunded: the clawed payment's provider, on the day of the clawback.
    "CREATE TRIGGER stats_clawback AFTER INSERT ON transfers WHEN NEW.kind = 'clawback'\nBEGIN "
    + _add_to_provider_day("refunded", f"SELECT {_DAY.format(t='NEW.created_at')}, p.provider, "
                           "NEW.amount, NEW.created_at FROM payments p WHERE p.id = NEW.payment_id")
    + "; END",

    f"CREATE TRIGGER stats_commission AFTER INSERT ON transfers WHEN NEW.credit_account_id = "
    f"{REVENUE_COMMISSION} OR NEW.debit_account_id = {REVENUE_COMMISSION}\nBEGIN "
    + _add_to_day("commission", f"SELECT {_DAY.format(t='NEW.created_at')}, CASE WHEN "
                  f"NEW.credit_account_id = {REVENUE_COMMISSION} THEN NEW.amount ELSE -NEW.amount END, "
                  "NEW.created_at WHERE TRUE") + "; END",

    # A renewal counts as sold on its deployment's day, as /stats has always counted it.
    "CREATE TRIGGER stats_renewal AFTER INSERT ON transfers WHEN NEW.kind = 'renewal'\nBEGIN "
    + _add_to_day("grid_sold", f"SELECT {_DAY.format(t='d.created_at')}, NEW.amount, d.created_at "
                  "FROM deployments d WHERE d.order_id = NEW.order_id") + "; END",

    # The grid figures count only deployments whose order exists (/stats joins them).
    "CREATE TRIGGER stats_deployment AFTER INSERT ON deployments\nBEGIN "
    + _add_to_day("deployments, grid_cost, grid_sold", f"SELECT {_DAY.format(t='NEW.created_at')}, 1, "
                  f"CASE WHEN {_ORDER_AMOUNT} IS NULL THEN 0 ELSE NEW.grid_cost END, "
                  f"CASE WHEN NEW.ready_at IS NULL THEN 0 ELSE coalesce({_ORDER_AMOUNT}, 0) END, "
                  "NEW.created_at WHERE TRUE") + "; " + _ADD_STATE + "; END",

    "CREATE TRIGGER stats_deployment_state AFTER UPDATE OF state ON deployments "
    "WHEN OLD.state <> NEW.state\nBEGIN "
    "UPDATE stats_deployment_states SET deployments = deployments - 1 WHERE state = OLD.state; "
    + _ADD_STATE + "; END",

    # What the grid billed grows as it bills; the first period counts as sold once ready.
    "CREATE TRIGGER stats_deployment_grid AFTER UPDATE OF grid_cost, ready_at ON deployments "
    "WHEN OLD.grid_cost <> NEW.grid_cost OR (OLD.ready_at IS NULL) <> (NEW.ready_at IS NULL)\nBEGIN "
    "UPDATE stats_days SET "
    "grid_cost = grid_cost + coalesce((SELECT NEW.grid_cost - OLD.grid_cost FROM orders o "
    "WHERE o.id = NEW.order_id), 0), "
    "grid_sold = grid_sold + coalesce((SELECT CASE WHEN NEW.ready_at IS NULL THEN 0 ELSE o.amount END "
    "- CASE WHEN OLD.ready_at IS NULL THEN 0 ELSE o.amount END FROM orders o WHERE o.id = NEW.order_id), 0) "
    f"WHERE day = {_DAY.format(t='NEW.created_at')}; END",
]

# The backfill: each roll-up from the rows it summarises (`ledger.rollups` reads the same
# queries to rebuild them and the audit to check them).
PROVIDER_DAYS_FROM_ROWS = f"""
SELECT day, provider, sum(revenue), sum(refunded), max(seen) FROM (
    SELECT {_DAY.format(t='created_at')} AS day, provider, amount AS revenue, 0 AS refunded,
        created_at AS seen FROM payments
    UNION ALL
    SELECT {_DAY.format(t='t.created_at')}, p.provider, 0, t.amount, t.created_at
        FROM transfers t JOIN payments p ON p.id = t.payment_id WHERE t.kind = 'clawback'
) AS summarised GROUP BY day, provider
"""
DAYS_FROM_ROWS = f"""
SELECT day, sum(commission), sum(deployments), sum(grid_cost), sum(grid_sold), max(seen) FROM (
    SELECT {_DAY.format(t='created_at')} AS day, CASE WHEN credit_account_id = {REVENUE_COMMISSION}
        THEN amount ELSE -amount END AS commission, 0 AS deployments, 0 AS grid_cost,
        0 AS grid_sold, created_at AS seen FROM transfers
        WHERE credit_account_id = {REVENUE_COMMISSION} OR debit_account_id = {REVENUE_COMMISSION}
    UNION ALL
    SELECT {_DAY.format(t='d.created_at')}, 0, 1, CASE WHEN o.id IS NULL THEN 0 ELSE d.grid_cost END,
        CASE WHEN o.id IS NULL OR d.ready_at IS NULL THEN 0 ELSE o.amount END, d.created_at
        FROM deployments d LEFT JOIN orders o ON o.id = d.order_id
    UNION ALL
    SELECT {_DAY.format(t='d.created_at')}, 0, 0, 0, t.amount, d.created_at
        FROM transfers t JOIN deployments d ON d.order_id = t.order_id WHERE t.kind = 'renewal'
) AS summarised GROUP BY day
"""
PAYERS_FROM_ROWS = "SELECT user_id, max(created_at) FROM payments GROUP BY user_id"
DEPLOYMENT_STATES_FROM_ROWS = "SELECT state, count(*) FROM deployments GROUP BY state"
ROLLUPS_FROM_ROWS = {
    "stats_provider_days (day, provider, revenue, refunded, last_at)": PROVIDER_DAYS_FROM_ROWS,
    "stats_days (day, commission, deployments, grid_cost, grid_sold, last_at)": DAYS_FROM_ROWS,
    "stats_payers (user_id, last_paid_at)": PAYERS_FROM_ROWS,
    "stats_deployment_states (state, deployments)": DEPLOYMENT_STATES_FROM_ROWS,
}


def fill_rollups(conn: sqlite3.Connection) -> None:
    """(Re)compute every /stats roll-up from the rows it summarises."""
    for table, select in ROLLUPS_FROM_ROWS.items():
        conn.execute(f"DELETE FROM {table.split()[0]}")
        conn.execute(f"INSERT INTO {table} {select}")


def _v13(conn: sqlite3.Connection) -> None:
    _script(_V13_TABLES)(conn)
    for trigger in V13_TRIGGERS:
        conn.execute(trigger)
    fill_rollups(conn)


MIGRATIONS = [_v1, _script(_V2), _script(_V3), _script(_V4), _script(_V5), _script(_V6), _script(_V7),
              _script(_V8), _script(_V9), _script(_V10), _script(_V11), _script(_V12), _v13]
ROLLUPS_VERSION = 13  # the schema version that added the /stats roll-ups


def migrate(conn: sqlite3.Connection, dialect: Dialect = SQLITE, upto: int | None = None) -> int:
    """Apply the migrations the database lacks (up to version `upto`, if given: a benchmark
    builds its rows at an older version and lets the later migrations fill what they derive);
    return the resulting schema version.

    Each migration runs in its own transaction that also reads and moves the version, so a
    crash mid-upgrade leaves the previous version intact, and two processes opening the same
    database at once (PostgreSQL) apply each migration once.
    """
    target = len(MIGRATIONS) if upto is None else min(upto, len(MIGRATIONS))
    while True:
        conn.execute(dialect.begin_migration)
        try:
            for statement in dialect.migration_setup:
                conn.execute(statement)
            version = int(conn.execute(dialect.read_version).fetchone()[0])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"database schema version {version} is newer than this gridshop "
                    f"({len(MIGRATIONS)})")
            if version < target:
                MIGRATIONS[version](conn)
                for statement in dialect.write_version:
                    conn.execute(statement.format(version=version + 1))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if version >= target:
            return version

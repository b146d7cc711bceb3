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

MIGRATIONS = [_v1, _script(_V2), _script(_V3), _script(_V4), _script(_V5), _script(_V6), _script(_V7),
              _script(_V8), _script(_V9), _script(_V10), _script(_V11), _script(_V12)]


def migrate(conn: sqlite3.Connection, dialect: Dialect = SQLITE) -> int:
    """Apply the migrations the database lacks; return the resulting schema version.

    Each migration runs in its own transaction that also reads and moves the version, so a
    crash mid-upgrade leaves the previous version intact, and two processes opening the same
    database at once (PostgreSQL) apply each migration once.
    """
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
            if version < len(MIGRATIONS):
                MIGRATIONS[version](conn)
                for statement in dialect.write_version:
                    conn.execute(statement.format(version=version + 1))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if version == len(MIGRATIONS):
            return version

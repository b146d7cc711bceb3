"""What the two stores' databases do differently around the schema: how a write transaction
begins, and where the schema version lives (SQLite's `PRAGMA user_version`, a one-row table in
PostgreSQL, whose migrations also take an advisory lock so that instances starting together
migrate one after the other). The statements themselves are shared (`ledger.pg_sql`)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INSTANCE_LOCK_SPACE", "POSTGRES", "SQLITE", "Dialect", "dialect_of"]


@dataclass(frozen=True)
class Dialect:
    name: str
    begin_write: str
    # Begins each migration's transaction. On PostgreSQL not SERIALIZABLE: a serializable
    # transaction's snapshot is taken at its first statement, the migration lock's wait, so
    # after waiting it would still read the version from before the migration it waited for
    # and apply that migration again.
    begin_migration: str
    # Run first in each migration's transaction (locks, the version table).
    migration_setup: tuple[str, ...]
    read_version: str
    write_version: tuple[str, ...]  # each formatted with {version}
    # Ends the SELECT that picks a deployment job to claim: skip rows another instance is
    # claiming at this very moment instead of waiting for (and conflicting with) it.
    skip_locked: str = ""
    # ORed to the "lease lapsed" condition of a job being deployed: its claiming instance is
    # gone (no longer holds its instance lock), so the job may be claimed right away.
    owner_gone: str = ""


SQLITE = Dialect(
    name="sqlite",
    begin_write="BEGIN IMMEDIATE",
    begin_migration="BEGIN IMMEDIATE",
    migration_setup=(),
    read_version="PRAGMA user_version",
    write_version=("PRAGMA user_version = {version}",),
)

# Arbitrary constants: the advisory lock key of "migrating the gridshop schema", and the first
# half of every running instance's own lock key (`ledger.roles.PgRoles`).
MIGRATION_LOCK = 0x67726964
INSTANCE_LOCK_SPACE = 0x67696E73

POSTGRES = Dialect(
    name="postgresql",
    begin_write="BEGIN ISOLATION LEVEL SERIALIZABLE",
    # READ COMMITTED: each statement reads what was committed when it starts, so the version
    # read after the lock's wait is the one the previous migrator left.
    begin_migration="BEGIN ISOLATION LEVEL READ COMMITTED",
    migration_setup=(
        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})",
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    ),
    read_version="SELECT coalesce(max(version), 0) FROM schema_version",
    write_version=("DELETE FROM schema_version",
                   "INSERT INTO schema_version (version) VALUES ({version})"),
    skip_locked=" FOR UPDATE SKIP LOCKED",
    owner_gone=(
        " OR lease_owner NOT IN (SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
        f" AND granted AND classid = {INSTANCE_LOCK_SPACE} AND objsubid = 2 AND database ="
        " (SELECT oid FROM pg_database WHERE datname = current_database()))"),
)


def dialect_of(conn: object) -> Dialect:
    """The dialect of a connection the ledger's operations run on (sqlite3's has none)."""
    dialect = getattr(conn, "dialect", SQLITE)
    return dialect if isinstance(dialect, Dialect) else SQLITE

"""Backing up and restoring the shop's SQLite file while it runs.

`backup` copies the live database through SQLite's online backup API (`sqlite3.Connection.backup`)
in one step, from a read transaction: the copy is the state of one instant, every committed
write before it and none after, while the shop keeps writing (WAL: readers never block the
writer). It goes to a temporary file beside the destination, is checked (`PRAGMA
integrity_check` and the ledger audit), and only then renamed over the destination, so a
failed or interrupted backup never leaves a half-written file under the name given.

`restore` checks a backup the same way, refuses one whose schema is newer than this code, and
copies it into place through the same API (the destination's old WAL files are removed first,
so nothing of the replaced database is replayed over it). The shop must be stopped while it
runs; both functions block and run in a thread.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from .audit import AuditReport, run_audit
from .errors import LedgerError
from .schema import MIGRATIONS

__all__ = ["BackupError", "Checked", "backup", "check", "restore"]


class BackupError(LedgerError):
    """The backup or restore did not happen; `str()` says why in one line."""


@dataclass(frozen=True, slots=True)
class Checked:
    """A database file that passed the checks: its schema version and its audit."""

    path: Path
    schema_version: int
    audit: AuditReport


def _temporary(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.partial-{os.getpid()}")


def _copy(source: sqlite3.Connection, dest: Path) -> None:
    """Copy the database `source` is connected to into `dest`, then close both."""
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)  # pages=-1: the whole database in one step, one snapshot
            target.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        finally:
            target.close()
    finally:
        source.close()


def check(path: Path) -> Checked:
    """Open `path` read-only and check it is a sound gridshop ledger; raises BackupError."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened: {exc}") from None
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise BackupError(f"{path} is damaged: integrity_check says {integrity}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version == 0:
            raise BackupError(f"{path} is not a gridshop ledger (no schema)")
        if version > len(MIGRATIONS):
            raise BackupError(f"{path} has schema version {version}, newer than this gridshop "
                              f"({len(MIGRATIONS)}): upgrade gridshop first")
        conn.execute("BEGIN")
        report = run_audit(conn)
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a gridshop ledger: {exc}") from None
    finally:
        conn.close()
    if not report.ok:
        raise BackupError(f"{path} fails the audit: {report.violations[0]}")
    return Checked(path, version, report)


def backup(database: Path, dest: Path, *, busy_timeout_ms: int = 5000) -> Checked:
    """Copy the live `database` to `dest` (replacing it), checked; raises BackupError."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if dest.resolve() == database.resolve():
        raise BackupError("the backup must go to another file than the database itself")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    source = sqlite3.connect(database, timeout=busy_timeout_ms / 1000)
    return _put_in_place(source, dest, f"backup of {database} failed")


def restore(backup_file: Path, database: Path, *, replace: bool = False) -> Checked:
    """Put the checked `backup_file` in place as `database`; an existing database is replaced
    only with `replace`. Raises BackupError."""
    check(backup_file)  # before anything is touched
    if database.exists() and not replace:
        raise BackupError(f"{database} exists: stop gridshop, then restore with --force to "
                          "replace it")
    if not database.parent.is_dir():
        raise BackupError(f"folder {database.parent} does not exist")
    source = sqlite3.connect(f"{backup_file.resolve().as_uri()}?mode=ro", uri=True)
    return _put_in_place(source, database, f"restore of {backup_file} failed")


def _put_in_place(source: sqlite3.Connection, dest: Path, failure: str) -> Checked:
    """Copy `source` to a temporary file beside `dest`, check it, then rename it to `dest`."""
    partial = _temporary(dest)
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        checked = check(partial)
        for suffix in ("-wal", "-shm"):  # the replaced database's, never to be replayed over it
            with contextlib.suppress(FileNotFoundError):
                Path(f"{dest}{suffix}").unlink()
        partial.replace(dest)
    except sqlite3.Error as exc:
        raise BackupError(f"{failure}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return Checked(dest, checked.schema_version, checked.audit)

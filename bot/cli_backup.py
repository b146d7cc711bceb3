"""`gridshop ledger backup PATH` and `gridshop ledger restore BACKUP [--force]`: one line each
saying what was copied and that the copy passed the audit (`ledger.backup`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from ledger.backup import backup, restore

from .config import Config


async def backup_command(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    """Run the backup or restore in a thread; a BackupError (a LedgerError) reaches the CLI's
    one-line handler."""
    if config.database.url:
        print(f"gridshop ledger {args.action}: this shop is on PostgreSQL (database.url): use "
              "pg_dump / pg_restore (docs/deploy.md, Backups and restore)", file=sys.stderr)
        return 2
    database = Path(config.database.path)
    if args.action == "backup":
        checked = await asyncio.to_thread(backup, database, Path(args.path),
                                          busy_timeout_ms=config.database.busy_timeout_ms)
        print(f"backed up {database} to {checked.path} (schema {checked.schema_version}; "
              f"{checked.audit.summary()})", file=out)
    else:
        checked = await asyncio.to_thread(restore, Path(args.backup), database, replace=args.force)
        print(f"restored {args.backup} as {database} (schema {checked.schema_version}; "
              f"{checked.audit.summary()})", file=out)
    return 0

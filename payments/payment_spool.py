"""Telegram payments the ledger could not record for now (database locked, disk full, I/O
error), kept in a small file beside the database until they are credited.

A `successful_payment` met by a passing store error is never acknowledged as handled: in webhook
mode Telegram hears 5xx and delivers it again; in polling mode the update is already fetched,
so the payment is appended here (one JSON line, fsynced) and the spool job credits it once the
ledger writes again. Crediting is deduped on the charge id, so a payment both spooled and
redelivered is credited once. If even the spool file cannot be written, the payment is kept in
memory for the job and logged in full for the operator.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["PaymentSpool"]

log = logging.getLogger(__name__)


class PaymentSpool:
    """Append-only JSON lines keyed by `charge_id`; `remove` rewrites the file atomically."""

    def __init__(self, path: Path | str | None) -> None:
        self.path = Path(path) if path is not None else None
        self._memory: dict[str, dict[str, Any]] = {}

    def add(self, entry: dict[str, Any]) -> bool:
        """Keep `entry` (it has a `charge_id`); True when it is on disk."""
        charge_id = str(entry["charge_id"])
        self._memory[charge_id] = entry
        if self.path is None:
            return False
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry, sort_keys=True) + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            log.critical("payment %s could not be spooled (%s); kept in memory only: %s",
                         charge_id, exc, json.dumps(entry, sort_keys=True))
            return False
        return True

    def pending(self) -> list[dict[str, Any]]:
        """Every kept payment, once per charge id, oldest first."""
        found: dict[str, dict[str, Any]] = {}
        for entry in self._read():
            found.setdefault(str(entry.get("charge_id")), entry)
        for charge_id, entry in self._memory.items():
            found.setdefault(charge_id, entry)
        return list(found.values())

    def remove(self, charge_ids: set[str]) -> None:
        """Forget payments that are now in the ledger (or parked there)."""
        for charge_id in charge_ids:
            self._memory.pop(charge_id, None)
        if self.path is None or not self.path.exists():
            return
        left = [e for e in self._read() if str(e.get("charge_id")) not in charge_ids]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(e, sort_keys=True) + "\n" for e in left)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def _read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line torn by a crash mid-append
                continue
            if isinstance(entry, dict) and "charge_id" in entry:
                entries.append(entry)
        return entries

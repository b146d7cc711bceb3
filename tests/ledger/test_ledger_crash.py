"""Crash safety: a writer process is killed with SIGKILL at random moments, over and over on the
same file; after each kill the file must be intact, every acknowledged write must be in it, and
the audit must pass."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

from ledger.audit import run_audit

from ..pg_cluster import on_own_thread

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 20

_WHERE = {
    "payment": "SELECT 1 FROM payments WHERE provider = 'stripe' AND external_id = ?",
    "transfer": "SELECT 1 FROM transfers WHERE key = ?",
    "hold": "SELECT 1 FROM holds WHERE key = ?",
    "resolve": "SELECT 1 FROM holds WHERE key = ? AND state IN ('posted', 'voided')",
}


def _run_and_kill(db: Path, run: int, delay: float, stderr_path: Path) -> list[str]:
    """Start the writer, wait for its first ack, let it run `delay` s more, SIGKILL it."""
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(db), str(run)],
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines: list[str] = []
    first_ack = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            first_ack.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not first_ack.wait(20):
            raise AssertionError(f"writer never acknowledged: {stderr_path.read_text()}")
        time.sleep(delay)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        reader.join(10)
    assert proc.returncode == -signal.SIGKILL, stderr_path.read_text()
    # A line cut by the kill was never fully acknowledged.
    return [line for line in lines if line.endswith("\n")]


def _check_file(db: Path, acked: list[str]) -> int:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return _check(conn, acked)
    finally:
        conn.close()


def _check(conn: Any, acked: list[str]) -> int:
    missing = []
    for line in acked:
        table, key = line.split()
        if conn.execute(_WHERE[table], (key,)).fetchone() is None:
            missing.append(line.strip())
    assert not missing, f"acknowledged but lost after SIGKILL: {missing[:10]}"
    report = run_audit(conn)
    assert report.ok, report.violations
    return report.transfers


def test_acknowledged_writes_survive_sigkill(db_path: Path | str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    db = db_path
    total_acked = 0
    transfers = 0
    kills = KILLS if isinstance(db, Path) else KILLS // 2  # each start costs more on PostgreSQL
    for run in range(kills):
        delay = rng.uniform(0.05, 0.5)
        acked = _run_and_kill(db, run, delay, tmp_path / f"stderr-{run}.txt")
        assert acked, f"seed {seed}: run {run} acknowledged nothing"
        total_acked += len(acked)
        new_transfers = (_check_file(db, acked) if isinstance(db, Path)
                         else on_own_thread(db, partial(_check, acked=acked)))
        assert new_transfers >= transfers, f"seed {seed}: transfers vanished"
        transfers = new_transfers
    assert total_acked > kills * 10, f"seed {seed}: too little load ({total_acked} acks)"

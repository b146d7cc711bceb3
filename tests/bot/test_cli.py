"""The `gridshop` command line against a real ledger file."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from ledger import Ledger


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gridshop.toml"
    path.write_text('[database]\npath = "shop.db"\n')
    return path


def _seed(db: Path) -> None:
    async def seed() -> None:
        ledger = await Ledger.open(db)
        await ledger.record_payment("stars", "charge-1", user_id=42, amount=1250,
                                    provider_amount=963, provider_currency="XTR")
        order = await ledger.create_order("o1", 42, "purchase", 400, "vm-small")
        await ledger.purchase(order.id, 42)
        await ledger.close()

    asyncio.run(seed())


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_balance_shows_available_held_and_debt(config_file: Path) -> None:
    _seed(config_file.parent / "shop.db")
    code, out = run_cli("--config", str(config_file), "ledger", "balance", "42")
    assert code == 0
    assert out.strip() == "user 42: available 8.50 TFC, held 4.00 TFC, debt 0.00 TFC"


def test_history_lists_newest_first_with_limit(config_file: Path) -> None:
    db = config_file.parent / "shop.db"
    _seed(db)

    async def more() -> None:
        ledger = await Ledger.open(db)
        await ledger.record_payment("stripe", "cs_2", user_id=42, amount=500,
                                    provider_amount=500, provider_currency="usd")
        await ledger.close()

    asyncio.run(more())
    code, out = run_cli("--config", str(config_file), "ledger", "history", "42", "--limit", "1")
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert "payment" in lines[0] and "+5.00 TFC" in lines[0] and "balance 17.50 TFC" in lines[0]


def test_audit_passes_on_a_sound_ledger_and_fails_on_a_tampered_one(config_file: Path) -> None:
    db = config_file.parent / "shop.db"
    _seed(db)
    code, out = run_cli("--config", str(config_file), "ledger", "audit")
    assert code == 0
    assert out.strip().splitlines() == [out.strip()]
    assert out.startswith("audit ok:")

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE accounts SET balance = balance + 100 WHERE user_id = 42")
    code, out = run_cli("--config", str(config_file), "ledger", "audit")
    assert code == 1
    assert "violation: account" in out and "stored balance 1350, transfers say 1250" in out
    assert "FAILED" in out.strip().splitlines()[-1]


def test_export_writes_every_transfer_as_csv(config_file: Path, tmp_path: Path) -> None:
    _seed(config_file.parent / "shop.db")
    target = tmp_path / "out.csv"
    code, _ = run_cli("--config", str(config_file), "ledger", "export", "--format", "csv",
                      "--output", str(target))
    assert code == 0
    rows = list(csv.DictReader(target.open()))
    assert [(r["kind"], r["debit_account"], r["credit_account"], r["amount"]) for r in rows] == [
        ("payment", "source:stars", "user:42", "1250"),
    ]


@pytest.mark.parametrize("argv, needle", [
    (["ledger", "balance", "abc"], "'abc' is not a whole number"),
    (["ledger", "balance", "-3"], "must be positive"),
    (["ledger", "history"], "the following arguments are required: USER_ID"),
    (["ledger", "export", "--format", "xml"], "invalid choice: 'xml'"),
    (["ledger"], "required: ACTION"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_get_a_usage_message(config_file: Path, argv: list[str], needle: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(config_file), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: gridshop" in err and needle in err


def _console(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *argv], capture_output=True, text=True,
                          env=env, timeout=60)


def test_run_without_bot_token_says_what_to_set(config_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    proc = _console("--config", str(config_file), "run", env=env)
    assert proc.returncode == 2
    assert "BOT_TOKEN is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_config_stops_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[marketplace]\ncommission_rate = 1.5\n")
    proc = _console("--config", str(bad), "ledger", "audit")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "marketplace.commission_rate = 1.5" in proc.stderr


def test_a_bad_telegram_api_option_stops_with_the_line_the_file_gives(config_file: Path, tmp_path: Path) -> None:
    env = dict(os.environ, BOT_TOKEN="123:abc", PAYLOAD_SECRET="x")
    proc = _console("--config", str(config_file), "run", "--telegram-api", "not-a-url", env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    # The same value in the file: the same line, naming the file instead of the option.
    in_file = tmp_path / "in-file.toml"
    in_file.write_text('[database]\npath = "shop.db"\n[telegram]\napi_base = "not-a-url"\n')
    from_file = _console("--config", str(in_file), "run", env=env)
    assert from_file.returncode == 2
    assert line == from_file.stderr.strip().replace(str(in_file), "--telegram-api")
    assert line == 'gridshop: --telegram-api: telegram.api_base = "not-a-url": must be an http:// or https:// URL'


def test_gridshop_config_env_picks_the_file(config_file: Path) -> None:
    _seed(config_file.parent / "shop.db")
    env = dict(os.environ, GRIDSHOP_CONFIG=str(config_file))
    proc = _console("ledger", "balance", "42", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "available 8.50 TFC" in proc.stdout


def test_log_records_never_carry_a_secret() -> None:
    import logging

    from bot.logs import RedactSecrets

    record = logging.LogRecord("httpx", logging.ERROR, __file__, 1,
                               "POST %s failed", ("http://x/bot123:SECRET-TOKEN/getMe",), None)
    assert RedactSecrets(["123:SECRET-TOKEN"]).filter(record)
    assert record.getMessage() == "POST http://x/bot***/getMe failed"


def test_the_log_shows_the_stripe_sdks_warnings_but_not_a_line_per_api_call() -> None:
    import logging

    from bot.logs import setup_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging()
        sdk = logging.getLogger("stripe")
        assert not sdk.isEnabledFor(logging.INFO)  # "Request to Stripe api" per read-back
        assert sdk.isEnabledFor(logging.WARNING)
    finally:
        root.handlers[:], root.level = handlers, level
        logging.getLogger("stripe").setLevel(logging.NOTSET)


def test_a_database_from_a_newer_gridshop_is_refused_in_one_line(config_file: Path) -> None:
    db = config_file.parent / "shop.db"
    _seed(db)
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 999")
    proc = _console("--config", str(config_file), "ledger", "audit")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "newer than this gridshop" in proc.stderr

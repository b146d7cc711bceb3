"""The `gridshop` command line: run the shop, inspect and audit the ledger.

    gridshop [--config PATH] run [--telegram-api URL]
    gridshop [--config PATH] ledger balance USER_ID
    gridshop [--config PATH] ledger history USER_ID [--limit N]
    gridshop [--config PATH] ledger audit
    gridshop [--config PATH] ledger parked [--resolve ID credit|refund]
    gridshop [--config PATH] ledger migrate --to postgresql://USER@HOST/DB
    gridshop [--config PATH] ledger export --format csv [--output FILE]
    gridshop [--config PATH] ledger backup PATH
    gridshop [--config PATH] ledger restore BACKUP [--force]
    gridshop [--config PATH] admin log [--limit N]
    gridshop [--config PATH] grid reconcile [--dry-run]
    gridshop [--config PATH] stripe setup --url https://HOST/webhooks/stripe
    gridshop sandbox [--port 8088] [--data DIR] [--open]

Bad arguments get a usage message and exit status 2; a bad config file gets one line naming the
key and exits 2; a failed audit exits 1; `run` exits 3, 4 or 5 when the Bot API rejects the
token, cannot be reached or answers 404 (`bot.bot_api_check`), and 6 when another poller
already takes this bot's updates. Never a traceback for something
the operator typed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from core.money import format_tfc, format_tfc_signed
from ledger import Ledger, LedgerError

from .config import (
    Config,
    ConfigError,
    load_config,
    load_secrets,
    resolve_config_path,
    with_overrides,
)
from .logs import redact, setup_logging

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridshop", description="A Telegram shop for ThreeFold grid capacity.")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $GRIDSHOP_CONFIG or ./config.toml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot, the HTTP server and the workers")
    run.add_argument("--telegram-api", metavar="URL",
                     help="Bot API server root, overriding telegram.api_base (e.g. the emulator)")

    ledger = commands.add_parser("ledger", help="inspect and audit the credits ledger")
    actions = ledger.add_subparsers(dest="action", required=True, metavar="ACTION")
    balance = actions.add_parser("balance", help="a user's available, held and debt")
    balance.add_argument("user_id", type=_positive_int, metavar="USER_ID")
    history = actions.add_parser("history", help="a user's transfers, newest first")
    history.add_argument("user_id", type=_positive_int, metavar="USER_ID")
    history.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    actions.add_parser("audit", help="recompute every balance and check every invariant")
    parked = actions.add_parser("parked", help="payments the shop could not apply, and resolving one")
    parked.add_argument("--resolve", nargs=2, metavar=("ID", "credit|refund"),
                        help="credit parked payment ID to its user, or refund it (Stars through "
                             "Telegram, needs BOT_TOKEN; others: mark refunded at the provider)")
    migrate = actions.add_parser(
        "migrate", help="copy the shop's SQLite file into an empty PostgreSQL database, then "
                        "audit both and compare the balances")
    migrate.add_argument("--to", required=True, metavar="URL",
                         help="postgresql://user@host:port/dbname (password from PGPASSWORD)")
    export = actions.add_parser("export", help="every transfer, as CSV")
    export.add_argument("--format", choices=["csv"], required=True)
    export.add_argument("--output", metavar="FILE", help="write here instead of standard output")
    backup = actions.add_parser(
        "backup", help="copy the database to PATH while the shop runs (SQLite's online backup), checked")
    backup.add_argument("path", metavar="PATH")
    restore = actions.add_parser(
        "restore", help="check BACKUP and put it in place as [database] path (stop gridshop first)")
    restore.add_argument("backup", metavar="BACKUP")
    restore.add_argument("--force", action="store_true", help="replace the existing database")
    sandbox = commands.add_parser(
        "sandbox", help="try the whole shop in a browser: emulated Telegram, Stripe and grid, no tokens")
    sandbox.add_argument("--port", type=int, default=8088, help="port of the web chat (default 8088)")
    sandbox.add_argument("--data", metavar="DIR",
                         help="keep the sandbox's state (and its config.toml) here; default: a temporary folder")
    sandbox.add_argument("--open", action="store_true", help="open the web chat in the default browser")
    grid = commands.add_parser("grid", help="the shop's contracts on the ThreeFold grid")
    grid_actions = grid.add_subparsers(dest="action", required=True, metavar="ACTION")
    reconcile = grid_actions.add_parser(
        "reconcile", help="cancel contracts of the operator's twin that no live deployment owns")
    reconcile.add_argument("--dry-run", action="store_true", help="report only, cancel nothing")

    stripe_cmd = commands.add_parser("stripe", help="set Stripe up through its API")
    stripe_actions = stripe_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    setup = stripe_actions.add_parser(
        "setup", help="register or update the webhook endpoint; prints its signing secret once")
    setup.add_argument("--url", required=True, help="https://<your host>/webhooks/stripe")
    admin = commands.add_parser("admin", help="what admins did in the chat")
    admin_actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    admin_log = admin_actions.add_parser("log", help="the admin log, newest first")
    admin_log.add_argument("--limit", type=_positive_int, default=20, metavar="N")
    return parser


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _migrate_command(config: Config, url: str, out: TextIO) -> int:
    from ledger.store_copy import copy_to_postgres

    if config.database.url:
        print("gridshop ledger migrate: this shop is on PostgreSQL already (database.url); "
              "migrate copies its SQLite file (database.path)", file=sys.stderr)
        return EXIT_USAGE
    if not config.database.path.exists():
        print(f"gridshop ledger migrate: no SQLite file at {config.database.path}", file=sys.stderr)
        return EXIT_USAGE
    report = await copy_to_postgres(config.database.path, url)
    print(f"source {report.source_audit}", file=out)
    print(f"target {report.target_audit}", file=out)
    for problem in report.problems:
        print(f"problem: {problem}", file=out)
    print(report.summary(), file=out)
    if report.ok:
        print(f'set [database] url = "{report.target}" in config.toml to run the shop on it',
              file=out)
    return EXIT_OK if report.ok else EXIT_FAILED


async def _ledger_command(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    if args.action == "migrate":
        return await _migrate_command(config, args.to, out)
    if args.action in ("backup", "restore"):
        from .cli_backup import backup_command

        return await backup_command(config, args, out)
    ledger = await Ledger.open(config.database.target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        if args.action == "balance":
            b = await ledger.balance(args.user_id)
            print(f"user {args.user_id}: available {format_tfc(b.available)}, "
                  f"held {format_tfc(b.held)}, debt {format_tfc(b.debt)}", file=out)
        elif args.action == "history":
            entries = await ledger.history(args.user_id, min(args.limit, 1000))
            if not entries:
                print(f"user {args.user_id}: no transfers", file=out)
            for e in entries:
                amount = format_tfc_signed(e.amount, minus="-")
                print(f"{_when(e.created_at)}  #{e.transfer_id:<8} {e.kind:<12} {amount:>17}  "
                      f"balance {format_tfc(e.balance_after)}  {e.memo}", file=out)
        elif args.action == "audit":
            report = await ledger.audit()
            for violation in report.violations:
                print(f"violation: {violation}", file=out)
            print(report.summary(), file=out)
            return EXIT_OK if report.ok else EXIT_FAILED
        elif args.action == "parked":
            from .cli_parked import parked_command

            return await parked_command(config, ledger, args.resolve, out)
        elif args.action == "export":
            if args.output:
                with open(args.output, "w", newline="", encoding="utf-8") as f:
                    count = await ledger.export_csv(f)
                print(f"exported {count} transfers to {args.output}", file=sys.stderr)
            else:
                await ledger.export_csv(out)
    finally:
        await ledger.close()
    return EXIT_OK


async def _admin_command(config: Config, args: argparse.Namespace, out: TextIO) -> int:
    from ledger import adminlog

    ledger = await Ledger.open(config.database.target, busy_timeout_ms=config.database.busy_timeout_ms)
    try:
        entries = await ledger.read(lambda conn: adminlog.recent(conn, min(args.limit, 10_000)))
    finally:
        await ledger.close()
    if not entries:
        print("the admin log is empty", file=out)
    for e in entries:
        print(f"{_when(e.created_at)}  #{e.id:<6} admin {e.admin_id}  {e.action:<14} {e.target}: {e.detail}",
              file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the `gridshop` console script; returns the exit status."""
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging()
    if args.command == "sandbox":
        from .sandbox_cmd import run_sandbox

        try:
            return run_sandbox(args.data, args.port, args.open)
        except (ConfigError, ValueError) as exc:
            print(f"gridshop sandbox: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        config = load_config(resolve_config_path(args.config))
        if args.command == "run" and args.telegram_api is not None:
            config = with_overrides(config, "--telegram-api", {"telegram": {"api_base": args.telegram_api}})
    except ConfigError as exc:
        print(f"gridshop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "admin":
            return asyncio.run(_admin_command(config, args, out))
        if args.command == "ledger":
            return asyncio.run(_ledger_command(config, args, out))
        if args.command == "grid":
            from .cli_grid import grid_command

            return asyncio.run(grid_command(config, args, out, sys.stderr))
        if args.command == "stripe":
            from .cli_stripe import stripe_command

            return asyncio.run(stripe_command(config, args, out))
        if args.command == "run":
            secrets = load_secrets()
            redact(s.get_secret_value() for s in secrets.model_dump().values() if s is not None)
            if secrets.bot_token is None:
                print("gridshop: BOT_TOKEN is not set: export BOT_TOKEN=<token from @BotFather> "
                      "(and PAYLOAD_SECRET, see docs/configuration.md)", file=sys.stderr)
                return EXIT_USAGE
            from .runtime import run

            return run(config, secrets)
    except LedgerError as exc:
        print(f"gridshop: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    parser.error(f"unknown command {args.command!r}")
    return EXIT_USAGE


def entry() -> None:
    sys.exit(main())

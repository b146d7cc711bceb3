"""`gridshop ledger parked [--resolve ID credit|refund]`: the payments the shop could not apply,
and resolving one from the command line (the same operations as /parked in the chat, logged in
the admin log as admin 0, the operator)."""

from __future__ import annotations

from typing import TextIO

from telegram import Bot

from core.money import format_tfc
from ledger import Ledger, LedgerError
from payments import parked as parking

from .config import Config, load_secrets

OPERATOR = 0  # the admin log's id for the command line
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


async def parked_command(config: Config, ledger: Ledger, resolve: list[str] | None, out: TextIO) -> int:
    rate = config.telegram.stars_per_tfc
    if not resolve:
        items = await parking.list_open(ledger, stars_per_tfc=rate, limit=10_000)
        if not items:
            print("no parked payments", file=out)
        for p in items:
            worth = format_tfc(p.credit) if p.credit is not None else "-"
            print(f"#{p.event.id:<6} {p.event.provider:<13} {p.event.kind:<20} user {p.user_id or '-'}  "
                  f"{p.shown} = {worth}  {p.event.event_id}: {p.event.reason}", file=out)
        return EXIT_OK
    ref, how = resolve
    if not ref.isdigit() or how not in ("credit", "refund"):
        print("gridshop: --resolve takes a parked payment id and credit or refund", file=out)
        return EXIT_USAGE
    try:
        parked = await parking.get(ledger, int(ref), stars_per_tfc=rate)
        if parked.event.state != "open":
            print(f"parked payment #{ref} is already resolved ({parked.event.resolution or 'by the shop'})", file=out)
            return EXIT_FAILED
        if how == "credit":
            result = await parking.credit(ledger, parked, OPERATOR)
            print(f"parked payment #{ref}: {format_tfc(result.payment.amount)} credited to user "
                  f"{parked.user_id}", file=out)
            return EXIT_OK
        if not parked.stars_refundable:
            note = await parking.refund(None, ledger, parked, OPERATOR)
        else:
            token = load_secrets().bot_token
            if token is None:
                print("gridshop: a Stars refund needs BOT_TOKEN", file=out)
                return EXIT_USAGE
            async with Bot(token.get_secret_value(), base_url=config.telegram.api_base + "/bot") as bot:
                note = await parking.refund(bot, ledger, parked, OPERATOR)
        print(f"parked payment #{ref}: {note}", file=out)
        return EXIT_OK
    except (LookupError, parking.RefundRefused, LedgerError) as exc:
        print(f"gridshop: {exc}", file=out)
        return EXIT_FAILED

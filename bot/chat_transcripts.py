"""`docs/chat.md`: the chat's main journeys, as a person sees them, written by a real run.

`python -m bot.chat_transcripts` starts the sandbox (`gridshop sandbox`: the real shop against
the Bot API and Stripe emulators and the simulated grid), walks each journey as its people
would (typing commands, tapping buttons, paying), and writes every message the bot sent,
edited or deleted and every answer to a tap, in order, as `docs/chat.md`. With `--check` it
writes nothing and exits 1 when the page differs from a fresh run, which the tests do, so the
page cannot drift from the chat.

A run is repeatable: the shop's clock stands still at `START` unless a journey moves it on
(renewals), the simulated grid never fails, and the ids Stripe and Telegram make up at random
are shown as placeholders.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ledger import Ledger
from ledger.shop_meta import SHOP_ID_KEY
from sandbox.telegram_api import ApiCall, TelegramEmulator

from .sandbox_cmd import Sandbox
from .sandbox_config import ADMIN_ID, BOT_NAME, BUYER_ID, CONFIG_NAME, CONFIG_TEMPLATE
from .sandbox_operator import SandboxClock

PAGE = Path(__file__).resolve().parent.parent / "docs" / "chat.md"
START = 1_796_115_600  # 2026-12-01 09:00 UTC: the moment every journey starts from
DAY_S = 86_400
GRID_LATENCY_S = 1.0
SHOP_ID = "5a9d0b0c"  # the shop id (ledger.shop_meta) in every grid name, fixed for the run
QUIET_S = 0.6  # no Bot API call for this long, nothing pending: the chat has settled
SETTLE_TIMEOUT_S = 60.0
RUSSIAN_ID = 6_000_000_003
NAMES = {BUYER_ID: "Ada", ADMIN_ID: "Grace (admin)", RUSSIAN_ID: "Борис"}
# What the bot does that a person sees; polling, menus and pre-checkout answers are not.
SEEN = {"sendMessage", "editMessageText", "editMessageCaption", "editMessageReplyMarkup",
        "editMessageMedia", "sendPhoto", "sendDocument", "sendInvoice", "deleteMessage",
        "answerCallbackQuery"}
# Ids Stripe and Telegram choose at random, and the emulators' ports.
_RANDOM_IDS = [
    (re.compile(r"\b(cs|pi|ch|re|dp|evt|py)_(test_)?[A-Za-z0-9]{8,}"), lambda m: f"{m[1]}_{m[2] or ''}…"),
    (re.compile(r"\bstx[A-Za-z0-9]{20,}"), lambda m: "stx…"),
    (re.compile(r"https?://127\.0\.0\.1:\d+"), lambda m: "https://sandbox"),
]

HEADER = """\
# The chat, journey by journey

Written by `python -m bot.chat_transcripts` from a real run of the shop against the Bot API and
Stripe emulators and the simulated grid (`gridshop sandbox`); a test runs it again and fails when
this page and the chat differ. Each journey starts where the one before it ended. Lines with `›`
are what a person does; quoted blocks are what they see from the bot once the chat has settled: a
short notice after a tap, then each message that is new or was edited (its number in the chat is
given), as it reads then; a message edited several times in a row, such as a deployment's status,
shows its last text. Buttons are shown as `[label]`, one row per line. Ids that Stripe and
Telegram make up are shortened to `cs_test_…` and `stx…`.
"""


class FrozenClock(SandboxClock):
    """The shop's clock standing still at `START`, moved only by `Operator.advance_clock`."""

    def __call__(self) -> float:
        return START + self.offset_s


def _markup(raw: str | None) -> list[str]:
    if not raw:
        return []
    rows = json.loads(raw).get("inline_keyboard", [])
    lines = []
    for row in rows:
        labels = []
        for button in row:
            link = " ↗" if "url" in button else ""
            labels.append(f"[{button['text']}{link}]")
        lines.append(" ".join(labels))
    return lines


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}".rstrip() for line in lines] + [""]


def _scrub(text: str) -> str:
    for pattern, repl in _RANDOM_IDS:
        text = pattern.sub(repl, text)
    return text


class Transcript:
    """One run of the journeys: the people act through this, and it writes what they see."""

    def __init__(self, box: Sandbox) -> None:
        assert box.telegram is not None and box.stripe is not None
        self.box = box
        self.emu: TelegramEmulator = box.telegram
        self.lines: list[str] = []
        self._read_calls = 0

    # --- what people do ----------------------------------------------------------------

    async def say(self, user_id: int, text: str) -> None:
        self._act(user_id, f"types `{text}`")
        await self.emu.send_text(user_id, text)
        await self.settle()

    async def tap(self, user_id: int, label: str) -> None:
        """Tap the button whose label contains `label` on the newest bot message that has one."""
        message = self._with_button(user_id, lambda b: label in b.get("text", ""))
        button = next(b for b in message.buttons if label in b.get("text", ""))
        self._act(user_id, f"taps [{button['text']}] on message {message.message_id}")
        await self.emu.press_button(user_id, message.message_id, data=button["callback_data"])
        await self.settle()

    async def pay_invoice(self, user_id: int) -> None:
        message = self._with_invoice(user_id)
        self._act(user_id, f"pays the invoice (message {message.message_id}) in Telegram")
        await self.emu.pay_invoice(user_id, message.message_id)
        await self.settle()

    async def pay_on_stripe(self, user_id: int) -> None:
        """Open the newest Stripe Checkout link and pay it with the test card 4242…"""
        message = self._with_button(user_id, lambda b: "/c/pay/" in b.get("url", ""))
        url = next(b["url"] for b in message.buttons if "/c/pay/" in b.get("url", ""))
        self._act(user_id, "opens the Stripe Checkout page and pays with the test card 4242 4242 4242 4242")
        assert self.box.stripe is not None
        self.box.stripe.pay_session(url.rsplit("/", 1)[1])
        await self.settle()

    async def days_pass(self, days: int) -> None:
        self.lines += [f"*{days} days pass.*", ""]
        assert self.box.operator is not None
        await self.box.operator.advance_clock(days * DAY_S)
        await self.settle()

    def heading(self, title: str, intro: str) -> None:
        self.lines += [f"## {title}", "", intro, ""]

    # --- what they see -----------------------------------------------------------------

    async def settle(self) -> None:
        """Wait until nothing is pending (deployments, notifications, Stripe deliveries) and the
        bot has been quiet for `QUIET_S`, then write down what it did since the last action."""
        assert self.box.stripe is not None
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        seen = -1
        quiet_since = time.monotonic()
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("the chat did not settle: " + await self._pending())
            await asyncio.sleep(0.1)
            count = len(self.emu.calls)
            if count != seen:
                seen, quiet_since = count, time.monotonic()
                continue
            if time.monotonic() - quiet_since < QUIET_S or await self._pending():
                continue
            await self.box.stripe.wait_for_deliveries(timeout=SETTLE_TIMEOUT_S)
            if len(self.emu.calls) == seen:
                break
        self._write(self.emu.calls[self._read_calls:])
        self._read_calls = len(self.emu.calls)

    async def _pending(self) -> str:
        ledger = self.box.operator_ledger

        def read(conn: Any) -> str:
            outbox = conn.execute("SELECT count(*) FROM notifications WHERE state = 'pending'").fetchone()[0]
            busy = conn.execute("SELECT count(*) FROM deployments "
                                "WHERE state IN ('queued', 'deploying', 'cancelling')").fetchone()[0]
            return f"{outbox} notifications and {busy} deployments pending" if outbox or busy else ""

        return str(await ledger.read(read))

    def _act(self, user_id: int, what: str) -> None:
        self.lines += [f"**{NAMES[user_id]}** › {what}", ""]

    def _write(self, calls: list[ApiCall]) -> None:
        """What the person sees once the chat has settled: the answers to their tap first, then
        each message the bot sent or changed, in chat order, as it reads now. A message edited
        several times in one step (a deployment's status) shows its last text, so how quickly
        the edits followed each other never changes the page."""
        touched: dict[tuple[int, int], bool] = {}  # (chat, message) -> sent in this step
        for call in calls:
            if call.method not in SEEN or not call.ok:
                continue
            p = call.params
            if call.method == "answerCallbackQuery":
                if p.get("text"):
                    kind = "an alert" if p.get("show_alert") in ("true", "True", "1") else "a notice"
                    self.lines += _quote([f"*{kind}:* {_scrub(p['text'])}"])
                continue
            chat = int(p.get("chat_id") or 0)
            if call.method.startswith("edit") or call.method == "deleteMessage":
                touched.setdefault((chat, int(p.get("message_id") or 0)), False)
            elif isinstance(call.result, dict) and "message_id" in call.result:
                touched[(chat, int(call.result["message_id"]))] = True
        for (chat, message_id), sent in sorted(touched.items()):
            self.lines += self._message(chat, message_id, sent)

    def _message(self, chat: int, message_id: int, sent: bool) -> list[str]:
        to = f" to {NAMES.get(chat, chat)}" if chat != BUYER_ID else ""
        message = next((m for m in self.emu.bot_messages(chat, include_deleted=True)
                        if m.message_id == message_id), None)
        if message is None or message.deleted:
            return [] if sent else [f"*{BOT_NAME} deletes message {message_id}{to}.*", ""]
        head = f"**{BOT_NAME}**, message {message_id}{to}" if sent else \
            f"**{BOT_NAME}** edits message {message_id}{to}"
        if message.invoice is not None:
            invoice = message.invoice
            total = invoice.total_amount
            amount = f"{total} ⭐" if invoice.currency == "XTR" else f"{total / 100:.2f} {invoice.currency}"
            return _quote([f"{head}: an invoice", "", f"**{invoice.title}**",
                           *invoice.description.splitlines(), f"[Pay {amount}]"])
        if "photo" in message.data:
            head += " (a picture)"
        buttons = _markup(json.dumps(message.reply_markup) if message.reply_markup else None)
        text = message.text or message.caption or ""
        return _quote([head, ""] + _scrub(text).splitlines() + ([""] + buttons if buttons else []))

    def _with_button(self, user_id: int, match: Callable[[dict[str, Any]], bool]) -> Any:
        for message in reversed(self.emu.bot_messages(user_id)):
            if any(match(b) for b in message.buttons):
                return message
        raise LookupError(f"no bot message in chat {user_id} has that button")

    def _with_invoice(self, user_id: int) -> Any:
        for message in reversed(self.emu.bot_messages(user_id)):
            if message.invoice is not None and not message.deleted:
                return message
        raise LookupError(f"no invoice in chat {user_id}")

    def page(self) -> str:
        return HEADER + "\n" + "\n".join(self.lines).rstrip() + "\n"


# --- the journeys ----------------------------------------------------------------------------

Journey = Callable[[Transcript], Awaitable[None]]


async def buy_with_stars(t: Transcript) -> None:
    t.heading("A new user buys a VM with Telegram Stars",
              "Ada opens the bot for the first time, picks the small VM and pays with Stars.")
    await t.say(BUYER_ID, "/start")
    await t.tap(BUYER_ID, "Services")
    await t.tap(BUYER_ID, "Small VM")
    await t.tap(BUYER_ID, "Buy for")
    await t.tap(BUYER_ID, "Stars")
    await t.pay_invoice(BUYER_ID)


async def top_up_with_stripe(t: Transcript) -> None:
    t.heading("A top-up through Stripe Checkout",
              "Ada adds 10 TFC to her balance by card on Stripe's Checkout page.")
    await t.say(BUYER_ID, "/topup")
    await t.tap(BUYER_ID, "10")
    await t.tap(BUYER_ID, "Stripe")
    await t.pay_on_stripe(BUYER_ID)
    await t.say(BUYER_ID, "/balance")


async def renew(t: Transcript) -> None:
    t.heading("Renewing a VM",
              "Twenty-eight days later the VM's period is running out; Ada renews it from her balance.")
    await t.days_pass(28)
    await t.say(BUYER_ID, "/deployments")
    await t.tap(BUYER_ID, "Small VM")
    await t.tap(BUYER_ID, "Renew")
    await t.tap(BUYER_ID, "renew until")


async def cancel(t: Transcript) -> None:
    t.heading("Cancelling a VM", "Ada no longer needs the VM and removes it.")
    await t.say(BUYER_ID, "/deployments")
    await t.tap(BUYER_ID, "Small VM")
    await t.tap(BUYER_ID, "Cancel this VM")
    await t.tap(BUYER_ID, "Yes, cancel")


async def admin_refund(t: Transcript) -> None:
    t.heading("An admin refunds a payment",
              "Grace, the shop's admin, looks Ada up and refunds her Stripe top-up.")
    await t.say(ADMIN_ID, "/user @ada")
    payment_id = await t.box.operator_ledger.read(lambda conn: conn.execute(
        "SELECT id FROM payments WHERE provider = 'stripe' ORDER BY id DESC LIMIT 1").fetchone()[0])
    await t.say(ADMIN_ID, f"/refund {payment_id}")
    await t.tap(ADMIN_ID, "Refund")
    await t.say(BUYER_ID, "/history")


async def in_russian(t: Transcript) -> None:
    t.heading("A Russian-speaking user",
              "Борис's Telegram is set to Russian, so the shop speaks Russian to him from the first "
              "message; he buys the small VM with Stars, then switches to English with /language.")
    t.emu.add_user("Борис", user_id=RUSSIAN_ID, username="boris", language_code="ru")
    await t.say(RUSSIAN_ID, "/start")
    await t.tap(RUSSIAN_ID, "🛒")
    await t.tap(RUSSIAN_ID, "Малая ВМ")
    await t.tap(RUSSIAN_ID, "Купить")
    await t.tap(RUSSIAN_ID, "⭐")
    await t.pay_invoice(RUSSIAN_ID)
    await t.say(RUSSIAN_ID, "/language")
    await t.tap(RUSSIAN_ID, "English")


JOURNEYS: list[Journey] = [buy_with_stars, top_up_with_stripe, renew, cancel, admin_refund, in_russian]


async def _prepare(data: Path) -> None:
    """The sandbox folder as its first start would make it, with the run's fixed grid: no
    failures, a short deployment, a seed for the VMs' addresses, and a known shop id."""
    config = (CONFIG_TEMPLATE.replace("sim_latency_s = 4.0", f"sim_latency_s = {GRID_LATENCY_S}")
              .replace("max_attempts = 3", "max_attempts = 3\nsim_seed = 1"))
    (data / CONFIG_NAME).write_text(config, encoding="utf-8")
    ledger = await Ledger.open(data / "gridshop.db")
    try:
        await ledger.write(lambda conn, now: conn.execute(
            "INSERT INTO shop_meta (key, value) VALUES (?, ?)", (SHOP_ID_KEY, SHOP_ID)))
    finally:
        await ledger.close()


async def write_transcripts(journeys: list[Journey] = JOURNEYS) -> str:
    """Run the journeys in a fresh sandbox and return the page they make."""
    with tempfile.TemporaryDirectory(prefix="gridshop-transcripts-") as data:
        await _prepare(Path(data))
        box = Sandbox(Path(data), port=0)
        box.clock = FrozenClock()
        await box.start()
        try:
            assert box.stripe is not None and box.operator is not None
            # Stripe's objects carry the shop's dates; its signatures stay on real time.
            box.stripe.skew_clock(START - time.time())
            transcript = Transcript(box)
            await transcript.settle()
            transcript.lines.clear()
            try:
                for journey in journeys:
                    await journey(transcript)
            except Exception:
                print(transcript.page(), "--- the run stopped here ---", sep="\n", file=sys.stderr)
                raise
            return transcript.page()
        finally:
            await box.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.chat_transcripts", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/chat.md differs from a fresh run")
    parser.add_argument("--out", type=Path, default=PAGE, help="the page to write or check (docs/chat.md)")
    args = parser.parse_args(argv)
    page = asyncio.run(write_transcripts())
    if args.check:
        old = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if old != page:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(True), page.splitlines(True), str(args.out), "a fresh run"))
            print(f"{args.out} differs from the chat: run python -m bot.chat_transcripts", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

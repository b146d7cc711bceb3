"""What the Telegram benchmarks (precheckout.py, chat.py) share: the Bot API emulator in this
process (with a hook on every message stored, to time the bot's answers), gridshop started as an
operator starts it (`python -m bot --config FILE run --telegram-api URL`, its own process, its
ledger on a real SQLite file), and a bare PTB bot in its own process.

The bare bot is python-telegram-bot with its defaults (no rate limiter, one update at a time):
it answers every pre-checkout query with ok and echoes every text message.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import ROOT, free_port, percentile

from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_state import ChatMessage

PAYLOAD_SECRET = "bench-payload-secret"


class Answers:
    """Futures resolved by the bot's next message in a chat (the emulator's on_message hook)."""

    def __init__(self, emu: TelegramEmulator) -> None:
        self._waiting: dict[int, asyncio.Future[ChatMessage]] = {}
        emu.world.on_message = self._stored

    def expect(self, chat_id: int) -> asyncio.Future[ChatMessage]:
        future: asyncio.Future[ChatMessage] = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = future
        return future

    def _stored(self, message: ChatMessage) -> None:
        if not message.from_bot:
            return
        future = self._waiting.pop(message.chat_id, None)
        if future is not None and not future.done():
            future.set_result(message)


def too_many_requests(emu: TelegramEmulator) -> int:
    return sum(1 for c in emu.calls if c.error_code == 429)


class BotProcess:
    """A bot in its own process, stopped with SIGTERM."""

    def __init__(self, proc: asyncio.subprocess.Process, drain: asyncio.Task[None]) -> None:
        self.proc = proc
        self._drain = drain

    @classmethod
    async def start(cls, argv: list[str], env: dict[str, str], ready: bytes) -> BotProcess:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.stderr is not None
        stderr = proc.stderr
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def drain() -> None:  # read the log so the pipe never blocks the bot
            while line := await stderr.readline():
                if ready in line and not started.done():
                    started.set_result(None)
                if b"Traceback" in line or b" ERROR " in line:
                    sys.stderr.write(line.decode(errors="replace"))
            if not started.done():
                started.set_exception(RuntimeError(f"{argv} exited before it was ready"))

        task = asyncio.create_task(drain())
        await asyncio.wait_for(started, 60)
        return cls(proc, task)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), 30)
        await self._drain


def _env(emu: TelegramEmulator) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "BOT_TOKEN": emu.token,
            "PAYLOAD_SECRET": PAYLOAD_SECRET}


def shop_config(tmp: Path, *, rate_limit: bool = True) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    config = tmp / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp / "shop.db"}"\n[server]\nport = {free_port()}\n'
        f"[telegram]\nrate_limit = {'true' if rate_limit else 'false'}\n")
    return config


async def start_gridshop(emu: TelegramEmulator, config: Path) -> BotProcess:
    return await BotProcess.start(
        [sys.executable, "-m", "bot", "--config", str(config), "run", "--telegram-api", emu.url],
        _env(emu), b"gridshop is running")


async def start_bare(emu: TelegramEmulator) -> BotProcess:
    return await BotProcess.start([sys.executable, str(Path(__file__)), emu.api_url, emu.token],
                                  _env(emu), b"bare bot ready")


def run_bare(api_url: str, token: str) -> None:
    """The bare bot: PTB's defaults, ok to every pre-checkout query, echo to every text."""
    from telegram import Update
    from telegram.ext import (
        ApplicationBuilder,
        ContextTypes,
        MessageHandler,
        PreCheckoutQueryHandler,
        filters,
    )

    async def ok(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.pre_checkout_query is not None
        await update.pre_checkout_query.answer(ok=True)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    async def ready(application: Any) -> None:
        print("bare bot ready", file=sys.stderr, flush=True)

    app = ApplicationBuilder().token(token).base_url(api_url).post_init(ready).build()
    app.add_handler(PreCheckoutQueryHandler(ok))
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(allowed_updates=Update.ALL_TYPES, close_loop=False)


def summary(name: str, latencies: list[float], elapsed: float) -> dict[str, float]:
    figures = {"per_s": len(latencies) / elapsed, "p50_ms": percentile(latencies, 0.5) * 1000,
               "p99_ms": percentile(latencies, 0.99) * 1000,
               "mean_ms": statistics.fmean(latencies) * 1000}
    print(f"{name:>28}: {len(latencies)} in {elapsed:.2f} s = {figures['per_s']:.0f}/s, "
          f"p50 {figures['p50_ms']:.0f} ms, p99 {figures['p99_ms']:.0f} ms", flush=True)
    return figures


if __name__ == "__main__":
    run_bare(sys.argv[1], sys.argv[2])

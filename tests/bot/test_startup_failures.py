"""`python -m bot run` against the Bot API emulator when it cannot start: a token the Bot API
rejects, a malformed one, a Bot API nobody answers at, and the emulator's banner URL (ending in
/bot) given to --telegram-api. Each ends with one line on stderr naming what to fix, no part of
the token, no traceback, and the exit status README's Command line section documents."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.bot_api_check import EXIT_BOT_API_NOT_FOUND, EXIT_BOT_API_UNREACHABLE, EXIT_TOKEN_REJECTED
from bot.logs import FORMAT, RedactSecrets, ScrubbingFormatter
from sandbox.telegram_api import TelegramEmulator

from .test_runtime import free_port

# Well-formed (digits:secret) yet unknown to the emulator, which answers 401 like the Bot API.
WRONG_TOKEN = "987654321:AAWrongTokenThatNobodyIssued_0123456"
SECRET_PART = WRONG_TOKEN.split(":", 1)[1]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "gridshop.toml"
    path.write_text(f'[database]\npath = "shop.db"\n[server]\nport = {free_port()}\n')
    return path


async def run(config_file: Path, token: str, api: str) -> tuple[int, str]:
    env = dict(os.environ, BOT_TOKEN=token, PAYLOAD_SECRET="startup-test-secret")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config_file), "run", "--telegram-api", api,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, stderr = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode is not None
    return proc.returncode, stderr.decode()


def one_line(stderr: str, token: str) -> str:
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    assert token not in line and token.split(":", 1)[-1] not in line
    assert line.startswith("gridshop: ")
    return line


async def test_a_token_the_bot_api_rejects(emu: TelegramEmulator, config_file: Path) -> None:
    code, stderr = await run(config_file, WRONG_TOKEN, emu.url)
    line = one_line(stderr, WRONG_TOKEN)
    assert code == EXIT_TOKEN_REJECTED == 3
    assert "rejected BOT_TOKEN" in line and emu.url in line


async def test_a_malformed_token(emu: TelegramEmulator, config_file: Path) -> None:
    token = "not-a-bot-token-at-all"
    code, stderr = await run(config_file, token, emu.url)
    line = one_line(stderr, token)
    assert code == EXIT_BOT_API_NOT_FOUND == 5
    assert "404 Not Found" in line and "BOT_TOKEN is malformed" in line


async def test_a_bot_api_nobody_answers_at(config_file: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, stderr = await run(config_file, WRONG_TOKEN, nowhere)
    line = one_line(stderr, WRONG_TOKEN)
    assert code == EXIT_BOT_API_UNREACHABLE == 4
    assert f"cannot reach the Bot API at {nowhere}" in line


async def test_the_emulators_banner_url_ending_in_bot(emu: TelegramEmulator, config_file: Path) -> None:
    assert emu.api_url.endswith("/bot")
    code, stderr = await run(config_file, emu.token, emu.api_url)
    line = one_line(stderr, emu.token)
    assert code == 2
    assert f'telegram.api_base = "{emu.api_url}"' in line and f"e.g. {emu.url}" in line


def test_the_log_redacts_secrets_from_whole_records_tracebacks_included() -> None:
    try:
        raise RuntimeError(f"The token `{WRONG_TOKEN}` was rejected by the server.")
    except RuntimeError:
        record = logging.LogRecord("telegram.ext.Application", logging.ERROR, __file__, 1, "start failed",
                                   None, exc_info=sys.exc_info())
    text = ScrubbingFormatter(FORMAT, RedactSecrets([WRONG_TOKEN])).format(record)
    assert "Traceback" in text and "The token `***` was rejected" in text
    assert SECRET_PART not in text

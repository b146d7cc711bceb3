"""Several instances on one PostgreSQL database: a role is held by one instance at a time and
moves when its holder dies; a second poller of the same bot refuses to start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.bot_api_check import StartupError
from bot.config import load_secrets, with_overrides
from bot.polling_guard import EXIT_SECOND_POLLER
from bot.roles import RoleBoard, hold_role
from bot.runtime import serve
from ledger import Ledger
from ledger.roles import ROLE_LOCK_SPACE, role_key
from sandbox.telegram_api import TelegramEmulator

from ..ledger.helpers import rows
from .test_runtime import PAYLOAD_SECRET, free_port, shipped_config

RETRY_S = 0.1


@pytest.fixture
async def two_instances(pg_url: str) -> AsyncIterator[list[Ledger]]:
    opened = [await Ledger.open(pg_url), await Ledger.open(pg_url)]
    try:
        yield opened
    finally:
        for ledger in opened:
            await ledger.close()


def _kill_holder(pg_url: str, role: str) -> None:
    """Cut the database connection holding `role`, as when its instance is SIGKILLed."""
    assert rows(pg_url, "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE "
                "locktype = 'advisory' AND classid = ? AND objid = ? AND granted",
                (ROLE_LOCK_SPACE, role_key(role))) == [(1,)]


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait for `condition` (the machine may be loaded: this waits for the event, it does
    not time it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_a_role_runs_on_one_instance_and_moves_when_its_holder_dies(
        two_instances: list[Ledger], pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.roles")
    boards = [RoleBoard(ledger.role_locks()) for ledger in two_instances]
    running: list[str] = []  # which instances run the job right now
    ran: list[str] = []
    stop = asyncio.Event()

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run(role_stop: asyncio.Event) -> None:
            running.append(name)
            ran.append(name)
            try:
                await role_stop.wait()
            finally:
                running.remove(name)
        return run

    tasks = [asyncio.create_task(hold_role(board, "outbox", stop, job(f"i{n}"), RETRY_S))
             for n, board in enumerate(boards)]
    try:
        await _until(lambda: bool(running))
        await asyncio.sleep(5 * RETRY_S)  # the other instance keeps trying meanwhile
        assert len(running) == 1 and len(ran) == 1, running
        first = running[0]
        _kill_holder(pg_url, "outbox")
        await _until(lambda: len(running) == 1 and running[0] != first)
        # The other instance took over, and the dead holder's job was stopped.
        assert len(running) == 1 and running[0] != first, (running, ran)
        assert "lost (its database lock went with the connection) the outbox role" in caplog.text
        assert "now holds the outbox role; roles held: outbox" in caplog.text
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for board in boards:
            await board.locks.close()
    assert running == []


async def test_a_second_poller_on_one_database_refuses_to_start(
        tmp_path: Path, pg_url: str) -> None:
    emu = TelegramEmulator(rate_limit=False)
    await emu.start()
    secrets = load_secrets({"BOT_TOKEN": emu.token, "PAYLOAD_SECRET": PAYLOAD_SECRET})

    def config(name: str):  # type: ignore[no-untyped-def]
        (tmp_path / name).mkdir()
        return with_overrides(shipped_config(tmp_path / name, emu), "the test", {
            "database": {"url": pg_url}, "server": {"port": free_port()}})

    stop = asyncio.Event()
    first = asyncio.create_task(serve(config("a"), secrets, stop))
    try:
        user = emu.add_user("Ada")["id"]
        await emu.wait_for(lambda: bool(emu.commands()), timeout=20)
        with pytest.raises(StartupError, match="another instance is already polling this bot "
                           r"for updates \(it holds the polling role on this database\)") as refused:
            await serve(config("b"), secrets, asyncio.Event())
        assert refused.value.exit_status == EXIT_SECOND_POLLER  # as when Telegram says so
        # The first one goes on answering.
        await emu.send_text(user, "/start")
        assert "Ada" in (await emu.wait_for_bot_message(user, timeout=20)).text
    finally:
        stop.set()
        await asyncio.wait_for(first, 30)
        await emu.stop()

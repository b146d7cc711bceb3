"""The jobs one instance at a time runs, when several `gridshop run` share one database.

Every instance answers webhooks and runs deployment jobs (each job claimed by one of them).
The rest are roles (`ledger.roles`): the outbox sender (so the bot as a whole stays within
Telegram's 30 messages a second), the service periods, hold expiry, the Stripe reconciliation
and session expiry, the grid contract reconciliation, and long polling. Each instance tries
every role; the one that takes it runs the job until it stops or loses the role (its lock went
with its database connection), and the others try again every `ROLE_RETRY_S`. A role of an
instance that died moves to another within that time. Each change is one log line saying
which roles this instance holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from ledger import Ledger
from ledger.roles import RoleLocks

from .bot_api_check import StartupError
from .polling_guard import EXIT_SECOND_POLLER

log = logging.getLogger(__name__)

ROLE_RETRY_S = 2.0
POLLING = "polling"


class RoleBoard:
    """The roles this instance holds now, for its log lines."""

    def __init__(self, locks: RoleLocks) -> None:
        self.locks = locks
        self.held: set[str] = set()

    def took(self, role: str) -> None:
        self.held.add(role)
        log.info("this instance now holds the %s role; roles held: %s", role, self.describe())

    def lost(self, role: str, why: str) -> None:
        self.held.discard(role)
        log.warning("this instance %s the %s role; roles held: %s", why, role, self.describe())

    def describe(self) -> str:
        return ", ".join(sorted(self.held)) or "none"


async def instance_roles(ledger: Ledger, *, polling: bool) -> RoleBoard:
    """This instance's board, announced to the others; in polling mode with the polling role
    taken, or a StartupError when another instance polls this bot already (Telegram hands
    each update to one getUpdates caller: two pollers would fight over them). That is exit
    status 6 however it is found: here through the database, at once, or by Telegram's 409
    (`polling_guard.claim`) for a poller on another database."""
    board = RoleBoard(ledger.role_locks())
    try:
        await board.locks.start()
        if polling:
            if not await board.locks.try_take(POLLING):
                # The same case as polling_guard's (found by Telegram), found here at once.
                raise StartupError(EXIT_SECOND_POLLER, (
                    "another instance is already polling this bot for updates (it holds the "
                    "polling role on this database): stop it first, or run several instances "
                    'with telegram.mode = "webhook"'))
            board.held.add(POLLING)  # said once the shop runs: a failed start says one line
    except BaseException:
        await board.locks.close()
        raise
    return board


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def hold_role(board: RoleBoard, role: str, stop: asyncio.Event,
                    job: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
                    retry_s: float = ROLE_RETRY_S) -> None:
    """Run `job(role_stop)` whenever this instance holds `role`, until `stop` is set."""
    locks = board.locks
    while not stop.is_set():
        if not await locks.try_take(role):
            await _pause(stop, retry_s)
            continue
        board.took(role)
        role_stop = asyncio.Event()
        task = asyncio.create_task(job(role_stop), name=f"role-{role}")
        lost = False
        try:
            while not stop.is_set() and not task.done():
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait([task, stopping], timeout=retry_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not task.done() and not stop.is_set() and not await locks.still_held(role):
                    lost = True
                    break
        finally:
            role_stop.set()
            try:
                await asyncio.wait_for(task, 30)
            except Exception:  # the job's own failure is logged; the role is given up
                log.exception("the %s job failed", role)
            await locks.give_up(role)
            board.lost(role, "lost (its database lock went with the connection)" if lost
                       else "gave up")
        if not lost and not stop.is_set():
            await _pause(stop, retry_s)  # the job ended by itself: let another instance try

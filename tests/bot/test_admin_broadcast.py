"""/broadcast through the outbox and the real notifier, against the emulator's flood control:
500 users at a raised limit with exact counts, a smaller one at Telegram's real ~30/s, and one
a restart cut short after its first chunk, queued to the end at start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram import Bot

from ledger import Ledger, admin_state, broadcasts, users
from payments.notifier import Notifier, NotifierSettings
from sandbox.telegram_api import TelegramEmulator

from .admin_fixtures import AdminFront, make_front


async def _run(front: AdminFront, bot: Bot, *, reachable: int, blocked_at_telegram: int, unknown: int,
               known_blocked: int, rate: float) -> str:
    """Broadcast to `reachable` users the shop thinks it can reach; returns the final text."""
    assert front.shop.broadcast_rate == rate
    await front.send(front.admin, "/start")  # the admin is a user too
    people = [int(front.emu.add_user(f"U{i}")["id"]) for i in range(reachable - unknown + known_blocked)]
    for user_id in people[:blocked_at_telegram]:
        front.emu.block_bot(user_id)
    # Fetched and handled (the blocks name users the shop does not know yet), before the seed.
    assert front.app is not None
    app = front.app
    await front.emu.wait_for(lambda: not front.emu.pending_updates() and app.update_queue.empty()
                             and app.update_processor.current_concurrent_updates == 0)
    ghosts = [9_000_000 + i for i in range(unknown)]  # in our db, unknown to Telegram

    def seed(conn, now):  # type: ignore[no-untyped-def]
        for user_id in people + ghosts:
            users.upsert(conn, now, user_id, None, "U")
        for user_id in people[-known_blocked:] if known_blocked else []:
            users.set_blocked(conn, now, user_id, True)

    await front.db.write(seed)
    prompt = await front.admin_says("/broadcast Maintenance tonight 22:00 UTC.\nThanks for your patience!")
    assert f"Broadcast to {reachable + 1} users" in prompt.text
    notifier = Notifier(front.db, bot, NotifierSettings(poll_interval_s=0.05, max_per_second=rate))
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        data = prompt.buttons[0]["callback_data"]
        await asyncio.gather(front.press(front.admin, prompt.message_id, data=data),
                             front.press(front.admin, prompt.message_id, data=data))
        final = await front.emu.wait_for(lambda: front.current(front.admin, prompt.message_id)
                                         if "finished" in (front.current(front.admin, prompt.message_id).text or "")
                                         else None, timeout=60)
    finally:
        stop.set()
        await task
    assert front.sql("SELECT count(*) FROM notifications WHERE key LIKE 'broadcast:%'") == [(reachable + 1,)]
    assert not [c for c in front.emu.calls if c.error_code == 429], "the emulator's flood control was hit"
    return final.text


async def test_broadcast_to_500_users_at_a_raised_limit_reports_exact_counts(tmp_path: Path) -> None:
    async with TelegramEmulator(global_rate=120.0, global_burst=120) as emu:
        front = make_front(emu, tmp_path)
        await front.start(broadcast_rate=100.0, broadcast_progress_s=0.2)
        try:
            async with Bot(emu.token, base_url=emu.api_url) as bot:  # no client-side limiter
                text = await _run(front, bot, reachable=500, blocked_at_telegram=20, unknown=5,
                                        known_blocked=10, rate=100.0)
            assert "sent 476, blocked 20, failed 5 (of 501)" in text
            # Under the emulator's 120/s: _run checks that no send was answered 429.
            assert front.sql("SELECT count(*) FROM users WHERE blocked_at IS NOT NULL") == [(30,)]
            # The progress message was edited as it went.
            assert len([c for c in emu.calls if c.method == "editMessageText"]) >= 3
        finally:
            await front.stop()


async def test_broadcast_at_telegrams_real_limit_through_the_rate_limited_bot(tmp_path: Path) -> None:
    async with TelegramEmulator() as emu:  # 30 messages/s overall, as Telegram
        front = make_front(emu, tmp_path)
        await front.start(broadcast_rate=25.0, broadcast_progress_s=0.2)
        try:
            assert front.app is not None
            text = await _run(front, front.app.bot, reachable=80, blocked_at_telegram=3, unknown=2,
                                    known_blocked=0, rate=25.0)
            assert "sent 76, blocked 3, failed 2 (of 81)" in text
            # Paced under Telegram's limit: _run checks that the emulator's flood control (30/s
            # overall, as Telegram's) refused none of the 81.
        finally:
            await front.stop()


async def test_a_broadcast_cut_short_by_a_restart_is_queued_to_the_end(tmp_path: Path) -> None:
    async with TelegramEmulator() as emu:
        front = make_front(emu, tmp_path)
        people = [int(emu.add_user(f"U{i}")["id"]) for i in range(7)]
        front.ledger = await Ledger.open(front.db_path)

        def interrupted(conn, now):  # type: ignore[no-untyped-def]
            for user_id in people:
                users.upsert(conn, now, user_id, None, "U")
            request = admin_state.open_request(conn, now, "cmd:bc", front.admin, "broadcast",
                                               {"text": "Back soon"}, front.admin).request
            # The process stopped after the first chunk was committed.
            broadcasts.start(conn, now, request, text="Back soon", rate=25.0, chunk=3)
            return request.id

        request_id = await front.ledger.write(interrupted)
        assert front.sql("SELECT count(*) FROM notifications") == [(3,)]
        await front.start(broadcast_rate=25.0, broadcast_progress_s=0.2)
        stop = asyncio.Event()
        try:
            async with Bot(emu.token, base_url=emu.api_url) as bot:
                notifier = Notifier(front.db, bot, NotifierSettings(poll_interval_s=0.05))
                task = asyncio.create_task(notifier.run(stop))
                final = await emu.wait_for(lambda: next(
                    (m for m in emu.bot_messages(front.admin) if "finished" in (m.text or "")), None),
                    timeout=30)
                stop.set()
                await task
        finally:
            stop.set()
            # Stopping waits for the progress follower, which only ends with the broadcast.
            await asyncio.wait_for(front.stop(), 20)
    assert f"Broadcast #{request_id} finished: sent 7, blocked 0, failed 0 (of 7)" in (final.text or "")
    assert [r[0] for r in front.sql("SELECT chat_id FROM notifications ORDER BY chat_id")] == sorted(people)

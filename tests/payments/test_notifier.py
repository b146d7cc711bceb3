"""The outbox worker against the Telegram emulator with the real PTB Bot: send, edit, 429
retry_after, a blocked user, Telegram down for a while then back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Bot

from ledger import Ledger, outbox, users
from payments.notifier import Notifier, NotifierSettings
from sandbox.telegram_api import TelegramEmulator
from tests.conftest import FakeClock


@pytest.fixture
async def clocked(db_path: Path, clock: FakeClock) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(db_path, clock=clock)
    yield opened
    await opened.close()


async def make_bot(emu: TelegramEmulator) -> Bot:
    bot = Bot(emu.token, base_url=emu.api_url)
    await bot.initialize()
    return bot


async def enqueue(ledger: Ledger, chat_id: int, text: str, **kw: object) -> int:
    return await ledger.write(lambda c, n: outbox.enqueue(c, n, chat_id, text, **kw))  # type: ignore[arg-type]


async def state(ledger: Ledger, notification_id: int) -> outbox.Notification:
    found = await ledger.read(lambda c: outbox.get(c, notification_id))
    assert found is not None
    return found


async def test_sends_and_edits(clocked: Ledger, telegram: TelegramEmulator) -> None:
    user = telegram.add_user("Alice")
    bot = await make_bot(telegram)
    notifier = Notifier(clocked, bot)
    first = await enqueue(clocked, user["id"], "Payment received",
                          reply_markup={"inline_keyboard": [[{"text": "Open", "callback_data": "x"}]]})
    result = await notifier.run_once()
    assert result.sent == 1
    sent = await state(clocked, first)
    assert sent.state == "sent" and sent.message_id is not None
    message = telegram.last_bot_message(user["id"])
    assert message is not None and message.text == "Payment received" and message.buttons
    edit = await enqueue(clocked, user["id"], "Deployed", edit_message_id=sent.message_id)
    assert (await notifier.run_once()).sent == 1
    assert (await state(clocked, edit)).state == "sent"
    assert telegram.last_bot_message(user["id"]).text == "Deployed"  # type: ignore[union-attr]
    assert (await notifier.run_once()).claimed == 0
    await bot.shutdown()


async def test_429_waits_retry_after(clocked: Ledger, clock: FakeClock) -> None:
    async with TelegramEmulator(per_chat_rate=2.0, per_chat_burst=1) as emu:
        user = emu.add_user("Bob")
        bot = await make_bot(emu)
        notifier = Notifier(clocked, bot)
        ids = [await enqueue(clocked, user["id"], f"m{i}") for i in range(3)]
        for _ in range(3):  # fill the chat's flood bucket
            result = await notifier.run_once()
            if result.retried:
                break
        assert result.retried == 1 and result.retried + result.deferred + result.sent >= 1
        limited = [n for n in [await state(clocked, i) for i in ids] if n.state == "pending" and n.last_error]
        assert len(limited) == 1 and "429" in (limited[0].last_error or "")
        assert limited[0].next_attempt_at - int(clock()) >= 1
        assert (await notifier.run_once()).sent == 0  # nothing to that chat before retry_after
        for _ in range(20):
            await asyncio.sleep(0.6)
            clock.advance(60)
            await notifier.run_once()
            if all(n.state == "sent" for n in [await state(clocked, i) for i in ids]):
                break
        assert [m.text for m in emu.bot_messages(user["id"])] == ["m0", "m1", "m2"]
        assert any(call.error_code == 429 for call in emu.calls)
        await bot.shutdown()


async def test_blocked_user_is_marked(clocked: Ledger, telegram: TelegramEmulator) -> None:
    user = telegram.add_user("Carol")
    await clocked.write(lambda c, n: users.upsert(c, n, user["id"], None, "Carol"))
    telegram.block_bot(user["id"])
    bot = await make_bot(telegram)
    nid = await enqueue(clocked, user["id"], "hello")
    assert (await Notifier(clocked, bot).run_once()).blocked == 1
    assert (await state(clocked, nid)).state == "blocked"
    profile = await clocked.read(lambda c: users.get(c, user["id"]))
    assert profile is not None and profile.blocked_at is not None
    await bot.shutdown()


async def test_telegram_down_for_an_hour_then_up_delivers(clocked: Ledger, clock: FakeClock) -> None:
    emu = TelegramEmulator(rate_limit=False)
    base = await emu.start()
    port = int(base.rsplit(":", 1)[1])
    user = emu.add_user("Dave")
    bot = await make_bot(emu)
    notifier = Notifier(clocked, bot, NotifierSettings(backoff_base_s=5, backoff_max_s=600))
    nid = await enqueue(clocked, user["id"], "credited")
    await emu.stop()
    elapsed = 0
    while elapsed < 3600:
        result = await notifier.run_once()
        assert result.sent == 0 and result.failed == 0
        clock.advance(300)
        elapsed += 300
    down = await state(clocked, nid)
    assert down.state == "pending" and down.attempts >= 5 and "NetworkError" in (down.last_error or "")
    await emu.start(port=port)
    try:
        clock.advance(600)
        assert (await notifier.run_once()).sent == 1
        assert (await state(clocked, nid)).state == "sent"
        assert emu.last_bot_message(user["id"]).text == "credited"  # type: ignore[union-attr]
    finally:
        await bot.shutdown()
        await emu.stop()


async def test_gives_up_after_max_attempts(clocked: Ledger, clock: FakeClock) -> None:
    emu = TelegramEmulator(rate_limit=False)
    await emu.start()
    user = emu.add_user("Eve")
    bot = await make_bot(emu)
    await emu.stop()
    notifier = Notifier(clocked, bot, NotifierSettings(max_attempts=3))
    nid = await enqueue(clocked, user["id"], "x")
    for _ in range(3):
        await notifier.run_once()
        clock.advance(3600)
    assert (await state(clocked, nid)).state == "failed"
    await bot.shutdown()


async def test_run_loop_stops(clocked: Ledger, telegram: TelegramEmulator) -> None:
    user = telegram.add_user("Fay")
    bot = await make_bot(telegram)
    stop = asyncio.Event()
    task = asyncio.create_task(Notifier(clocked, bot, NotifierSettings(poll_interval_s=0.05)).run(stop))
    nid = await enqueue(clocked, user["id"], "loop")
    for _ in range(100):
        if (await state(clocked, nid)).state == "sent":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert (await state(clocked, nid)).state == "sent"
    await bot.shutdown()


def edits_sent(emu: TelegramEmulator, text: str) -> int:
    return sum(c.method == "editMessageText" and c.ok and c.params.get("text") == text for c in emu.calls)


async def test_an_edit_whose_sender_died_never_overwrites_a_newer_one(
        clocked: Ledger, clock: FakeClock, telegram: TelegramEmulator) -> None:
    user = telegram.add_user("Grace")["id"]
    bot = await make_bot(telegram)
    notifier = Notifier(clocked, bot)
    await enqueue(clocked, user, "Paid, queued")
    await notifier.run_once()
    message = telegram.last_bot_message(user)
    assert message is not None
    deploying = await enqueue(clocked, user, "Deploying", edit_message_id=message.message_id)
    # A sender claims the edit and is killed before it marks it sent (or even sends it).
    assert [n.id for n in await clocked.write(lambda c, n: outbox.due(c, n, 50))] == [deploying]
    await enqueue(clocked, user, "Ready", edit_message_id=message.message_id)
    assert (await notifier.run_once()).sent == 1
    clock.advance(NotifierSettings().lease_s + 1)  # the dead sender's lease runs out
    await notifier.run_once()
    assert telegram.last_bot_message(user).text == "Ready"  # type: ignore[union-attr]
    assert edits_sent(telegram, "Deploying") == 0
    assert (await state(clocked, deploying)).state == "sent"  # done: nothing is left pending
    assert (await notifier.run_once()).claimed == 0
    await bot.shutdown()


async def test_an_older_edit_waiting_for_its_retry_goes_before_a_newer_one_of_the_same_message(
        clocked: Ledger, clock: FakeClock) -> None:
    emu = TelegramEmulator(rate_limit=False)
    base = await emu.start()
    user = emu.add_user("Hedy")["id"]
    bot = await make_bot(emu)
    notifier = Notifier(clocked, bot, NotifierSettings(backoff_base_s=30))
    await enqueue(clocked, user, "Paid, queued")
    await notifier.run_once()
    message = emu.last_bot_message(user)
    assert message is not None
    await emu.stop()
    await enqueue(clocked, user, "Deploying", edit_message_id=message.message_id)
    assert (await notifier.run_once()).retried == 1  # Telegram unreachable: retried in 30 s
    await emu.start(port=int(base.rsplit(":", 1)[1]))
    try:
        clock.advance(1)
        await enqueue(clocked, user, "Ready", edit_message_id=message.message_id)
        clock.advance(60)  # both due in one batch: the newer one was due first
        await notifier.run_once()
        assert emu.last_bot_message(user).text == "Ready"  # type: ignore[union-attr]
        assert (await notifier.run_once()).claimed == 0
    finally:
        await bot.shutdown()
        await emu.stop()

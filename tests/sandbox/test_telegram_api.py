"""Tests of the Telegram Bot API emulator: methods, limits and error shapes.

Uses the real python-telegram-bot ``Bot`` pointed at the emulator, and plain aiohttp
requests where the raw answer (status, description, parameters) is what matters.
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter

from sandbox.telegram_api import TelegramEmulator
from sandbox.telegram_ratelimit import FloodControl
from sandbox.telegram_state import ControlError


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(rate_limit=False, pre_checkout_timeout=0.5)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(emu.token, base_url=emu.api_url) as b:
        yield b


@pytest.fixture
def user(emu: TelegramEmulator) -> dict[str, Any]:
    return emu.add_user("Alice", username="alice")


async def raw(emu: TelegramEmulator, method: str, *, token: str | None = None, http: str = "POST",
              **kwargs: Any) -> tuple[int, dict[str, Any]]:
    """Call the emulator without PTB; kwargs go to aiohttp (json=, data=, params=)."""
    url = f"{emu.url}/bot{token or emu.token}/{method}"
    async with aiohttp.ClientSession() as session:
        async with session.request(http, url, **kwargs) as resp:
            return resp.status, await resp.json()


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def keyboard(*buttons: dict[str, Any]) -> str:
    return json.dumps({"inline_keyboard": [list(buttons)]})


# -- transport, auth, routing ------------------------------------------------------------

async def test_get_me_and_case_insensitive_methods(emu: TelegramEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "gridshop_test_bot" and me.id == int(emu.token.split(":")[0])
    status, body = await raw(emu, "GETME", http="GET")
    assert status == 200 and body["ok"] is True and body["result"]["id"] == me.id


async def test_unknown_token_unknown_method_and_malformed_token(emu: TelegramEmulator) -> None:
    assert await raw(emu, "getMe", token="42:WRONGtoken") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert await raw(emu, "getMe", token="not-a-token") == (
        404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert await raw(emu, "sendCarrierPigeon") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    with pytest.raises(InvalidToken):
        async with Bot("42:WRONGtoken", base_url=emu.api_url) as wrong:
            await wrong.get_me()


@pytest.mark.parametrize("encoding", ["json", "form", "multipart", "query"])
async def test_all_body_encodings(emu: TelegramEmulator, user: dict[str, Any], encoding: str) -> None:
    params = {"chat_id": str(user["id"]), "text": "hello", "reply_markup": keyboard({"text": "A", "callback_data": "a"})}
    kwargs: dict[str, Any] = {
        "json": {"json": {"chat_id": user["id"], "text": "hello", "reply_markup": json.loads(params["reply_markup"])}},
        "form": {"data": params},
        "query": {"params": params},
    }.get(encoding, {})
    if encoding == "multipart":
        form = aiohttp.FormData()
        for key, value in params.items():
            form.add_field(key, value)
        form.add_field("unused_file", b"x", filename="x.bin")  # forces multipart/form-data
        kwargs = {"data": form}
    status, body = await raw(emu, "sendMessage", **kwargs)
    assert status == 200, body
    assert body["result"]["text"] == "hello"
    assert body["result"]["reply_markup"] == {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}


# -- sendMessage and formatting ----------------------------------------------------------

async def test_send_message_html_and_markdown_v2(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    message = await bot.send_message(user["id"], "Hi <b>bold</b> 😀 <a href=\"https://x.org\">x</a>", parse_mode="HTML")
    assert message.text == "Hi bold 😀 x"
    kinds = [(e.type, e.offset, e.length) for e in message.entities]
    assert kinds == [("bold", 3, 4), ("text_link", 11, 1)]  # the emoji counts 2 UTF-16 units
    message = await bot.send_message(user["id"], r"*b* _i_ 1\.5", parse_mode="MarkdownV2")
    assert message.text == "b i 1.5" and [e.type for e in message.entities] == ["bold", "italic"]
    stored = emu.bot_messages(user["id"])
    assert [m.text for m in stored] == ["Hi bold 😀 x", "b i 1.5"]
    assert stored[0].data["from"]["is_bot"] and stored[0].data["chat"] == {"id": user["id"], "type": "private",
                                                                            "first_name": "Alice", "username": "alice"}


@pytest.mark.parametrize("text,mode,error", [
    ("<b>open", "HTML", "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
    ("<b>x</i>", "HTML", "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, expected \"</b>\", "
                         "found \"</i>\""),
    ("a < b", "HTML", "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2"),
    ("1.5", "MarkdownV2", "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with "
                          "the preceding '\\'"),
    ("*open", "MarkdownV2", "Bad Request: can't parse entities: Can't find end of the entity starting at byte "
                            "offset 0"),
    ("x", "BBCode", "Bad Request: unsupported parse_mode"),
])
async def test_parse_errors(emu: TelegramEmulator, user: dict[str, Any], text: str, mode: str, error: str) -> None:
    status, body = await raw(emu, "sendMessage", json={"chat_id": user["id"], "text": text, "parse_mode": mode})
    assert (status, body) == (400, {"ok": False, "error_code": 400, "description": error})


async def test_text_limits(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    for text in ("", "<b></b>"):
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(user["id"], text, parse_mode="HTML")
    await bot.send_message(user["id"], "x" * 4096)
    await bot.send_message(user["id"], "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # limit is after parsing
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(user["id"], "x" * 4097)


async def test_chat_errors(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hi")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message("@alice", "hi")  # bots cannot address users by username
    assert (await raw(emu, "sendMessage", json={"text": "hi"}))[1]["description"] == "Bad Request: chat_id is empty"


@pytest.mark.parametrize("button,error", [
    ({"text": "A", "callback_data": "x" * 65}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "A", "callback_data": "é" * 33}, "Bad Request: BUTTON_DATA_INVALID"),  # 66 bytes
    ({"text": "A", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "A"}, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline "
                    "keyboard"),
    ({"text": "A", "callback_data": "a", "url": "https://x.org"}, "Bad Request: can't parse inline keyboard button: "
                                                                 "exactly one of the optional fields must be used, "
                                                                 "got url, callback_data"),
    ({"text": "A", "url": "not a url"}, "Bad Request: BUTTON_URL_INVALID"),
    ({"text": "Pay", "pay": True}, "Bad Request: can't parse inline keyboard button: pay buttons are allowed only "
                                   "in invoices"),
    ({"callback_data": "a"}, "Bad Request: can't parse inline keyboard button: Field \"text\" must be of type String"),
])
async def test_reply_markup_validation(emu: TelegramEmulator, user: dict[str, Any], button: dict[str, Any],
                                       error: str) -> None:
    status, body = await raw(emu, "sendMessage", data={"chat_id": user["id"], "text": "t",
                                                       "reply_markup": keyboard(button)})
    assert (status, body["description"]) == (400, error)


async def test_reply_markup_shape_errors(emu: TelegramEmulator, user: dict[str, Any]) -> None:
    cases = {"{": "Bad Request: can't parse reply keyboard markup JSON object",
             "[]": "Bad Request: object expected as reply markup",
             '{"inline_keyboard": [1]}': 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be '
                                         'an Array of Arrays'}
    for markup, error in cases.items():
        _, body = await raw(emu, "sendMessage", data={"chat_id": user["id"], "text": "t", "reply_markup": markup})
        assert body["description"] == error
    ok = await raw(emu, "sendMessage", data={"chat_id": user["id"], "text": "t", "reply_markup": keyboard(
        {"text": "A", "callback_data": "é" * 32})})
    assert ok[0] == 200


# -- edits, deletes, callbacks -----------------------------------------------------------

async def test_edit_message_text_and_markup(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    sent = await bot.send_message(user["id"], "one", reply_markup=markup)
    edited = await bot.edit_message_text("two", user["id"], sent.message_id, reply_markup=markup)
    assert edited.text == "two" and edited.edit_date is not None and edited.reply_markup == markup
    with pytest.raises(BadRequest, match="Message is not modified: specified new message content and reply markup "
                                         "are exactly the same"):
        await bot.edit_message_text("two", user["id"], sent.message_id, reply_markup=markup)
    # An edit without reply_markup drops the keyboard, like the real API.
    edited = await bot.edit_message_text("three", user["id"], sent.message_id)
    assert edited.reply_markup is None
    edited = await bot.edit_message_reply_markup(user["id"], sent.message_id, reply_markup=markup)
    assert edited.reply_markup == markup
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(user["id"], sent.message_id, reply_markup=markup)
    [stored] = emu.bot_messages(user["id"])
    assert stored.text == "three" and stored.buttons == [{"text": "Go", "callback_data": "go"}]
    assert stored.edit_count == 3
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user["id"], 999)
    incoming = await emu.send_text(user["id"], "hello")
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", user["id"], incoming["message_id"])
    _, body = await raw(emu, "editMessageText", json={"text": "x"})
    assert body["description"] == "Bad Request: message identifier is not specified"


async def test_delete_message(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    sent = await bot.send_message(user["id"], "bye")
    assert await bot.delete_message(user["id"], sent.message_id) is True
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(user["id"], sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", user["id"], sent.message_id)
    assert emu.bot_messages(user["id"]) == []
    [deleted] = emu.bot_messages(user["id"], include_deleted=True)
    assert deleted.deleted and deleted.text == "bye"


async def test_callback_query_flow(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    sent = await bot.send_message(user["id"], "pick", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("A", callback_data="a"), InlineKeyboardButton("Site", url="https://x.org")]]))
    with pytest.raises(ControlError):
        await emu.press_button(user["id"], sent.message_id, data="nope")
    with pytest.raises(ControlError):
        await emu.press_button(user["id"], sent.message_id, text="Site")  # a URL button sends no callback
    query = await emu.press_button(user["id"], sent.message_id, data="a")
    [update] = await bot.get_updates()
    assert update.callback_query.id == query["id"] and update.callback_query.data == "a"
    assert update.callback_query.message.message_id == sent.message_id
    assert update.callback_query.from_user.id == user["id"] and update.callback_query.chat_instance
    assert await bot.answer_callback_query(query["id"], text="done", show_alert=True) is True
    assert emu.callback_answer(query["id"]) == {"callback_query_id": query["id"], "text": "done", "show_alert": True,
                                                "url": None, "cache_time": 0}
    for query_id in (query["id"], "12345"):
        with pytest.raises(BadRequest, match="Query is too old and response timeout expired or query id is invalid"):
            await bot.answer_callback_query(query_id)


async def test_commands(emu: TelegramEmulator, bot: Bot) -> None:
    assert await bot.get_my_commands() == ()
    await bot.set_my_commands([("start", "Start the shop"), ("balance", "Show balance")])
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == [
        ("start", "Start the shop"), ("balance", "Show balance")]
    assert emu.commands() == [{"command": "start", "description": "Start the shop"},
                              {"command": "balance", "description": "Show balance"}]
    await bot.set_my_commands([("admin", "Admin")], language_code="de")
    assert emu.commands(language_code="de") == [{"command": "admin", "description": "Admin"}]
    for command, description, error in (("Start", "d", "BOT_COMMAND_INVALID"), ("x" * 33, "d", "BOT_COMMAND_INVALID"),
                                        ("ok", "", "BOT_COMMAND_DESCRIPTION_INVALID")):
        _, body = await raw(emu, "setMyCommands", json={"commands": [{"command": command,
                                                                      "description": description}]})
        assert body["description"] == f"Bad Request: {error}"


# -- photos ------------------------------------------------------------------------------

async def test_send_photo_upload_and_file_id(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    message = await bot.send_photo(user["id"], png(400, 200), caption="<i>VM</i>", parse_mode="HTML")
    assert message.caption == "VM" and message.caption_entities[0].type == "italic"
    assert (message.photo[-1].width, message.photo[-1].height) == (400, 200)
    assert message.photo[0].width == 90
    again = await bot.send_photo(user["id"], message.photo[-1].file_id)
    assert again.photo[-1].width == 400
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(user["id"], b"definitely not an image")
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(user["id"], "nonsense")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_photo(user["id"], message.photo[-1].file_id, caption="x" * 1025)


async def test_uploaded_photo_downloads_through_get_file(emu: TelegramEmulator, bot: Bot,
                                                          user: dict[str, Any]) -> None:
    data = png(320, 100)
    message = await bot.send_photo(user["id"], data)
    file = await bot.get_file(message.photo[0].file_id)
    assert file.file_path and file.file_path.endswith(".png")
    path = file.file_path.split(f"/file/bot{emu.token}/")[-1]  # PTB prefixes its base_file_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.url}/file/bot{emu.token}/{path}") as resp:
            assert (resp.status, resp.content_type, await resp.read()) == (200, "image/png", data)
        async with http.get(f"{emu.url}/file/bot1:wrong/{path}") as resp:
            assert resp.status == 404
    assert emu.file_content(message.photo[-1].file_id) == data
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.get_file("nonsense")


async def test_edit_message_media_turns_text_into_a_photo_and_back_only_by_a_new_message(
        emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    from telegram import InputMediaPhoto

    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Back", callback_data="back")]])
    menu = await bot.send_message(user["id"], "menu", reply_markup=markup)
    edited = await bot.edit_message_media(InputMediaPhoto(png(400, 200), caption="<b>chart</b>", parse_mode="HTML"),
                                          user["id"], menu.message_id, reply_markup=markup)
    assert edited.text is None and edited.caption == "chart" and edited.photo[-1].width == 400
    assert edited.caption_entities[0].type == "bold" and edited.reply_markup == markup
    [stored] = emu.bot_messages(user["id"])
    assert stored.message_id == menu.message_id and stored.data["photo"] and "text" not in stored.data
    again = await bot.edit_message_media(InputMediaPhoto(edited.photo[-1].file_id, caption="same chart"),
                                         user["id"], menu.message_id)
    assert again.caption == "same chart" and again.reply_markup is None
    caption = await bot.edit_message_caption(user["id"], menu.message_id, caption="new caption", reply_markup=markup)
    assert caption.caption == "new caption" and caption.photo
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_caption(user["id"], menu.message_id, caption="new caption", reply_markup=markup)
    # A photo never becomes text again: editMessageText edits text messages only.
    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        await bot.edit_message_text("menu", user["id"], menu.message_id)
    text = await bot.send_message(user["id"], "plain")
    with pytest.raises(BadRequest, match="There is no caption in the message to edit"):
        await bot.edit_message_caption(user["id"], text.message_id, caption="x")
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.edit_message_media(InputMediaPhoto(png(10, 10), caption="x" * 1025), user["id"], text.message_id)
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.edit_message_media(InputMediaPhoto(b"not an image"), user["id"], text.message_id)
    assert emu.world.find_message(user["id"], text.message_id).text == "plain"


# -- blocked users and flood control ------------------------------------------------------

async def test_blocked_user(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    emu.block_bot(user["id"])
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(user["id"], "hi")
    _, body = await raw(emu, "sendMessage", json={"chat_id": user["id"], "text": "hi"})
    assert body == {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    [update] = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"
    emu.unblock_bot(user["id"])
    await bot.send_message(user["id"], "welcome back")


async def test_rate_limit_per_chat_429() -> None:
    emulator = TelegramEmulator(per_chat_rate=1.0, per_chat_burst=2)
    await emulator.start()
    try:
        alice = emulator.add_user("Alice")
        bob = emulator.add_user("Bob")
        for _ in range(2):
            assert (await raw(emulator, "sendMessage", json={"chat_id": alice["id"], "text": "x"}))[0] == 200
        status, body = await raw(emulator, "sendMessage", json={"chat_id": alice["id"], "text": "x"})
        assert status == 429
        assert body == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1}}
        assert (await raw(emulator, "sendMessage", json={"chat_id": bob["id"], "text": "x"}))[0] == 200
        async with Bot(emulator.token, base_url=emulator.api_url) as b:
            with pytest.raises(RetryAfter):
                await b.send_message(alice["id"], "x")
    finally:
        await emulator.stop()


def test_a_group_takes_20_messages_a_minute() -> None:
    flood = FloodControl(per_chat_rate=100, per_chat_burst=100, global_rate=100, global_burst=100)
    group = -1001234567890
    assert [flood.check(group) for _ in range(20)] == [0] * 20
    assert flood.check(group) == 3  # one more every 3 s
    assert flood.check(42) == 0 and flood.refused == 1  # a private chat is not held back


async def test_global_rate_limit() -> None:
    emulator = TelegramEmulator(per_chat_burst=100, per_chat_rate=100, global_rate=5, global_burst=5)
    await emulator.start()
    try:
        users = [emulator.add_user(f"U{i}") for i in range(6)]
        codes = [(await raw(emulator, "sendMessage", json={"chat_id": u["id"], "text": "x"}))[0] for u in users]
        assert codes == [200] * 5 + [429]
    finally:
        await emulator.stop()


# -- getUpdates --------------------------------------------------------------------------

async def test_get_updates_offset_limit_and_negative_offset(emu: TelegramEmulator, bot: Bot,
                                                            user: dict[str, Any]) -> None:
    for i in range(5):
        await emu.send_text(user["id"], f"m{i}")
    updates = await bot.get_updates(limit=2)
    assert [u.message.text for u in updates] == ["m0", "m1"]
    first = updates[0].update_id
    assert [u.update_id for u in await bot.get_updates()] == [first + i for i in range(5)]  # nothing confirmed yet
    assert [u.message.text for u in await bot.get_updates(offset=first + 2)] == ["m2", "m3", "m4"]
    assert [u.message.text for u in await bot.get_updates()] == ["m2", "m3", "m4"]  # m0, m1 are forgotten
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["m4"]
    assert [u.message.text for u in await bot.get_updates()] == ["m4"]
    _, body = await raw(emu, "getUpdates", json={"limit": 0})  # clamped to 1..100 like the real server
    assert len(body["result"]) == 1


async def test_get_updates_entities_for_commands(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    await emu.send_text(user["id"], "/buy@gridshop_test_bot vm1")
    [update] = await bot.get_updates()
    [entity] = update.message.entities
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 22)


async def test_long_poll_wakes_on_update_and_times_out(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 < time.monotonic() - started < 2.0
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await emu.send_text(user["id"], "wake")
    [update] = await poll
    assert update.message.text == "wake" and time.monotonic() - started < 1.0


async def test_concurrent_get_updates_conflict(emu: TelegramEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    # PTB keeps one connection for getUpdates, so the competing poller is a second client.
    second = asyncio.create_task(raw(emu, "getUpdates", json={"timeout": 1}))
    with pytest.raises(Conflict, match="terminated by other getUpdates request; make sure that only one bot"):
        await first
    assert await second == (200, {"ok": True, "result": []})


async def test_allowed_updates_filter(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    await emu.send_text(user["id"], "ignored")
    sent = await bot.send_message(user["id"], "x", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("A", callback_data="a")]]))
    await emu.press_button(user["id"], sent.message_id, data="a")
    assert [u.callback_query is not None for u in await bot.get_updates()] == [True]
    info = await bot.get_webhook_info()
    assert info.allowed_updates == ("callback_query",)
    await bot.get_updates(allowed_updates=[])  # empty list: back to the default set
    await emu.send_text(user["id"], "seen")
    assert [u.message.text for u in await bot.get_updates() if u.message] == ["seen"]


async def test_webhook_blocks_get_updates(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    await emu.send_text(user["id"], "pending")
    assert await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="s3cr3t") is True
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active; use deleteWebhook"):
        await bot.get_updates()
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook" and info.pending_update_count == 1 and info.max_connections == 40
    _, body = await raw(emu, "setWebhook", json={"url": "http://127.0.0.1:9/hook", "secret_token": "bad token!"})
    assert body["description"] == "Bad Request: secret token contains unallowed characters"
    status, body = await raw(emu, "deleteWebhook", json={"drop_pending_updates": True})
    assert body == {"ok": True, "result": True, "description": "Webhook was deleted"}
    assert await bot.get_updates() == ()
    assert (await bot.get_webhook_info()).url == ""


# -- invoices, pre-checkout, refunds, transactions ---------------------------------------

STARS = {"title": "VM small", "description": "1 vCPU, 1 GB, 30 days", "payload": "order-1.sig", "currency": "XTR",
         "prices": [{"label": "VM", "amount": 50}]}


@pytest.mark.parametrize("change,error", [
    ({"payload": "p" * 129}, "INVOICE_PAYLOAD_INVALID"),
    ({"payload": "é" * 65}, "INVOICE_PAYLOAD_INVALID"),  # 130 bytes
    ({"payload": ""}, 'parameter "payload" is required'),
    ({"title": "t" * 33}, "INVOICE_TITLE_INVALID"),
    ({"title": ""}, 'parameter "title" is required'),
    ({"description": "d" * 256}, "INVOICE_DESCRIPTION_INVALID"),
    ({"prices": [{"label": "a", "amount": 1}, {"label": "b", "amount": 2}]}, "STARS_INVOICE_INVALID"),
    ({"provider_token": "284685063:TEST:abc"}, "STARS_INVOICE_INVALID"),
    ({"prices": [{"label": "a", "amount": 0}]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ({"prices": [{"label": "a", "amount": -5}]}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ({"prices": [{"label": "a", "amount": 1.5}]}, 'can\'t parse LabeledPrice: Field "amount" must be of type Number'),
    ({"prices": []}, "can't parse prices JSON object"),
    ({"currency": "USD"}, "PAYMENT_PROVIDER_INVALID"),
    ({"currency": "USD", "provider_token": "284685063:TEST:abc", "prices": [{"label": "a", "amount": 0}]},
     "CURRENCY_TOTAL_AMOUNT_INVALID"),
    ({"currency": "ZZZ"}, "CURRENCY_INVALID"),
])
async def test_invoice_validation(emu: TelegramEmulator, user: dict[str, Any], change: dict[str, Any],
                                  error: str) -> None:
    for method, extra in (("sendInvoice", {"chat_id": user["id"]}), ("createInvoiceLink", {})):
        status, body = await raw(emu, method, json={**STARS, **change, **extra})
        assert (status, body["description"]) == (400, f"Bad Request: {error}"), method


async def test_invoice_happy_paths(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    message = await bot.send_invoice(user["id"], "VM small", "30 days", "p" * 128, "XTR", [LabeledPrice("VM", 50)])
    assert message.invoice.currency == "XTR" and message.invoice.total_amount == 50
    assert message.invoice.start_parameter == ""
    card = await bot.send_invoice(user["id"], "Credits", "10 TFC", "order-2", "USD",
                                  [LabeledPrice("Credits", 1000), LabeledPrice("Discount", -100)],
                                  provider_token="284685063:TEST:abc", max_tip_amount=500,
                                  suggested_tip_amounts=[100, 200])
    assert card.invoice.total_amount == 900
    link = await bot.create_invoice_link("VM small", "30 days", "order-3", "XTR", [LabeledPrice("VM", 50)])
    assert link.startswith("https://t.me/$")
    with pytest.raises(BadRequest, match="Reply_markup_buy_empty"):
        await bot.send_invoice(user["id"], "VM", "d", "p", "XTR", [LabeledPrice("VM", 1)],
                               reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]]))
    paid = await bot.send_invoice(user["id"], "VM", "d", "p", "XTR", [LabeledPrice("VM", 1)],
                                  reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Pay ⭐1", pay=True)]]))
    assert paid.reply_markup.inline_keyboard[0][0].pay is True


async def test_pre_checkout_answer_rules(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    invoice = await bot.send_invoice(user["id"], "VM", "d", "order-9", "XTR", [LabeledPrice("VM", 7)])
    payment = asyncio.create_task(emu.pay_invoice(user["id"], invoice.message_id))
    [update] = await bot.get_updates(timeout=2)
    query = update.pre_checkout_query
    assert (query.currency, query.total_amount, query.invoice_payload, query.from_user.id) == (
        "XTR", 7, "order-9", user["id"])
    with pytest.raises(BadRequest, match="Error_message must be non-empty if ok is false"):
        await bot.answer_pre_checkout_query(query.id, ok=False)
    assert await bot.answer_pre_checkout_query(query.id, ok=False, error_message="Sold out") is True
    result = await payment
    assert (result.status, result.error_message, result.paid) == ("rejected", "Sold out", False)
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_pre_checkout_query(query.id, ok=True)  # a query is answered once
    assert emu.star_transactions() == []


async def test_pre_checkout_expires(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    invoice = await bot.send_invoice(user["id"], "VM", "d", "order-9", "XTR", [LabeledPrice("VM", 7)])
    result = await emu.pay_invoice(user["id"], invoice.message_id)  # nobody answers within 0.5 s
    assert result.status == "expired" and result.telegram_payment_charge_id is None
    [update] = await bot.get_updates()
    with pytest.raises(BadRequest, match="Query is too old and response timeout expired"):
        await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
    assert [u for u in await bot.get_updates(offset=update.update_id + 1)] == []  # no successful_payment


async def _pay(emu: TelegramEmulator, bot: Bot, user_id: int, amount: int, payload: str,
               offset: int = 0) -> tuple[str, int]:
    invoice = await bot.send_invoice(user_id, "VM", "d", payload, "XTR", [LabeledPrice("VM", amount)])
    payment = asyncio.create_task(emu.pay_invoice(user_id, invoice.message_id))
    [update] = await bot.get_updates(offset=offset, timeout=2)
    await bot.answer_pre_checkout_query(update.pre_checkout_query.id, ok=True)
    result = await payment
    assert result.paid
    [update] = await bot.get_updates(offset=update.update_id + 1, timeout=2)
    payment_message = update.message.successful_payment
    assert payment_message.telegram_payment_charge_id == result.telegram_payment_charge_id
    assert payment_message.provider_payment_charge_id and payment_message.invoice_payload == payload
    return result.telegram_payment_charge_id or "", update.update_id + 1


async def test_refunds_and_star_transactions(emu: TelegramEmulator, bot: Bot, user: dict[str, Any]) -> None:
    charge1, offset = await _pay(emu, bot, user["id"], 10, "order-a")
    charge2, offset = await _pay(emu, bot, user["id"], 20, "order-b", offset)
    with pytest.raises(BadRequest, match="Charge_not_found"):
        await bot.refund_star_payment(user["id"], "stxUNKNOWN")
    other = emu.add_user("Mallory")
    with pytest.raises(BadRequest, match="Charge_not_found"):
        await bot.refund_star_payment(other["id"], charge1)
    assert await bot.refund_star_payment(user["id"], charge1) is True
    with pytest.raises(BadRequest, match="Charge_already_refunded"):
        await bot.refund_star_payment(user["id"], charge1)
    [update] = await bot.get_updates(offset=offset, timeout=2)
    assert update.message.refunded_payment.telegram_payment_charge_id == charge1
    txs = (await bot.get_star_transactions()).transactions
    assert [(t.id, t.amount) for t in txs] == [(charge1, 10), (charge2, 20), (charge1, 10)]
    assert txs[0].source.user.id == user["id"] and txs[0].source.invoice_payload == "order-a"
    assert txs[0].source.transaction_type == "invoice_payment" and txs[0].receiver is None
    assert txs[2].receiver.user.id == user["id"] and txs[2].source is None
    page = (await bot.get_star_transactions(offset=1, limit=1)).transactions
    assert [t.id for t in page] == [charge2]


# -- HTTP control surface ----------------------------------------------------------------

async def test_http_control_surface(emu: TelegramEmulator, bot: Bot) -> None:
    async with aiohttp.ClientSession(base_url=emu.url) as http:
        async with http.post("/_control/users", json={"first_name": "Carol", "user_id": 555}) as resp:
            assert (await resp.json())["id"] == 555
        async with http.post("/_control/messages", json={"user_id": 555, "text": "/start"}) as resp:
            assert (await resp.json())["entities"][0]["type"] == "bot_command"
        sent = await bot.send_message(555, "pick", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("A", callback_data="a")]]))
        async with http.post("/_control/callbacks", json={"user_id": 555, "message_id": sent.message_id,
                                                          "data": "zzz"}) as resp:
            assert resp.status == 400
        async with http.post("/_control/callbacks", json={"user_id": 555, "message_id": sent.message_id,
                                                          "data": "a"}) as resp:
            query_id = (await resp.json())["id"]
        await bot.answer_callback_query(query_id, text="ok")
        async with http.get("/_control/callback_answers") as resp:
            assert (await resp.json())[0]["text"] == "ok"
        async with http.get("/_control/chats/555/messages") as resp:
            rows = await resp.json()
        assert [(r["from_bot"], r["message"].get("text")) for r in rows] == [(False, "/start"), (True, "pick")]
        invoice = await bot.send_invoice(555, "VM", "d", "p", "XTR", [LabeledPrice("VM", 3)])
        async with http.post("/_control/payments", json={"user_id": 555, "message_id": invoice.message_id}) as resp:
            assert (await resp.json())["status"] == "expired"
        async with http.post("/_control/block", json={"user_id": 555}) as resp:
            assert resp.status == 200
        assert emu.is_blocked(555)
        async with http.get("/_control/updates") as resp:
            kinds = [next(k for k in u if k != "update_id") for u in await resp.json()]
        assert kinds == ["message", "callback_query", "pre_checkout_query", "my_chat_member"]

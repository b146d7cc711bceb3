"""Bot API methods of the Telegram emulator: one function per method, registered by name.

Each function takes the emulator and the call's ``Params`` and returns the ``result`` of a
successful answer, or raises ``ApiError`` with the real server's code and description.
"""

from __future__ import annotations

import copy
import re
import secrets
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sandbox.telegram_errors import (
    QUERY_TOO_OLD,
    ApiError,
    bad_request,
    conflict,
    forbidden,
    too_many_requests,
)
from sandbox.telegram_markup import parse_reply_markup
from sandbox.telegram_params import Params
from sandbox.telegram_state import ALL_UPDATE_TYPES, ChatMessage, Invoice
from sandbox.telegram_text import format_text

if TYPE_CHECKING:
    from sandbox.telegram_api import TelegramEmulator

Method = Callable[["TelegramEmulator", Params], Awaitable[Any]]
METHODS: dict[str, Method] = {}

MAX_TEXT = 4096
MAX_CAPTION = 1024
CURRENCIES = frozenset(
    "AED AUD BRL CAD CHF CNY CZK DKK EUR GBP HKD HUF IDR ILS INR JPY KRW KZT MXN NOK NZD PLN RUB SEK SGD "
    "THB TRY TWD UAH USD UZS ZAR XTR".split()
)
SUBSCRIPTION_PERIOD = 2592000


def method(name: str) -> Callable[[Method], Method]:
    def register(fn: Method) -> Method:
        METHODS[name.lower()] = fn
        return fn
    return register


# -- shared helpers ----------------------------------------------------------------------

def _chat_id(emu: TelegramEmulator, p: Params, name: str = "chat_id") -> int:
    raw = p.str(name).strip()
    if not raw:
        raise bad_request(f"{name} is empty")
    try:
        chat_id = int(raw)
    except ValueError:
        raise bad_request("chat not found") from None  # bots cannot resolve a user's @username
    if chat_id not in emu.world.chats:
        raise bad_request("chat not found")
    return chat_id


def _check_can_write(emu: TelegramEmulator, chat_id: int) -> None:
    if chat_id in emu.world.blocked:
        raise forbidden("bot was blocked by the user")


def _check_flood(emu: TelegramEmulator, chat_id: int) -> None:
    retry_after = emu.flood.check(chat_id)
    if retry_after:
        raise too_many_requests(retry_after)


def _allowed_updates(emu: TelegramEmulator, p: Params) -> None:
    if not p.has("allowed_updates"):
        return
    raw = p.json("allowed_updates", "allowed updates")
    if raw is None:
        return
    if not isinstance(raw, list):
        raise bad_request("can't parse allowed updates JSON object")
    kinds = [k for k in raw if isinstance(k, str) and k in ALL_UPDATE_TYPES]
    emu.world.allowed_updates = kinds or None


def _reply_to(emu: TelegramEmulator, p: Params, chat_id: int) -> dict[str, Any] | None:
    reply = p.json("reply_parameters", "reply parameters")
    if reply is None and p.has("reply_to_message_id"):
        reply = {"message_id": p.int("reply_to_message_id")}
    if reply is None:
        return None
    if not isinstance(reply, dict):
        raise bad_request("object expected as reply parameters")
    target = emu.world.find_message(chat_id, int(reply.get("message_id") or 0))
    if target is None:
        if reply.get("allow_sending_without_reply"):
            return None
        raise bad_request("message to be replied not found")
    return copy.deepcopy(target.data)


def _send(emu: TelegramEmulator, chat_id: int, content: dict[str, Any], p: Params,
          invoice: Invoice | None = None) -> dict[str, Any]:
    """Common tail of send* methods: reply, blocked user, flood control, store."""
    reply = _reply_to(emu, p, chat_id)
    if reply is not None:
        content["reply_to_message"] = reply
    _check_can_write(emu, chat_id)
    _check_flood(emu, chat_id)
    stored = emu.world.store_message(chat_id, from_bot=True, sender=emu.world.bot_user, content=content,
                                     invoice=invoice)
    return copy.deepcopy(stored.data)


def _text_content(text: str, parse_mode: str, raw_entities: Any, *, caption: bool) -> dict[str, Any]:
    plain, entities = format_text(text, parse_mode, raw_entities)
    key = "caption" if caption else "text"
    if not caption and not plain.strip():
        raise bad_request("message text is empty")
    if len(plain) > (MAX_CAPTION if caption else MAX_TEXT):
        raise bad_request("message caption is too long" if caption else "message is too long")
    content: dict[str, Any] = {}
    if plain:
        content[key] = plain
    if entities:
        content["caption_entities" if caption else "entities"] = entities
    return content


def _edit_target(emu: TelegramEmulator, p: Params) -> ChatMessage:
    if not p.str("chat_id"):
        if not p.str("inline_message_id"):
            raise bad_request("message identifier is not specified")
        raise bad_request("MESSAGE_ID_INVALID")  # the emulator has no inline messages
    chat_id = _chat_id(emu, p)
    message_id = p.int("message_id")
    message = emu.world.find_message(chat_id, message_id) if message_id > 0 else None
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    _check_can_write(emu, chat_id)
    return message


@dataclass
class Described:
    """A result the real server sends with a ``description`` (setWebhook, deleteWebhook)."""

    result: Any
    description: str


NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same "
                "as a current content and reply markup of the message")


# -- getting updates ---------------------------------------------------------------------

@method("getUpdates")
async def get_updates(emu: TelegramEmulator, p: Params) -> Any:
    world = emu.world
    if world.webhook.url:
        raise conflict("can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
                       "webhook first")
    offset = p.int("offset")
    limit = p.int("limit", 100, 1, 100)
    timeout = p.int("timeout", 0, 0, emu.long_poll_max)
    _allowed_updates(emu, p)
    emu.poll_generation += 1
    generation = emu.poll_generation
    world.notify()  # wakes an older long poll so it can be terminated
    world.confirm(offset)
    deadline = time.monotonic() + timeout
    while True:
        if generation != emu.poll_generation:
            raise conflict("terminated by other getUpdates request; make sure that only one bot instance is running")
        remaining = deadline - time.monotonic()
        if world.updates or remaining <= 0 or emu.closing:
            break
        await world.wait_change(remaining)
    return copy.deepcopy(world.updates[:limit])


@method("setWebhook")
async def set_webhook(emu: TelegramEmulator, p: Params) -> Any:
    url = p.str("url").strip()
    hook = emu.world.webhook
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        if parsed.scheme != "https" and emu.require_https_webhook:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.str("secret_token")
    if secret and (len(secret) > 256 or not re.fullmatch(r"[A-Za-z0-9_-]+", secret)):
        raise bad_request("secret token contains unallowed characters")
    _allowed_updates(emu, p)
    if p.bool("drop_pending_updates"):
        emu.world.updates.clear()
    hook.url = url
    hook.secret_token = secret
    hook.max_connections = p.int("max_connections", 40, 1, 100)
    hook.ip_address = p.str("ip_address") or None
    hook.last_error_date = hook.last_error_message = None
    emu.world.notify()
    return Described(True, "Webhook was set" if url else "Webhook was deleted")


@method("deleteWebhook")
async def delete_webhook(emu: TelegramEmulator, p: Params) -> Any:
    was_set = bool(emu.world.webhook.url)
    emu.world.webhook.url = ""
    emu.world.webhook.secret_token = ""
    if p.bool("drop_pending_updates"):
        emu.world.updates.clear()
    emu.world.notify()
    return Described(True, "Webhook was deleted" if was_set else "Webhook is already deleted")


@method("getWebhookInfo")
async def get_webhook_info(emu: TelegramEmulator, p: Params) -> Any:
    hook = emu.world.webhook
    info: dict[str, Any] = {"url": hook.url, "has_custom_certificate": False,
                            "pending_update_count": len(emu.world.updates)}
    if hook.url:
        info["max_connections"] = hook.max_connections
        if hook.ip_address:
            info["ip_address"] = hook.ip_address
        if hook.last_error_date:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    if emu.world.allowed_updates:
        info["allowed_updates"] = list(emu.world.allowed_updates)
    return info


# -- bot ---------------------------------------------------------------------------------

@method("getMe")
async def get_me(emu: TelegramEmulator, p: Params) -> Any:
    return {**emu.world.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}


@method("logOut")
async def log_out(emu: TelegramEmulator, p: Params) -> Any:
    return True


@method("close")
async def close(emu: TelegramEmulator, p: Params) -> Any:
    return True


_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat",
           "chat_administrators", "chat_member"}


def _commands_key(p: Params) -> tuple[str, str]:
    scope = p.json("scope", "scope") or {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise bad_request("wrong bot command scope type specified")
    language = p.str("language_code")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    key = scope["type"] + "".join(f":{scope[k]}" for k in ("chat_id", "user_id") if k in scope)
    return key, language


@method("setMyCommands")
async def set_my_commands(emu: TelegramEmulator, p: Params) -> Any:
    raw = p.json("commands", "commands")
    if not isinstance(raw, list):
        raise bad_request("can't parse commands JSON object")
    if len(raw) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    commands = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str) or not isinstance(description, str):
            raise bad_request('can\'t parse BotCommand: Field "command" must be of type String')
        command = command.removeprefix("/")
        if not re.fullmatch(r"[a-z0-9_]{1,32}", command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        commands.append({"command": command, "description": description})
    emu.world.commands[_commands_key(p)] = commands
    return True


@method("getMyCommands")
async def get_my_commands(emu: TelegramEmulator, p: Params) -> Any:
    return copy.deepcopy(emu.world.commands.get(_commands_key(p), []))


@method("deleteMyCommands")
async def delete_my_commands(emu: TelegramEmulator, p: Params) -> Any:
    emu.world.commands.pop(_commands_key(p), None)
    return True


# -- messages ----------------------------------------------------------------------------

@method("sendMessage")
async def send_message(emu: TelegramEmulator, p: Params) -> Any:
    chat_id = _chat_id(emu, p)
    text = p.str("text")
    if not text:
        raise bad_request("message text is empty")
    content = _text_content(text, p.str("parse_mode"), p.json("entities", "entities"), caption=False)
    markup = parse_reply_markup(p.str("reply_markup"))
    if markup:
        content["reply_markup"] = markup
    return _send(emu, chat_id, content, p)


@method("editMessageText")
async def edit_message_text(emu: TelegramEmulator, p: Params) -> Any:
    message = _edit_target(emu, p)
    text = p.str("text")
    if not text:
        raise bad_request("message text is empty")
    if "text" not in message.data:
        raise bad_request("there is no text in the message to edit")
    content = _text_content(text, p.str("parse_mode"), p.json("entities", "entities"), caption=False)
    return _replace(emu, message, p, content, ("text", "entities"))


def _replace(emu: TelegramEmulator, message: ChatMessage, p: Params, content: dict[str, Any],
             keys: tuple[str, ...], *, unchanged_ok: bool = False) -> dict[str, Any]:
    """An edit: `keys` of the message (and its keyboard) replaced by `content` and the call's
    reply_markup. Like the real API, an edit without reply_markup removes the inline keyboard,
    and one that changes nothing is refused (unless `unchanged_ok`: a new upload is a change)."""
    markup = parse_reply_markup(p.str("reply_markup"), inline_only=True)
    current = tuple(message.data.get(k) for k in keys) + (message.data.get("reply_markup"),)
    if not unchanged_ok and current == tuple(content.get(k) for k in keys) + (markup,):
        raise bad_request(NOT_MODIFIED)
    for key in (*keys, "reply_markup"):
        message.data.pop(key, None)
    message.data.update(content)
    if markup:
        message.data["reply_markup"] = markup
    return _edited(emu, message)


def _edited(emu: TelegramEmulator, message: ChatMessage) -> dict[str, Any]:
    """Stamp an edit as Telegram does (edit_date, wake waiters) and return the message."""
    message.data["edit_date"] = int(time.time())
    message.edit_count += 1
    emu.world.notify()
    return copy.deepcopy(message.data)


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(emu: TelegramEmulator, p: Params) -> Any:
    message = _edit_target(emu, p)
    markup = parse_reply_markup(p.str("reply_markup"), inline_only=True, in_invoice=message.invoice is not None)
    if message.data.get("reply_markup") == markup:
        raise bad_request(NOT_MODIFIED)
    message.data.pop("reply_markup", None)
    if markup:
        message.data["reply_markup"] = markup
    return _edited(emu, message)


@method("deleteMessage")
async def delete_message(emu: TelegramEmulator, p: Params) -> Any:
    chat_id = _chat_id(emu, p)
    message_id = p.int("message_id")
    message = emu.world.find_message(chat_id, message_id) if message_id > 0 else None
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    emu.world.notify()
    return True


@method("answerCallbackQuery")
async def answer_callback_query(emu: TelegramEmulator, p: Params) -> Any:
    query_id = p.str("callback_query_id")
    record = emu.world.callback_queries.get(query_id)
    expired = (record is not None and emu.callback_query_timeout is not None
               and time.monotonic() - record.created > emu.callback_query_timeout)
    if record is None or record.answer is not None or expired:
        raise bad_request(QUERY_TOO_OLD)
    text = p.str("text")
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    answer = {"callback_query_id": query_id, "text": text, "show_alert": p.bool("show_alert"),
              "url": p.str("url") or None, "cache_time": p.int("cache_time", 0, 0)}
    record.answer = answer
    emu.world.callback_answers.append(answer)
    emu.world.notify()
    return True


# -- photos ------------------------------------------------------------------------------

def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG image, or None if it is not one."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None


def _photo_sizes(emu: TelegramEmulator, width: int, height: int, size: int,
                 data: bytes | None = None) -> list[dict[str, Any]]:
    """The PhotoSize list Telegram makes of an image; every size keeps the uploaded bytes (the
    emulator does not scale), so getFile can serve them."""
    sizes: list[dict[str, Any]] = []
    longest = max(width, height)
    for side in (90, 320, 800, 1280):
        scale = min(1.0, side / longest)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        file_id = "AgAC" + secrets.token_urlsafe(40)
        entry = {"file_id": file_id, "file_unique_id": "AQAD" + secrets.token_urlsafe(10), "width": w,
                 "height": h, "file_size": max(1, round(size * scale * scale))}
        sizes.append(entry)
        if scale == 1.0:
            break
    for entry in sizes:
        emu.world.files[str(entry["file_id"])] = {"kind": "photo", "sizes": sizes, "data": data}
    return sizes


def _photo(emu: TelegramEmulator, p: Params, name: str, ref: str | None = None) -> list[dict[str, Any]]:
    """The PhotoSize list of the photo a call names: an upload (a part called `name`, or
    `attach://<part>` in `ref`), a file_id the emulator made, or an HTTP URL."""
    if ref is not None and ref.startswith("attach://"):
        upload = p.files.get(ref[len("attach://"):])
        if upload is None:
            raise bad_request("can't find attached file")
    else:
        upload = p.file(name) if ref is None else None
    if upload is not None:
        if not upload.data:
            raise bad_request("file must be non-empty")
        if len(upload.data) > 10 * 1024 * 1024:
            raise ApiError(413, "Request Entity Too Large")
        dims = image_size(upload.data)
        if dims is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        width, height = dims
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad_request("PHOTO_INVALID_DIMENSIONS")
        return _photo_sizes(emu, width, height, len(upload.data), upload.data)
    ref = (p.str(name) if ref is None else ref).strip()
    if not ref:
        raise bad_request("there is no photo in the request")
    if ref in emu.world.files:
        return copy.deepcopy(emu.world.files[ref]["sizes"])
    if re.fullmatch(r"https?://[^\s/]+\.[^\s]+", ref):
        return _photo_sizes(emu, 800, 600, 50_000)  # the emulator cannot fetch URLs
    raise bad_request("wrong file identifier/HTTP URL specified")


@method("sendPhoto")
async def send_photo(emu: TelegramEmulator, p: Params) -> Any:
    chat_id = _chat_id(emu, p)
    content: dict[str, Any] = {"photo": _photo(emu, p, "photo")}
    content.update(_text_content(p.str("caption"), p.str("parse_mode"), p.json("caption_entities", "entities"),
                                 caption=True))
    markup = parse_reply_markup(p.str("reply_markup"))
    if markup:
        content["reply_markup"] = markup
    return _send(emu, chat_id, content, p)


_MEDIA_KEYS = ("text", "entities", "link_preview_options", "photo", "caption", "caption_entities",
               "show_caption_above_media")


@method("editMessageMedia")
async def edit_message_media(emu: TelegramEmulator, p: Params) -> Any:
    """A photo (the only media the emulator keeps) put in place of a photo or of a text
    message (api.json, editMessageMedia: "or to replace a text ... with a media"); an
    invoice, say, cannot be edited into one."""
    message = _edit_target(emu, p)
    media = p.json("media", "input media")
    if not isinstance(media, dict):
        raise bad_request("can't parse InputMedia JSON object")
    if media.get("type") != "photo":
        raise bad_request("unsupported media type; the emulator edits photos only")
    if "text" not in message.data and "photo" not in message.data:
        raise bad_request("there is no media in the message to edit")
    ref = media.get("media")
    if not isinstance(ref, str):
        raise bad_request("media not found")
    caption = media.get("caption")
    content: dict[str, Any] = {"photo": _photo(emu, p, "media", ref)}
    content.update(_text_content(caption if isinstance(caption, str) else "", str(media.get("parse_mode") or ""),
                                 media.get("caption_entities"), caption=True))
    if media.get("show_caption_above_media"):
        content["show_caption_above_media"] = True
    return _replace(emu, message, p, content, _MEDIA_KEYS, unchanged_ok=True)


@method("editMessageCaption")
async def edit_message_caption(emu: TelegramEmulator, p: Params) -> Any:
    message = _edit_target(emu, p)
    if "photo" not in message.data:
        raise bad_request("there is no caption in the message to edit")
    content = _text_content(p.str("caption"), p.str("parse_mode"), p.json("caption_entities", "entities"),
                            caption=True)
    return _replace(emu, message, p, content, ("caption", "caption_entities"))


@method("getFile")
async def get_file(emu: TelegramEmulator, p: Params) -> Any:
    """Bot API getFile: a File whose ``file_path`` downloads at /file/bot<token>/<file_path>
    (api.json, getFile and File). Only files the emulator holds bytes of have a path."""
    file_id = p.str("file_id").strip()
    if not file_id:
        raise bad_request("file_id is empty")
    stored = emu.world.files.get(file_id)
    if stored is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    entry = next(s for s in stored["sizes"] if s["file_id"] == file_id)
    result = {"file_id": file_id, "file_unique_id": entry["file_unique_id"], "file_size": entry["file_size"]}
    if stored.get("data") is not None:
        result["file_path"] = f"photos/{file_id}.{image_extension(stored['data'])}"
    return result


def image_extension(data: bytes) -> str:
    """The file extension Telegram gives a stored photo of this format."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"GIF":
        return "gif"
    return "jpg"


# -- payments ----------------------------------------------------------------------------

def _required(p: Params, name: str) -> str:
    value = p.str(name)
    if not value:
        raise bad_request(f'parameter "{name}" is required')
    return value


def _read_invoice(p: Params, *, link: bool) -> Invoice:
    title = _required(p, "title")
    description = _required(p, "description")
    payload = _required(p, "payload")
    currency = _required(p, "currency")
    if len(title) > 32:
        raise bad_request("INVOICE_TITLE_INVALID")
    if len(description) > 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if len(payload.encode("utf-8")) > 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if currency not in CURRENCIES:
        raise bad_request("CURRENCY_INVALID")
    raw_prices = p.json("prices", "prices")
    if not isinstance(raw_prices, list) or not raw_prices:
        raise bad_request("can't parse prices JSON object")
    prices: list[dict[str, Any]] = []
    for item in raw_prices:
        if not isinstance(item, dict):
            raise bad_request("can't parse LabeledPrice: expected an Object")
        label, amount = item.get("label"), item.get("amount")
        if not isinstance(label, str):
            raise bad_request('can\'t parse LabeledPrice: Field "label" must be of type String')
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise bad_request('can\'t parse LabeledPrice: Field "amount" must be of type Number')
        prices.append({"label": label, "amount": amount})
    provider_token = p.str("provider_token")
    max_tip = p.int("max_tip_amount", 0)
    tips = p.json("suggested_tip_amounts", "suggested tip amounts") or []
    period = p.int("subscription_period", 0) if link else 0
    total = sum(pr["amount"] for pr in prices)
    if currency == "XTR":
        if provider_token or len(prices) != 1 or max_tip or tips:
            raise bad_request("STARS_INVOICE_INVALID")
        if prices[0]["amount"] <= 0:
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    else:
        if not re.fullmatch(r"\d+:(TEST|LIVE):\S+", provider_token):
            raise bad_request("PAYMENT_PROVIDER_INVALID")
        if total <= 0 or any(pr["amount"] == 0 for pr in prices):
            raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
        if (not isinstance(tips, list) or len(tips) > 4 or any(not isinstance(t, int) or t <= 0 for t in tips)
                or tips != sorted(set(tips)) or (tips and tips[-1] > max_tip) or max_tip < 0):
            raise bad_request("SUGGESTED_TIP_AMOUNTS_INVALID")
    if period and (period != SUBSCRIPTION_PERIOD or currency != "XTR" or total > 10000):
        raise bad_request("SUBSCRIPTION_PERIOD_INVALID")
    return Invoice(title, description, payload, currency, prices, provider_token,
                   start_parameter=p.str("start_parameter"), subscription_period=period, max_tip_amount=max_tip)


@method("sendInvoice")
async def send_invoice(emu: TelegramEmulator, p: Params) -> Any:
    chat_id = _chat_id(emu, p)
    invoice = _read_invoice(p, link=False)
    content: dict[str, Any] = {"invoice": invoice.to_json()}
    markup = parse_reply_markup(p.str("reply_markup"), inline_only=True, in_invoice=True)
    if markup:
        content["reply_markup"] = markup
    return _send(emu, chat_id, content, p, invoice=invoice)


@method("createInvoiceLink")
async def create_invoice_link(emu: TelegramEmulator, p: Params) -> Any:
    invoice = _read_invoice(p, link=True)
    link = "https://t.me/$" + secrets.token_urlsafe(24)
    invoice.link = link
    emu.world.invoice_links[link] = invoice
    return link


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(emu: TelegramEmulator, p: Params) -> Any:
    record = emu.world.pre_checkouts.get(p.str("pre_checkout_query_id"))
    too_late = record is not None and time.monotonic() - record.created > emu.pre_checkout_timeout
    if record is None or record.answered or record.expired or too_late:
        raise bad_request(QUERY_TOO_OLD)
    ok = p.bool("ok")
    error_message = p.str("error_message")
    if not ok and not error_message:
        raise bad_request("error_message must be non-empty if ok is false")
    record.answered = True
    if not record.done.done():
        record.done.set_result((ok, None if ok else error_message))
    emu.world.notify()
    return True


@method("refundStarPayment")
async def refund_star_payment(emu: TelegramEmulator, p: Params) -> Any:
    user_id = p.int("user_id")
    if user_id not in emu.world.users:
        raise bad_request("user not found")
    charge = emu.world.charges.get(p.str("telegram_payment_charge_id"))
    if charge is None or charge.user_id != user_id:
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    emu.world.refund(charge)
    return True


@method("getStarTransactions")
async def get_star_transactions(emu: TelegramEmulator, p: Params) -> Any:
    offset = p.int("offset", 0, 0)
    limit = p.int("limit", 100, 1, 100)
    ordered = list(emu.world.star_transactions)
    if emu.star_transactions_newest_first:
        ordered.reverse()
    return {"transactions": copy.deepcopy(ordered[offset:offset + limit])}


async def call(emu: TelegramEmulator, name: str, p: Params) -> Any:
    """Run Bot API method ``name`` (case-insensitive); unknown methods are 404 like the real server."""
    fn = METHODS.get(name.lower())
    if fn is None:
        raise ApiError(404, "Not Found")
    return await fn(emu, p)



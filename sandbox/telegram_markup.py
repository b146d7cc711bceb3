"""reply_markup validation for the Telegram emulator.

Parses the JSON-serialized ``reply_markup`` argument like the real server, rejects what it
rejects (with its descriptions) and returns the inline keyboard as the server would echo it
in ``Message.reply_markup``. Custom reply keyboards are accepted but, as in the real API,
never appear on the returned Message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sandbox.telegram_errors import bad_request

BUTTON_KINDS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
MAX_BUTTONS = 100
_URL = re.compile(r"(?:https?://[^\s/]+\.[^\s]+|tg://\S+)", re.IGNORECASE)


def _button_error(message: str) -> Exception:
    return bad_request(f"can't parse inline keyboard button: {message}")


def _check_button(raw: Any, *, in_invoice: bool, first: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    text = raw.get("text")
    if not isinstance(text, str):
        raise _button_error('Field "text" must be of type String')
    kinds = [k for k in BUTTON_KINDS if k in raw and raw[k] is not None and raw[k] is not False]
    if not kinds:
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    if len(kinds) > 1:
        # The real server silently uses the first field it recognises; the emulator is
        # stricter because the API documents "exactly one" and our code must not rely on it.
        raise _button_error(f"exactly one of the optional fields must be used, got {', '.join(kinds)}")
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    kind = kinds[0]
    value = raw[kind]
    button: dict[str, Any] = {"text": text}
    if kind == "callback_data":
        if not isinstance(value, str) or not 1 <= len(value.encode("utf-8")) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    elif kind == "url":
        if not isinstance(value, str) or not _URL.fullmatch(value):
            raise bad_request("BUTTON_URL_INVALID")
    elif kind == "pay":
        if not in_invoice:
            raise _button_error("pay buttons are allowed only in invoices")
        if not first:
            raise bad_request("REPLY_MARKUP_BUY_EMPTY")
        value = True
    button[kind] = value
    for extra in ("style", "icon_custom_emoji_id"):
        if isinstance(raw.get(extra), str):
            button[extra] = raw[extra]
    return button


def parse_reply_markup(raw: str, *, inline_only: bool = False, in_invoice: bool = False) -> dict[str, Any] | None:
    """Validate a reply_markup argument; return the inline keyboard to store, or None."""
    if raw == "":
        return None
    try:
        markup = json.loads(raw)
    except ValueError:
        raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" not in markup:
        if inline_only:
            raise bad_request('can\'t find field "inline_keyboard"')
        if "keyboard" in markup or "remove_keyboard" in markup or "force_reply" in markup:
            return None
        raise bad_request('can\'t find field "keyboard"')
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    result = []
    for r, row in enumerate(rows):
        out_row = [_check_button(b, in_invoice=in_invoice, first=(r == 0 and c == 0)) for c, b in enumerate(row)]
        if out_row:
            result.append(out_row)
    if in_invoice and result and "pay" not in result[0][0]:
        raise bad_request("REPLY_MARKUP_BUY_EMPTY")
    if not result:
        return None
    return {"inline_keyboard": result}

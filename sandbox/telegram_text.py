"""Message text formatting for the Telegram emulator: parse_mode parsing and entities.

Implements the Bot API's HTML, MarkdownV2 and legacy Markdown formatting closely enough
to produce the same plain text and MessageEntity list (offsets and lengths in UTF-16 code
units), and to reject malformed markup with the server's ``can't parse entities: ...``
wording. Also finds ``bot_command`` entities in text that users send.
"""

from __future__ import annotations

import html
import re
from typing import Any

from sandbox.telegram_errors import ApiError, bad_request

ENTITY_TYPES = frozenset({
    "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold",
    "italic", "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote",
    "code", "pre", "text_link", "text_mention", "custom_emoji", "date_time",
})

_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "span": "spoiler", "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of MessageEntity offsets."""
    return len(text.encode("utf-16-le")) // 2


class _Builder:
    """Accumulates plain text and open/closed entities while parsing markup."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0  # UTF-16 units emitted so far
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += utf16_len(text)

    def close(self, entity: dict[str, Any], start: int) -> None:
        if self.length > start:
            entity["offset"] = start
            entity["length"] = self.length - start
            self.entities.append(entity)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def _fail(message: str) -> ApiError:
    return bad_request(f"can't parse entities: {message}")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


_ATTR = re.compile(r"\s*([a-zA-Z_-]+)\s*(?:=\s*(\"[^\"]*\"|'[^']*'|[^\s>]+))?")


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Bot API HTML into (plain text, entities)."""
    out = _Builder()
    stack: list[tuple[str, dict[str, Any], int]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            match = re.match(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);", text[i:])
            decoded = html.unescape(match.group(0)) if match else None
            if match and decoded is not None and decoded != match.group(0):
                out.add(decoded)
                i += len(match.group(0))
            else:
                out.add("&")
                i += 1
            continue
        if ch != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue
        begin = i
        end = text.find(">", i)
        if text.startswith("</", i):
            if end < 0:
                raise _fail(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            name = text[i + 2:end].strip().lower()
            if not stack:
                raise _fail(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            open_name, opened, start = stack[-1]
            if name and name != open_name:
                raise _fail(
                    f'Unmatched end tag at byte offset {_byte_offset(text, begin)}, expected "</{open_name}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
            out.close(opened, start)
            i = end + 1
            continue
        match = re.match(r"<([a-zA-Z0-9-]*)", text[i:])
        name = match.group(1).lower() if match else ""
        if name not in _HTML_TAGS:
            raise _fail(f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, begin)}')
        if end < 0:
            raise _fail(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        attrs = {m.group(1).lower(): (m.group(2) or "").strip("\"'") for m in _ATTR.finditer(text[i + 1 + len(name):end])
                 if m.group(1)}
        entity: dict[str, Any] = {"type": _HTML_TAGS[name]}
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _fail(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}')
        if name == "a":
            href = html.unescape(attrs.get("href", ""))
            user = re.fullmatch(r"tg://user\?id=(\d+)", href)
            if user:
                entity = {"type": "text_mention", "user": {"id": int(user.group(1)), "is_bot": False, "first_name": ""}}
            elif href:
                entity["url"] = href
            else:
                entity = {"type": "_none"}
        if name == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        if name == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        if name == "code" and stack and stack[-1][0] == "pre" and attrs.get("class", "").startswith("language-"):
            stack[-1][1]["language"] = attrs["class"][len("language-"):]
        stack.append((name, entity, out.length))
        i = end + 1
    if stack:
        raise _fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    plain, entities = out.result()
    return plain, [e for e in entities if e["type"] != "_none"]


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 into (plain text, entities)."""
    out = _Builder()
    stack: list[tuple[str, dict[str, Any], int, int]] = []  # marker, entity, start, byte offset
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1][0] in ("`", "```")
        if in_code:
            code_marker = stack[-1][0]
            if text.startswith(code_marker, i):
                _, entity, start, _ = stack.pop()
                out.close(entity, start)
                i += len(code_marker)
            else:
                out.add(ch)
                i += 1
            continue
        if ch not in _MDV2_RESERVED:
            out.add(ch)
            i += 1
            continue
        marker = None
        for candidate in ("```", "__", "||", "*", "_", "~", "`"):
            if text.startswith(candidate, i):
                marker = candidate
                break
        if marker is not None:
            if stack and stack[-1][0] == marker:
                _, entity, start, _ = stack.pop()
                out.close(entity, start)
                i += len(marker)
                continue
            kinds = {"```": "pre", "__": "underline", "||": "spoiler", "*": "bold", "_": "italic",
                     "~": "strikethrough", "`": "code"}
            entity = {"type": kinds[marker]}
            j = i + len(marker)
            if marker == "```":
                line_end = text.find("\n", j)
                if line_end > j and re.fullmatch(r"[A-Za-z0-9_+#-]+", text[j:line_end]):
                    entity["language"] = text[j:line_end]
                    j = line_end + 1
                elif line_end == j:
                    j += 1
            stack.append((marker, entity, out.length, _byte_offset(text, i)))
            i = j
            continue
        if ch == "[":
            stack.append(("[", {"type": "text_link"}, out.length, _byte_offset(text, i)))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[":
            _, entity, start, offset = stack.pop()
            if not text.startswith("(", i + 1):
                raise _fail(f"Can't find end of the entity starting at byte offset {offset}")
            close = text.find(")", i + 2)
            if close < 0:
                raise _fail(f"Can't find end of the entity starting at byte offset {offset}")
            entity["url"] = text[i + 2:close].replace("\\)", ")").replace("\\\\", "\\")
            out.close(entity, start)
            i = close + 1
            continue
        if ch == ">" and (i == 0 or text[i - 1] == "\n"):
            line_end = text.find("\n", i)
            line_end = n if line_end < 0 else line_end
            start = out.length
            inner, inner_entities = parse_markdown_v2(text[i + 1:line_end])
            for e in inner_entities:
                e["offset"] += start
            out.add(inner)
            out.entities.extend(inner_entities)
            out.close({"type": "blockquote"}, start)
            i = line_end
            continue
        raise _fail(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
    if stack:
        raise _fail(f"Can't find end of the entity starting at byte offset {stack[-1][3]}")
    return out.result()


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url)."""
    out = _Builder()
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "*_`[":
            out.add(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i) or ch in kinds:
            marker = "```" if text.startswith("```", i) else ch
            end = text.find(marker, i + len(marker))
            if end < 0:
                raise _fail(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
            start = out.length
            out.add(text[i + len(marker):end])
            out.close({"type": "pre" if marker == "```" else kinds[marker]}, start)
            i = end + len(marker)
            continue
        if ch == "[":
            match = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if match is None:
                raise _fail(f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
            start = out.length
            out.add(match.group(1))
            out.close({"type": "text_link", "url": match.group(2)}, start)
            i += len(match.group(0))
            continue
        out.add(ch)
        i += 1
    return out.result()


def check_entities(raw: Any, text: str) -> list[dict[str, Any]]:
    """Validate an explicit ``entities`` list the way the server does."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad_request("can't parse entities JSON object")
    total = utf16_len(text)
    result = []
    for item in raw:
        if not isinstance(item, dict):
            raise bad_request("can't parse MessageEntity: expected an Object")
        kind = item.get("type")
        if not isinstance(kind, str) or kind not in ENTITY_TYPES:
            raise bad_request("can't parse MessageEntity: Unsupported type specified")
        offset, length = item.get("offset"), item.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request('can\'t parse MessageEntity: Field "offset" must be of type Number')
        if kind == "text_link" and not item.get("url"):
            raise bad_request("can't parse MessageEntity: Field \"url\" must be of type String")
        if offset < 0 or length <= 0 or offset >= total:
            continue  # the server silently drops entities outside the text
        entity = {k: v for k, v in item.items() if k in ("type", "offset", "length", "url", "user", "language",
                                                         "custom_emoji_id")}
        entity["length"] = min(length, total - offset)
        result.append(entity)
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return result


def format_text(text: str, parse_mode: str, raw_entities: Any) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` or explicit entities; returns plain text and entities."""
    if len(text.encode("utf-8")) > 32768:
        raise bad_request("text is too long")
    mode = parse_mode.strip().lower()
    if raw_entities is not None and not mode:
        return text, check_entities(raw_entities, text)
    if not mode or not text:
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request("unsupported parse_mode")


_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/@])")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}(?![\w@])")
_HASHTAG = re.compile(r"(?<![\w#])#[^\W\d][\w]{0,255}")
_URL = re.compile(r"(?<![\w@/])(?:https?://)?(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?:/[^\s]*)?", re.IGNORECASE)


def detect_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram clients and servers compute for plain user text."""
    found: list[dict[str, Any]] = []
    for kind, pattern in (("bot_command", _COMMAND), ("mention", _MENTION), ("hashtag", _HASHTAG), ("url", _URL)):
        for match in pattern.finditer(text):
            found.append({"type": kind, "offset": utf16_len(text[:match.start()]), "length": utf16_len(match.group(0))})
    found.sort(key=lambda e: e["offset"])
    result: list[dict[str, Any]] = []
    for entity in found:  # drop overlaps, first match wins
        if result and entity["offset"] < result[-1]["offset"] + result[-1]["length"]:
            continue
        result.append(entity)
    return result

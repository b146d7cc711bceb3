"""Request parameters for the Telegram emulator, read the way the real Bot API server reads them.

The real server accepts the query string plus a JSON, form-encoded or multipart body, and
turns every value into a string: JSON strings stay as they are, numbers and booleans become
their text, objects and arrays become JSON text. Typed getters then parse those strings,
clamping integers into range like the server's ``get_integer_arg``.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from sandbox.telegram_errors import ApiError, bad_request


@dataclass
class UploadedFile:
    """One multipart file part."""

    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """String-valued arguments plus uploaded files of one Bot API call."""

    def __init__(self, args: dict[str, str], files: dict[str, UploadedFile] | None = None):
        self.args = args
        self.files = files or {}

    def has(self, name: str) -> bool:
        return name in self.args or name in self.files

    def str(self, name: str, default: str = "") -> str:
        return self.args.get(name, default)

    def int(self, name: builtins.str, default: int = 0, lo: int | None = None, hi: int | None = None) -> int:
        raw = self.args.get(name)
        value = default if raw is None or raw == "" else _to_int(raw)
        if lo is not None and value < lo:
            value = lo
        if hi is not None and value > hi:
            value = hi
        return value

    def bool(self, name: builtins.str) -> bool:
        return self.args.get(name, "").strip().lower() in ("true", "1")

    def json(self, name: builtins.str, what: builtins.str) -> Any:
        """Decode a JSON-serialized argument; ``what`` names it in the error like the server."""
        raw = self.args.get(name)
        if raw is None or raw == "":
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None

    def file(self, name: builtins.str) -> UploadedFile | None:
        """The upload for ``name``: a part of that name, or ``attach://<part>``."""
        if name in self.files:
            return self.files[name]
        raw = self.args.get(name, "")
        if raw.startswith("attach://"):
            return self.files.get(raw[len("attach://"):])
        return None


def _to_int(raw: str) -> int:
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return 0


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


async def read_params(request: web.Request) -> Params:
    """Collect query-string and body arguments of ``request``."""
    args: dict[str, str] = {k: v for k, v in request.query.items()}
    files: dict[str, UploadedFile] = {}
    ctype = request.content_type
    if request.method == "POST" and request.can_read_body:
        if ctype == "application/json":
            try:
                body = json.loads(await request.read() or b"{}")
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: can't parse JSON object")
            for key, value in body.items():
                text = _stringify(value)
                if text is not None:
                    args[key] = text
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                data = await part.read(decode=True)
                if part.filename is not None:
                    files[part.name] = UploadedFile(part.filename, part.headers.get("Content-Type"), bytes(data))
                else:
                    args[part.name] = bytes(data).decode("utf-8", errors="replace")
        else:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, str):
                    args[key] = value
    return Params(args, files)

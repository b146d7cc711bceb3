"""Turning a pydantic `ValidationError` or a TOML syntax error into one line for the operator.

For example::

    config.toml: services[1].price = -5: must be greater than 0

The line names the file, the key path, the value (never a value that may be a secret) and what
is wrong, with a "did you mean" for a misspelt key.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from core.settings import SECRET_ENV_NAMES, Config, FieldError, RedactedError

__all__ = ["format_toml_error", "format_validation_error"]

_MAX_ERRORS_SHOWN = 5


# Config keys that look like secrets, mapped to the environment variable that holds that secret.
_SECRET_HINTS: dict[str, str] = {
    "token": "BOT_TOKEN",
    "bot_token": "BOT_TOKEN",
    "provider_token": "TELEGRAM_PROVIDER_TOKEN",
    "payment_token": "TELEGRAM_PROVIDER_TOKEN",
    "webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "secret_token": "TELEGRAM_WEBHOOK_SECRET",
    "secret_key": "STRIPE_SECRET_KEY",
    "api_key": "STRIPE_SECRET_KEY",
    "payload_secret": "PAYLOAD_SECRET",
}
_SECRET_WORDS = ("token", "secret", "password", "passwd", "api_key", "apikey", "private", "credential", "mnemonic")


def _secret_hint(loc: tuple[str | int, ...]) -> str | None:
    key = str(loc[-1]).lower()
    if not any(word in key for word in _SECRET_WORDS):
        return None
    section = str(loc[0]) if len(loc) > 1 else ""
    env = _SECRET_HINTS.get(key)
    if section == "telegram" and key == "webhook_secret":
        env = "TELEGRAM_WEBHOOK_SECRET"
    if section == "stripe" and key in ("token", "secret"):
        env = "STRIPE_SECRET_KEY"
    names = env or ", ".join(SECRET_ENV_NAMES)
    return f"secrets come from the environment ({names}), never from this file"


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class whose fields live at `loc` (the parent of an unknown key)."""
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        annotation = field.annotation
        if get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _key_path(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _render(value: Any) -> str:
    """A value as it would be written in TOML, shortened to fit on a line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, Decimal, float)):
        text = str(value)
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Path):
        text = json.dumps(str(value), ensure_ascii=False)
    elif isinstance(value, list):
        text = "[" + ", ".join(_render(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {_render(v)}" for k, v in value.items()) + " }"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_SIMPLE_MESSAGES = {
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "string_type": "must be a string (in double quotes)",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "decimal_type": "must be a number",
}


def _describe(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind in _SIMPLE_MESSAGES:
        message = _SIMPLE_MESSAGES[kind]
        if kind == "int_type" and isinstance(value, bool):
            message += ", not a boolean"
        elif kind in ("int_type", "bool_type") and isinstance(value, str):
            message += " (write it without quotes)"
        elif kind in ("int_type", "int_from_float") and isinstance(value, Decimal):
            message += " (no decimal point)"
        return message
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_too_short":
        return "must not be empty" if ctx["min_length"] == 1 else f"must be at least {ctx['min_length']} characters"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    msg = str(error.get("msg", kind))
    return msg[:1].lower() + msg[1:]


def _format_error(error: Mapping[str, Any]) -> str:
    """One error as `key.path = value: problem` (the value left out where it is unknown or secret)."""
    loc: tuple[str | int, ...] = tuple(error["loc"])
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "extra_forbidden":
        line = f"{_key_path(loc)}: unknown key"
        hint = _secret_hint(loc)
        if hint:
            return f"{line}: {hint}"
        model = _model_at(loc[:-1])
        if model is not None:
            close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
            if close:
                line += f" (did you mean {close[0]}?)"
        return line
    if kind == "missing":
        return f"{_key_path(loc)}: missing required key"
    cause = ctx.get("error")
    if isinstance(cause, FieldError):
        return f"{_key_path(loc + cause.path)} = {_render(cause.value)}: {cause}"
    if isinstance(cause, RedactedError):
        return f"{_key_path(loc)}: {cause}"
    return f"{_key_path(loc)} = {_render(value)}: {_describe(error)}"


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = [_format_error(e) for e in exc.errors()]
    text = f"{source}: " + "; ".join(lines[:_MAX_ERRORS_SHOWN])
    if len(lines) > _MAX_ERRORS_SHOWN:
        text += f"; and {len(lines) - _MAX_ERRORS_SHOWN} more"
    return " ".join(text.splitlines())


_TOML_POSITION = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def format_toml_error(source: str, exc: tomllib.TOMLDecodeError) -> str:
    text = " ".join(str(exc).splitlines())
    match = _TOML_POSITION.match(text)
    if match:
        return f"{source}: line {match['line']}, column {match['col']}: TOML syntax error: {match['msg']}"
    return f"{source}: TOML syntax error: {text}"


# --- loading ---------------------------------------------------------------------------------

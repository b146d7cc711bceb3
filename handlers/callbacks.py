"""The callback_data codec: versioned, validated, at most 64 bytes.

Format: `v1:<action>[:<arg>...]`, for example `v1:svc:vm-small`, `v1:pay:42:stars`,
`v1:ok:42`. Each action declares the shape of its arguments; `decode` refuses anything else
(unknown version or action, wrong arity, bad characters, too long), so a handler only ever
sees well-formed data. Buttons carry ids only, never state: everything needed to finish a
purchase is in the ledger, so buttons keep working after a restart.

A new feature adds its actions with `register_action("dep", (INT,))` and handles them with
`CallbackQueryHandler(fn, pattern=pattern("dep"))` installed through build_application's
`extra` hooks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "INT", "MAX_BYTES", "METHOD", "SLUG", "VERSION", "Callback", "CallbackError", "decode",
    "encode", "pattern", "register_action",
]

VERSION = "v1"
MAX_BYTES = 64

INT = re.compile(r"0|[1-9][0-9]{0,18}")
MAX_INT = 2**63 - 1
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
METHOD = re.compile(r"bal|stars|card|stripe")
LANGUAGE = re.compile(r"[a-z]{2}")

ACTIONS: dict[str, tuple[re.Pattern[str], ...]] = {
    "menu": (),            # main menu
    "bal": (),             # balance
    "topm": (),            # top-up menu (preset amounts)
    "cat": (INT,),         # catalog page
    "svc": (SLUG,),        # service card
    "buy": (SLUG,),        # open a purchase order and show payment choices
    "pay": (INT, METHOD),  # pay order by method
    "ok": (INT,),          # confirm buying order from balance
    "topd": (INT,),        # top up the difference a purchase order lacks
    "top": (INT,),         # top up a preset amount (TFC cents)
    "topc": (),            # top up a custom amount (asks for it)
    "hist": (INT,),        # history page before transfer id (0 = newest)
    "ord": (INT,),         # show an order
    "ords": (),            # the recent orders list
    "cancel": (INT,),      # cancel an open order
    "lang": (LANGUAGE,),   # speak this language from now on (/language)
}


class CallbackError(ValueError):
    """callback_data that is not ours, not this version, or malformed."""


@dataclass(frozen=True, slots=True)
class Callback:
    action: str
    args: tuple[str, ...] = ()

    def int_arg(self, index: int) -> int:
        return int(self.args[index])


def register_action(action: str, arg_shapes: tuple[re.Pattern[str], ...]) -> None:
    """Declare a new action (the buttons of a feature installed as an extension)."""
    if not re.fullmatch(r"[a-z]{1,8}", action):
        raise ValueError(f"action names are 1-8 lowercase letters, not {action!r}")
    if action in ACTIONS and ACTIONS[action] != arg_shapes:
        raise ValueError(f"action {action!r} is already registered with other arguments")
    ACTIONS[action] = arg_shapes


def _check(action: str, args: tuple[str, ...]) -> None:
    shapes = ACTIONS.get(action)
    if shapes is None:
        raise CallbackError(f"unknown action {action!r}")
    if len(args) != len(shapes):
        raise CallbackError(f"action {action!r} takes {len(shapes)} arguments, not {len(args)}")
    for arg, shape in zip(args, shapes, strict=True):
        if not shape.fullmatch(arg):
            raise CallbackError(f"bad argument {arg!r} for action {action!r}")
        if shape is INT and int(arg) > MAX_INT:  # 19 digits can pass 2**63 - 1 (SQLite's INTEGER)
            raise CallbackError(f"argument {arg!r} of action {action!r} is out of range")


def encode(action: str, *args: str | int) -> str:
    """callback_data for `action` with `args`; raises ValueError if it would be invalid."""
    text_args = tuple(str(a) for a in args)
    _check(action, text_args)
    data = ":".join((VERSION, action, *text_args))
    if len(data.encode()) > MAX_BYTES:
        raise CallbackError(f"callback_data {data!r} is over {MAX_BYTES} bytes")
    return data


def decode(data: object) -> Callback:
    """Parse and validate callback_data; raises CallbackError on anything not well-formed."""
    if not isinstance(data, str) or not data or len(data.encode()) > MAX_BYTES:
        raise CallbackError("callback_data must be 1-64 bytes of text")
    version, _, rest = data.partition(":")
    if version != VERSION:
        raise CallbackError(f"unsupported callback version {version!r}")
    parts = tuple(rest.split(":"))
    action, args = parts[0], parts[1:]
    _check(action, args)
    return Callback(action, args)


def pattern(action: str) -> re.Pattern[str]:
    """A CallbackQueryHandler pattern routing this action (validation happens in `decode`)."""
    return re.compile(rf"^{VERSION}:{re.escape(action)}(:|$)")

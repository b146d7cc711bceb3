"""The shop's first call to the Bot API at start (getMe, in `Application.initialize`), and what
its failure tells the operator: one line naming what to fix, never the token, and an exit
status per kind of failure (listed in README's Command line section).

Telegram answers 401 Unauthorized for a well-formed token it does not know and 404 Not Found
for a malformed one (or a URL that is not a Bot API root); python-telegram-bot raises
InvalidToken for both, with the server's description in the innermost one
(telegram/request/_baserequest.py, `_request_wrapper`), and NetworkError (TimedOut included)
when the server cannot be reached.
"""

from __future__ import annotations

from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

__all__ = ["EXIT_BOT_API_NOT_FOUND", "EXIT_BOT_API_UNREACHABLE", "EXIT_TOKEN_REJECTED", "StartupError",
           "initialize"]

EXIT_TOKEN_REJECTED = 3
EXIT_BOT_API_UNREACHABLE = 4
EXIT_BOT_API_NOT_FOUND = 5


class StartupError(Exception):
    """The shop cannot start; `str()` is the one line for the operator, `exit_status` the
    process's exit status."""

    def __init__(self, exit_status: int, message: str) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def _server_said(exc: BaseException) -> str:
    """The Bot API's own description, from the innermost InvalidToken of the chain."""
    said = ""
    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, TelegramError):
            said = current.message
        current = current.__cause__
    return said


async def initialize(application: Application, api_base: str) -> None:  # type: ignore[type-arg]
    """`application.initialize()` (its getMe checks the token); a failure becomes StartupError,
    the bot's Bot API connections closed (Application.shutdown skips an uninitialized one)."""
    try:
        try:
            await application.initialize()
        except BaseException:
            await application.bot.shutdown()
            raise
    except InvalidToken as exc:
        if _server_said(exc).startswith("Unauthorized"):
            raise StartupError(EXIT_TOKEN_REJECTED, (
                f"the Bot API at {api_base} rejected BOT_TOKEN (401 Unauthorized): export the token "
                "@BotFather gave this bot")) from None
        raise StartupError(EXIT_BOT_API_NOT_FOUND, (
            f"the Bot API at {api_base} answered 404 Not Found to getMe: BOT_TOKEN is malformed "
            "(it looks like 123456789:AA...), or telegram.api_base / --telegram-api is not a Bot API "
            "server root")) from None
    except NetworkError as exc:
        raise StartupError(EXIT_BOT_API_UNREACHABLE, (
            f"cannot reach the Bot API at {api_base} ({type(exc).__name__}): check "
            "telegram.api_base / --telegram-api and the network")) from None

"""Logging for the `gridshop` process: one format, quiet HTTP client logs, and secrets redacted.

The Bot API puts the bot token in every URL, so any library that logs a URL would leak it; the
redacting filter replaces every configured secret with `***` in every record that is emitted.
Grid tools can print the wallet mnemonic or seed in their errors; the formatter scrubs every
whole formatted record, traceback included, of anything that looks like one (`core.scrub`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from core.scrub import scrub

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Replace each secret value with *** in the formatted message of every record."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class ScrubbingFormatter(logging.Formatter):
    """Formats a record as usual, then scrubs mnemonics and seeds from the whole text
    (message, exception and stack), so a secret inside an exception's text is caught too."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(ScrubbingFormatter(FORMAT))
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def redact(secrets: Iterable[str]) -> None:
    """Install the redacting filter on every root handler."""
    flt = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)

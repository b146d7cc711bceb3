"""Logging for the `gridshop` process: one format, quiet HTTP client logs, and secrets redacted.

The Bot API puts the bot token in every URL, so any library that logs a URL would leak it, and
python-telegram-bot puts the token in the text of the InvalidToken it raises; so every configured
secret is replaced with `***` in every whole formatted record, traceback included. Grid tools can
print the wallet mnemonic or seed in their errors; the same formatter scrubs anything that looks
like one (`core.scrub`).
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

    def text(self, text: str) -> str:
        """`text` with every secret replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = self.text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class ScrubbingFormatter(logging.Formatter):
    """Formats a record as usual, then scrubs mnemonics and seeds, and the configured secrets
    once `redact` named them, from the whole text (message, exception and stack), so a secret
    inside an exception's text is caught too."""

    def __init__(self, fmt: str = FORMAT, secrets: RedactSecrets | None = None) -> None:
        super().__init__(fmt)
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        text = scrub(super().format(record))
        return self.secrets.text(text) if self.secrets is not None else text


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format=FORMAT)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(ScrubbingFormatter(FORMAT))
    # httpx logs every request URL at INFO, and Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # The stripe SDK logs two INFO lines per API call (request and response, each formatted
    # with a regular expression per field): at a webhook's read-back rate that was most of the
    # log's cost and none of its use. Its warnings and errors still show; the shop logs each
    # event's outcome itself.
    logging.getLogger("stripe").setLevel(logging.WARNING)


def redact(secrets: Iterable[str]) -> None:
    """Redact `secrets` from everything every root handler writes: the message (for any
    formatter) and, through the ScrubbingFormatter, the whole record with its traceback."""
    flt = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
        if isinstance(handler.formatter, ScrubbingFormatter):
            handler.formatter.secrets = flt
        else:
            handler.setFormatter(ScrubbingFormatter(FORMAT, flt))

"""Flood control for the Telegram emulator: token buckets per chat and per bot.

Telegram allows about one message per second to a chat (with a small burst) and about
30 messages per second overall; beyond that it answers 429 with ``retry_after``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``burst`` tokens refilled at ``rate`` per second."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 if one is available now)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class FloodControl:
    """Per-chat and global buckets; ``check`` returns a retry_after in whole seconds or 0."""

    def __init__(self, per_chat_rate: float, per_chat_burst: int, global_rate: float,
                 global_burst: int, enabled: bool = True):
        self.enabled = enabled
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self._global = TokenBucket(global_rate, global_burst)
        self._chats: dict[int, TokenBucket] = {}

    def check(self, chat_id: int) -> int:
        """Consume one send for ``chat_id``; if not allowed, return seconds to wait."""
        if not self.enabled:
            return 0
        now = time.monotonic()
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = TokenBucket(self.per_chat_rate, self.per_chat_burst)
        wait = max(chat.wait_time(now), self._global.wait_time(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        chat.take()
        self._global.take()
        return 0

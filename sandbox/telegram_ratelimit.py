"""Flood control for the Telegram emulator: token buckets per chat, per group and per bot.

Telegram's limits (core.telegram.org/bots/faq, "My bot is hitting limits, how do I avoid
this?"): about one message per second to a chat (a small burst passes), no more than 20
messages per minute to a group, and about 30 messages per second overall; beyond them the Bot
API answers 429 with ``retry_after`` (ResponseParameters in core.telegram.org/bots/api).
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
                 global_burst: int, enabled: bool = True, per_group_per_minute: int = 20):
        self.enabled = enabled
        self.per_chat_rate = per_chat_rate
        self.per_chat_burst = per_chat_burst
        self.per_group_per_minute = per_group_per_minute
        self._global = TokenBucket(global_rate, global_burst)
        self._chats: dict[int, TokenBucket] = {}
        self._groups: dict[int, TokenBucket] = {}
        self.refused = 0  # sends answered 429 so far

    def check(self, chat_id: int) -> int:
        """Consume one send for ``chat_id``; if not allowed, return seconds to wait."""
        if not self.enabled:
            return 0
        now = time.monotonic()
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = TokenBucket(self.per_chat_rate, self.per_chat_burst)
        buckets = [chat, self._global]
        if chat_id < 0:  # groups, supergroups and channels have negative ids
            group = self._groups.get(chat_id)
            if group is None:
                rate = self.per_group_per_minute / 60
                group = self._groups[chat_id] = TokenBucket(rate, self.per_group_per_minute)
            buckets.append(group)
        wait = max(b.wait_time(now) for b in buckets)
        if wait > 0:
            self.refused += 1
            return max(1, math.ceil(wait))
        for bucket in buckets:
            bucket.take()
        return 0

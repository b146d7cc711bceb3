"""A dictionary with a ceiling: caches of things seen per user stay within a fixed size.

A bot that meets a million users must not keep a million entries of what it last saw of each.
`BoundedDict(limit)` keeps the `limit` entries used most recently and forgets the oldest one when
a new one would pass the limit. Only for caches: whatever it forgets is read again from the ledger.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, MutableMapping
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedDict(MutableMapping[K, V]):
    """At most `limit` entries; reading or writing one makes it the newest, the oldest goes first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a bounded dict holds at least one entry, not {limit}")
        self.limit = limit
        self._data: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        value = self._data.pop(key)  # KeyError as a dict would
        self._data[key] = value
        return value

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        data.pop(key, None)
        data[key] = value
        if len(data) > self.limit:
            del data[next(iter(data))]

    def __delitem__(self, key: K) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

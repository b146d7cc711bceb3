"""BoundedDict: a cache that never holds more than its limit, and forgets the least recent first."""

from __future__ import annotations

import pytest

from core.bounded import BoundedDict


def test_it_never_holds_more_than_its_limit() -> None:
    cache: BoundedDict[int, str] = BoundedDict(3)
    for n in range(1000):
        cache[n] = str(n)
        assert len(cache) <= 3
    assert dict(cache) == {997: "997", 998: "998", 999: "999"}


def test_the_least_recently_used_goes_first() -> None:
    cache: BoundedDict[str, int] = BoundedDict(2)
    cache["a"], cache["b"] = 1, 2
    assert cache["a"] == 1  # a is now the newest
    cache["c"] = 3
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    cache["a"] = 10  # rewriting an entry does not grow the dict
    assert len(cache) == 2 and cache.pop("a") == 10 and list(cache) == ["c"]


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BoundedDict(0)

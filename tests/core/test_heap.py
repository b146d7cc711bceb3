"""What startup allocated is frozen out of the garbage collector's full collections."""

from __future__ import annotations

import gc

from core.heap import freeze_startup_heap

gone: list[int] = []


def count(phase: str, info: dict[str, int]) -> None:
    if phase == "stop":
        gone.append(info["collected"])


def test_what_survives_startup_is_frozen_and_garbage_made_later_is_still_collected() -> None:
    try:
        kept = [object() for _ in range(1000)]
        frozen = freeze_startup_heap()
        assert frozen >= 1000 and gc.get_freeze_count() == frozen
        assert gc.isenabled()

        class Cycle:
            def __init__(self) -> None:
                self.me = self

        gone.clear()
        cycle = Cycle()
        gc.callbacks.append(count)
        del cycle
        gc.collect()
        assert sum(gone) >= 1  # a cycle made after the freeze is still collected
        assert len(kept) == 1000
    finally:
        if count in gc.callbacks:
            gc.callbacks.remove(count)
        gc.unfreeze()

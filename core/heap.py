"""The garbage collector and a long-running server: what startup allocated stays out of its way.

A full (generation 2) collection walks every tracked object. After startup that is mostly what
never dies: modules, classes, the stripe SDK's and python-telegram-bot's tables, configuration,
caches. Walking them took 50-95 ms per full collection in the webhook benchmark, with every
request in flight waiting for it (`docs/benchmarks.md`, Stripe webhook). `freeze_startup_heap`
moves everything alive at the end of startup into the permanent generation (`gc.freeze`), so
full collections walk only what was allocated since; the collector itself stays on.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect once, then freeze what survives; returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()

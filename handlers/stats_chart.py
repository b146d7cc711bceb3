"""The /stats chart: daily revenue and deployments as a PNG, drawn in a process of its own.

Drawing takes matplotlib a few hundred milliseconds of pure Python; in a thread of the bot it
would hold the GIL that long and stall every other update. So it runs in one helper process
(spawned on the first /stats, then kept; it exits with the bot), which also keeps matplotlib's
memory out of the bot. The parent passes plain values (labels already in the admin's language)
and gets the PNG's bytes back.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chart:
    """What the chart shows: one bar per day in each panel."""

    days: list[str]  # "%m-%d" labels
    revenue: list[float]  # TFC
    deployments: list[int]
    title: str
    revenue_label: str
    deployments_label: str


_drawer: ProcessPoolExecutor | None = None


async def png(chart: Chart) -> bytes:
    """The chart as PNG bytes, drawn in the helper process."""
    global _drawer
    if _drawer is None:  # spawn, not fork: the bot has threads (the ledger's) a fork would copy
        _drawer = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return await asyncio.get_running_loop().run_in_executor(_drawer, draw, chart)


def draw(chart: Chart) -> bytes:
    """Two stacked panels over the days: revenue (TFC) and deployments started."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    revenue_ax, deploy_ax = figure.subplots(2, 1, sharex=True)
    x = range(len(chart.days))
    revenue_ax.bar(x, chart.revenue, color="#2a9d8f")
    revenue_ax.set_ylabel(chart.revenue_label)
    revenue_ax.set_title(chart.title)
    deploy_ax.bar(x, chart.deployments, color="#e76f51")
    deploy_ax.set_ylabel(chart.deployments_label)
    # Counts: whole-number ticks from zero, also on a day with none (matplotlib would centre an
    # empty panel on 0 and show -0.04 deployments).
    deploy_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    deploy_ax.set_ylim(bottom=0, top=max(chart.deployments + [1]) * 1.1)
    revenue_ax.set_ylim(bottom=0)
    step = max(1, len(chart.days) // 10)
    deploy_ax.set_xticks(list(x)[::step], chart.days[::step], rotation=45, ha="right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()

"""/stats [days]: a PNG chart of daily revenue and deployments (matplotlib, Agg backend) with the
shop's figures over the period as its caption: one photo, sent or edited into the menu message.

The chart is drawn with matplotlib's object API on a fresh Figure (no pyplot global state), in
a worker thread so the event loop keeps serving updates meanwhile.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator  # noqa: E402
from telegram import Update  # noqa: E402

from core.money import minor_to_tfc  # noqa: E402
from ledger import stats as shop_stats  # noqa: E402

from . import admin_texts  # noqa: E402
from .admin_common import Usage, admin_command  # noqa: E402
from .admin_screen import Screen, screen, show  # noqa: E402
from .deps import CustomContext, Shop  # noqa: E402

DEFAULT_DAYS = 30


def chart_png(points: list[shop_stats.DayPoint]) -> bytes:
    """Two stacked panels over the days: revenue (TFC) and deployments started."""
    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    revenue_ax, deploy_ax = figure.subplots(2, 1, sharex=True)
    labels = [datetime.fromtimestamp(p.day_start, UTC).strftime("%m-%d") for p in points]
    x = range(len(points))
    revenue_ax.bar(x, [float(minor_to_tfc(p.revenue)) for p in points], color="#2a9d8f")
    revenue_ax.set_ylabel(admin_texts.CHART_REVENUE)
    revenue_ax.set_title(admin_texts.CHART_TITLE)
    deploy_ax.bar(x, [p.deployments for p in points], color="#e76f51")
    deploy_ax.set_ylabel(admin_texts.CHART_DEPLOYMENTS)
    # Counts: whole-number ticks from zero, also on a day with none (matplotlib would centre an
    # empty panel on 0 and show -0.04 deployments).
    deploy_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    deploy_ax.set_ylim(bottom=0, top=max([p.deployments for p in points] + [1]) * 1.1)
    revenue_ax.set_ylim(bottom=0)
    step = max(1, len(points) // 10)
    deploy_ax.set_xticks(list(x)[::step], labels[::step], rotation=45, ha="right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def stats_screen(shop: Shop, days: int) -> Screen:
    """The figures of the last `days` days as the caption of their chart."""
    until = shop.ledger.now() + 1
    since = shop_stats.day_start(until - 1) - (days - 1) * shop_stats.DAY_S
    figures = await shop.ledger.read(lambda conn: shop_stats.collect(conn, since, until))
    png = await asyncio.to_thread(chart_png, figures.days)
    return screen(admin_texts.stats(figures, days, shop.config.grid.tft_price), photo=png)


@admin_command("stats")
async def stats_command(update: Update, context: CustomContext) -> None:
    """/stats [days]: the chart, with the figures as its caption."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 365)):
        raise Usage(admin_texts.USAGE_STATS)
    await show(update, await stats_screen(context.shop, int(args[0]) if args else DEFAULT_DAYS))

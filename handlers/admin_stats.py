"""/stats [days]: a PNG chart of daily revenue and deployments with the shop's figures over the
period as its caption: one photo, sent or edited into the menu message.

The figures are read on the ledger's admin reader connection (users' reads go on beside it);
the chart is drawn by `handlers.stats_chart` in a helper process, so the event loop keeps
serving updates meanwhile and the GIL is not held by matplotlib.
"""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Update

from core.money import minor_to_tfc
from ledger import stats as shop_stats

from . import admin_texts, stats_chart
from .admin_common import Usage, admin_command
from .admin_screen import Screen, screen, show
from .deps import CustomContext, Shop

DEFAULT_DAYS = 30


async def chart_png(points: list[shop_stats.DayPoint]) -> bytes:
    """Two stacked panels over the days: revenue (TFC) and deployments started."""
    return await stats_chart.png(stats_chart.Chart(
        days=[datetime.fromtimestamp(p.day_start, UTC).strftime("%m-%d") for p in points],
        revenue=[float(minor_to_tfc(p.revenue)) for p in points],
        deployments=[p.deployments for p in points],
        title=admin_texts.CHART_TITLE, revenue_label=admin_texts.CHART_REVENUE,
        deployments_label=admin_texts.CHART_DEPLOYMENTS))


async def stats_screen(shop: Shop, days: int) -> Screen:
    """The figures of the last `days` days as the caption of their chart."""
    until = shop.ledger.now() + 1
    since = shop_stats.day_start(until - 1) - (days - 1) * shop_stats.DAY_S
    figures = await shop.ledger.read_admin(lambda conn: shop_stats.collect(conn, since, until))
    png = await chart_png(figures.days)
    return screen(admin_texts.stats(figures, days, shop.config.grid.tft_price), photo=png)


@admin_command("stats")
async def stats_command(update: Update, context: CustomContext) -> None:
    """/stats [days]: the chart, with the figures as its caption."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 365)):
        raise Usage(admin_texts.USAGE_STATS)
    await show(update, await stats_screen(context.shop, int(args[0]) if args else DEFAULT_DAYS))

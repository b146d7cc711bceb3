"""/stats [days]: the shop's figures over a period, and a PNG chart of daily revenue and
deployments (matplotlib, Agg backend) sent with sendPhoto.

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
from matplotlib.figure import Figure  # noqa: E402
from telegram import Update  # noqa: E402

from core.money import format_tfc, minor_to_tfc  # noqa: E402
from ledger import stats as shop_stats  # noqa: E402

from .admin_common import Usage, admin_command, reply  # noqa: E402
from .deps import CustomContext  # noqa: E402

USAGE = "Usage: /stats [days]   (1-365, default 30)"
DEFAULT_DAYS = 30


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def summary(s: shop_stats.Stats, days: int) -> str:
    lines = [f"📊 Last {days} days ({_day(s.since)} – {_day(s.until)} UTC)",
             f"Users: {s.users} ({s.new_users} new) · paying: {s.paying_users} ({s.paying_users_period} in the period)",
             f"Revenue: {format_tfc(s.revenue)}"]
    for provider, amount in sorted(s.revenue_by_provider.items()):
        lines.append(f"  {provider}: {format_tfc(amount)}")
    if s.refunded_by_provider:
        lines.append("Refunded / disputed: " + ", ".join(
            f"{p} {format_tfc(a)}" for p, a in sorted(s.refunded_by_provider.items())))
    lines += [f"Commission earned: {format_tfc(s.commission)}",
              f"Credits outstanding: {format_tfc(s.outstanding)} (held {format_tfc(s.held)})",
              f"Debt: {format_tfc(s.debt)} ({s.debtors} users)",
              "Deployments: " + (" · ".join(f"{k} {v}" for k, v in s.deployments_by_state.items()) or "none")]
    return "\n".join(lines)


def chart_png(points: list[shop_stats.DayPoint]) -> bytes:
    """Two stacked panels over the days: revenue (TFC) and deployments started."""
    figure = Figure(figsize=(8, 5), dpi=100)
    FigureCanvasAgg(figure)
    revenue_ax, deploy_ax = figure.subplots(2, 1, sharex=True)
    labels = [datetime.fromtimestamp(p.day_start, UTC).strftime("%m-%d") for p in points]
    x = range(len(points))
    revenue_ax.bar(x, [float(minor_to_tfc(p.revenue)) for p in points], color="#2a9d8f")
    revenue_ax.set_ylabel("revenue (TFC)")
    revenue_ax.set_title("Daily revenue and deployments")
    deploy_ax.bar(x, [p.deployments for p in points], color="#e76f51")
    deploy_ax.set_ylabel("deployments")
    step = max(1, len(points) // 10)
    deploy_ax.set_xticks(list(x)[::step], labels[::step], rotation=45, ha="right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


@admin_command("stats")
async def stats_command(update: Update, context: CustomContext) -> None:
    """/stats [days]: the figures as text, then the chart as a photo."""
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= 365)):
        raise Usage(USAGE)
    days = int(args[0]) if args else DEFAULT_DAYS
    shop = context.shop
    until = shop.ledger.now() + 1
    since = shop_stats.day_start(until - 1) - (days - 1) * shop_stats.DAY_S
    figures = await shop.ledger.read(lambda conn: shop_stats.collect(conn, since, until))
    await reply(update, summary(figures, days))
    png = await asyncio.to_thread(chart_png, figures.days)
    message = update.effective_message
    assert message is not None
    await message.reply_photo(png, caption=f"Revenue and deployments per day, last {days} days (UTC)")

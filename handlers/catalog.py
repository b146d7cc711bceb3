"""The catalogue: /services and /buy list the enabled VMs as buttons (paged); a button opens the
service card with specs, price and period, and a Buy button."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from . import keyboards, texts
from .common import answer, parse, show
from .deps import get_shop


async def services(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/services and /buy: the first catalogue page."""
    await _catalog_page(update, context, 0)


async def catalog_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The catalogue's page buttons (`v1:cat:<page>`)."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    await _catalog_page(update, context, data.int_arg(0))


async def _catalog_page(update: Update, context: ContextTypes.DEFAULT_TYPE, page: int) -> None:
    offered = get_shop(context).config.enabled_services
    if not offered:
        await show(update, texts.CATALOG_EMPTY)
        return
    pages = keyboards.catalog_pages(offered)
    page = min(page, pages - 1)
    await show(update, texts.catalog(page, pages), keyboards.catalog(offered, page))


async def service_card(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A service button (`v1:svc:<id>`): specs, price, period and Buy."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    service = get_shop(context).config.service(data.args[0])
    if service is None or not service.enabled:
        await answer(query, texts.ANSWER_SERVICE_GONE, alert=True)
        return
    await answer(query)
    await show(update, texts.service_card(service), keyboards.service_card(service))

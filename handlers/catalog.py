"""The catalogue: /services and /buy list the enabled VMs as buttons (paged); a button opens the
service card with specs, price and period, and a Buy button. A VM the grid has no room for
(per gridproxy) is shown as unavailable, with no Buy button."""

from __future__ import annotations

from telegram import Update

from grid.capacity import available_services

from . import keyboards, texts
from .buy import has_capacity
from .common import answer, parse, pressed_service, show
from .deps import CustomContext


async def services(update: Update, context: CustomContext) -> None:
    """/services and /buy: the first catalogue page."""
    await _catalog_page(update, context, 0)


async def catalog_page(update: Update, context: CustomContext) -> None:
    """The catalogue's page buttons (`v1:cat:<page>`)."""
    parsed = await parse(update)
    if parsed is None:
        return
    query, data = parsed
    await answer(query)
    await _catalog_page(update, context, data.int_arg(0))


async def _catalog_page(update: Update, context: CustomContext, page: int) -> None:
    shop = context.shop
    offered = shop.catalogue.enabled_services
    if not offered:
        await show(update, texts.CATALOG_EMPTY)
        return
    pages = keyboards.catalog_pages(offered)
    page = min(page, pages - 1)
    available = await available_services(shop.catalogue.enabled_services, shop.gridproxy)
    unavailable = {s.id for s in offered} - available
    await show(update, texts.catalog(page, pages), keyboards.catalog(offered, page, unavailable))


async def service_card(update: Update, context: CustomContext) -> None:
    """A service button (`v1:svc:<id>`): specs, price, period and Buy."""
    got = await pressed_service(update, context)
    if got is None:
        return
    query, shop, service = got
    await answer(query)
    available = await has_capacity(shop, service)
    text = texts.service_card(service)
    if not available:
        text += "\n\n" + texts.SERVICE_UNAVAILABLE_LINE
    await show(update, text, keyboards.service_card(service, available))

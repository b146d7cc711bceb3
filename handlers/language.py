"""/language: the language the shop speaks to a user in, chosen with a button and kept in the
ledger; until a user chooses, their Telegram language_code decides (`core.i18n.negotiate`).
`record_user` (group -1) sets it for every update before the chat answers; the admin commands, which run before it, set it themselves."""

from __future__ import annotations

from telegram import Update

from core import i18n
from ledger import users

from . import keyboards, texts
from .common import answer, pressed, show
from .deps import CustomContext, Shop


async def speak_to(shop: Shop, user_id: int) -> None:
    """Speak the user's language for the rest of this update (from the cache, else the ledger)."""
    locale = shop.user_locales.get(user_id)
    if locale is None:
        locale = await shop.ledger.read(lambda conn: users.locale(conn, user_id))
        shop.user_locales[user_id] = locale
    i18n.set_current(locale)


async def language(update: Update, context: CustomContext) -> None:
    """/language: the choice of languages, the current one marked."""
    await show(update, texts.language_prompt(), keyboards.languages(i18n.current()))


async def choose(update: Update, context: CustomContext) -> None:
    """A language button: keep the choice, then answer in the chosen language."""
    got = await pressed(update, context)
    if got is None:
        return
    query, data, shop = got
    chosen = data.args[0]
    if chosen not in i18n.LANGUAGE_NAMES:
        await answer(query, texts.ANSWER_INVALID, alert=True)
        return
    user_id = query.from_user.id
    await shop.ledger.write(lambda conn, now: users.set_locale(conn, now, user_id, chosen))
    shop.user_locales[user_id] = chosen
    i18n.set_current(chosen)
    await answer(query)
    await show(update, texts.language_set(), keyboards.back_to_menu())

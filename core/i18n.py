"""The shop's languages: which one a text is read in, its translation, and amounts and dates
as that language writes them.

Texts are written in English in the code, marked for the catalogues (`core/locales/<lang>/
LC_MESSAGES/gridshop.po`): `_("...")` where a text is built, `N_("...")` for a module-level
constant (translated where it is read, see `translate_constants`), `ngettext(singular, plural,
n)` where a count is shown. The language of the moment is a context variable: the chat sets
it for each update from the user's choice (`/language`) or Telegram's `language_code`, the
ledger sets it for each recipient of a queued message. Outside of either it is English.

The catalogues are compiled when gridshop is installed or built (`setup.py` writes the `.mo`
files next to the `.po` files); a checkout run without installing compiles a `.po` in memory
when its `.mo` is missing or older.
"""

from __future__ import annotations

import gettext as _gettext
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, get_currency_precision

from . import money

__all__ = [
    "DEFAULT", "DOMAIN", "LANGUAGE_NAMES", "LOCALES", "LOCALE_DIR", "N_", "_", "current",
    "format_date", "format_datetime", "format_stars", "format_tfc", "format_tfc_signed", "gettext",
    "negotiate", "ngettext", "set_current", "stored", "translate_constants", "translations", "using",
]

DOMAIN = "gridshop"
LOCALE_DIR = Path(__file__).with_name("locales")
DEFAULT = "en"
# Every language the shop speaks, with its name as its speakers write it (the /language buttons).
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "ru": "Русский"}
LOCALES: tuple[str, ...] = tuple(LANGUAGE_NAMES)

_current: ContextVar[str] = ContextVar("gridshop_locale", default=DEFAULT)


class Msgid(str):
    """A text marked with `N_`: English until a translating module reads it in a language."""

    __slots__ = ()


def N_(msgid: str) -> str:
    """Mark a module-level constant for the catalogues; it is translated where it is read."""
    return Msgid(msgid)


def negotiate(choice: str | None, language_code: str | None) -> str:
    """The language to speak: the user's explicit choice, else Telegram's `language_code`
    ('ru', 'ru-RU', 'pt-br' read by their first part), else English."""
    for code in (choice, language_code):
        if code:
            base = code.replace("_", "-").split("-")[0].lower()
            if base in LANGUAGE_NAMES:
                return base
    return DEFAULT


def current() -> str:
    return _current.get()


def set_current(locale: str) -> None:
    """Speak `locale` from now on in this context (one update of the chat)."""
    _current.set(negotiate(locale, None))


@contextmanager
def using(locale: str | None) -> Iterator[str]:
    """Speak `locale` inside the block (e.g. to one recipient of a queued message)."""
    token = _current.set(negotiate(locale, None))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def _compile(po: Path) -> _gettext.GNUTranslations:
    with po.open("rb") as f:
        catalog = read_po(f, locale=po.parents[1].name, domain=DOMAIN)
    buf = BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return _gettext.GNUTranslations(buf)


@cache
def translations(locale: str) -> _gettext.NullTranslations:
    """The compiled catalogue of `locale`: its `.mo` if it is as new as its `.po`, else the
    `.po` compiled in memory. A language without a catalogue reads as the English source."""
    po = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.is_file() and (not po.is_file() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as f:
            return _gettext.GNUTranslations(f)
    if po.is_file():
        return _compile(po)
    return _gettext.NullTranslations()


def gettext(msgid: str) -> str:
    """`msgid` in the current language."""
    return translations(_current.get()).gettext(msgid)


_ = gettext


def stored(text: str) -> str:
    """A text kept in English in the database (a deployment's failure reason, an `N_` msgid) in
    the current language; a text no catalogue knows stays as it is."""
    return gettext(text) if text else text


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of `singular`/`plural` for the count `n` in the current language."""
    return translations(_current.get()).ngettext(singular, plural, n)


class _TranslatingModule(types.ModuleType):
    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if type(value) is Msgid:
            return gettext(value)
        return value


def translate_constants(module_name: str) -> None:
    """Make the `N_` constants of a texts module read in the current language wherever they are
    read (`texts.BTN_MENU`), so they are translated at use, not at import (the module attribute
    access that the Python data model documents: a `ModuleType` subclass as `__class__`)."""
    sys.modules[module_name].__class__ = _TranslatingModule


# --- amounts and dates as the current language writes them -----------------------------------


def format_tfc(minor: int) -> str:
    """`core.money.format_tfc` in the current language: '4.50 TFC' in English, '4,50 TFC' in
    Russian (grouped thousands, the locale's decimal sign)."""
    locale = _current.get()
    if locale == DEFAULT:
        return money.format_tfc(minor)
    amount = format_decimal(money.minor_to_tfc(minor), format="#,##0.00", locale=locale)
    return f"{amount} TFC"


def format_tfc_signed(minor: int, *, minus: str = "\N{MINUS SIGN}") -> str:
    """A change of balance, always signed ('+4.50 TFC', '−0.40 TFC'), in the current language."""
    sign = "+" if minor > 0 else minus if minor < 0 else ""
    return sign + format_tfc(abs(minor))


def format_stars(stars: int) -> str:
    """Telegram Stars, whole, with the plural the count takes: '1 Star', '347 Stars'."""
    return ngettext("{stars} Star", "{stars} Stars", stars).format(stars=stars)


def format_card_amount(minor: int, currency: str) -> str:
    """A card payment in its currency's minor units, as the current language writes it:
    '4.00 USD', '4,00 USD', '500 JPY' (the currency's own number of decimals)."""
    digits = get_currency_precision(currency)
    pattern = "#,##0." + "0" * digits if digits else "#,##0"
    amount = format_decimal(Decimal(minor).scaleb(-digits), format=pattern, locale=_current.get())
    return f"{amount} {currency}"


def format_date(ts: int) -> str:
    """A day in UTC as the current language writes it: '2026-01-31', '31.01.2026'."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    locale = _current.get()
    if locale == DEFAULT:
        return moment.strftime("%Y-%m-%d")
    return _babel_date(moment, format="short", locale=locale)


def format_datetime(ts: int) -> str:
    """A moment in UTC as the current language writes it: '2026-01-31 12:00' in English,
    '31.01.2026, 12:00' in Russian."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    locale = _current.get()
    if locale == DEFAULT:
        return moment.strftime("%Y-%m-%d %H:%M")
    return _babel_datetime(moment, format="short", tzinfo=UTC, locale=locale)

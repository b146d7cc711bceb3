"""The translation catalogues, kept in step with the code.

    python tools/catalogues.py update   # after adding or changing a text: extract and merge
    python tools/catalogues.py check    # what tests/core/test_catalogues.py fails on

`update` extracts every text marked with `_`, `N_` or `ngettext` (the files `babel.cfg` names)
and merges them into each `core/locales/<lang>/LC_MESSAGES/gridshop.po`: a new text gets an
empty translation to write, a removed one is dropped, and English, the language of the code,
is its own translation. The files are written sorted, with file names but no line numbers and
a fixed header, so two branches adding texts rarely touch the same lines. The `.mo` files are
compiled when gridshop is installed or built (setup.py), not kept in git.
"""

from __future__ import annotations

import copy
import string
import sys
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.i18n import DEFAULT, DOMAIN, LOCALE_DIR, LOCALES  # noqa: E402

# A fixed header date: the catalogues change only when their texts do.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


_HEADER = """\
# The gridshop chat in {locale}: see docs/i18n.md (python tools/catalogues.py update)."""


def po_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _new_catalog(locale: str | None) -> Catalog:
    return Catalog(header_comment=_HEADER.format(locale=locale or "template"), locale=locale, domain=DOMAIN, project="gridshop", version="0.1",
                   copyright_holder="gridshop", msgid_bugs_address="", creation_date=_EPOCH,
                   revision_date=_EPOCH, last_translator="gridshop", language_team="gridshop",
                   fuzzy=False)


def extract() -> Catalog:
    """Every marked text of the code, as a template."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)  # type: ignore[no-untyped-call]
    template = _new_catalog(None)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, strip_comment_tags=True):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return template


def load(locale: str) -> Catalog:
    path = po_path(locale)
    if not path.is_file():
        return _new_catalog(locale)
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def update() -> None:
    template = extract()
    for locale in LOCALES:
        catalog = load(locale)
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)
        catalog.obsolete.clear()
        if locale == DEFAULT:
            for message in catalog:
                if message.id:
                    message.string = message.id
                    message.flags.discard("fuzzy")
        path = save(catalog)
        print(f"{path.relative_to(ROOT)}: {len(catalog)} texts, {len(untranslated(catalog))} to translate")


def save(catalog: Catalog) -> Path:
    """Write a catalogue the one way (sorted, no line numbers, fixed header dates)."""
    catalog.creation_date = catalog.revision_date = _EPOCH
    catalog.fuzzy = False
    path = po_path(str(catalog.locale))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, sort_output=True, ignore_obsolete=True, include_lineno=False)
    return path


def _fields(text: str) -> list[tuple[str, str, str]]:
    """The placeholders of a format string, sorted: ('amount', '', ''), ('s', '', '02d')."""
    return sorted((name, conversion or "", spec or "")
                  for _text, name, spec, conversion in string.Formatter().parse(text) if name is not None)


def untranslated(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id and (m.fuzzy or not all(_strings(m)))]


def _strings(message: Message) -> tuple[str, ...]:
    strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return tuple(str(text or "") for text in strings)


def problems(catalog: Catalog) -> list[str]:
    """What is wrong with a catalogue: a text not translated (empty or fuzzy), a plural with the
    wrong number of forms, or a translation whose placeholders differ from the English."""
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = tuple(message.id) if isinstance(message.id, (tuple, list)) else (str(message.id),)
        strings = _strings(message)
        if message.fuzzy or not all(strings):
            found.append(f"{catalog.locale}: not translated: {ids[0]!r}")
            continue
        if isinstance(message.id, tuple) and len(strings) != catalog.num_plurals:
            found.append(f"{catalog.locale}: {len(strings)} plural forms, {catalog.num_plurals} needed: {ids[0]!r}")
        try:
            wanted = _fields(ids[-1])
            for text in strings:
                if _fields(text) != wanted:
                    found.append(f"{catalog.locale}: placeholders {_fields(text)} instead of {wanted}: {ids[0]!r}")
        except ValueError as exc:
            found.append(f"{catalog.locale}: not a format string ({exc}): {ids[0]!r}")
    return found


def out_of_step(template: Catalog, catalog: Catalog) -> list[str]:
    """Texts of the code missing from a catalogue, and texts of the catalogue the code lost."""
    code = {m.id for m in template if m.id}
    kept = {m.id for m in catalog if m.id}
    return ([f"{catalog.locale}: missing (run update): {m!r}" for m in sorted(code - kept, key=str)]
            + [f"{catalog.locale}: no longer in the code (run update): {m!r}" for m in sorted(kept - code, key=str)])


def check() -> int:
    template = extract()
    found = []
    for locale in LOCALES:
        catalog = load(locale)
        found += out_of_step(template, catalog) + problems(catalog)
    print("\n".join(found) or "catalogues complete and in step with the code")
    return 1 if found else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "update":
        update()
    elif command == "check":
        sys.exit(check())
    else:
        sys.exit(__doc__)

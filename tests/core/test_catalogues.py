"""The translation catalogues: every text of the code is in every catalogue, translated (not
empty, not fuzzy), with the same placeholders as the English and the plural forms its language
has; and nothing in them is left over from texts the code no longer has. A failure names the
text; `python tools/catalogues.py update` brings the catalogues in step, then translate."""

from __future__ import annotations

import ast
import re

import pytest
from babel.messages.catalog import Catalog, Message

from core import i18n
from tools import catalogues


@pytest.fixture(scope="module")
def template() -> Catalog:
    return catalogues.extract()


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_the_catalogue_has_every_text_of_the_code_and_no_other(template: Catalog, locale: str) -> None:
    assert catalogues.out_of_step(template, catalogues.load(locale)) == []


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_text_is_translated_with_the_same_placeholders(locale: str) -> None:
    assert catalogues.problems(catalogues.load(locale)) == []


def test_the_code_marks_texts_for_the_catalogues(template: Catalog) -> None:
    ids = {m.id for m in template}
    assert "🛒 Services" in ids  # an N_ constant
    assert ("{stars} Star", "{stars} Stars") in ids  # an ngettext plural
    assert len(ids) > 250


def _catalog(*messages: Message) -> Catalog:
    catalog = Catalog(locale="ru")
    for message in messages:
        catalog[message.id] = message
    return catalog


def test_the_check_names_what_a_translator_got_wrong() -> None:
    found = catalogues.problems(_catalog(
        Message("Balance: {amount}", "Баланс: {сумма}"),
        Message("Sent.", ""),
        Message("Renewed.", "Продлено.", flags=["fuzzy"]),
        Message(("{n} day", "{n} days"), ("{n} день", "{n} дня")),
        Message("Hi {name}!", "Здравствуйте, {name}!"),
    ))
    assert found == [
        "ru: placeholders [('сумма', '', '')] instead of [('amount', '', '')]: 'Balance: {amount}'",
        "ru: not translated: 'Sent.'",
        "ru: not translated: 'Renewed.'",
        "ru: 2 plural forms, 3 needed: '{n} day'",
    ]


def test_a_catalogue_without_a_new_text_is_out_of_step(template: Catalog) -> None:
    catalog = catalogues.load("ru")
    del catalog["🛒 Services"]
    catalog.add("A text the code lost", "Текст, которого нет в коде")
    assert catalogues.out_of_step(template, catalog) == [
        "ru: missing (run update): '🛒 Services'",
        "ru: no longer in the code (run update): 'A text the code lost'",
    ]


# Texts kept in English on purpose: reasons stored on a deployment (shown through `stored()`).
STORED_ENGLISH = {"service {service} is no longer offered", "cancelled by the shop (admin {admin})"}
TEXT_MODULES = ("handlers/texts.py", "core/notices.py", "handlers/admin_texts.py")
SENTENCE = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,}")


def unmarked_sentences(source: str, where: str) -> list[str]:
    """String literals that read like words for people but are in no `_()`, `N_()` or
    `ngettext()` (docstrings aside): texts the catalogues would never see."""
    tree = ast.parse(source)
    marked: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_", "ngettext"):
            marked.update(id(sub) for sub in ast.walk(node))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            marked.add(id(body[0].value))
    return [f"{where}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in marked
            and SENTENCE.search(node.value) and node.value not in STORED_ENGLISH
            and not node.value.startswith("/")]  # a command's syntax


@pytest.mark.parametrize("module", TEXT_MODULES)
def test_every_sentence_of_a_texts_module_is_marked_for_translation(module: str) -> None:
    assert unmarked_sentences((catalogues.ROOT / module).read_text(encoding="utf-8"), module) == []


def test_the_marking_check_sees_a_bare_sentence() -> None:
    source = 'X = N_("Marked text")\ndef f():\n    """Doc string here."""\n    return "Bare text here"\n'
    assert unmarked_sentences(source, "m.py") == ["m.py:4 'Bare text here'"]

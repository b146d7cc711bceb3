"""Compile the translation catalogues when gridshop is built or installed (also `pip install
-e .`): each core/locales/<lang>/LC_MESSAGES/gridshop.po becomes the gridshop.mo next to it,
which package data then ships. Everything else is in pyproject.toml."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

LOCALES = Path(__file__).resolve().parent / "core" / "locales"


def compile_catalogues() -> None:
    for po in sorted(LOCALES.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parents[1].name)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)


class BuildWithCatalogues(build_py):
    def run(self) -> None:
        compile_catalogues()
        self.__dict__.pop("data_files", None)  # list the .mo files just written as package data
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogues})

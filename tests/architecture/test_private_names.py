"""The rooms talk to each other through public names only.

import-linter (`lint-imports`, run by .ci/run) checks which room may import which; this test
checks the other half of the rule: no module takes a `_private` name from another gridshop
package, whether by `from pkg.mod import _name` or by `pkg.mod._name`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "bot", "handlers", "webhooks", "payments", "grid", "ledger", "sandbox")


def _private(name: str) -> bool:
    # `_` alone is gettext's translation function (core.i18n._), public by convention.
    return name.startswith("_") and not name.startswith("__") and name != "_"


def private_imports(source: str, package: str, where: str) -> list[str]:
    """`where:line name` for each private name `source` (a module of `package`) takes from another package."""
    tree = ast.parse(source, filename=where)
    found: list[str] = []
    imported: dict[str, str] = {}  # local name -> module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in PACKAGES and top != package:
                for alias in node.names:
                    if _private(alias.name) or any(_private(p) for p in node.module.split(".")[1:]):
                        found.append(f"{where}:{node.lineno} {node.module}.{alias.name}")
                    imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PACKAGES and top != package:
                    imported[alias.asname or top] = alias.name if alias.asname else top
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name):
            if node.value.id in imported:
                found.append(f"{where}:{node.lineno} {imported[node.value.id]}.{node.attr}")
    return found


def test_no_module_takes_a_private_name_from_another_package() -> None:
    found = [
        hit
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for hit in private_imports(path.read_text(encoding="utf-8"), package, str(path.relative_to(ROOT)))
    ]
    assert found == [], "private names used across packages:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source, hits",
    [
        ("from ledger.ops import _PAYMENT_COLUMNS\n", 1),
        ("from ledger import ops\nops._PAYMENT_COLUMNS\n", 1),
        ("import ledger.ops\nledger.ops\n", 0),
        ("from ledger.ops import purchase\n", 0),
        ("from handlers._x import y\n", 1),
        ("from .texts import _local\n", 0),  # inside the same package: allowed
        ("from payments.texts import _local\n", 0),
        ("from core.i18n import _\n", 0),  # gettext's `_`
    ],
)
def test_the_check_sees_private_names(source: str, hits: int) -> None:
    assert len(private_imports(source, "payments", "probe.py")) == hits

"""Fixtures of the grid tests: the fake tfcmd."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.grid.tfcmd_support import Fake


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    return Fake(tmp_path, monkeypatch)

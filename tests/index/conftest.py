"""Fixtures shared by the index tests that run the real CLI in other processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the bundled article, built once by the real CLI (no Chroma client is
    ever opened in the pytest process)."""
    store = tmp_path_factory.mktemp("template") / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env["XDG_DATA_HOME"] = str(store.parent / "xdg")
    assert run_cli(["index", "-q", "--store", str(store)], env).returncode == 0
    return store


@pytest.fixture()
def built(_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template store (copied while no process has it open)."""
    store = tmp_path / "store"
    shutil.copytree(_template, store)
    return store

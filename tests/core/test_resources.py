"""The data files are found installed (importlib.resources) and in a bare checkout."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from ddim_studio.core import resources

ROOT = Path(__file__).resolve().parents[2]


def test_installed_resources_are_the_top_level_folder() -> None:
    folder = resources.resources_dir()
    assert folder == ROOT / "resources"  # the editable install maps ddim_studio.resources here
    assert (folder / "models" / "shapes32" / "config.json").is_file()
    assert (folder / "icons" / "app.svg").is_file() and (folder / "style" / "dark.qss").is_file()


def test_a_bare_checkout_falls_back_to_the_project_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> None:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(importlib.resources, "files", not_installed)
    resources.resources_dir.cache_clear()
    try:
        assert resources.resources_dir() == ROOT / "resources"
    finally:
        resources.resources_dir.cache_clear()

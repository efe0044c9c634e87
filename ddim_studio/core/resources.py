"""Where DDIM Studio's data files are: the package ``ddim_studio.resources`` (top-level ``resources/``).

Installed (wheel or editable) the folder is found through :mod:`importlib.resources`; a frozen
bundle has it at ``ddim_studio/resources`` beside the code; a bare checkout that was never
installed (``python -m ddim_studio`` from the project folder) reads ``<project>/resources``.
"""

from __future__ import annotations

import importlib.resources
import os
from functools import lru_cache
from pathlib import Path

PACKAGE = "ddim_studio.resources"
#: Overrides the user cache folder (converted models, thumbnails); tests and benchmarks set it.
CACHE_ENV = "DDIM_STUDIO_CACHE_DIR"


def _candidates() -> list[Path]:
    found: list[Path] = []
    try:
        root = importlib.resources.files(PACKAGE)
        if isinstance(root, Path):
            found.append(root)
    except (ModuleNotFoundError, TypeError):
        pass
    package_dir = Path(__file__).resolve().parent.parent
    found.append(package_dir / "resources")  # a frozen bundle's layout
    found.append(package_dir.parent / "resources")  # a bare checkout
    return found


@lru_cache(maxsize=1)
def resources_dir() -> Path:
    """The folder holding ``models/``, ``icons/`` and ``style/`` (the first place that has them)."""
    candidates = _candidates()
    for folder in candidates:
        if (folder / "icons").is_dir() and (folder / "models").is_dir():
            return folder
    return candidates[-1]


def cache_dir(kind: str) -> Path:
    """``$DDIM_STUDIO_CACHE_DIR/<kind>``, else ``<user cache folder>/<kind>`` (e.g. ``openvino``)."""
    import platformdirs

    override = os.environ.get(CACHE_ENV)
    base = (
        Path(override).expanduser()
        if override
        else Path(platformdirs.user_cache_dir("ddim-studio", appauthor=False))
    )
    return base / kind
